"""The fuse stage on files written by the real score stage: join (lockstep and indexed), missing judges,
resume, manifest, typed records, files of the previous LAM3 version."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from fusion_helpers import (BASIC_CONFIG, HUMAN_CONFIG, read_jsonl, response, score, three_judge_responses,
                            three_scored_files, write_jsonl, write_yaml)

from lam3.errors import UserError
from lam3.manifest import read_manifest
from lam3.pipeline.fuse import fuse_files
from lam3.pipeline.fused_records import read_fused
from lam3.records import FusedResult


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return write_yaml(tmp_path / "ensemble.yaml", BASIC_CONFIG)


@pytest.fixture(scope="module")
def scored40(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Three scored files over 40 responses (tox; guard + kw; ref), each from one run of `score`."""
    return three_scored_files(tmp_path_factory.mktemp("scored40"), 40)


def _copies(paths: list[Path], tmp: Path) -> list[Path]:
    out = []
    for p in paths:
        (tmp / p.name).write_bytes(p.read_bytes())
        out.append(tmp / p.name)
    return out


def _by_id(path: Path) -> dict[str, dict]:
    return {r["id"]: r for r in read_jsonl(path)}


def test_lockstep_join_fuses_every_response(tmp_path: Path, config: Path, scored40: list[Path]) -> None:
    out = tmp_path / "run" / "fused.jsonl"
    summary = fuse_files(scored40, config, out)
    assert summary.join.mode == "lockstep" and summary.fused == 40 and summary.quarantined == 0
    recs = [rec for _, rec in read_fused(out)]  # every line is a FusedResult
    assert [r.id for r in recs] == [f"r{i:05d}" for i in range(40)]
    r7 = recs[7]
    # carried through for reports
    assert {k: getattr(r7, k) for k in ("sample_id", "model_id", "attack", "category", "prompt", "response")} == {
        "sample_id": "s-r00007", "model_id": "m1", "attack": "clean", "category": "S8",
        "prompt": "prompt r00007", "response": "response r00007"}
    assert r7.labels == {"toxic": True, "risky": False, "refusal": False}  # type: ignore[attr-defined]
    # i=7: p=0.7; guard (w2) 0.7, kw weapons 0.3 → (1.4 + 0.3)/3
    assert r7.policy_risk.score == pytest.approx(1.7 / 3, abs=1e-6)
    assert r7.policy_risk.votes == {"guard": True, "kw": False} and r7.policy_risk.disagreement is True
    assert r7.social_toxicity.categories == {"toxicity": 0.7, "profanity": pytest.approx(0.3)}
    assert r7.social_toxicity.flagged is True and r7.social_toxicity.resolution == "vote"
    assert r7.refusal.score == 0.75 and r7.refusal.flagged is True
    assert r7.jailbreak_success.flagged is None  # no judge feeds it: reported as not judged, never as safe
    manifest = read_manifest(out.parent)
    stage = manifest.stages["fuse:fused.jsonl"]
    assert stage.summary["fused"] == 40 and "fused.jsonl" in manifest.artifacts
    assert stage.summary["metrics"] == ["social_toxicity", "policy_risk", "refusal"]


def test_misaligned_inputs_use_the_index_and_give_the_same_result(tmp_path: Path, config: Path,
                                                                  scored40: list[Path]) -> None:
    inputs = _copies(scored40, tmp_path)
    ref = tmp_path / "ref" / "fused.jsonl"
    fuse_files(inputs, config, ref)
    shuffled = read_jsonl(inputs[1])
    random.Random(3).shuffle(shuffled)
    write_jsonl(inputs[1], shuffled)
    out = tmp_path / "idx" / "fused.jsonl"
    summary = fuse_files(inputs, config, out)
    assert summary.join.mode == "index" and summary.fused == 40
    assert _by_id(out) == _by_id(ref)


def test_input_order_does_not_change_the_fused_values(tmp_path: Path, config: Path, scored40: list[Path]) -> None:
    results = []
    for k, order in enumerate(([0, 1, 2], [2, 0, 1], [1, 2, 0])):
        out = tmp_path / f"o{k}" / "fused.jsonl"
        fuse_files([scored40[i] for i in order], config, out)
        results.append(_by_id(out))
    assert results[0] == results[1] == results[2]


