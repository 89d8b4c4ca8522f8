"""Human review round trip: queue → CSV → a person's labels → import (validated) → fuse --reviews."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from fusion_helpers import HUMAN_CONFIG, read_jsonl, response, score, three_scored_files, write_jsonl, write_yaml

from lam3.errors import UserError
from lam3.pipeline.fuse import fuse_files
from lam3.pipeline.review import import_csv, load_reviews


def _fill(path: Path, labels: dict[str, dict[str, str]]) -> None:
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        row.update(labels.get(row["id"], {}))
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


@pytest.fixture
def fused_with_queue(tmp_path: Path) -> tuple[list[Path], Path, Path]:
    config = write_yaml(tmp_path / "e.yaml", HUMAN_CONFIG)
    inputs = three_scored_files(tmp_path, 20)
    out = tmp_path / "fused.jsonl"
    fuse_files(inputs, config, out)
    return inputs, config, out


def test_round_trip_csv_to_human_resolution(tmp_path: Path, fused_with_queue) -> None:
    inputs, config, out = fused_with_queue
    csv_path = tmp_path / "fused.review.csv"
    with open(csv_path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    queued = [r["id"] for r in read_jsonl(tmp_path / "fused.review.jsonl")]
    assert [r["id"] for r in rows] == queued
    assert rows[0]["pending"] == "policy_risk" and "guard=" in rows[0]["judges"]
    first, second = queued[0], queued[1]
    _fill(csv_path, {first: {"policy_risk": "yes", "reviewer": "ana"}, second: {"policy_risk": "No"}})
    result = import_csv(csv_path, tmp_path / "reviews.jsonl", queue=tmp_path / "fused.review.jsonl")
    assert result["imported"] == 2 and result["not_reviewed"] == len(queued) - 2
    assert load_reviews(tmp_path / "reviews.jsonl") == {first: {"policy_risk": True}, second: {"policy_risk": False}}
    summary = fuse_files(inputs, config, out, reviews=tmp_path / "reviews.jsonl")
    fused = {r["id"]: r for r in read_jsonl(out)}
    assert fused[first]["policy_risk"]["flagged"] is True and fused[first]["policy_risk"]["resolution"] == "human"
    assert fused[second]["policy_risk"]["flagged"] is False
    assert summary.reviews_applied == 2 and summary.reviews_unused == 0
    # the person's filled-in CSV is never overwritten by a rerun
    assert "ana" in csv_path.read_text()


def test_import_reports_every_error_with_file_line_column(tmp_path: Path, fused_with_queue) -> None:
    csv_path = tmp_path / "fused.review.csv"
    ids = [r["id"] for r in read_jsonl(tmp_path / "fused.review.jsonl")]
    _fill(csv_path, {ids[0]: {"policy_risk": "maybe"}, ids[1]: {"refusal": "y", "social_toxicity": "2"}})
    header = csv_path.read_text().splitlines()[0].split(",")
    col_pr, col_tox = header.index("policy_risk") + 1, header.index("social_toxicity") + 1
    with pytest.raises(UserError) as info:
        import_csv(csv_path, tmp_path / "reviews.jsonl")
    msg = str(info.value)
    assert f"{csv_path}:2:{col_pr}: policy_risk: expected yes/no" in msg and "'maybe'" in msg
    assert f"{csv_path}:3:{col_tox}: social_toxicity" in msg
    assert "2 problem(s)" in msg
    assert not (tmp_path / "reviews.jsonl").exists()  # nothing imported


def test_import_rejects_unknown_ids_and_duplicates(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text("id,policy_risk\nq1,yes\nq1,no\nzz,yes\n", encoding="utf-8")
    queue = write_jsonl(tmp_path / "queue.jsonl", [{"id": "q1", "pending": ["policy_risk"]}])
    with pytest.raises(UserError) as info:
        import_csv(path, tmp_path / "out.jsonl", queue=queue)
    assert f"{path}:3:1: id: 'q1' already labelled on line 2" in str(info.value)
    assert f"{path}:4:1: id: 'zz' is not in the review queue" in str(info.value)


def test_multiline_cells_keep_line_numbers_and_imports_merge(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text('id,response,policy_risk,social_toxicity\nq1,"two\nlines",yes,\nq2,x,bad,\n', encoding="utf-8")
    with pytest.raises(UserError, match=r"r\.csv:4:3: policy_risk"):
        import_csv(path, tmp_path / "out.jsonl")
    path.write_text("\ufeffid,policy_risk,social_toxicity\nq1,yes,\nq2,,no\n", encoding="utf-8")  # Excel BOM
    import_csv(path, tmp_path / "out.jsonl")
    path.write_text("id,policy_risk,social_toxicity\nq1,,yes\n", encoding="utf-8")
    result = import_csv(path, tmp_path / "out.jsonl")
    assert result["updated_existing"] == 1
    assert load_reviews(tmp_path / "out.jsonl") == {"q1": {"policy_risk": True, "social_toxicity": True},
                                                    "q2": {"social_toxicity": False}}


def test_formula_like_text_is_escaped_in_the_csv(tmp_path: Path) -> None:
    config = write_yaml(tmp_path / "e.yaml", HUMAN_CONFIG)
    recs = [response("f1", {"guard": {"scores": {"unsafe": 0.9}}, "kw": {"scores": {"fraud": 0.1}}},
                     response="=HYPERLINK(\"x\")")]
    scored = score(tmp_path, "formula", recs, {"guard": "fusion_guard", "kw": "fusion_keywords"})
    fuse_files([scored], config, tmp_path / "fused.jsonl")
    with open(tmp_path / "fused.review.csv", newline="", encoding="utf-8") as fh:
        row = next(csv.DictReader(fh))
    assert row["response"] == "'=HYPERLINK(\"x\")"


def test_reviews_for_a_metric_not_fused_are_an_error(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "rev.jsonl", [{"id": "a", "labels": {"refusal": True}}])
    with pytest.raises(UserError, match=r"rev\.jsonl:1: labels\.refusal: a human label for refusal"):
        load_reviews(path, metrics=["policy_risk"])
    path = write_jsonl(tmp_path / "rev2.jsonl", [{"id": "a", "labels": {"harm": True}}])
    with pytest.raises(UserError, match=r"rev2\.jsonl:1: labels\.harm\.\[key\]: Input should be 'social_toxicity'"):
        load_reviews(path)


def test_jailbreak_success_can_be_reviewed(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text("id,jailbreak_success\nq1,yes\n", encoding="utf-8")
    import_csv(path, tmp_path / "out.jsonl")
    assert load_reviews(tmp_path / "out.jsonl") == {"q1": {"jailbreak_success": True}}
