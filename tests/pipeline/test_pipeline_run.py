"""`lam3 pipeline`: unpack → score (offline judges) → fuse → report → pack → push, and reruns skip."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from lam3.errors import ConfigError
from lam3.pipeline.run import PipelineConfig, load_pipeline_config, run_pipeline
from lam3.pipeline.transfer import pack

REPO = Path(__file__).resolve().parents[2]
STEPS = ["unpack", "score:offline", "fuse", "report", "pack", "push"]


def _pipeline(cfg: Path, cwd: Path) -> dict[str, str]:
    proc = subprocess.run([sys.executable, "-m", "lam3", "pipeline", "--config", str(cfg)], cwd=cwd,
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    outcomes = dict(re.findall(r"^\[\d+/\d+\] (\S+): (done|skipped|unavailable)", proc.stderr, re.M))
    assert list(outcomes) == STEPS, proc.stderr
    return outcomes


def test_pipeline_runs_every_step_then_a_rerun_skips_them(server_run: Path, tmp_path: Path) -> None:
    archive = pack(server_run).archive
    score_cfg = tmp_path / "offline.yaml"
    score_cfg.write_text((REPO / "configs" / "offline.yaml").read_text())
    cfg = tmp_path / "pipeline.yaml"
    cfg.write_text(f"archive: {archive}\nruns_root: local/runs\nscore:\n  - name: offline\n    config: {score_cfg}\n"
                   f"fuse:\n  config: {REPO / 'configs' / 'ensemble.yaml'}\npush: back/results\n")

    first = _pipeline(cfg, tmp_path)
    assert set(first.values()) == {"done"}
    run = tmp_path / "local" / "runs" / "srv_run"
    scored = [json.loads(x) for x in (run / "offline_scored.jsonl").read_text().splitlines()]
    assert len(scored) == 6 and set(scored[0]["judgements"]) == {"profanity_check", "keyword_risk", "refusal",
                                                                 "not_refused"}
    fused = [json.loads(x) for x in (run / "fused.jsonl").read_text().splitlines()]
    assert {f["id"] for f in fused} == {s["id"] for s in scored}
    assert "<img" in (run / "report.html").read_text()
    results = tmp_path / "back" / "results" / "srv_run.results.tar.gz"
    assert results.is_file() and (results.parent / (results.name + ".sha256")).is_file()
    steps = json.loads((run / "manifest.json").read_text())["pipeline"]["steps"]
    assert steps["score:offline"]["fingerprint"]["inputs"]["response.jsonl"]
    assert steps["score:offline"]["fingerprint"]["config_hash"]

    assert set(_pipeline(cfg, tmp_path).values()) == {"skipped"}

    # a changed judge config redoes scoring and everything downstream, never the unpack
    score_cfg.write_text(score_cfg.read_text().replace("opening_sentences: 2", "opening_sentences: 3"))
    third = _pipeline(cfg, tmp_path)
    assert third["unpack"] == "skipped" and all(third[s] == "done" for s in STEPS[1:])
    assert list(run.glob(".offline_scored.jsonl.stale-*"))  # the stale output was set aside, not resumed

    # the results go back to the server with one command, verified, replacing its run folder
    server_root = server_run.parent
    pulled = subprocess.run([sys.executable, "-m", "lam3", "pull", str(results), "--to", str(server_root),
                             "--force"], capture_output=True, text=True, timeout=120)
    assert pulled.returncode == 0, pulled.stderr
    assert (server_root / "srv_run" / "fused.jsonl").read_bytes() == (run / "fused.jsonl").read_bytes()


def test_contradictory_pipeline_settings_are_errors(tmp_path: Path) -> None:
    cfg = tmp_path / "p.yaml"
    cfg.write_text("archive: a.tar.gz\nrun: runs/x\nscore:\n  - {name: o, config: c.yaml}\n")
    with pytest.raises(ConfigError, match="exactly one of 'archive'"):
        load_pipeline_config(cfg)
    cfg.write_text("run: runs/x\npack: false\npush: memory://x\nscore:\n  - {name: o, config: c.yaml}\n")
    with pytest.raises(ConfigError, match="'push' needs 'pack: true'"):
        load_pipeline_config(cfg)
    cfg.write_text("run: runs/x\nscore:\n  - {name: o, config: c.yaml, batchsize: 3}\n")
    with pytest.raises(ConfigError, match=r"p.yaml:3: score\[0\].batchsize: unknown key"):
        load_pipeline_config(cfg)


def test_an_interrupted_step_resumes_under_the_same_fingerprint(server_run: Path) -> None:
    config = PipelineConfig(run=server_run, score=[{"name": "offline", "config": REPO / "configs" / "offline.yaml"}],
                            fuse=None, report=False, pack=False)
    run_pipeline(config)
    out = server_run / "offline_scored.jsonl"
    lines = out.read_text().splitlines(keepends=True)
    # simulate a crash mid-step: half the output written, the step still marked running
    out.write_text("".join(lines[:3]))
    manifest = json.loads((server_run / "manifest.json").read_text())
    manifest["pipeline"]["steps"]["score:offline"]["status"] = "running"
    (server_run / "manifest.json").write_text(json.dumps(manifest))
    result = run_pipeline(config)
    assert result.steps[0].status == "done" and result.steps[0].message == "resumed"
    steps = json.loads((server_run / "manifest.json").read_text())["pipeline"]["steps"]
    assert steps["score:offline"]["summary"]["skipped_already_done"] == 3
    assert out.read_text().splitlines(keepends=True)[:3] == lines[:3] and len(out.read_text().splitlines()) == 6


OFFLINE = textwrap.dedent("""
    # no torch and no network: importing a heavy library or opening a socket fails the run
    import importlib.abc, socket, sys

    class NoHeavy(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in {"torch", "transformers", "detoxify", "httpx"}:
                raise ImportError(f"{name} imported by the offline pipeline")

    sys.meta_path.insert(0, NoHeavy())

    def no_network(*args, **kwargs):
        raise OSError("network used by the offline pipeline")

    socket.socket.connect = no_network
    sys.argv = ["lam3", *sys.argv[1:]]
    from lam3.cli import main
    main()
""")


def test_shipped_pipeline_config_runs_on_a_fresh_clone(tmp_path: Path) -> None:
    """`lam3 pipeline -c configs/pipeline.yaml` from a copy of the shipped configs and data: every step runs
    offline, then a rerun skips them all."""
    clone = tmp_path / "clone"
    for folder in ("configs", "data"):
        shutil.copytree(REPO / folder, clone / folder)

    def pipeline() -> tuple[dict[str, str], str]:
        proc = subprocess.run([sys.executable, "-c", OFFLINE, "pipeline", "-c", "configs/pipeline.yaml"], cwd=clone,
                              capture_output=True, text=True, timeout=180)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return dict(re.findall(r"^\[\d+/\d+\] (\S+): (done|skipped)", proc.stderr, re.M)), proc.stdout

    steps, _ = pipeline()
    assert steps == dict.fromkeys(["import", "score:offline", "fuse", "report", "pack"], "done")
    run = clone / "runs" / "mini_bench"
    shipped = (REPO / "data" / "mini_bench" / "responses.jsonl").read_bytes()
    assert (run / "response.jsonl").read_bytes() == shipped
    n = shipped.count(b"\n")
    assert len((run / "fused.jsonl").read_text().splitlines()) == n
    assert (run / "report.html").is_file() and (clone / "runs" / "mini_bench.results.tar.gz.sha256").is_file()
    again, out = pipeline()
    assert set(again.values()) == {"skipped"} and "0 step(s) ran" in out
