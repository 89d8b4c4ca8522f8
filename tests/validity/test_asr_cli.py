"""`lam3 asr` on runs made by the real stages: paired adversarial − clean, over-refusal on the mini bench,
and the shipped configs that feed the headline metric."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from evalset_files import COMPLY, REFUSE
from statsmodels.stats.contingency_tables import mcnemar
from typer.testing import CliRunner

from lam3.bench.mini_bench import responses_path
from lam3.cli import app
from lam3.fusion.intervals import proportion_ci
from lam3.pipeline.ensemble_files import load_ensemble

REPO = Path(__file__).resolve().parents[2]
OFFLINE, ENSEMBLE = REPO / "configs" / "offline.yaml", REPO / "configs" / "ensemble.yaml"
runner = CliRunner()


def invoke(*args: object) -> str:
    result = runner.invoke(app, [str(a) for a in args], env={"COLUMNS": "200"})
    assert result.exit_code == 0, (result.output, result.exception)
    return result.output


def scored_and_fused(run: Path, rows: list[dict]) -> Path:
    run.mkdir(parents=True)
    (run / "response.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    invoke("score", run / "response.jsonl", "-c", OFFLINE, "-o", run / "offline_scored.jsonl")
    invoke("fuse", run / "offline_scored.jsonl", "-c", ENSEMBLE, "-o", run / "fused.jsonl")
    return run / "fused.jsonl"


def test_paired_adversarial_minus_clean_through_the_cli(tmp_path: Path) -> None:
    # ten samples, each answered clean and under the attack; the attack turns six refusals into compliance
    clean = [REFUSE] * 8 + [COMPLY] * 2
    attacked = [COMPLY] * 6 + [REFUSE] * 2 + [COMPLY, REFUSE]
    rows = [{"id": f"s{i}@{attack}", "sample_id": f"s{i}", "prompt": "p", "behavior": "b", "category": "S2",
             "model_id": "m", "attack": attack, "response": text}
            for attack, texts in (("clean", clean), ("figstep", attacked)) for i, text in enumerate(texts)]
    rows.append({**rows[0], "id": "lonely@figstep", "sample_id": "lonely"})  # attacked only: unpaired
    fused = scored_and_fused(tmp_path / "runs" / "paired", rows)
    out = invoke("asr", fused, "--by", "model_id", "--paired", "figstep,clean", "--json", tmp_path / "asr.json")
    assert "Paired: ASR(figstep) − ASR(clean) on the same samples" in out
    (row,) = [p for p in json.loads((tmp_path / "asr.json").read_text())["paired"]
              if p["definition"] == "jailbreak_success"]
    a = [t == COMPLY for t in attacked]
    b = [t == COMPLY for t in clean]
    assert (row["pairs"], row["unpaired"]) == (10, 1)
    assert (row["rate_a"], row["rate_b"], row["difference"]) == (0.7, 0.2, pytest.approx(0.5))
    table = [[sum(x and y for x, y in zip(a, b)), sum(x and not y for x, y in zip(a, b))],
             [sum(y and not x for x, y in zip(a, b)), sum(not x and not y for x, y in zip(a, b))]]
    assert row["p_value"] == pytest.approx(mcnemar(table, exact=True).pvalue)
    assert row["ci_low"] < 0.5 < row["ci_high"] and row["interval"].startswith("bootstrap")
    result = runner.invoke(app, ["asr", str(fused), "--paired", "figstep"])
    assert result.exit_code != 0 and "two different attacks" in result.output
    invoke("report", "daily", "--runs", fused.parent.parent, "--out-dir", tmp_path / "logs")
    log = next((tmp_path / "logs").glob("*.md")).read_text()
    assert "#### Adversarial − clean (paired by sample)" in log and "| m | jailbreak_success | figstep | 10 |" in log


def test_over_refusal_on_the_mini_bench_beside_asr(tmp_path: Path) -> None:
    run = tmp_path / "runs" / "mb"
    rows = [json.loads(line) for line in responses_path().read_text().splitlines()]
    fused_path = scored_and_fused(run, rows)
    out = invoke("asr", fused_path, "--by", "model_id,attack", "--json", tmp_path / "asr.json")
    assert "Over-refusal: refusal rate on benign prompts by model_id, attack" in out
    data = json.loads((tmp_path / "asr.json").read_text())
    fused = [json.loads(line) for line in fused_path.read_text().splitlines()]
    for attack in ("clean", "figstep"):
        benign = [r for r in fused if r["category"] == "benign" and r["attack"] == attack]
        refused = sum(r["refusal"]["flagged"] for r in benign)
        (row,) = [r for r in data["over_refusal"] if r["attack"] == attack]
        assert (row["n"], row["successes"], row["definition"]) == (len(benign), refused, "over_refusal")
        samples = {r["sample_id"] for r in benign}
        if len(samples) == len(benign):
            assert (row["ci_low"], row["ci_high"]) == tuple(proportion_ci(refused, len(benign)).model_dump()[k]
                                                            for k in ("low", "high"))
        else:
            assert row["units"] == len(samples)  # responses to one benign prompt are one unit
        harmful = [r for r in data["asr"] if r["attack"] == attack and r["headline"] and r["per"] == "response"]
        assert harmful and harmful[0]["n"] == sum(r["category"] != "benign" and r["attack"] == attack for r in fused)
    # the human labels agree: the mini bench's benign controls include over-refusals to catch
    labelled = sum(r["labels"]["refusal"] for r in fused if r["category"] == "benign")
    assert labelled >= 1
    shutil.copy(fused_path, tmp_path / "copy.jsonl")  # a fused file outside its run: no manifest, no cards
    out = invoke("asr", tmp_path / "copy.jsonl", "--by", "")
    assert "Over-refusal" in out


def test_the_shipped_configs_feed_the_headline_metric(tmp_path: Path) -> None:
    offline = load_ensemble(ENSEMBLE).ensemble
    assert offline.metrics["jailbreak_success"].voters == ["not_refused"]
    success = load_ensemble(REPO / "configs" / "ensemble_success.yaml").ensemble
    plan = success.metrics["jailbreak_success"]
    assert plan.arbiter == "harmbench_classifier" and sorted(plan.voters) == ["jailbreakbench", "strongreject"]
    assert set(success.metrics) == {"jailbreak_success", "refusal"}
    out = invoke("judges")
    assert "not_refused" in out


def test_cards_are_no_resume_setting_of_fuse(tmp_path: Path) -> None:
    rows = [json.loads(line) for line in responses_path().read_text().splitlines()][:10]
    fused = scored_and_fused(tmp_path / "runs" / "r", rows)
    card = REPO / "data" / "cards" / "pyrit_objective.json"
    out = invoke("fuse", fused.parent / "offline_scored.jsonl", "-c", ENSEMBLE, "-o", fused, "--judge-card", card)
    assert "fused 0, skipped (already done) 10" in out and "card applies (jailbreak_success)" in out
    assert (fused.parent / "fused.cards.json").is_file()
