"""The fuse stage on real files: streaming join (lockstep and indexed), missing judges, resume, manifest."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from fusion_helpers import BASIC_CONFIG, judgement, read_jsonl, scored, three_judge_records, write_jsonl, write_yaml

from lam3.errors import UserError
from lam3.manifest import read_manifest
from lam3.pipeline.fuse import fuse_files
from lam3.records import FusedResult


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return write_yaml(tmp_path / "ensemble.yaml", BASIC_CONFIG)


def _inputs(tmp_path: Path, n: int = 40, **kw) -> list[Path]:
    a, b, c = three_judge_records(n, **kw)
    return [write_jsonl(tmp_path / f"scored_{name}.jsonl", recs) for name, recs in zip("abc", (a, b, c))]


def _by_id(path: Path) -> dict[str, dict]:
    return {r["id"]: r for r in read_jsonl(path)}


def test_lockstep_join_fuses_every_response(tmp_path: Path, config: Path) -> None:
    inputs = _inputs(tmp_path)
    out = tmp_path / "run" / "fused.jsonl"
    summary = fuse_files(inputs, config, out)
    assert summary.join.mode == "lockstep" and summary.fused == 40 and summary.quarantined == 0
    recs = read_jsonl(out)
    assert [r["id"] for r in recs] == [f"r{i:05d}" for i in range(40)]
    for rec in recs:
        FusedResult.model_validate(rec)  # the record model, including MetricResult's strict fields
    r7 = recs[7]
    # carried through for reports
    assert {k: r7[k] for k in ("sample_id", "model_id", "attack", "category", "prompt", "response")} == {
        "sample_id": "s-r00007", "model_id": "m1", "attack": "clean", "category": "S8",
        "prompt": "prompt r00007", "response": "response r00007"}
    assert r7["labels"] == {"toxic": True, "risky": False, "refusal": False}
    # i=7: p=0.7; guard (w2) 0.7, kw weapons 0.3 → (1.4 + 0.3)/3
    assert r7["policy_risk"]["score"] == pytest.approx(1.7 / 3, abs=1e-6)
    assert r7["policy_risk"]["votes"] == {"guard": True, "kw": False}
    assert r7["policy_risk"]["disagreement"] is True
    assert r7["social_toxicity"]["categories"] == {"toxicity": 0.7, "profanity": pytest.approx(0.3)}
    assert r7["refusal"]["score"] == 0.75 and r7["refusal"]["flagged"] is True
    manifest = read_manifest(out.parent)
    stage = manifest.stages["fuse:fused.jsonl"]
    assert stage.summary["fused"] == 40 and "fused.jsonl" in manifest.artifacts


def test_misaligned_inputs_use_the_index_and_give_the_same_result(tmp_path: Path, config: Path) -> None:
    inputs = _inputs(tmp_path)
    ref = tmp_path / "ref" / "fused.jsonl"
    fuse_files(inputs, config, ref)
    shuffled = read_jsonl(inputs[1])
    random.Random(3).shuffle(shuffled)
    write_jsonl(inputs[1], shuffled)
    out = tmp_path / "idx" / "fused.jsonl"
    summary = fuse_files(inputs, config, out)
    assert summary.join.mode == "index" and summary.fused == 40
    assert _by_id(out) == _by_id(ref)


def test_input_order_does_not_change_the_fused_values(tmp_path: Path, config: Path) -> None:
    inputs = _inputs(tmp_path)
    results = []
    for k, order in enumerate(([0, 1, 2], [2, 0, 1], [1, 2, 0])):
        out = tmp_path / f"o{k}" / "fused.jsonl"
        fuse_files([inputs[i] for i in order], config, out)
        results.append(_by_id(out))
    assert results[0] == results[1] == results[2]


def test_a_shorter_file_drops_out_of_the_lockstep(tmp_path: Path, config: Path) -> None:
    inputs = _inputs(tmp_path)
    write_jsonl(inputs[2], read_jsonl(inputs[2])[:25])  # the refusal run was stopped early (--limit)
    out = tmp_path / "fused.jsonl"
    summary = fuse_files(inputs, config, out)
    assert summary.join.mode == "lockstep" and summary.fused == 40
    recs = read_jsonl(out)
    assert all(r["refusal"]["missing"] == [] for r in recs[:25])
    for r in recs[25:]:
        assert r["refusal"]["missing"] == ["ref"] and r["refusal"]["flagged"] is None
    assert summary.stats["missing"]["refusal"] == {"ref": 15}
    assert any("'ref'" in w and "15 responses" in w for w in summary.warnings)


def test_missing_judgement_is_reported_never_safe(tmp_path: Path, config: Path) -> None:
    inputs = _inputs(tmp_path, missing_every=5)  # guard has no judgement for ids 0, 5, 10, …
    out = tmp_path / "fused.jsonl"
    summary = fuse_files(inputs, config, out)
    assert summary.stats["missing"]["policy_risk"] == {"guard": 8}
    recs = _by_id(out)
    r5 = recs["r00005"]["policy_risk"]
    assert r5["missing"] == ["guard"] and r5["votes"]["guard"] is None
    # kw alone decides (weights renormalised): weapons = 1 - 0.5
    assert r5["score"] == pytest.approx(0.5)
    assert recs["r00005"]["judge_scores"]["policy_risk"] == {"guard": None, "kw": 0.5}


def test_resume_after_a_crash_finishes_without_duplicates(tmp_path: Path, config: Path) -> None:
    inputs = _inputs(tmp_path)
    ref = tmp_path / "ref" / "fused.jsonl"
    fuse_files(inputs, config, ref)
    out = tmp_path / "run" / "fused.jsonl"
    fuse_files(inputs, config, out)
    lines = out.read_text().splitlines(keepends=True)
    out.write_text("".join(lines[:13]) + lines[13][:20])  # a crash mid-write: 13 whole lines and a torn one
    summary = fuse_files(inputs, config, out)
    assert summary.skipped == 13 and summary.fused == 27
    assert out.read_text() == ref.read_text()


def test_changed_settings_need_overwrite(tmp_path: Path, config: Path) -> None:
    inputs = _inputs(tmp_path)
    out = tmp_path / "fused.jsonl"
    fuse_files(inputs, config, out)
    config.write_text(config.read_text() + "policy_risk: {threshold: 0.9}\n")
    with pytest.raises(UserError, match="other ensemble settings"):
        fuse_files(inputs, config, out)
    summary = fuse_files(inputs, config, out, overwrite=True)
    assert summary.fused == 40 and summary.skipped == 0


def test_duplicates_bad_lines_and_conflicts(tmp_path: Path, config: Path) -> None:
    a, b, c = three_judge_records(6)
    a.insert(3, a[1])  # a duplicate id
    pa = tmp_path / "a.jsonl"
    pa.write_text("".join(json.dumps(r) + "\n" for r in a) + '{"id": "broken", \n')
    b[2]["judgements"]["tox"] = judgement("fusion_tox", {"toxic": 0.99})  # disagrees with file a
    b[4]["judgements"]["tox"] = judgement("fusion_tox", error="boom")  # an error never beats a success
    inputs = [pa, write_jsonl(tmp_path / "b.jsonl", b), write_jsonl(tmp_path / "c.jsonl", c)]
    out = tmp_path / "fused.jsonl"
    summary = fuse_files(inputs, config, out)
    assert summary.fused == 6
    assert summary.quarantined >= 2  # the duplicate and the broken line
    quarantine = read_jsonl(tmp_path / "fused.quarantine.jsonl")
    assert any("duplicate id" in q["reason"] for q in quarantine)
    recs = _by_id(out)
    assert summary.join.conflicts["tox"] == 1
    assert recs["r00002"]["social_toxicity"]["categories"]["toxicity"] == 0.99  # later file wins, reported
    assert recs["r00004"]["social_toxicity"]["missing"] == []


def test_provider_mismatch_names_file_line_field(tmp_path: Path, config: Path) -> None:
    recs = [scored("x1", {"tox": judgement("fusion_keywords", {"fraud": 0.1})})]
    with pytest.raises(UserError, match=r"a\.jsonl:1: judgements\.tox\.judge"):
        fuse_files([write_jsonl(tmp_path / "a.jsonl", recs)], config, tmp_path / "fused.jsonl")


def test_human_labels_from_review_file_are_applied_on_rerun(tmp_path: Path) -> None:
    config = write_yaml(tmp_path / "e.yaml", BASIC_CONFIG + """
