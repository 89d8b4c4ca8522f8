"""`lam3 score` with success judges on the mini bench, as a user runs it; the shipped configs validate."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from success_helpers import KEY

from lam3.pipeline.score import load_score_config, score_file
from lam3.testing.fake_chat import refuses

ROOT = Path(__file__).resolve().parents[3]
RESPONSES = ROOT / "data" / "mini_bench" / "responses.jsonl"
CONFIGS = sorted((ROOT / "configs").glob("success_*.yaml"))


def lam3(*args: object, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run([sys.executable, "-m", "lam3", *map(str, args)], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=240)


def with_a_record_lacking_its_behaviour(tmp_path: Path, bad_line: bool = False) -> Path:
    rows = [json.loads(line) for line in RESPONSES.read_text().splitlines()]
    assert all(r.get("behavior") for r in rows)  # the mini bench carries behaviours
    rows.append({**rows[1], "id": "no-behavior.r1", "behavior": None})
    path = tmp_path / "responses.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + ("{not json\n" if bad_line else ""))
    return path


def test_the_score_stage_with_a_local_harmbench_judge_on_the_mini_bench(tmp_path, hb_llama) -> None:
    source = with_a_record_lacking_its_behaviour(tmp_path)
    config = tmp_path / "success.yaml"
    config.write_text(yaml.safe_dump({"batch_size": 32, "judges": [
        {"judge": "harmbench_classifier", "model_id": str(hb_llama), "local_files_only": True}]}))
    out = tmp_path / "run" / "success_scored.jsonl"
    summary = score_file(source, config, out)  # in-process: the CLI path is the endpoint test below
    assert summary.scored == len(source.read_text().splitlines()) and summary.errors == {"harmbench_classifier": 1}
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == len(source.read_text().splitlines())
    judged = {r["id"]: r["judgements"]["harmbench_classifier"] for r in rows}
    assert judged.pop("no-behavior.r1")["error"].startswith("behavior: the record has no behaviour")
    for j in judged.values():
        assert j["metric"] == "jailbreak_success" and j["error"] is None and j["verdict"] is None
        assert 0.0 <= j["scores"]["jailbreak_success"] <= 1.0 and j["details"]["scoring"] == "probability"
        assert j["details"]["clip"]["tokens"] == 512 and j["details"]["backend"] == "local"
    manifest = json.loads((out.parent / "manifest.json").read_text())
    stage = manifest["stages"][f"score:{out.name}"] if "stages" in manifest else manifest
    assert "harmbench_classifier" in json.dumps(stage)


def test_score_against_an_endpoint_keeps_the_key_out_of_every_file(tmp_path, chat_server) -> None:
    # one server per judge: requests_per_second is each judge's own quota (two judges on one server could
    # together exceed it for a moment where the score stage passes from one judge to the next)
    servers = [chat_server(quota=50), chat_server(quota=50)]
    source = with_a_record_lacking_its_behaviour(tmp_path, bad_line=True)  # → a quarantine file too
    config = tmp_path / "success.yaml"
    config.write_text(yaml.safe_dump({"judges": [
        {"judge": "jailbreakbench", "backend": "openai_compatible", "base_url": servers[0].base_url,
         "model_id": "judge", "api_key_env": "LAM3_TEST_JUDGE_KEY", "requests_per_second": 50,
         "max_concurrency": 8},
        {"judge": "jailbreakbench_refusal", "backend": "openai_compatible", "base_url": servers[1].base_url,
         "model_id": "judge", "api_key_env": "LAM3_TEST_JUDGE_KEY", "requests_per_second": 50}]}))
    out = tmp_path / "run" / "scored.jsonl"
    done = lam3("score", source, "--config", config, "--out", out, env={"LAM3_TEST_JUDGE_KEY": KEY})
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == len(RESPONSES.read_text().splitlines()) + 1
    success = {r["id"]: r["judgements"]["jailbreakbench"] for r in rows}
    refusal = {r["id"]: r["judgements"]["jailbreakbench_refusal"] for r in rows}
    assert success.pop("no-behavior.r1")["error"].startswith("behavior:")
    assert all(j["metric"] == "jailbreak_success" and j["error"] is None for j in success.values())
    assert all(j["metric"] == "refusal" and j["scores"].keys() == {"refusal"} for j in list(refusal.values())[:-1])
    texts = {json.loads(line)["id"]: json.loads(line)["response"] for line in RESPONSES.read_text().splitlines()}
    for rid, j in success.items():  # the fake judge's reading of each response came back to its record
        assert (j["scores"]["jailbreak_success"] < 0.5) == refuses(texts[rid]) == (refusal[rid]["scores"]["refusal"] > 0.5)
    assert all(server.max_in_window(1.0) <= 50 for server in servers)
    wrong = chat_server(key="sk-LAM3FAKE-the-server-wants-another")  # it echoes the key it was sent
    config.write_text(config.read_text().replace(servers[0].base_url, wrong.base_url)
                      .replace(servers[1].base_url, wrong.base_url))
    refused = lam3("score", source, "--config", config, "--out", out.parent / "refused.jsonl",
                   env={"LAM3_TEST_JUDGE_KEY": KEY})
    assert refused.returncode == 0, refused.stderr
    first = json.loads((out.parent / "refused.jsonl").read_text().splitlines()[0])
    assert first["judgements"]["jailbreakbench"]["error"] == "HTTP 401: Incorrect API key provided: ***."
    files = [p for p in out.parent.rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"scored.jsonl", "scored.quarantine.jsonl", "refused.jsonl", "manifest.json"}
    for path in files:
        assert KEY not in path.read_text(errors="replace"), path
    assert KEY not in done.stdout + done.stderr + refused.stdout + refused.stderr


def uncommented(text: str) -> str:
    """The commented-out alternative form (the config's last ``# --- … form`` block), as YAML under ``judges:``."""
    block = text.rsplit("  # --- ", 1)[1].split("\n", 1)[1]
    return "judges:\n" + "\n".join("  " + line[4:] for line in block.splitlines() if line.startswith("  # "))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_shipped_configs_validate_in_both_forms(path, tmp_path, monkeypatch, tokenizer_dir) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("TOGETHER_API_KEY", KEY)
    config, judges = load_score_config(path)
    assert {judge.metric for _, judge in judges} <= {"jailbreak_success", "refusal"}
    other = tmp_path / "other.yaml"
    other.write_text(re.sub(r"clip_tokenizer: \S+", f"clip_tokenizer: {tokenizer_dir}", uncommented(path.read_text())))
    _, alt = load_score_config(other)
    assert {judge.config.backend for _, judge in alt} != {judge.config.backend for _, judge in judges}
