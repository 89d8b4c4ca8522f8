"""Exports of a real run (mini bench scored offline and fused): HarmBench, JailbreakBench, Parquet; round trips."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from bench_io_runs import REPO, make_run
from typer.testing import CliRunner

from lam3.cli import app
from lam3.export.harmbench import export_harmbench
from lam3.export.jbb import JBB_MODELS, AttackArtifact, export_jbb, read_artifact
from lam3.export.run import Run
from lam3.export.success import Success
from lam3.integrations.score_inputs import read_score_input
from lam3.pipeline.fused_records import read_fused
from lam3.records import MetricResult
from lam3.store import iter_jsonl

runner = CliRunner()
MINI_BENCH = REPO / "data" / "mini_bench"


def lines(path: Path) -> list[dict]:
    return [rec for _, rec in iter_jsonl(path)]


def by_id(path: Path) -> dict[str, dict]:
    return {r["id"]: r for r in lines(path)}


def test_harmbench_completions_come_back_in_as_the_same_responses(mini_run, tmp_path):
    out = tmp_path / "completions" / "example.json"
    summary = export_harmbench(Run(mini_run), out, results=False, success=Success())
    data = json.loads(out.read_text())
    responses = lines(mini_run / "response.jsonl")
    assert summary.written == len(responses) == sum(len(v) for v in data.values())
    assert all(set(item) == {"test_case", "generation"} for items in data.values() for item in items)
    back = [rec for _, rec in read_score_input(out)]  # what `lam3 score completions.json` reads
    original = sorted(responses, key=lambda r: (list(data).index(r["behavior_id"])))
    assert [(r["behavior_id"], r["prompt"], r["images"], r["response"]) for r in back] == \
           [(r["behavior_id"], r["prompt"], r["images"], r["response"]) for r in original]
    assert back[0]["id"] == f"{back[0]['behavior_id']}#0" and back[0]["model_id"] == "example"
    first = data["mb-s1-01"][0]["test_case"]
    assert first == ["images/mb-s1-01.png", responses[0]["prompt"]]  # multimodal test case: [image, text]


def test_harmbench_results_label_is_the_fused_verdict(mini_run, tmp_path):
    out = tmp_path / "results.json"
    success = Success()
    summary = export_harmbench(Run(mini_run), out, results=True, success=success)
    fused = by_id(mini_run / "fused.jsonl")
    items = [item for _, rec in read_score_input(out) for item in [rec]]
    assert {i["harmbench"]["label"] for i in items} == {0, 1}
    for rec in items:  # the offline configs fuse jailbreak_success (not_refused): its verdict is the label
        response_id = next(r["id"] for r in lines(mini_run / "response.jsonl")
                           if r["behavior_id"] == rec["behavior_id"] and r["response"] == rec["response"])
        assert rec["harmbench"]["label"] == int(fused[response_id]["jailbreak_success"]["flagged"])
    assert success.fallbacks == 0
    assert not any("no jailbreak_success metric" in w for w in summary.warnings)


def test_other_success_definitions_and_unjudged_responses(tmp_path):
    run = make_run(tmp_path / "partial", limit=80)  # 8 responses never scored, so never fused
    out = tmp_path / "results.json"
    success = Success("non_refusal")
    summary = export_harmbench(Run(run), out, results=True, success=success)
    labels = [item["label"] for items in json.loads(out.read_text()).values() for item in items]
    fused = by_id(run / "fused.jsonl")
    assert labels.count(-1) == 8 == success.unjudged and success.fallbacks == 0
    expected = [int(not fused[r["id"]]["refusal"]["flagged"]) if r["id"] in fused else -1
                for r in lines(run / "response.jsonl")]
    assert sorted(labels) == sorted(expected)
    assert any("8 responses have no usable verdict" in w for w in summary.warnings)


def test_a_present_jailbreak_success_metric_is_used_and_an_empty_one_falls_back(mini_run):
    _, rec = next(read_fused(mini_run / "fused.jsonl"))
    success = Success()
    hit = MetricResult(score=0.9, flagged=True, votes={"judge": True})
    assert success(rec.model_copy(update={"jailbreak_success": hit})) is True and success.fallbacks == 0
    unjudged = MetricResult(votes={"judge": None}, missing=["judge"])
    assert success(rec.model_copy(update={"jailbreak_success": unjudged})) is None and success.fallbacks == 0
    assert success(rec.model_copy(update={"jailbreak_success": MetricResult()})) is rec.policy_risk.flagged
    assert success.fallbacks == 1 and success.unjudged == 1


def test_jbb_artifact_lists_every_harmful_behaviour_and_validates(mini_run, tmp_path):
    out = tmp_path / "artifact.json"
    summary = export_jbb(Run(mini_run, attack="figstep"), out, success=Success(), attack_type="manual",
                         bench=MINI_BENCH)
    artifact = read_artifact(out)
    samples = [json.loads(line) for line in (MINI_BENCH / "samples.jsonl").read_text().splitlines()]
    harmful = [s for s in samples if s["category"] != "benign"]
    assert [j.index for j in artifact.jailbreaks] == list(range(len(harmful)))
    assert [j.behavior for j in artifact.jailbreaks] == [s["behavior_id"] for s in harmful]
    fused = [r for r in lines(mini_run / "fused.jsonl") if r["attack"] == "figstep" and r["category"] != "benign"]
    attacked = {r["sample_id"] for r in fused}
    jailbroken = {r["sample_id"] for r in fused if r["jailbreak_success"]["flagged"]}
    for j, sample in zip(artifact.jailbreaks, harmful):
        assert (j.prompt is not None) == (sample["id"] in attacked)
        assert j.jailbroken == (sample["id"] in jailbroken)
        assert j.goal == sample["behavior"] and j.category == sample["category"]
    p = artifact.parameters
    assert p.attack_success_rate == len(jailbroken) / len(harmful) and p.total_number_of_jailbreaks == len(jailbroken)
    assert p.number_of_submitted_prompts == len(attacked) and p.model == "example/handwritten"
    assert p.method == "lam3/figstep" and p.method_parameters["lam3_success"] == "jailbreak_success"
    assert any("not one of JailbreakBench's leaderboard models" in w for w in summary.warnings)
    assert any("benign controls" in w for w in summary.warnings)


def test_jbb_export_needs_one_attack(mini_run, tmp_path):
    from lam3.errors import UserError

    with pytest.raises(UserError, match=r"several attacks \(clean, figstep\).*pass --attack NAME"):
        export_jbb(Run(mini_run), tmp_path / "a.json", success=Success(), attack_type="manual")


def test_a_published_artifact_layout_parses_with_the_transcribed_models(tmp_path):
    # jailbreakbench 1.0.0 artifact layout (JailbreakBench/artifacts @ 909e68c), placeholder text: an extra
    # per-jailbreak key, nulls for unsubmitted prompts and missing counts
    artifact = {
        "parameters": {"method": "PLACEHOLDER", "model": JBB_MODELS[0], "attack_type": "black_box", "defense": None,
                       "attack_success_rate": 0.5, "total_number_of_jailbreaks": 1,
                       "number_of_submitted_prompts": 1, "total_number_of_queries": None,
                       "total_prompt_tokens": None, "total_response_tokens": None, "evaluation_date": "2024-01-01",
                       "evaluation_llm_provider": "litellm", "method_parameters": {"n-iter": 3, "judge": "x"}},
        "jailbreaks": [
            {"index": 0, "goal": "Write [REDACTED]", "behavior": "Placeholder A", "category": "Privacy",
             "prompt": "Imagine [REDACTED]", "response": "Sure, [REDACTED]", "number_of_queries": 5,
             "queries_to_jailbreak": 3, "prompt_tokens": 600, "response_tokens": 300, "jailbroken": True,
             "jailbroken_llama_guard1": True},
            {"index": 1, "goal": "Provide [REDACTED]", "behavior": "Placeholder B", "category": "Malware/Hacking",
             "prompt": None, "response": None, "number_of_queries": None, "queries_to_jailbreak": None,
             "prompt_tokens": None, "response_tokens": None, "jailbroken": False}]}
    path = tmp_path / "vicuna-13b-v1.5.json"
    path.write_text(json.dumps(artifact))
    parsed = read_artifact(path)
    assert parsed.parameters.evaluation_date.isoformat() == "2024-01-01" and parsed.jailbreaks[1].prompt is None
    bad = json.loads(json.dumps(artifact))
    bad["parameters"]["attack_success_rate"] = "0.5"  # JBB declares it strict
    with pytest.raises(ValueError, match="attack_success_rate"):
        AttackArtifact.model_validate(bad)


def test_parquet_reads_back_equal_to_the_fused_jsonl(mini_run, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = tmp_path / "fused.parquet"
    result = runner.invoke(app, ["export", "parquet", str(mini_run), "--out", str(out)])
    assert result.exit_code == 0, result.output
    table = pq.read_table(out)
    fused = lines(mini_run / "fused.jsonl")
    rows = table.to_pylist()
    assert len(rows) == len(fused) == table.num_rows
    assert table.schema.field("policy_risk_score").type == pa.float64()
    assert table.schema.field("refusal_flagged").type == pa.bool_()
    assert table.schema.field("images").type == pa.list_(pa.string())
    assert table.schema.field("labels_categories").type == pa.list_(pa.string())
    for row, rec in zip(rows, fused):
        assert row["id"] == rec["id"] and row["review"] == rec["review"]
        for metric in ("social_toxicity", "policy_risk", "refusal", "jailbreak_success"):
            for key in ("score", "flagged", "resolution"):
                assert row[f"{metric}_{key}"] == rec[metric][key]
        for key in ("sample_id", "model_id", "attack", "category", "behavior", "prompt", "response", "images"):
            assert row[key] == rec[key]
        assert {k: row[f"labels_{k}"] for k in rec["labels"]} == rec["labels"]
        for metric in ("social_toxicity", "policy_risk", "refusal"):
            judges = rec[metric]["probabilities"]
            assert judges and all(row[f"judge_{metric}_{judge}"] == p for judge, p in judges.items())


def test_cli_refuses_options_of_another_format_and_names_missing_ones(mini_run, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "lam3", "export", "jbb", str(mini_run), "--attack", "figstep",
                           "--out", str(tmp_path / "a.json")], capture_output=True, text=True)
    assert proc.returncode == 2 and "--attack-type: the jbb format needs --attack-type" in proc.stderr
    result = runner.invoke(app, ["export", "harmbench-results", str(mini_run), "--bench", str(MINI_BENCH),
                                 "--out", str(tmp_path / "r.json")])
    assert result.exit_code != 0 and "--bench only apply to the jbb format" in str(result.exception)
    args = ["export", "jbb", str(mini_run), "--attack", "figstep", "--attack-type", "manual", "--out",
            str(tmp_path / "a.json")]
    result = runner.invoke(app, args)
    assert result.exit_code == 0 and "not one of JailbreakBench's leaderboard models" in result.output
    result = runner.invoke(app, [*args, "--model", JBB_MODELS[1]])
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "a.json").read_text())["parameters"]["model"] == JBB_MODELS[1]
    assert "leaderboard" not in result.output
