"""Browser labels land in reviews.jsonl exactly as `lam3 review import` writes it; `lam3 fuse` applies them."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import httpx
import pytest
from conftest import TOKEN
from viewer_fixtures import ENSEMBLE_CONFIG, copy_run, lam3, read_jsonl

from lam3.pipeline.review import load_reviews
from lam3.report.viewer.reviews import ReviewFileError, ReviewLog
from lam3.report.viewer.server import TOKEN_HEADER, Viewer, create_app, serving


def imported_reference(run: Path, tmp_path: Path) -> dict:
    """What `lam3 review export` + a person + `lam3 review import` produce for one disputed response."""
    csv_path = tmp_path / "review.csv"
    lam3("review", "export", run / "fused.review.jsonl", "-o", csv_path)
    with open(csv_path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    rows[0].update(policy_risk="yes", reviewer="ana", note="checked")
    with open(csv_path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerow(rows[0])
    lam3("review", "import", csv_path, "-o", tmp_path / "imported.jsonl")
    (line,) = read_jsonl(tmp_path / "imported.jsonl")
    return line


def test_labels_have_the_import_format_and_merge_per_id(run1k: Path, tmp_path: Path) -> None:
    reference = imported_reference(run1k, tmp_path)
    log = ReviewLog(tmp_path / "reviews.jsonl")
    (first,) = log.add(["a-response"], {"policy_risk": True}, "bea", "looks unsafe")
    assert list(first) == list(reference)  # same keys, same order
    assert {k: type(v) for k, v in first.items()} == {k: type(v) for k, v in reference.items()}
    assert first["source"] == "lam3 view" and first["imported"][:4].isdigit()
    log.add(["a-response", "other"], {"refusal": False}, "bea")
    assert load_reviews(log.path) == {"a-response": {"policy_risk": True, "refusal": False},
                                      "other": {"refusal": False}}  # merged, never the same id twice


def test_each_label_is_fsynced_before_the_write_returns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[str] = []
    real = os.fsync

    def spy(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real(fd)

    monkeypatch.setattr(os, "fsync", spy)
    log = ReviewLog(tmp_path / "reviews.jsonl")
    log.add(["x"], {"policy_risk": True}, "bea")
    assert str(log.path) in synced  # appended: the file itself
    synced.clear()
    log.add(["x"], {"refusal": True}, "bea")
    # merged: the rewrite's temp file (store.atomic_file: hidden, beside the file), then the folder
    assert any(Path(s).name.startswith(".reviews.jsonl.") and s.endswith(".tmp") for s in synced)
    assert str(log.path.parent) in synced


def test_a_reviews_file_fuse_would_refuse_is_not_written_to(tmp_path: Path) -> None:
    path = tmp_path / "reviews.jsonl"
    path.write_text('{"id": "x", "labels": {"policy_risk": "maybe"}}\n', encoding="utf-8")
    with pytest.raises(ReviewFileError, match=r"reviews.jsonl:1: labels.policy_risk: Input should be a valid boolean"):
        ReviewLog(path).add(["y"], {"policy_risk": True}, "bea")
    assert path.read_text(encoding="utf-8").count("\n") == 1
    path.write_text('{"id": "x", "labels": {"policy_risk": true}}\n{"id": "y", "lab', encoding="utf-8")
    ReviewLog(path).add(["z"], {"policy_risk": False}, "bea")  # a torn tail is cut first, as LAM3 writers do
    assert set(load_reviews(path)) == {"x", "z"}


def test_fuse_applies_labels_given_over_http(run1k: Path, tmp_path: Path) -> None:
    run = copy_run(run1k, tmp_path / "run")
    fused = read_jsonl(run / "fused.jsonl")
    disputed = [r for r in fused if r["policy_risk"]["resolution"] == "human_pending"][:2]
    viewer = Viewer.open([run], token=TOKEN, reviewer="tester")
    with serving(create_app(viewer)) as url, httpx.Client(base_url=url) as client:
        for rec, label in zip(disputed, (True, False)):
            r = client.post("/api/runs/run/reviews", headers={TOKEN_HEADER: TOKEN},
                            json={"ids": [rec["id"]], "labels": {"policy_risk": label}, "reviewer": "tester"})
            assert r.status_code == 200, r.text
        assert client.get("/api/runs/run/rows", params={"reviewed": "yes"}).json()["total"] == 2
        lam3("fuse", run / "offline_scored.jsonl", "-c", ENSEMBLE_CONFIG, "-o", run / "fused.jsonl",
             "--reviews", run / "reviews.jsonl")
        after = {r["id"]: r for r in read_jsonl(run / "fused.jsonl")}
        for rec, label in zip(disputed, (True, False)):
            assert after[rec["id"]]["policy_risk"]["resolution"] == "human"
            assert after[rec["id"]]["policy_risk"]["flagged"] is label
        # the running viewer re-indexes the re-fused file and shows how the two were settled
        rows = client.get("/api/runs/run/rows", params={"reviewed": "yes"}).json()["rows"]
        assert {r["id"]: r["card"]["metrics"]["policy_risk"]["resolution"] for r in rows} == {
            rec["id"]: "human" for rec in disputed}
    for idx in viewer.runs.values():
        idx.close()
