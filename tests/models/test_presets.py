"""Generation presets end to end: `lam3 generate` records the preset in every response and the manifest, and
`lam3 report daily` names it, flags nothing that was honoured and still flags a wrapper that did not honour it."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import yaml
from typer.testing import CliRunner

from lam3.cli import app
from lam3.manifest import read_manifest
from lam3.pipeline.generate import generate_file
from models.conftest import log_rows, log_section, read_lines, with_generation


def _preset_config(gen_yaml, tmp_path: Path, preset: str) -> Path:
    data = yaml.safe_load(gen_yaml("llava").read_text())
    data["generation"] = {"preset": preset, "seed": 5}
    path = tmp_path / f"{preset}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_presets_are_recorded_named_by_the_daily_log_and_checked(bench, gen_yaml, mllm_for, tmp_path):
    runs = tmp_path / "runs"
    jbb = _preset_config(gen_yaml, tmp_path, "jailbreakbench")
    harmbench = _preset_config(gen_yaml, tmp_path, "harmbench")
    sampled_k2 = gen_yaml("llava", num_samples=2)
    for name, config, limit in (("jbb", jbb, "2"), ("harmbench", harmbench, "1"), ("k2", sampled_k2, "4")):
        done = CliRunner().invoke(app, ["generate", "--config", str(config), "--bench", str(bench),
                                        "--out", str(runs / name / "response.jsonl"), "--limit", limit])
        assert done.exit_code == 0, done.output
    recs = read_lines(runs / "jbb" / "response.jsonl")
    assert [r["generation"]["preset"] for r in recs] == ["jailbreakbench"] * 2
    assert all(r["generation"]["max_new_tokens"] == 150 and r["generation"]["do_sample"] is False for r in recs)
    stage = read_manifest(runs / "jbb").stages["generate:response.jsonl"]
    assert stage.generation.preset == "jailbreakbench" and stage.config["generation"]["preset"] == "jailbreakbench"
    assert stage.generation.max_new_tokens == 150
    # a wrapper that decodes without the preset (as a library caller may pass one): 3 new tokens, not 150
    capped = with_generation(mllm_for(jbb), max_new_tokens=3, min_new_tokens=0, do_sample=False, seed=5)
    generate_file(jbb, bench, runs / "capped" / "response.jsonl", mllm=capped, limit=2)

    day = datetime.now().astimezone().date().isoformat()
    log = CliRunner().invoke(app, ["report", "daily", "--date", day, "--runs", str(runs),
                                   "--out-dir", str(tmp_path / "logs")])
    assert log.exit_code == 0, log.output
    text = (tmp_path / "logs" / f"{day.replace('-', '')}.md").read_text()
    params = text[text.index("## Parameters"):text.index("## Observations")]
    jbb_section, k2_section = log_section(params, "### Run `jbb`"), log_section(params, "### Run `k2`")
    assert "- **Generation preset:** `jailbreakbench` (JailbreakBench's fixed setting: greedy, up to 150 new " \
           "tokens)" in jbb_section
    assert "- **Generation preset:** `harmbench` (HarmBench's fixed setting: greedy, up to 512 new tokens)" in \
        log_section(params, "### Run `harmbench`")
    assert "- **Generation preset:** none (the decoding settings are the generate config's own)" in k2_section
    assert "- **Responses per sample:** 2" in k2_section and "- **Responses per sample:** 1" in jbb_section
    for run in ("jbb", "harmbench", "k2"):  # honoured: no false flag
        assert "⚠" not in log_section(params, f"### Run `{run}`"), log_section(params, f"### Run `{run}`")
    assert log_rows(jbb_section)["preset"] == ["jailbreakbench", "jailbreakbench", ""]
    assert log_rows(jbb_section)["max_new_tokens"] == ["150", "150", ""]
    assert log_rows(log_section(params, "### Run `harmbench`"))["max_new_tokens"] == ["512", "512", ""]
    assert log_rows(k2_section)["num_samples"] == ["2", "2", ""]
    assert not {"temperature", "top_p", "top_k"} & set(log_rows(jbb_section))  # greedy: they do not apply
    capped_rows = log_rows(log_section(params, "### Run `capped`"))
    assert capped_rows["preset"] == ["jailbreakbench", "not applied", "⚠ NOT HONOURED: requested jailbreakbench"]
    assert capped_rows["max_new_tokens"] == ["150", "3", "⚠ NOT HONOURED: requested 150"]
    assert [k for k, (_, _, flag) in capped_rows.items() if flag] == ["preset", "max_new_tokens"]
    issues = text[text.index("## Issues"):]
    assert "capped: generation setting preset: NOT HONOURED: requested jailbreakbench (used: not applied)" in issues
    assert issues.count("generation setting") == 2