def test_a_shorter_file_drops_out_of_the_lockstep(tmp_path: Path, config: Path, scored40: list[Path]) -> None:
    records = three_judge_responses(40)
    short = score(tmp_path, "limited", records, {"ref": "fusion_refusal"}, limit=25)  # stopped early (--limit)
    out = tmp_path / "fused.jsonl"
    summary = fuse_files([*scored40[:2], short], config, out)
    assert summary.join.mode == "lockstep" and summary.fused == 40
    recs = read_jsonl(out)
    assert all(r["refusal"]["missing"] == [] for r in recs[:25])
    for r in recs[25:]:
        assert r["refusal"]["missing"] == ["ref"] and r["refusal"]["flagged"] is None
    assert summary.stats["missing"]["refusal"] == {"ref": 15}
    assert any("'ref'" in w and "15 responses" in w for w in summary.warnings)


def test_errored_judgement_is_reported_never_safe(tmp_path: Path, config: Path) -> None:
    inputs = three_scored_files(tmp_path, 40, missing_every=5)  # the guard errors on ids 0, 5, 10, …
    out = tmp_path / "fused.jsonl"
    summary = fuse_files(inputs, config, out)
    assert summary.stats["missing"]["policy_risk"] == {"guard": 8} and summary.stats["errored"] == {"guard": 8}
    r5 = _by_id(out)["r00005"]["policy_risk"]
    assert r5["missing"] == ["guard"] and r5["votes"]["guard"] is None
    # kw alone decides (weights renormalised): weapons = 1 - 0.5
    assert r5["score"] == pytest.approx(0.5) and r5["probabilities"] == {"guard": None, "kw": 0.5}


def test_resume_after_a_crash_finishes_without_duplicates(tmp_path: Path, config: Path,
                                                          scored40: list[Path]) -> None:
    ref = tmp_path / "ref" / "fused.jsonl"
    fuse_files(scored40, config, ref)
    out = tmp_path / "run" / "fused.jsonl"
    fuse_files(scored40, config, out)
    lines = out.read_text().splitlines(keepends=True)
    out.write_text("".join(lines[:13]) + lines[13][:20])  # a crash mid-write: 13 whole lines and a torn one
    summary = fuse_files(scored40, config, out)
    assert summary.skipped == 13 and summary.fused == 27
    assert out.read_text() == ref.read_text()


def test_changed_settings_need_overwrite(tmp_path: Path, config: Path, scored40: list[Path]) -> None:
    out = tmp_path / "fused.jsonl"
    fuse_files(scored40, config, out)
    config.write_text(config.read_text().replace("policy_risk: {strategy: soft_vote}",
                                                 "policy_risk: {strategy: soft_vote, threshold: 0.9}"))
    with pytest.raises(UserError, match="other ensemble settings"):
        fuse_files(scored40, config, out)
    summary = fuse_files(scored40, config, out, overwrite=True)
    assert summary.fused == 40 and summary.skipped == 0


def test_duplicates_bad_lines_and_conflicts(tmp_path: Path, config: Path) -> None:
    records = three_judge_responses(6)
    a, b, c = three_scored_files(tmp_path, 6, records=records)
    lines = a.read_text().splitlines(keepends=True)
    a.write_text("".join(lines[:3] + [lines[1]] + lines[3:]) + '{"id": "broken", \n')  # a duplicate, a broken line
    # a second run of the tox judge, over file b's responses: disagrees on r00002, errors on r00004
    again = [dict(r, script={**r["script"], "tox": {"scores": {"toxic": 0.99}}}) for r in records]
    again[4]["script"]["tox"] = {"error": "boom"}
    b2 = score(tmp_path, "again", again, {"guard": "fusion_guard", "kw": "fusion_keywords", "tox": "fusion_tox"})
    out = tmp_path / "fused.jsonl"
    summary = fuse_files([a, b2, c], config, out)
    assert summary.fused == 6
    assert summary.quarantined == 2  # the duplicate and the broken line
    reasons = [q["reason"] for q in read_jsonl(tmp_path / "fused.quarantine.jsonl")]
    assert any("duplicate id" in r for r in reasons) and any("invalid JSON" in r for r in reasons)
    recs = _by_id(out)
    assert summary.join.conflicts["tox"] == 5  # every response but r00004 (an error never beats a success)
    assert recs["r00002"]["social_toxicity"]["categories"]["toxicity"] == 0.99  # later file wins, reported
    assert recs["r00004"]["social_toxicity"]["missing"] == []


