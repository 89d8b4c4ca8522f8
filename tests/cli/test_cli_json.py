"""Issue 19 point 4: `--json PATH` on score, fuse, judges, agreement and asr (validate: tests/validity) writes
one documented shape per command; each file validates against its model in lam3.cli.summaries and holds the
figures the table printed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_tables import ATTACK, REPO, invoke, only_table, write_run
from pydantic import ValidationError

from lam3 import __version__
from lam3.cli.summaries.fusion import AgreementJson, AsrJson, FuseJson
from lam3.cli.summaries.reference import BEGIN, END, SUMMARIES, document
from lam3.cli.summaries.stages import JudgesJson, ScoreJson

SCORE = ("scored", "skipped (already done)", "quarantined", "retried errors", "errors", "seconds")
FUSE = ("metric", "flagged", "no usable judge", "disagreements", "resolutions")
PAIRS = ("judges", "n", "agreement", "Cohen κ")
PAIRED = ("model_id", "definition", "pairs", "unpaired", "figstep", ATTACK, "difference", "95 % CI", "interval",
          "McNemar p")
JUDGES = ("name", "metric", "labels (default config)", "needs", "usable here")


def percent(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}%"


def test_every_summary_validates_against_its_model_and_matches_the_table(tmp_path: Path) -> None:
    run = write_run(tmp_path / "runs" / "day1", attacks=(ATTACK, "figstep"))
    out = invoke("score", run["responses"], "-c", run["score"], "-o", run["scored"], "--json", tmp_path / "s.json")
    score = ScoreJson.model_validate_json((tmp_path / "s.json").read_text())
    assert (score.command, score.lam3_version, score.output) == ("score", __version__, str(run["scored"]))
    assert (score.scored, score.skipped_already_done, score.errors) == (24, 0, {})
    (row,) = only_table(out, SCORE)
    assert (row["scored"], row["quarantined"], row["errors"]) == ("24", "0", "0")

    out = invoke("fuse", run["scored"], "-c", run["ensemble"], "-o", run["fused"], "--json", tmp_path / "f.json")
    fuse = FuseJson.model_validate_json((tmp_path / "f.json").read_text())
    assert fuse.fused == 24 and fuse.join.mode == "lockstep" and fuse.left_out.errored == {}
    flagged = {r["metric"]: r for r in only_table(out, FUSE)}
    assert {m.metric for m in fuse.metrics} == set(flagged) == {"policy_risk", "refusal", "jailbreak_success"}
    for m in fuse.metrics:
        assert flagged[m.metric]["flagged"] == str(m.flagged) and flagged[m.metric]["resolutions"] == "vote: 24"
    # the fused file itself agrees with the summary
    fused = [json.loads(line) for line in run["fused"].read_text().splitlines()]
    assert fuse.metrics[[m.metric for m in fuse.metrics].index("refusal")].flagged == \
        sum(r["refusal"]["flagged"] for r in fused)

    out = invoke("agreement", run["fused"], "--json", tmp_path / "a.json")
    agreement = AgreementJson.model_validate_json((tmp_path / "a.json").read_text())
    assert agreement.command == "agreement" and agreement.n_records == 24 and agreement.has_labels
    (pair,) = agreement.metrics["refusal"].cohen_kappa.values()
    (printed,) = only_table(out, PAIRS)
    assert printed == {"judges": f"{pair.a} ~ {pair.b}", "n": str(pair.n), "agreement": f"{pair.agreement:.3f}",
                       "Cohen κ": f"{pair.kappa:.3f}"}

    out = invoke("asr", run["fused"], "--by", "model_id,attack", "--paired", f"figstep,{ATTACK}",
                 "--json", tmp_path / "asr.json")
    asr = AsrJson.model_validate_json((tmp_path / "asr.json").read_text())
    assert asr.group_by == ["model_id", "attack"] and asr.fused == str(run["fused"])
    assert {(r.model_extra["attack"], r.definition) for r in asr.over_refusal} == \
        {(ATTACK, "over_refusal"), ("figstep", "over_refusal")}
    printed_pairs = only_table(out, PAIRED)
    assert [p["definition"] for p in printed_pairs] == [p.definition for p in asr.paired]
    for p, row in zip(asr.paired, printed_pairs):
        assert (row["pairs"], row["figstep"], row[ATTACK]) == (str(p.pairs), percent(p.rate_a), percent(p.rate_b))
        assert row["95 % CI"] == f"[{percent(p.ci_low)}, {percent(p.ci_high)}]" and row["interval"] == p.interval

    out = invoke("judges", "--json", tmp_path / "j.json")
    judges = JudgesJson.model_validate_json((tmp_path / "j.json").read_text())
    rows = {r["name"]: r for r in only_table(out, JUDGES)}
    assert [j.name for j in judges.judges] == list(rows)
    assert all(rows[j.name]["usable here"] == ("yes" if j.usable else f"no: {j.why_not}") for j in judges.judges)


def test_a_file_of_another_shape_is_refused(tmp_path: Path) -> None:
    run = write_run(tmp_path / "runs" / "day1")
    invoke("score", run["responses"], "-c", run["score"], "-o", run["scored"], "--json", tmp_path / "s.json")
    data = json.loads((tmp_path / "s.json").read_text())
    with pytest.raises(ValidationError, match="command"):
        FuseJson.model_validate(data)
    with pytest.raises(ValidationError, match="renamed_key"):
        ScoreJson.model_validate({**data, "renamed_key": 1})


def test_docs_list_every_shape_as_generated_from_the_models() -> None:
    """docs/cli.md's reference is `python -m lam3.cli.summaries docs/cli.md`'s output for today's models."""
    text = (REPO / "docs" / "cli.md").read_text()
    generated = text.split(BEGIN, 1)[1].split(END, 1)[0]
    assert generated.strip() == document().strip(), "rerun: python -m lam3.cli.summaries docs/cli.md"
    for command, model in SUMMARIES.items():
        assert f"### `lam3 {command} --json` ({model.__name__})" in generated
    assert set(SUMMARIES) == {"score", "fuse", "validate", "judges", "agreement", "asr"}
