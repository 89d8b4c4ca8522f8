"""The page's questions as SQL over a run index: filters, full-text search, sort, paging, one record, two sides.

Every value from the page is a bound parameter; the only names put into SQL text are column
names checked against :data:`lam3.records.METRICS` or the index's own judge columns.
A search is turned into an FTS5 query of quoted terms (each a prefix; ``"a phrase"`` stays a
phrase), so no input can be FTS5 syntax.
"""

from __future__ import annotations

import json
import math
import re
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from lam3.config import dotted
from lam3.records import METRICS
from lam3.report.viewer.index import RunIndex

MAX_PAGE = 200
DETAIL_TEXT_CHARS = 1_000_000
"""A string longer than this is cut in the detail view (the raw line is one click away)."""
RAW_ERROR_CHARS = 20_000
VERDICTS = {"flagged": "= 1", "safe": "= 0", "none": "IS NULL"}


class QueryError(ValueError):
    """A request the page should not have sent (HTTP 400)."""


class NotFound(LookupError):
    """No such record (HTTP 404)."""


class Stale(RuntimeError):
    """``fused.jsonl`` changed between the index lookup and the read (HTTP 409: reload)."""


def _metric(value: str) -> str:
    if value not in METRICS:
        raise ValueError(f"unknown metric {value!r} (one of {', '.join(METRICS)})")
    return value


class ListQuery(BaseModel):
    """Filters, search, sort and page of the list view (query parameters; repeated ones are OR-ed)."""

    model_config = ConfigDict(extra="forbid")

    verdict: list[str] = Field(default_factory=list, description="METRIC:flagged|safe|none")
    category: list[str] = Field(default_factory=list)
    model: list[str] = Field(default_factory=list)
    attack: list[str] = Field(default_factory=list)
    disagree: str | None = Field(None, description="any | none | METRIC (judges split on it)")
    reviewed: Literal["yes", "no"] | None = None
    queued: Literal["yes", "no"] | None = None
    errors: Literal["only", "hide"] | None = None
    sample: str | None = None
    q: str = Field("", max_length=500)
    field: Literal["all", "prompt", "response", "behavior"] = "all"
    sort: str = "line"
    order: Literal["asc", "desc"] = "asc"
    page: int = Field(1, ge=1, le=1_000_000)
    size: int = Field(50, ge=1, le=MAX_PAGE)

    @field_validator("verdict")
    @classmethod
    def _verdicts(cls, specs: list[str]) -> list[str]:
        for spec in specs:
            metric, _, value = spec.partition(":")
            _metric(metric)
            if value not in VERDICTS:
                raise ValueError(f"{spec!r}: expected METRIC:flagged, METRIC:safe or METRIC:none")
        return specs

    @field_validator("disagree")
    @classmethod
    def _disagree(cls, value: str | None) -> str | None:
        return value if value in (None, "any", "none") else _metric(value)  # type: ignore[arg-type]


class CompareQuery(BaseModel):
    """Two sides joined on ``sample_id``: two runs, or two attacks of one run (clean vs adversarial)."""

    model_config = ConfigDict(extra="forbid")

    left: str
    right: str
    left_attack: str | None = None
    right_attack: str | None = None
    category: str | None = None
    differ: str | None = Field(None, description="only samples whose verdict on this metric differs")
    page: int = Field(1, ge=1, le=1_000_000)
    size: int = Field(20, ge=1, le=100)

    @field_validator("differ")
    @classmethod
    def _differ(cls, value: str | None) -> str | None:
        return None if value is None else _metric(value)


def parse_query(model: type[BaseModel], items: Iterable[tuple[str, str]]) -> Any:
    """Query parameters → ``model``; blank values are left out; the error names the parameter."""
    lists = {name for name, f in model.model_fields.items() if getattr(f.annotation, "__origin__", None) is list}
    data: dict[str, Any] = {}
    for key, value in items:
        if value == "":
            continue
        if key in lists:
            data.setdefault(key, []).append(value)
        else:
            data[key] = value
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise QueryError(f"{dotted(tuple(first['loc']))}: {first['msg']}") from None