def test_judge_mismatch_names_file_line_field(tmp_path: Path, config: Path) -> None:
    wrong = score(tmp_path, "wrong", [response("x1", {"tox": {"scores": {"fraud": 0.1}}})],
                  {"tox": "fusion_keywords"})
    with pytest.raises(UserError, match=r"wrong_scored\.jsonl:1: judgements\.tox\.judge: .*'fusion_keywords'"):
        fuse_files([wrong], config, tmp_path / "fused.jsonl")


def test_human_labels_from_review_file_are_applied_on_rerun(tmp_path: Path, scored40: list[Path]) -> None:
    config = write_yaml(tmp_path / "e.yaml", HUMAN_CONFIG)
    out = tmp_path / "fused.jsonl"
    s1 = fuse_files(scored40, config, out)
    queue = read_jsonl(tmp_path / "fused.review.jsonl")
    assert s1.queued == len(queue) > 0
    assert all(q["pending"] == ["policy_risk"] for q in queue)
    disputed = queue[0]["id"]
    reviews = write_jsonl(tmp_path / "reviews.jsonl", [{"id": disputed, "labels": {"policy_risk": False}}])
    s2 = fuse_files(scored40, config, out, reviews=reviews)
    assert s2.recomputed_for_reviews == 1 and s2.fused == 1 and s2.skipped == 39 and s2.reviews_applied == 1
    rec = _by_id(out)[disputed]
    assert rec["policy_risk"]["resolution"] == "human" and rec["policy_risk"]["flagged"] is False
    assert rec["review"] is False
    assert disputed not in {q["id"] for q in read_jsonl(tmp_path / "fused.review.jsonl")}
    assert len(read_jsonl(out)) == 40


def test_duplicates_are_caught_on_a_resumed_run_too(tmp_path: Path, config: Path) -> None:
    records = three_judge_responses(10)
    first = score(tmp_path, "part", records[:4], {"tox": "fusion_tox"})  # an earlier, partial run
    out = tmp_path / "fused.jsonl"
    fuse_files([first], config, out)
    whole = score(tmp_path, "whole", records, {"tox": "fusion_tox"})
    whole.write_text(whole.read_text() + whole.read_text().splitlines(keepends=True)[6])  # r00006 twice
    summary = fuse_files([whole], config, out)
    assert summary.skipped == 4 and summary.fused == 6
    assert [q["reason"] for q in read_jsonl(tmp_path / "fused.quarantine.jsonl")] == ["duplicate id 'r00006'"]
    assert sorted(r["id"] for r in read_jsonl(out)) == [f"r{i:05d}" for i in range(10)]


def test_reviews_and_calibration_config_keys_are_relative_to_the_yaml(tmp_path: Path,
                                                                      scored40: list[Path]) -> None:
    conf_dir = tmp_path / "conf"
    conf_dir.mkdir()
    write_jsonl(conf_dir / "reviews.jsonl", [{"id": "r00003", "labels": {"refusal": False}},
                                             {"id": "nope", "labels": {"refusal": True}}])
    config = write_yaml(conf_dir / "e.yaml", BASIC_CONFIG + "reviews: reviews.jsonl\n")
    out = tmp_path / "fused.jsonl"
    summary = fuse_files(scored40, config, out)
    rec = _by_id(out)["r00003"]["refusal"]
    assert rec["resolution"] == "human" and rec["flagged"] is False and rec["score"] == 0.75
    assert summary.reviews_applied == 1 and summary.reviews_unused == 1
    assert any("1 human reviews name ids not found" in w for w in summary.warnings)
    bad = write_yaml(conf_dir / "bad.yaml", BASIC_CONFIG + "calibration: missing.json\n")
    with pytest.raises(UserError, match=r"conf/missing\.json: calibration file not found"):
        fuse_files(scored40, bad, tmp_path / "other.jsonl")


