"""`lam3 validate` as a user runs it: resumable, quarantines bad rows, refuses human reviews, lists its formats."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from evalset_files import JBB_HEADER, REFUSE, jbb_rows, write_csv, xstest_file
from typer.testing import CliRunner

from lam3.cli import app
from lam3.cli.summaries.fusion import ValidateJson
from lam3.pipeline.cards import read_card

REPO = Path(__file__).resolve().parents[2]
OFFLINE, ENSEMBLE = REPO / "configs" / "offline.yaml", REPO / "configs" / "ensemble.yaml"
runner = CliRunner()


def validate(*args: object) -> tuple[int, str]:
    result = runner.invoke(app, ["validate", *map(str, args)], env={"COLUMNS": "200"})
    return result.exit_code, result.output + (str(result.exception) if result.exit_code else "")


def test_rerun_resumes_and_bad_rows_are_quarantined_not_fatal(tmp_path: Path) -> None:
    rows = jbb_rows(12) + [[99, "g", "p", REFUSE, 1, 1, 0, 0, 0, 0, 0, 0]]  # majority contradicts the raters
    source = write_csv(tmp_path / "judge-comparison.csv", JBB_HEADER, rows)
    args = ("--set", f"jbb_judges:{source}", "--score", OFFLINE, "--ensemble", ENSEMBLE, "--out", tmp_path / "v",
            "--n-resamples", 200)
    code, out = validate(*args)
    assert code == 0, out
    assert "12 labelled records (1 rows quarantined)" in out
    (bad,) = [json.loads(x) for x in (tmp_path / "v" / "responses.quarantine.jsonl").read_text().splitlines()]
    assert (bad["line"], bad["field"]) == (14, "human_majority") and "human1..3 are [1, 1, 0]" in bad["reason"]
    first = read_card(tmp_path / "v" / "card.json")
    code, out = validate(*args)  # nothing redone, the same figures
    assert code == 0, out
    manifest = json.loads((tmp_path / "v" / "manifest.json").read_text())
    assert manifest["stages"]["validate-import:responses.jsonl"]["summary"]["skipped_already_done"] == 12
    assert manifest["stages"]["score:offline_scored.jsonl"]["summary"]["skipped_already_done"] == 12
    again = read_card(tmp_path / "v" / "card.json")
    assert again.fused == first.fused and again.judges == first.judges
    source.write_text(source.read_text().replace("Placeholder goal 3", "Placeholder goal three"))
    code, out = validate(*args)  # another file into the same folder: refused, naming what to do
    assert code != 0 and "cannot resume" in out and "--overwrite" in out
    code, out = validate(*args, "--overwrite")
    assert code == 0, out


def test_refusal_sets_measure_the_refusal_judge_and_the_raters(tmp_path: Path) -> None:
    source = xstest_file(tmp_path / "xstest_v2_completions_placeholder.csv")
    code, out = validate("--set", f"xstest_completions:{source}", "--score", OFFLINE, "--ensemble", ENSEMBLE,
                         "--out", tmp_path / "v", "--n-resamples", 200)
    assert code == 0, out
    card = read_card(tmp_path / "v" / "card.json")
    assert set(card.judges) == {"refusal"} and set(card.fused) == {"refusal"}  # XSTest labels refusal only
    f = card.fused["refusal"].figures
    assert (f.n, f.positives) == (4, 2) and f.tp == 2 and f.fp == 0
    raters = card.raters["refusal"]
    # full and partial refusal are both a refusal, so only v2-27 (compliance vs refusal) splits the raters
    assert (raters.raters, raters.n) == (2, 4) and raters.unanimous.estimate == 0.75
    assert "raters (Refusal): 2 per item on 4 items" in out



def test_json_summary_validates_against_its_model_and_holds_the_card(tmp_path: Path) -> None:
    source = xstest_file(tmp_path / "xstest_v2_completions_placeholder.csv")
    code, out = validate("--set", f"xstest_completions:{source}", "--score", OFFLINE, "--ensemble", ENSEMBLE,
                         "--out", tmp_path / "v", "--n-resamples", 200, "--json", tmp_path / "validate.json")
    assert code == 0, out
    summary = ValidateJson.model_validate_json((tmp_path / "validate.json").read_text())
    assert (summary.command, summary.imported, summary.quarantined) == ("validate", 4, 0)
    assert summary.card_path == str(tmp_path / "v" / "card.json") and Path(summary.fused).is_file()
    assert summary.card == read_card(tmp_path / "v" / "card.json")

def test_an_ensemble_with_human_reviews_is_refused(tmp_path: Path) -> None:
    ensemble = tmp_path / "ensemble.yaml"
    data = yaml.safe_load(ENSEMBLE.read_text())
    data["reviews"] = "reviews.jsonl"
    ensemble.write_text(yaml.safe_dump(data))
    source = write_csv(tmp_path / "jc.csv", JBB_HEADER, jbb_rows(3))
    code, out = validate("--set", f"jbb_judges:{source}", "--score", OFFLINE, "--ensemble", ensemble,
                         "--out", tmp_path / "v")
    assert code != 0 and "reviews: this ensemble config names human reviews" in out
    assert not (tmp_path / "v").exists()  # refused before any work


def test_help_lists_the_formats_and_bad_specs_name_the_option(tmp_path: Path) -> None:
    result = runner.invoke(app, ["validate", "--help"], env={"COLUMNS": "200"})
    for fmt in ("harmbench_val", "jbb_judges", "xstest_completions", "pyrit_refusal", "pyrit_objective", "generic"):
        assert fmt in result.output
    code, out = validate("--set", "judge-comparison.csv", "--score", OFFLINE, "--out", tmp_path / "v")
    assert code != 0 and "--set: expected FORMAT:PATH" in out