def fts_query(text: str, field: str = "all") -> str | None:
    """A search box's text as an FTS5 query: every word a quoted prefix term, ``"…"`` a phrase, all AND-ed."""
    terms = []
    for phrase, word in re.findall(r'"([^"]*)"|(\S+)', text):
        tokens = re.findall(r"\w+", phrase or word)
        if not tokens:
            continue
        if phrase:
            terms.append('"' + " ".join(tokens) + '"')
        else:
            terms.extend(f'"{t}"*' for t in tokens)
    if not terms:
        return None
    body = " AND ".join(terms)
    return body if field == "all" else f"{field} : ({body})"


# --- the list --------------------------------------------------------------------------------------
ROW_SELECT = (
    "rec.n, rec.id, body.line, body.error, rec.sample_id, rec.model_id, rec.attack, rec.category, body.behavior_id, "
    "body.prompt, body.response, body.behavior, body.prompt_len, body.response_len, body.behavior_len, "
    "body.images, body.n_images, rec.queued, body.card, "
    + "".join(f"rec.{m}_score, rec.{m}_flag, rec.{m}_dis, rec.{m}_res, " for m in METRICS)
    + "review.labels AS review_labels, review.reviewer AS review_reviewer, review.time AS review_time, "
    "review.note AS review_note"
)


CHOICES: dict[str, dict[str, str]] = {
    "disagree": {"any": "rec.disagree = 1", "none": "rec.disagree = 0"},
    "reviewed": {"yes": "(rec.human = 1 OR review.id IS NOT NULL)",
                 "no": "(COALESCE(rec.human, 0) = 0 AND review.id IS NULL)"},
    "queued": {"yes": "rec.queued = 1", "no": "rec.queued = 0"},
    "errors": {"only": "rec.bad = 1", "hide": "rec.bad = 0"},
}
"""The list's one-of filters as SQL (a human label is one in reviews.jsonl or one fuse already applied)."""


def where(q: ListQuery) -> tuple[str, list[Any], bool]:
    """``(WHERE clause, parameters, needs the review join)`` for the list filters."""
    conds: list[str] = []
    params: list[Any] = []
    for spec in q.verdict:
        metric, _, value = spec.partition(":")
        conds.append(f"rec.{metric}_flag {VERDICTS[value]}")
    for values, col in ((q.category, "category"), (q.model, "model_id"), (q.attack, "attack")):
        if values:
            conds.append(f"+rec.{col} IN ({', '.join('?' * len(values))})")  # scan, see index.INDEXES
            params.extend(values)
    for name, choices in CHOICES.items():
        value = getattr(q, name)
        if value:  # disagree=METRIC: judges split on that metric
            conds.append(choices.get(value) or f"rec.{value}_dis = 1")
    if q.sample:
        conds.append("rec.sample_id = ?")
        params.append(q.sample)
    match = fts_query(q.q, q.field)
    if match:
        conds.append("rec.n IN (SELECT rowid FROM fts WHERE fts MATCH ?)")
        params.append(match)
    return (" WHERE " + " AND ".join(conds)) if conds else "", params, q.reviewed is not None


def order_by(q: ListQuery, judge_cols: Iterable[str]) -> str:
    """Sort by line, id, a fused metric score or one judge's score (no value sorts last)."""
    if q.sort == "line":
        return f" ORDER BY rec.n {q.order.upper()}"
    if q.sort == "id":
        col = "rec.id"
    elif q.sort in METRICS:
        col = f"rec.{q.sort}_score"
    elif q.sort in set(judge_cols):
        col = f"rec.{q.sort}"
    else:
        raise QueryError(f"sort: unknown {q.sort!r} (line, id, a metric, or a judge column)")
    return f" ORDER BY {col} IS NULL, {col} {q.order.upper()}, rec.n"


