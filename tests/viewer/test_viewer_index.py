"""The viewer's index: built from fused.jsonl as the stages wrote it, reused while current, honest about bad lines."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest
from viewer_fixtures import HUGE_CHARS, N, copy_run, read_jsonl

from lam3.pipeline.rundir import RunDir
from lam3.report.viewer.index import INDEX_FILE, LIST_TEXT_CHARS, RunIndex
from lam3.report.viewer.queries import (CompareQuery, ListQuery, QueryError, compare_page, fts_query, list_page,
                                        record)


def open_index(run: Path, **kw) -> RunIndex:
    return RunIndex(RunDir.open(run), run.name, reviews=run / "reviews.jsonl", image_root=run, **kw)


def page(idx: RunIndex, **q) -> dict:
    return list_page(idx, ListQuery(**q))


def test_every_fused_line_is_a_row_with_its_judges_and_verdicts(run1k: Path) -> None:
    fused = read_jsonl(run1k / "fused.jsonl")
    idx = open_index(run1k)
    assert idx.meta["records"] == len(fused) == N + 5 and idx.meta["errors"] == 0
    assert idx.meta["metrics"] == ["social_toxicity", "policy_risk", "refusal"]
    judges = {(j["metric"], j["judge"]) for j in idx.judge_columns()}
    assert judges == {("social_toxicity", "profanity_check"), ("policy_risk", "keyword_risk"),
                      ("policy_risk", "keyword_risk_strict"), ("refusal", "refusal")}
    disputed = next(r for r in fused if r["policy_risk"]["disagreement"])
    row = page(idx, sample=disputed["sample_id"], size=200)["rows"]
    row = next(r for r in row if r["id"] == disputed["id"])
    card = row["card"]["metrics"]["policy_risk"]
    assert card["resolution"] == "human_pending" and card["disagreement"] is True
    assert {j["judge"]: (j["p"], j["vote"]) for j in card["judges"]} == {
        k: (disputed["policy_risk"]["probabilities"][k], v) for k, v in disputed["policy_risk"]["votes"].items()}
    assert row["queued"] == 1


def test_filters_count_what_the_fused_file_says(run1k: Path) -> None:
    fused = read_jsonl(run1k / "fused.jsonl")
    idx = open_index(run1k)
    flagged = sum(r["policy_risk"]["flagged"] is True for r in fused)
    assert page(idx, verdict=["policy_risk:flagged"])["total"] == flagged
    assert page(idx, verdict=["policy_risk:safe"])["total"] == sum(r["policy_risk"]["flagged"] is False for r in fused)
    split = sum(r["policy_risk"]["disagreement"] for r in fused)
    assert 0 < split == page(idx, disagree="policy_risk")["total"] == page(idx, disagree="any")["total"]
    both = sum(r["attack"] == "figstep" and r["category"] == "S8" and r["policy_risk"]["flagged"] for r in fused)
    assert page(idx, attack=["figstep"], category=["S8"], verdict=["policy_risk:flagged"])["total"] == both
    assert page(idx, model=["example/paraphrased"])["total"] == sum(r["model_id"] == "example/paraphrased"
                                                                      for r in fused)
    assert page(idx, queued="yes")["total"] == split  # arbitration: human queues every split
    assert page(idx, reviewed="no")["total"] == len(fused)


def test_sort_by_a_judge_score_and_page(run1k: Path) -> None:
    idx = open_index(run1k)
    col = next(j["col"] for j in idx.judge_columns() if j["judge"] == "keyword_risk_strict")
    first = page(idx, sort=col, order="desc", size=20)
    scores = [next(j["p"] for j in r["card"]["metrics"]["policy_risk"]["judges"] if j["judge"] == "keyword_risk_strict")
              for r in first["rows"]]
    assert scores == sorted(scores, reverse=True) and scores[0] > 0.5
    second = page(idx, sort=col, order="desc", size=20, page=2)
    assert not {r["n"] for r in first["rows"]} & {r["n"] for r in second["rows"]}
    with pytest.raises(QueryError, match="sort: unknown 'j99'"):
        page(idx, sort="j99")


def test_search_words_phrases_and_fields(run1k: Path) -> None:
    fused = read_jsonl(run1k / "fused.jsonl")
    idx = open_index(run1k)
    expect = sum("lighthouse" in r["response"] and "cobalt" in r["response"] for r in fused)
    assert expect and page(idx, q="lighthouse cobalt")["total"] == expect
    assert page(idx, q="lightho")["total"] == sum("lighthouse" in r["response"] for r in fused)  # prefix
    assert page(idx, q='"crowded place"', field="behavior")["total"] == sum(
        "crowded place" in (r["behavior"] or "") for r in fused)
    assert page(idx, q="crowded", field="response")["total"] == sum("crowded" in r["response"] for r in fused)
    assert fts_query('NEAR(a b) OR "x" *') == '"NEAR"* AND "a"* AND "b"* AND "OR"* AND "x"'
    assert page(idx, q='")(*:^')["total"] == len(fused)  # no word at all: no search, no FTS5 syntax error


def test_huge_response_is_cut_for_the_list_and_whole_on_demand(run1k: Path) -> None:
    idx = open_index(run1k)
    row = page(idx, q="lorem")["rows"][0]
    assert row["id"] == "huge-1" and len(row["response"]) == LIST_TEXT_CHARS
    assert row["response_len"] > HUGE_CHARS
    full = record(idx, row["n"])
    assert full["record"]["response"].startswith("start of a very long answer")
    assert full["clipped"] == ["response"] and len(full["record"]["response"]) == 1_000_000


def test_unreadable_lines_become_error_rows_and_the_rest_still_works(damaged: Path) -> None:
    idx = open_index(damaged)
    errors = page(idx, errors="only", size=200)["rows"]
    reasons = {r["line"]: r["error"] for r in errors}
    assert idx.meta["errors"] == len(errors) == 8
    assert reasons[51].startswith("id: duplicate 'mb-s1-01.r1.0.clean'")
    assert reasons[52].startswith("invalid JSON") and reasons[53] == "expected a JSON object, got list"
    assert reasons[54] == "id: missing or not a non-empty string"
    assert reasons[55].startswith("policy_risk.score: Input should be a valid number")
    assert reasons[56].startswith("policy_risk.score: Input should be less than or equal to 1")  # NaN
    assert reasons[57].startswith("invalid JSON: maximum recursion depth")
    assert reasons[58] == "torn last line (incomplete write)"
    assert page(idx, errors="hide")["total"] == 50
    detail = record(idx, 52)
    assert detail["raw"] == "{not json\n" and detail["error"].startswith("invalid JSON")


def test_index_is_reused_while_current_and_rebuilt_when_the_file_changes(run1k: Path, tmp_path: Path) -> None:
    run = copy_run(run1k, tmp_path / "run")
    (run / INDEX_FILE).unlink(missing_ok=True)
    idx = open_index(run)
    assert idx.built_now
    built = idx.meta["built"], idx.meta["sha256"]
    assert not open_index(run).built_now  # same size and mtime
    fused = run / "fused.jsonl"
    st = fused.stat()
    os.utime(fused, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))  # touched, same bytes
    again = open_index(run)
    assert not again.built_now and (again.meta["built"], again.meta["sha256"]) == built
    lines = fused.read_bytes().splitlines(keepends=True)
    fused.write_bytes(b"".join(lines[:-1]))  # a re-fuse that changed the file
    idx.refresh()  # a running viewer notices on its next request
    assert idx.built_now and idx.meta["records"] == N + 4 and idx.meta["sha256"] != built[1]
    same_size = lines[0].replace(b'"attack":"clean"', b'"attack":"other"')
    assert len(same_size) == len(lines[0])
    fused.write_bytes(same_size + b"".join(lines[1:-1]))
    os.utime(fused, ns=(st.st_atime_ns, st.st_mtime_ns + 9_000_000_000))
    idx.refresh()
    assert idx.built_now and page(idx, attack=["other"])["total"] == 1
    assert open_index(run, rebuild=True).built_now


def test_a_corrupt_index_file_is_rebuilt(run1k: Path, tmp_path: Path) -> None:
    run = copy_run(run1k, tmp_path / "run")
    (run / INDEX_FILE).write_bytes(b"not a database")
    idx = open_index(run)
    assert idx.built_now and idx.meta["records"] == N + 5
    with sqlite3.connect(run / INDEX_FILE) as db:
        assert db.execute("SELECT count(*) FROM rec").fetchone()[0] == N + 5


def test_side_by_side_joins_clean_and_attacked_answers_of_each_sample(run1k: Path) -> None:
    fused = read_jsonl(run1k / "fused.jsonl")
    idx = open_index(run1k)
    by_sample: dict[str, dict[str, list[bool]]] = {}
    for r in fused:
        by_sample.setdefault(r["sample_id"], {}).setdefault(r["attack"], []).append(r["policy_risk"]["flagged"])
    flips = sorted(s for s, a in by_sample.items() if "clean" in a and "figstep" in a
                   and any(x != y for x in a["clean"] for y in a["figstep"]))
    out = compare_page(idx, idx, CompareQuery(left=idx.key, right=idx.key, left_attack="clean",
                                              right_attack="figstep", differ="policy_risk", size=100))
    assert out["total"] == len(flips) > 0
    assert [p["sample_id"] for p in out["samples"]] == flips[:100]
    pair = out["samples"][0]
    assert {r["attack"] for r in pair["left"]} == {"clean"} and {r["attack"] for r in pair["right"]} == {"figstep"}