policy_risk:
  arbitration: {when: vote_split, method: human}
""")
    inputs = _inputs(tmp_path, n=20)
    out = tmp_path / "fused.jsonl"
    s1 = fuse_files(inputs, config, out)
    queue = read_jsonl(tmp_path / "fused.review.jsonl")
    assert s1.queued == len(queue) > 0
    assert all(q["pending"] == ["policy_risk"] for q in queue)
    disputed = queue[0]["id"]
    reviews = write_jsonl(tmp_path / "reviews.jsonl", [{"id": disputed, "labels": {"policy_risk": False}}])
    s2 = fuse_files(inputs, config, out, reviews=reviews)
    assert s2.recomputed_for_reviews == 1 and s2.fused == 1 and s2.skipped == 19 and s2.reviews_applied == 1
    rec = _by_id(out)[disputed]
    assert rec["policy_risk"]["resolution"] == "human" and rec["policy_risk"]["flagged"] is False
    assert rec["review"] is False
    assert disputed not in {q["id"] for q in read_jsonl(tmp_path / "fused.review.jsonl")}
    assert len(read_jsonl(out)) == 20


def test_duplicates_are_caught_on_a_resumed_run_too(tmp_path: Path, config: Path) -> None:
    a, b, c = three_judge_records(10)
    out = tmp_path / "fused.jsonl"
    fuse_files([write_jsonl(tmp_path / "a.jsonl", a[:4])], config, out)  # an earlier, partial run
    a.append(a[6])  # r00006 twice
    summary = fuse_files([write_jsonl(tmp_path / "a.jsonl", a)], config, out)
    assert summary.skipped == 4 and summary.fused == 6
    assert [q["reason"] for q in read_jsonl(tmp_path / "fused.quarantine.jsonl")] == ["duplicate id 'r00006'"]
    assert sorted(r["id"] for r in read_jsonl(out)) == [f"r{i:05d}" for i in range(10)]


def test_reviews_and_calibration_config_keys_are_relative_to_the_yaml(tmp_path: Path) -> None:
    inputs = _inputs(tmp_path, n=10)
    conf_dir = tmp_path / "conf"
    conf_dir.mkdir()
    write_jsonl(conf_dir / "reviews.jsonl", [{"id": "r00003", "labels": {"refusal": False}},
                                             {"id": "nope", "labels": {"refusal": True}}])
    config = write_yaml(conf_dir / "e.yaml", BASIC_CONFIG + "reviews: reviews.jsonl\n")
    out = tmp_path / "fused.jsonl"
    summary = fuse_files(inputs, config, out)
    rec = _by_id(out)["r00003"]["refusal"]
    assert rec["resolution"] == "human" and rec["flagged"] is False and rec["score"] == 0.75
    assert summary.reviews_applied == 1 and summary.reviews_unused == 1
    assert any("1 human reviews name ids not found" in w for w in summary.warnings)
    bad = write_yaml(conf_dir / "bad.yaml", BASIC_CONFIG + "calibration: missing.json\n")
    with pytest.raises(UserError, match=r"conf/missing\.json: calibration file not found"):
        fuse_files(inputs, bad, tmp_path / "other.jsonl")