def row_out(row: sqlite3.Row) -> dict[str, Any]:
    """One row as the page gets it: each fused metric with its judges, and the human label if any."""
    d = dict(row)
    card = json.loads(d.pop("card")) if d["card"] else {"metrics": {}, "labels": None}
    metrics = {}
    for m, c in card["metrics"].items():
        flag = d[f"{m}_flag"]
        metrics[m] = {"score": d[f"{m}_score"], "flagged": None if flag is None else bool(flag),
                      "disagreement": bool(d[f"{m}_dis"]), "resolution": d[f"{m}_res"],
                      "missing": c.get("missing", []), "more_judges": c.get("more", 0),
                      "judges": [{"judge": j, "p": p, "vote": v} for j, p, v in c["judges"]]}
    for m in METRICS:
        for suffix in ("score", "flag", "dis", "res"):
            del d[f"{m}_{suffix}"]
    d["card"] = {"metrics": metrics, "labels": card.get("labels")}
    d["images"] = json.loads(d["images"]) if d["images"] else []
    labels = d.pop("review_labels")
    review = {k: d.pop(f"review_{k}") for k in ("reviewer", "time", "note")}
    d["review"] = None if labels is None else {"labels": json.loads(labels), **review}
    return d


def fetch_rows(db: sqlite3.Connection, ns: list[int], prefix: str = "") -> list[dict[str, Any]]:
    """The rows ``ns`` in that order (``prefix`` ``b.``: from an attached run's index)."""
    if not ns:
        return []
    rows = db.execute(f"SELECT {ROW_SELECT} FROM {prefix}rec AS rec JOIN {prefix}body AS body ON body.n = rec.n "
                      f"LEFT JOIN {prefix}review AS review ON review.id = rec.id "
                      f"WHERE rec.n IN ({', '.join('?' * len(ns))})", ns)
    by_n = {r["n"]: row_out(r) for r in rows}
    return [by_n[n] for n in ns if n in by_n]


def list_page(index: RunIndex, q: ListQuery) -> dict[str, Any]:
    db = index.db()
    clause, params, join = where(q)
    order = order_by(q, (c["col"] for c in index.judge_columns()))
    review_join = " LEFT JOIN review ON review.id = rec.id" if join else ""
    try:
        total = db.execute(f"SELECT count(*) FROM rec{review_join}{clause}", params).fetchone()[0]
        ns = [r[0] for r in db.execute(f"SELECT rec.n FROM rec{review_join}{clause}{order} LIMIT ? OFFSET ?",
                                       [*params, q.size, (q.page - 1) * q.size])]
    except sqlite3.OperationalError as exc:  # e.g. an FTS5 query SQLite still finds too complex
        raise QueryError(f"q: {exc}") from None
    return {"total": total, "page": q.page, "size": q.size, "rows": fetch_rows(db, ns),
            "index": index.meta["sha256"][:12]}


# --- one record -------------------------------------------------------------------------------------
def _read_span(path: Path, offset: int, length: int) -> bytes:
    with open(path, "rb") as fh:
        fh.seek(offset)
        return fh.read(length)


