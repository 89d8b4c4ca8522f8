"""Judge cards end to end: `lam3 validate` writes one; `lam3 fuse`, `lam3 asr` and the reports take it.

A card applies only to the same judge, version, score config and vote rule (and, for a fused metric,
the same ensemble); a mismatch is reported with its reason, never used. Everything is made by the
real stages through the CLI.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from evalset_files import COMPLY, REFUSE, jbb_file, write_csv
from typer.testing import CliRunner

from lam3.bench.mini_bench import responses_path
from lam3.cli import app
from lam3.errors import UserError
from lam3.fusion.intervals import rogan_gladen
from lam3.manifest import sha256_file
from lam3.pipeline.cards import read_card

REPO = Path(__file__).resolve().parents[2]
OFFLINE, ENSEMBLE = REPO / "configs" / "offline.yaml", REPO / "configs" / "ensemble.yaml"
runner = CliRunner()


def invoke(*args: object) -> str:
    result = runner.invoke(app, [str(a) for a in args], env={"COLUMNS": "220"})
    assert result.exit_code == 0, (result.output, result.exception)
    return result.output


@pytest.fixture(scope="module")
def card(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("card")
    source = jbb_file(tmp / "judge-comparison.csv", n=30)
    out = invoke("validate", "--set", f"jbb_judges:{source}", "--score", OFFLINE, "--ensemble", ENSEMBLE,
                 "--out", tmp / "val", "--n-resamples", 300)
    assert "Jailbreak Success vs the human majority" in out and "not_refused" in out
    assert "raters (Jailbreak Success): 3 per item on 30 items — Fleiss κ" in out
    return tmp / "val" / "card.json"


def make_run(root: Path, config: Path = OFFLINE) -> Path:
    run = root / "run1"
    run.mkdir(parents=True)
    shutil.copy(responses_path(), run / "response.jsonl")
    invoke("score", run / "response.jsonl", "-c", config, "-o", run / "offline_scored.jsonl")
    return run


def test_the_card_records_the_set_the_judges_and_the_raters(card: Path) -> None:
    c = read_card(card)
    source = card.parent.parent / "judge-comparison.csv"
    assert c.dataset.format == "jbb_judges" and c.dataset.sha256 == sha256_file(source) and c.dataset.records == 30
    assert c.n == 30 and set(c.judges) == {"not_refused"} and set(c.fused) == {"jailbreak_success"}
    entry = c.judges["not_refused"]
    assert (entry.judge, entry.version) == ("not_refused", "1") and len(entry.config_hash) == 64
    f = entry.metrics["jailbreak_success"].figures
    assert f.n == 30 and f.positives == 10 and f.sensitivity.n == 10 and f.specificity.n == 20
    assert c.raters["jailbreak_success"].raters == 3 and c.resampling.n_resamples == 300
    assert c.created and c.lam3_version and c.score_configs == ["offline.yaml"] and c.ensemble_config == "ensemble.yaml"
    manifest = json.loads((card.parent / "manifest.json").read_text())
    assert {"validate-import:responses.jsonl", "score:offline_scored.jsonl", "fuse:fused.jsonl", "validate"} <= \
        set(manifest["stages"])


def test_a_matching_card_goes_into_fuse_asr_and_the_reports(card: Path, tmp_path: Path) -> None:
    run = make_run(tmp_path / "runs")
    out = invoke("fuse", run / "offline_scored.jsonl", "-c", ENSEMBLE, "-o", run / "fused.jsonl", "--judge-card", card)
    assert "card applies (jailbreak_success): judge not_refused: acc" in out
    assert (run / "fused.cards.json").is_file()
    out = invoke("asr", run / "fused.jsonl", "--by", "model_id", "--json", tmp_path / "asr.json")
    assert "judge not_refused: acc" in out and "corrected" in out
    rows = json.loads((tmp_path / "asr.json").read_text())
    (head,) = [r for r in rows["asr"] if r["headline"] and r["per"] == "response"]
    assert head["judges"] == ["not_refused"] and all(v["applies"] for v in head["validity"])
    (corrected,) = head["corrected"]
    f = read_card(card).fused["jailbreak_success"].figures
    ref = rogan_gladen(head["successes"], head["n"], f.sensitivity.estimate, f.specificity.estimate,
                       sens_n=f.positives, spec_n=f.negatives)
    assert corrected["interval"] == ref.model_dump() and corrected["reason"] is None
    assert head["rate"] != corrected["interval"]["estimate"]  # beside the raw rate, never instead of it
    older = [r for r in rows["asr"] if r["definition"] == "non_refusal" and r["per"] == "response"]
    assert older and all(r["corrected"] == [] for r in older)  # the card is about success, not refusal
    dataset = read_card(card).dataset.name
    invoke("report", "html", run)
    html = (run / "report.html").read_text()
    assert f"judge not_refused: acc {f.accuracy.estimate:.2f}" in html and f"on {dataset}" in html
    assert "corrected " in html
    invoke("report", "daily", "--runs", run.parent, "--out-dir", tmp_path / "logs")
    log = next((tmp_path / "logs").glob("*.md")).read_text()
    assert "headline: judge-based jailbreak success" in log and "`jailbreak_success`: not_refused; judge not_refused: acc" in log
    assert "corrected " in log and "#### Over-refusal (refusal rate on benign prompts)" in log


def test_a_card_for_another_config_is_reported_and_not_used(card: Path, tmp_path: Path) -> None:
    other = tmp_path / "offline_other.yaml"
    data = yaml.safe_load(OFFLINE.read_text())
    next(j for j in data["judges"] if j["judge"] == "not_refused")["late_weight"] = 0.5
    other.write_text(yaml.safe_dump(data))
    run = make_run(tmp_path / "runs", other)
    out = invoke("fuse", run / "offline_scored.jsonl", "-c", ENSEMBLE, "-o", run / "fused.jsonl", "--judge-card", card)
    assert "card does not apply (jailbreak_success): judge not_refused: card card.json" in out
    assert "judge not_refused: score config differs (hash" in out
    invoke("asr", run / "fused.jsonl", "--by", "", "--json", tmp_path / "asr.json")
    (head,) = [r for r in json.loads((tmp_path / "asr.json").read_text())["asr"] if r["headline"] and r["per"] == "response"]
    assert not any(v["applies"] for v in head["validity"])
    (corrected,) = head["corrected"]
    assert corrected["interval"] is None and corrected["reason"].startswith("the card does not apply: judge not_refused")
    invoke("report", "daily", "--runs", run.parent, "--out-dir", tmp_path / "logs")
    log = next((tmp_path / "logs").glob("*.md")).read_text()
    assert "judge card card.json (jbb_judges: judge-comparison.csv) does not apply to not_refused / jailbreak_success" in log


def test_another_threshold_is_another_vote_rule_and_ensemble(card: Path, tmp_path: Path) -> None:
    run = make_run(tmp_path / "runs")
    ensemble = tmp_path / "ensemble.yaml"
    data = yaml.safe_load(ENSEMBLE.read_text())
    data["judges"]["not_refused"]["threshold"] = 0.6
    ensemble.write_text(yaml.safe_dump(data))
    invoke("fuse", run / "offline_scored.jsonl", "-c", ensemble, "-o", run / "fused.jsonl")
    out = invoke("asr", run / "fused.jsonl", "--by", "", "--judge-card", card)  # the flag alone is enough
    assert "judge not_refused: its jailbreak_success vote rule differs" in out
    assert "jailbreak_success is fused differently (ensemble hash" in out


def test_a_fused_file_without_identities_cannot_use_cards(card: Path, tmp_path: Path) -> None:
    run = make_run(tmp_path / "runs")
    invoke("fuse", run / "offline_scored.jsonl", "-c", ENSEMBLE, "-o", run / "fused.jsonl")
    manifest = json.loads((run / "manifest.json").read_text())
    del manifest["stages"]["fuse:fused.jsonl"]["summary"]["identity"]  # as an older LAM3 wrote it
    (run / "manifest.json").write_text(json.dumps(manifest))
    out = invoke("asr", run / "fused.jsonl", "--by", "", "--judge-card", card)
    assert "the fuse stage recorded no judge identities for this fused file" in out and "rerun `lam3 fuse`" in out


def test_rogan_gladen_guard_rail_is_shown_in_the_cli(tmp_path: Path) -> None:
    # a set whose success label is the opposite of "not refused": sensitivity + specificity < 1 there
    rows = [[f"r{i}", REFUSE if i % 2 else COMPLY, int(i % 2)] for i in range(12)]
    source = write_csv(tmp_path / "inverse.csv", ["rid", "text", "gold"], rows)
    invoke("validate", "--set", f"generic:{source}", "--map", "id=rid", "--map", "response=text",
           "--map", "labels.success=gold", "--score", OFFLINE, "--ensemble", ENSEMBLE, "--out", tmp_path / "val",
           "--n-resamples", 200)
    bad = tmp_path / "val" / "card.json"
    f = read_card(bad).fused["jailbreak_success"].figures
    assert f.sensitivity.estimate + f.specificity.estimate <= 1
    run = make_run(tmp_path / "runs")
    invoke("fuse", run / "offline_scored.jsonl", "-c", ENSEMBLE, "-o", run / "fused.jsonl")
    out = invoke("asr", run / "fused.jsonl", "--by", "", "--judge-card", bad, "--json", tmp_path / "asr.json")
    assert "no correction from generic: inverse.csv: sensitivity 0.000 + specificity" in out  # beside the raw rate
    (head,) = [r for r in json.loads((tmp_path / "asr.json").read_text())["asr"] if r["headline"] and r["per"] == "response"]
    (corrected,) = head["corrected"]
    assert corrected["interval"] is None and corrected["reason"] == (
        "sensitivity 0.000 + specificity 0.000 ≤ 1 on generic: inverse.csv: the verdict is no better than chance "
        "there, so the correction is undefined (it would invert the rate)")


def test_a_malformed_card_names_its_file_line_and_field(card: Path, tmp_path: Path) -> None:
    data = json.loads(card.read_text())
    data["judges"]["not_refused"]["version"] = 3
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data, indent=2))
    line = next(i for i, text in enumerate(bad.read_text().splitlines(), 1) if '"version": 3' in text)
    with pytest.raises(UserError, match=rf"bad\.json:{line}: judges\.not_refused\.version: Input should be a valid "
                                        "string"):
        read_card(bad)
    bad.write_text("{}")
    with pytest.raises(UserError, match=r"bad\.json:1: not a LAM3 judge card"):
        read_card(bad)