def test_a_bad_review_file_names_file_line_field(tmp_path: Path, config: Path, scored40: list[Path]) -> None:
    reviews = write_jsonl(tmp_path / "reviews.jsonl", [{"id": "r00001", "labels": {"refusal": "maybe"}}])
    with pytest.raises(UserError, match=r"reviews\.jsonl:1: labels\.refusal: Input should be a valid boolean"):
        fuse_files(scored40, config, tmp_path / "fused.jsonl", reviews=reviews)


# --- files written by wave 1 ---------------------------------------------------------------------------
WAVE1_JUDGEMENT = {"provider": "fusion_keywords", "version": "1", "family": "policy_risk",
                   "scores": {"weapons": 0.8}, "flagged": ["weapons"], "error": None, "latency_ms": 0.1, "details": {}}


def test_wave1_scored_files_fuse(tmp_path: Path) -> None:
    """A scored file of the previous version (provider/family/flagged) fuses as it did: by the ensemble's thresholds."""
    config = write_yaml(tmp_path / "e.yaml", "judges:\n  kw: {judge: fusion_keywords, threshold: 0.9}\n")
    old = write_jsonl(tmp_path / "old_scored.jsonl", [{"id": "a", "response": "x", "judgements": {"kw": WAVE1_JUDGEMENT}}])
    out = tmp_path / "fused.jsonl"
    fuse_files([old], config, out)
    r = read_jsonl(out)[0]["policy_risk"]
    assert r["probabilities"] == {"kw": 0.8} and r["votes"] == {"kw": False} and r["flagged"] is False


def test_wave1_fused_files_stay_readable(tmp_path: Path) -> None:
    metric = {"score": 0.4, "flagged": False, "categories": {"S8": 0.4}, "votes": {"kw": False}, "disagreement": False,
              "resolution": "soft_vote", "missing": []}
    old = write_jsonl(tmp_path / "fused.jsonl", [{
        "schema_version": 1, "id": "a", "model_id": "m", "social_toxicity": {**metric, "categories": {}, "votes": {}},
        "policy_risk": metric, "refusal": {**metric, "votes": {"ref": True}, "flagged": True},
        "review": False, "judge_scores": {"policy_risk": {"kw": 0.4}, "refusal": {"ref": 0.9}}}])
    (_, rec), = read_fused(old)
    assert isinstance(rec, FusedResult) and rec.policy_risk.probabilities == {"kw": 0.4}
    assert rec.refusal.probabilities == {"ref": 0.9} and rec.jailbreak_success.flagged is None
    bad = write_jsonl(tmp_path / "bad.jsonl", [{"id": "a", "policy_risk": {"score": "high"}}])
    with pytest.raises(UserError, match=r"bad\.jsonl:1: policy_risk\.score: .*rerun 'lam3 fuse'"):
        list(read_fused(bad))
    scored = write_jsonl(tmp_path / "scored.jsonl", [{"id": "a", "judgements": {}}])
    with pytest.raises(UserError, match=r"scored\.jsonl:1: not a fused record .*make it with 'lam3 fuse'"):
        list(read_fused(scored))


def test_wave1_review_queue_exports(tmp_path: Path) -> None:
    from lam3.pipeline.review import export_csv

    queue = write_jsonl(tmp_path / "q.jsonl", [{"id": "a", "pending": ["policy_risk"], "model_id": "m",
                                                "votes": {"policy_risk": {"kw": True, "g": False}},
                                                "judge_scores": {"policy_risk": {"kw": 0.8, "g": 0.1}},
                                                "provisional": {"policy_risk": True}}])
    text = export_csv(queue, tmp_path / "q.csv").read_text()
    assert "policy_risk: kw=0.80+, g=0.10-" in text and "policy_risk=flagged" in text
