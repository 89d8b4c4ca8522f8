"""``generate_file`` / ``lam3 generate`` end to end on tiny models: records, resume, OOM, errors, attacks."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from lam3.errors import UserError
from lam3.manifest import read_manifest
from lam3.models import sample_seed
from lam3.pipeline.generate import generate_file
from models.conftest import COMMITS, REPOS, log_rows, log_section, read_lines, with_generation


@pytest.mark.parametrize("arch", ["llava", "idefics2"])
def test_records_carry_settings_seed_and_per_sample_errors(arch, bench, gen_yaml, mllm_for, tmp_path):
    config = gen_yaml(arch)
    out = tmp_path / "run" / "response.jsonl"
    summary = generate_file(config, bench, out, mllm=mllm_for(config))
    recs = {r["id"]: r for r in read_lines(out)}
    assert sorted(recs) == ["s1", "s2", "s3", "s4", "s5"]
    assert summary.quarantined == 1 and summary.errors == 1 and summary.generated == 4
    assert "image not found" in recs["s3"]["error"] and recs["s3"]["response"] == ""
    for sid in ("s1", "s2", "s4", "s5"):
        r = recs[sid]
        assert r["error"] is None and r["response"]
        assert r["model_id"] == REPOS[arch] and r["model_revision"] == COMMITS[arch]
        assert r["seed"] == sample_seed(7, sid) and r["attack"] == "clean"
        g = r["generation"]
        assert (g["max_new_tokens"], g["min_new_tokens"], g["temperature"], g["top_p"], g["do_sample"]) == \
            (6, 2, 1.0, 0.95, True)
        assert g["load"]["revision"] == "v1" and g["load"]["local_files_only"] is True
        assert r["usage"]["new_tokens"] >= 2
    assert recs["s2"]["category"] == "S9" and recs["s2"]["images"] == ["images/grad.png"]
    manifest = read_manifest(out.parent)
    stage = manifest.stages["generate:response.jsonl"]
    assert stage.seed == 7 and stage.config["generation"]["seed"] == 7 and stage.generation.seed == 7
    assert stage.status == "finished" and "response.jsonl" in manifest.artifacts


def test_resume_and_batch_size_do_not_change_results(bench, gen_yaml, mllm_for, tmp_path):
    config = gen_yaml("llava")
    mllm = mllm_for(config)
    whole = tmp_path / "a" / "response.jsonl"
    generate_file(config, bench, whole, mllm=mllm, batch_size=4)
    part = tmp_path / "b" / "response.jsonl"
    first = generate_file(config, bench, part, mllm=mllm, batch_size=1, limit=2)
    assert first.generated == 2 and len(read_lines(part)) == 2
    second = generate_file(config, bench, part, mllm=mllm, batch_size=3)
    assert second.skipped == 2 and second.generated + second.errors == 3
    texts = lambda p: {r["id"]: r["response"] for r in read_lines(p)}  # noqa: E731
    assert texts(part) == texts(whole)  # sampled, yet identical across batch size and resume
    again = generate_file(config, bench, part, mllm=mllm)
    assert again.generated == 0 and again.skipped == 5 and len(read_lines(part)) == 5


def test_retry_errors_redoes_only_failed_samples(bench, gen_yaml, mllm_for, tmp_path):
    config = gen_yaml("llava")
    out = tmp_path / "r" / "response.jsonl"
    generate_file(config, bench, out, mllm=mllm_for(config))
    from PIL import Image

    Image.new("RGB", (32, 32), (0, 0, 255)).save(bench / "images" / "missing.png")
    summary = generate_file(config, bench, out, mllm=mllm_for(config), retry_errors=True)
    assert summary.retried == 1 and summary.generated == 1 and summary.skipped == 4
    assert all(r["error"] is None for r in read_lines(out))


def test_out_of_memory_halves_the_batch(bench, gen_yaml, mllm_for, tmp_path, monkeypatch):
    import torch

    config = gen_yaml("llava")
    mllm = mllm_for(config)
    reference = tmp_path / "ref" / "response.jsonl"
    generate_file(config, bench, reference, mllm=mllm, batch_size=4)
    sizes = []
    real = mllm.model.generate

    def oom_above_one(*args, **kwargs):
        sizes.append(kwargs["input_ids"].shape[0])
        if kwargs["input_ids"].shape[0] > 1:
            raise torch.OutOfMemoryError("CUDA out of memory (injected)")
        return real(*args, **kwargs)

    monkeypatch.setattr(mllm.model, "generate", oom_above_one)
    out = tmp_path / "oom" / "response.jsonl"
    summary = generate_file(config, bench, out, mllm=mllm, batch_size=4)
    assert summary.oom_halvings == 2 and summary.batch_size == 1 and summary.generated == 4
    assert sizes[:3] == [3, 2, 1]  # first chunk: 4 samples, one with a missing image
    assert max(sizes[3:]) == 1  # the smaller size is kept for the rest of the run
    assert {r["id"]: r["response"] for r in read_lines(out)} == {r["id"]: r["response"] for r in read_lines(reference)}


def test_a_failing_sample_is_isolated(bench, gen_yaml, mllm_for, tmp_path, monkeypatch):
    config = gen_yaml("llava")
    mllm = mllm_for(config)
    real = mllm.generate

    def fail_on_weapon(requests):
        if any("weapon" in r.prompt for r in requests):
            raise RuntimeError("boom")
        return real(requests)

    monkeypatch.setattr(mllm, "generate", fail_on_weapon)
    out = tmp_path / "iso" / "response.jsonl"
    summary = generate_file(config, bench, out, mllm=mllm)
    recs = {r["id"]: r for r in read_lines(out)}
    assert recs["s2"]["error"] == "RuntimeError: boom"
    assert all(recs[s]["error"] is None and recs[s]["response"] for s in ("s1", "s4", "s5"))
    assert summary.errors == 2  # s2 (model) and s3 (missing image)


def test_attack_image_replaces_every_image(bench, gen_yaml, mllm_for, tmp_path, monkeypatch):
    from PIL import Image

    config = gen_yaml("llava")
    mllm = mllm_for(config)
    adv = tmp_path / "adv.png"
    Image.new("RGB", (32, 32), (9, 200, 9)).save(adv)
    seen = []
    real = mllm.generate
    monkeypatch.setattr(mllm, "generate", lambda reqs: (seen.extend(reqs), real(reqs))[1])
    out = tmp_path / "att" / "response.jsonl"
    summary = generate_file(config, bench, out, mllm=mllm, attack_image=adv, attack_name="pgd-eps8")
    recs = read_lines(out)
    assert summary.generated == 5  # s3's missing image is replaced too
    assert {r["id"] for r in recs} == {f"s{i}@pgd-eps8" for i in range(1, 6)}
    assert all(r["attack"] == "pgd-eps8" and r["images"] == [str(adv)] for r in recs)
    assert all(req.images[0].getpixel((0, 0)) == (9, 200, 9) for req in seen)
    manifest = read_manifest(out.parent)
    assert str(adv) in manifest.stages["generate:response.jsonl"].inputs
    with pytest.raises(UserError, match="go together"):
        generate_file(config, bench, out, mllm=mllm, attack_name="x")


def test_resume_with_other_settings_is_refused(bench, gen_yaml, mllm_for, tmp_path):
    out = tmp_path / "s" / "response.jsonl"
    config = gen_yaml("llava")
    generate_file(config, bench, out, mllm=mllm_for(config), limit=1)
    other = gen_yaml("llava", temperature=0.5)
    with pytest.raises(UserError, match=r"cannot resume: .* \(generation.temperature: 1.0 then, 0.5 now\); "
                                        "write to a new --out"):
        generate_file(other, bench, out, mllm=mllm_for(other))


def test_cli_generate_end_to_end_and_resume(bench, gen_yaml, mllm_for, tmp_path):
    """A partial run (stopped after 2 samples), then ``python -m lam3 generate`` finishes it."""
    config = gen_yaml("llava")
    out = tmp_path / "cli" / "response.jsonl"
    generate_file(config, bench, out, mllm=mllm_for(config), limit=2, batch_size=2)
    with out.open("a") as fh:
        fh.write('{"id": "s3", "sample_id": "s3", "respo')  # a torn last line, as after a crash
    cmd = [sys.executable, "-m", "lam3", "generate", "--config", str(config), "--bench", str(bench),
           "--out", str(out), "--batch-size", "3"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env={**os.environ, "COLUMNS": "80"})
    assert done.returncode == 0, done.stderr
    recs = read_lines(out)
    assert [r["id"] for r in recs] == ["s1", "s2", "s3", "s4", "s5"]
    assert "image not found" in recs[2]["error"] and recs[3]["response"]
    assert "quarantined" in done.stderr and "image not found" in done.stderr
    assert re.search(r"^  skipped \(already done\): 2$", done.stdout, re.M), done.stdout  # 80 columns: key: value
    assert read_manifest(out.parent).stages["generate:response.jsonl"].summary["generated"] == 2
    bad = subprocess.run([sys.executable, "-m", "lam3", "generate", "--config", str(gen_yaml("llava", do_sample=False)),
                          "--bench", str(bench), "--out", str(tmp_path / "x.jsonl")],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "do_sample is false" in bad.stderr and "gen_llava.yaml:" in bad.stderr


def test_daily_log_of_real_generate_runs_flags_only_what_was_not_applied(bench, gen_yaml, mllm_for, tmp_path):
    """`lam3 generate` (sampled and greedy) then `lam3 report daily`, all through the CLI: no honoured setting is
    flagged (wave 1 flagged `seed` on every run, and temperature/top_p/top_k on greedy ones). A wrapper that
    really generates with another max_new_tokens than its config asks for is flagged."""
    from datetime import datetime

    import yaml
    from typer.testing import CliRunner

    from lam3.cli import app

    runs = tmp_path / "runs"
    sampled = gen_yaml("llava", temperature=0.7, top_k=5)
    greedy = tmp_path / "greedy.yaml"
    data = yaml.safe_load(sampled.read_text())
    data["generation"] = {"max_new_tokens": 4, "min_new_tokens": 1, "do_sample": False, "seed": 3}
    greedy.write_text(yaml.safe_dump(data))
    for name, config in (("sampled", sampled), ("greedy", greedy)):  # the lam3 CLI, in this process (torch loaded)
        done = CliRunner().invoke(app, ["generate", "--config", str(config), "--bench", str(bench),
                                        "--out", str(runs / name / "response.jsonl"), "--limit", "2"])
        assert done.exit_code == 0, done.output
    # the library lets a caller pass a loaded wrapper: this one truly stops after 3 tokens, not the 6 asked for
    capped = with_generation(mllm_for(sampled), max_new_tokens=3, min_new_tokens=2, temperature=0.7, top_k=5, seed=7)
    generate_file(sampled, bench, runs / "capped" / "response.jsonl", mllm=capped, limit=2)

    day = datetime.now().astimezone().date().isoformat()
    log = subprocess.run([sys.executable, "-m", "lam3", "report", "daily", "--date", day, "--runs", str(runs),
                          "--out-dir", str(tmp_path / "logs")], capture_output=True, text=True, timeout=120)
    assert log.returncode == 0, log.stderr
    text = (tmp_path / "logs" / f"{day.replace('-', '')}.md").read_text()
    params = text[text.index("## Parameters"):text.index("## Observations")]
    rows = lambda run: log_rows(log_section(params, f"### Run `{run}`"))  # noqa: E731
    for run in ("sampled", "greedy"):
        assert "⚠" not in log_section(params, f"### Run `{run}`"), log_section(params, f"### Run `{run}`")
    assert rows("sampled")["seed"] == ["7", "7", ""] and rows("sampled")["temperature"] == ["0.7", "0.7", ""]
    assert rows("greedy")["seed"] == ["3", "3", ""] and rows("greedy")["do_sample"] == ["false", "false", ""]
    assert not {"temperature", "top_p", "top_k"} & set(rows("greedy"))  # greedy: they do not apply
    assert rows("capped")["max_new_tokens"] == ["6", "3", "⚠ NOT HONOURED: requested 6"]
    assert [k for k, (_, _, flag) in rows("capped").items() if flag] == ["max_new_tokens"]
    issues = text[text.index("## Issues"):]
    assert "generation setting max_new_tokens: NOT HONOURED: requested 6 (used: 3)" in issues
    assert issues.count("generation setting") == 1