def clip(value: Any, clipped: list[str], where: str = "", depth: int = 0) -> Any:
    """A record fit for the page: long strings cut (their paths listed), NaN/inf → None, deep nesting cut."""
    if isinstance(value, str):
        if len(value) > DETAIL_TEXT_CHARS:
            clipped.append(where)
            return value[:DETAIL_TEXT_CHARS]
        return value
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (dict, list)) and depth >= 32:
        clipped.append(where)
        return "… nested too deep"
    if isinstance(value, dict):
        return {str(k): clip(v, clipped, f"{where}.{k}" if where else str(k), depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [clip(v, clipped, f"{where}[{i}]", depth + 1) for i, v in enumerate(value)]
    return value


def raw_line(index: RunIndex, n: int) -> tuple[str | None, bytes]:
    """``(id, the line's bytes)`` of row ``n`` as it is in ``fused.jsonl``."""
    row = index.db().execute("SELECT rec.id, body.off, body.len FROM rec JOIN body ON body.n = rec.n "
                             "WHERE rec.n = ?", (n,)).fetchone()
    if row is None:
        raise NotFound(f"no line {n} in this run's index")
    return row["id"], _read_span(index.fused, row["off"], row["len"])


def record(index: RunIndex, n: int) -> dict[str, Any]:
    """Everything about one line: the full record (or, for an error row, the start of the raw line)."""
    rows = fetch_rows(index.db(), [n])
    if not rows:
        raise NotFound(f"no line {n} in this run's index")
    out = rows[0]
    _, raw = raw_line(index, n)
    if out["error"]:
        out["raw"] = raw[:RAW_ERROR_CHARS].decode("utf-8", "replace")
        out["raw_bytes"] = len(raw)
        return out
    obj = json.loads(raw)
    if str(obj.get("id")) != out["id"]:
        raise Stale("fused.jsonl changed since it was indexed: reload the page")
    clipped: list[str] = []
    out["record"] = clip(obj, clipped)
    out["clipped"] = clipped
    return out


# --- two sides ----------------------------------------------------------------------------------------
def compare_page(left: RunIndex, right: RunIndex, q: CompareQuery) -> dict[str, Any]:
    """Samples present on both sides (filtered), a page of them, and each side's responses to them."""
    db = left.db()
    same = left is right
    other = "main." if same else "b."
    if not same:
        right.db()  # keep the right index current before attaching it
        db.execute("ATTACH DATABASE ? AS b", (f"{right.path.resolve().as_uri()}?mode=ro",))
    try:
        conds_a, params_a = ["a.bad = 0", "a.sample_id IS NOT NULL"], []
        conds_b, params_b = ["r.sample_id = a.sample_id", "r.bad = 0"], []
        for conds, params, alias, attack in ((conds_a, params_a, "a", q.left_attack),
                                             (conds_b, params_b, "r", q.right_attack)):
            if attack is not None:
                conds.append(f"{alias}.attack = ?")
                params.append(attack)
        if q.category is not None:
            conds_a.append("a.category = ?")
            params_a.append(q.category)
        if same:
            conds_b.append("r.n != a.n")
        if q.differ:
            conds_b.append(f"r.{q.differ}_flag IS NOT a.{q.differ}_flag")
        samples = (f"SELECT a.sample_id FROM main.rec a WHERE {' AND '.join(conds_a)} AND EXISTS "
                   f"(SELECT 1 FROM {other}rec r WHERE {' AND '.join(conds_b)}) GROUP BY a.sample_id")
        params = [*params_a, *params_b]
        total = db.execute(f"SELECT count(*) FROM ({samples})", params).fetchone()[0]
        ids = [r[0] for r in db.execute(f"{samples} ORDER BY a.sample_id LIMIT ? OFFSET ?",
                                        [*params, q.size, (q.page - 1) * q.size])]
        sides: dict[str, list[dict[str, Any]]] = {}
        for name, prefix, attack in (("left", "main.", q.left_attack), ("right", other, q.right_attack)):
            ns = [r[0] for r in db.execute(
                f"SELECT n FROM {prefix}rec WHERE bad = 0 AND sample_id IN ({', '.join('?' * len(ids))})"
                + (" AND attack = ?" if attack is not None else "") + " ORDER BY sample_id, n",
                [*ids, *([attack] if attack is not None else [])])] if ids else []
            sides[name] = fetch_rows(db, ns, prefix)
    finally:
        if not same:
            db.execute("DETACH DATABASE b")
    pairs = [{"sample_id": sid, **{name: [r for r in rows if r["sample_id"] == sid] for name, rows in sides.items()}}
             for sid in ids]
    return {"total": total, "page": q.page, "size": q.size, "samples": pairs}
