"""The viewer's index of one run: a SQLite file built from ``fused.jsonl``, cached beside the run.

Why an index: the page must stay fast at 100 000 responses without ever loading them all,
so every filter, sort, search and page is a query on the server. Per line of ``fused.jsonl``:

- table ``rec``, kept narrow because every filter, sort and count scans it: id, model, attack,
  category, sample, each metric's score, verdict, disagreement and resolution, whether the response
  is queued for review, and one ``REAL`` column per (metric, judge) probability, added as judges
  appear (names in table ``judge_col``), so any judge's score can be sorted on;
- table ``body``, read only for the rows of one page: the list view's text, cut to
  :data:`LIST_TEXT_CHARS` (a huge response never reaches the list), each judge's vote and
  probability (``card``), and where the whole line lies in ``fused.jsonl`` (byte offset and
  length), so the full record is read from the file on demand and never copied into the index;
- an FTS5 full-text index of prompt, response and behaviour (``content=''``: only the index,
  not a second copy of the text).

A line that cannot be read (bad JSON, no id, a duplicate id, a record that does not validate
as :class:`lam3.records.FusedResult`) becomes an *error row* that the page shows and counts;
the build never stops on it. The file is read line by line and written in batches, so memory
does not grow with the run (duplicate ids are found with :class:`lam3.store.IdIndex`).

Freshness: the index stores ``fused.jsonl``'s size, mtime and sha256. When size and mtime match,
it is used as it is; when only the mtime moved and the sha256 still matches, too; otherwise it is
rebuilt into a temporary file that replaces the old one. The file is hidden (``.fused.view.sqlite``),
so ``lam3 pack`` does not ship it.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from lam3.config import dotted
from lam3.errors import UserError
from lam3.manifest import now, sha256_file
from lam3.pipeline.rundir import RunDir
from lam3.records import METRICS, FusedResult, MetricResult, upgrade
from lam3.store import IdIndex, count_lines, parse_json, quarantine_path

INDEX_FILE = ".fused.view.sqlite"
INDEX_VERSION = 3  # 3: judge probabilities read from each metric's result (2 read the wave-1 top level)
LIST_TEXT_CHARS = 400
SEARCH_TEXT_CHARS = 200_000
"""Text beyond this many characters per field is not searchable (the detail view still shows it)."""
KEY_CHARS = 256
CARD_JUDGES = 24
MAX_JUDGE_COLUMNS = 64
MAX_IMAGES = 16
BATCH = 2000

TEXT_FIELDS = ("prompt", "response", "behavior")
KEY_FIELDS = ("sample_id", "model_id", "attack", "category")
REC_COLUMNS: dict[str, str] = {
    "n": "INTEGER PRIMARY KEY", "id": "TEXT", "bad": "INTEGER", **{k: "TEXT" for k in KEY_FIELDS},
    "queued": "INTEGER", "disagree": "INTEGER", "human": "INTEGER",
    **{c: t for m in METRICS for c, t in ((f"{m}_score", "REAL"), (f"{m}_flag", "INTEGER"),
                                          (f"{m}_dis", "INTEGER"), (f"{m}_res", "TEXT"))},
}
"""The narrow table every filter, sort and count scans (judge score columns ``j0, j1, …`` are added)."""
BODY_COLUMNS: dict[str, str] = {
    "n": "INTEGER PRIMARY KEY", "line": "INTEGER", "off": "INTEGER", "len": "INTEGER", "error": "TEXT",
    "behavior_id": "TEXT", **{k: "TEXT" for k in TEXT_FIELDS}, **{f"{k}_len": "INTEGER" for k in TEXT_FIELDS},
    "images": "TEXT", "n_images": "INTEGER", "card": "TEXT",
}
"""What only the rows of one page need: list text, where the line lies, the judges' votes."""
SCHEMA = (
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT);"
    "CREATE TABLE judge_col(col TEXT PRIMARY KEY, metric TEXT, judge TEXT);"
    f"CREATE TABLE rec({', '.join(f'{c} {t}' for c, t in REC_COLUMNS.items())});"
    f"CREATE TABLE body({', '.join(f'{c} {t}' for c, t in BODY_COLUMNS.items())});"
    "CREATE VIRTUAL TABLE fts USING fts5(prompt, response, behavior, content='', "
    "tokenize='unicode61 remove_diacritics 2');"
    "CREATE TABLE review(id TEXT PRIMARY KEY, labels TEXT, reviewer TEXT, note TEXT, time TEXT, source TEXT);"
)
_FLAGS = ", ".join(f"{m}_flag" for m in METRICS)
INDEXES = (
    "CREATE INDEX rec_id ON rec(id);"
    # covering indexes for the side-by-side join (and the sample filter): no table lookups per probe
    f"CREATE INDEX rec_pair ON rec(sample_id, attack, bad, {_FLAGS});"
    f"CREATE INDEX rec_attack ON rec(attack, sample_id, bad, category, {_FLAGS});"
    "ANALYZE;"
)
"""No index on model, attack or category for the list: a scan of the narrow ``rec`` is faster than
an index that selects half the rows (the list's filters write ``+rec.attack`` so SQLite scans)."""


# --- one line → one row -------------------------------------------------------------------------
def finite(value: Any) -> float | None:
    """A probability fit for JSON and sorting: NaN, infinities, booleans and non-numbers become None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def as_text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


@dataclass
class Row:
    """What one line of ``fused.jsonl`` puts into the index."""

    values: dict[str, Any]
    probabilities: dict[tuple[str, str], float] = field(default_factory=dict)
    """(metric, judge) → that judge's probability (``MetricResult.probabilities``), one score column each"""
    search: tuple[str, str, str] | None = None
    metrics: tuple[str, ...] = ()


def _metric_card(result: MetricResult, scores: dict[str, float | None]) -> dict[str, Any]:
    """Each judge's ``[name, probability, vote]`` (score, verdict and resolution are columns of ``rec``)."""
    judges = list(dict.fromkeys([*result.votes, *scores]))
    card: dict[str, Any] = {"judges": [[j, finite(scores.get(j)), result.votes.get(j)] for j in judges[:CARD_JUDGES]]}
    if result.missing:
        card["missing"] = result.missing[:CARD_JUDGES]
    if len(judges) > CARD_JUDGES:
        card["more"] = len(judges) - CARD_JUDGES
    return card


def parse_line(raw: bytes, lineno: int, offset: int, seen: IdIndex) -> Row:
    """The index row of one line; a line that cannot be used becomes an error row saying why."""
    values: dict[str, Any] = {"n": lineno, "line": lineno, "off": offset, "len": len(raw), "bad": 1}

    def error(reason: str) -> Row:
        values["error"] = reason[:500]
        return Row(values)

    try:
        obj = parse_json(raw)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        return error("torn last line (incomplete write)" if not raw.endswith(b"\n") else f"invalid JSON: {exc}")
    if not isinstance(obj, dict):
        return error(f"expected a JSON object, got {type(obj).__name__}")
    for k in (*KEY_FIELDS, "behavior_id"):
        text = as_text(obj.get(k))
        values[k] = text[:KEY_CHARS] if text else None
    rid = obj.get("id")
    if isinstance(rid, bool) or not isinstance(rid, (str, int)) or rid == "":
        return error("id: missing or not a non-empty string")
    values["id"] = rid = str(rid)
    if not seen.add(rid):
        return error(f"id: duplicate {rid[:80]!r} (an earlier line has the same id)")
    try:
        rec = FusedResult.model_validate(upgrade(obj))
    except ValidationError as exc:
        first = exc.errors()[0]
        return error(f"{dotted(tuple(first['loc']))}: {first['msg']}")
    values["bad"] = 0
    texts = [as_text(obj.get(k)) or "" for k in TEXT_FIELDS]
    for k, text in zip(TEXT_FIELDS, texts):
        values[k], values[f"{k}_len"] = text[:LIST_TEXT_CHARS], len(text)
    images = obj.get("images") if isinstance(obj.get("images"), list) else []
    images = [p for p in images if isinstance(p, str)][:MAX_IMAGES]
    values["images"], values["n_images"] = json.dumps(images), len(images)
    values["queued"] = int(rec.review)
    cards: dict[str, Any] = {}
    probabilities: dict[tuple[str, str], float] = {}
    for m in METRICS:
        result: MetricResult = getattr(rec, m)
        scores = result.probabilities  # wave-1 files: upgrade() moved their judge_scores here
        if result.score is None and result.flagged is None and not result.votes and not scores:
            continue  # this metric was not fused for this response
        values[f"{m}_score"] = finite(result.score)
        values[f"{m}_flag"] = None if result.flagged is None else int(result.flagged)
        values[f"{m}_dis"], values[f"{m}_res"] = int(result.disagreement), result.resolution
        for judge, p in list(scores.items())[:MAX_JUDGE_COLUMNS]:
            if finite(p) is not None:
                probabilities[(m, str(judge)[:KEY_CHARS])] = finite(p)  # type: ignore[assignment]
        cards[m] = _metric_card(result, scores)
    values["disagree"] = int(any(getattr(rec, m).disagreement for m in cards))
    values["human"] = int(any(getattr(rec, m).resolution == "human" for m in cards))
    labels = obj.get("labels")
    values["card"] = json.dumps({"metrics": cards, "labels": as_text(labels)[:300] if labels is not None else None},
                                ensure_ascii=False, separators=(",", ":"))
    search = (texts[0][:SEARCH_TEXT_CHARS], texts[1][:SEARCH_TEXT_CHARS], texts[2][:SEARCH_TEXT_CHARS])
    return Row(values, probabilities, search, tuple(cards))


# --- the build ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Fingerprint:
    """What tells a changed ``fused.jsonl`` from the one indexed, before hashing it."""

    size: int
    mtime_ns: int

    @classmethod
    def of(cls, path: Path) -> Fingerprint:
        st = path.stat()
        return cls(st.st_size, st.st_mtime_ns)


class _Loader:
    """Inserts rows in batches; adds a score column the first time a (metric, judge) pair appears."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        self.rows: list[Row] = []
        self.judge_cols: dict[tuple[str, str], str] = {}
        self.metrics: set[str] = set()
        self.records = self.errors = 0

    def add(self, row: Row) -> None:
        new = [k for k in row.probabilities if k not in self.judge_cols]
        if new and len(self.judge_cols) < MAX_JUDGE_COLUMNS:
            self.flush()
            for metric, judge in new[:MAX_JUDGE_COLUMNS - len(self.judge_cols)]:
                col = f"j{len(self.judge_cols)}"
                self.db.execute(f"ALTER TABLE rec ADD COLUMN {col} REAL")
                self.db.execute("INSERT INTO judge_col VALUES (?,?,?)", (col, metric, judge))
                self.judge_cols[(metric, judge)] = col
        self.rows.append(row)
        self.records += 1
        self.errors += row.values["bad"]
        self.metrics.update(row.metrics)
        if len(self.rows) >= BATCH:
            self.flush()

    def flush(self) -> None:
        if not self.rows:
            return
        cols = [*REC_COLUMNS, *self.judge_cols.values()]
        self.db.executemany(
            f"INSERT INTO rec({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
            [tuple(r.values.get(c) for c in REC_COLUMNS) + tuple(r.probabilities.get(k) for k in self.judge_cols)
             for r in self.rows])
        self.db.executemany(f"INSERT INTO body VALUES ({', '.join('?' * len(BODY_COLUMNS))})",
                            [tuple(r.values.get(c) for c in BODY_COLUMNS) for r in self.rows])
        self.db.executemany("INSERT INTO fts(rowid, prompt, response, behavior) VALUES (?,?,?,?)",
                            [(r.values["n"], *r.search) for r in self.rows if r.search is not None])
        self.rows.clear()


def build_index(fused: Path, dest: Path, progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Index ``fused`` into ``dest`` (via a temporary file, so a crash leaves the old index or none)."""
    t0 = time.perf_counter()
    before = Fingerprint.of(fused)
    tmp = dest.with_name(dest.name + ".tmp")
    tmp.unlink(missing_ok=True)
    db = sqlite3.connect(tmp)
    seen = IdIndex()
    try:
        db.executescript("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA cache_size=-8000;"
                         "PRAGMA temp_store=FILE;" + SCHEMA)
        loader = _Loader(db)
        digest = hashlib.sha256()
        offset = 0
        total = count_lines(fused) if progress is not None else 0
        with open(fused, "rb") as fh:
            for lineno, raw in enumerate(fh, start=1):
                digest.update(raw)
                start, offset = offset, offset + len(raw)
                if raw.strip():
                    loader.add(parse_line(raw, lineno, start, seen))
                if progress is not None and lineno % 5000 == 0:
                    progress(lineno, total)
        loader.flush()
        meta = {"version": INDEX_VERSION, "size": before.size, "mtime_ns": before.mtime_ns,
                "sha256": digest.hexdigest(), "built": now(), "records": loader.records, "errors": loader.errors,
                "metrics": [m for m in METRICS if m in loader.metrics]}
        db.executescript(INDEXES)
        meta["build_seconds"] = round(time.perf_counter() - t0, 3)
        db.executemany("INSERT INTO meta VALUES (?, ?)", [(k, json.dumps(v)) for k, v in meta.items()])
        db.commit()
    finally:
        db.close()
        seen.close()
    Path(str(dest) + "-journal").unlink(missing_ok=True)  # a hot journal of the old index must not touch the new
    os.replace(tmp, dest)
    if progress is not None:
        progress(total, total)
    return meta


def read_meta(path: Path) -> dict[str, Any] | None:
    """The stored meta of an index file, or None when it is missing, unreadable or of another version."""
    if not path.is_file():
        return None
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            meta = {k: json.loads(v) for k, v in db.execute("SELECT key, value FROM meta")}
        finally:
            db.close()
    except (sqlite3.DatabaseError, ValueError):
        return None
    return meta if meta.get("version") == INDEX_VERSION else None


def is_current(meta: dict[str, Any] | None, fused: Path, fp: Fingerprint) -> bool:
    """Same size and mtime, or same size and sha256 (a touched but unchanged file is not re-indexed)."""
    if meta is None or meta["size"] != fp.size:
        return False
    return meta["mtime_ns"] == fp.mtime_ns or meta["sha256"] == sha256_file(fused)


# --- one run while the viewer serves it --------------------------------------------------------------
class RunIndex:
    """One run's index: kept current on every request, one read-only connection per thread.

    ``refresh`` is called before each query: a stat of ``fused.jsonl`` and of the reviews file.
    A changed ``fused.jsonl`` (``lam3 fuse --reviews`` rewrote it) is re-indexed; a changed reviews
    file is reloaded into table ``review``.
    """

    def __init__(self, run: RunDir, key: str, *, reviews: Path, image_root: Path, rebuild: bool = False,
                 progress: Callable[[int, int], None] | None = None) -> None:
        from lam3.report.viewer.reviews import ReviewLog

        self.run, self.key, self.image_root = run, key, image_root
        self.fused = run.fused
        if not self.fused.is_file():
            raise UserError("no fused.jsonl in this run: run `lam3 fuse … -o RUN/fused.jsonl` first", path=run.path)
        self.path = run.path / INDEX_FILE
        if not os.access(run.path, os.W_OK):
            raise UserError("the run directory is not writable (the index and reviews.jsonl live there)",
                            path=run.path)
        self.reviews = ReviewLog(reviews)
        self.lock = threading.RLock()
        self.local = threading.local()
        self.generation = 0
        self.meta: dict[str, Any] = {}
        self.built_now = False
        self.cache: dict[str, Any] = {}
        self._fp: Fingerprint | None = None
        self._writer: sqlite3.Connection | None = None
        self.refresh(force=rebuild, progress=progress)

    def refresh(self, *, force: bool = False, progress: Callable[[int, int], None] | None = None) -> None:
        with self.lock:
            try:
                fp = Fingerprint.of(self.fused)
            except FileNotFoundError:
                if self._fp is None:
                    raise
                fp = self._fp  # removed while being viewed: keep serving what was indexed
            if force or fp != self._fp:
                meta = None if force else read_meta(self.path)
                if is_current(meta, self.fused, fp):
                    if meta["mtime_ns"] != fp.mtime_ns:  # touched, same bytes
                        self._set_meta(self.path, "mtime_ns", fp.mtime_ns)
                        meta["mtime_ns"] = fp.mtime_ns
                    self.built_now = False
                else:
                    self._close_writer()
                    meta = build_index(self.fused, self.path, progress)
                    self.built_now = True
                self.meta, self._fp = meta, fp
                self.generation += 1
                self.cache.clear()
                self.reviews.changed = True
            if self.reviews.stale():
                self.reviews.load_into(self.writer())

    @staticmethod
    def _set_meta(path: Path, key: str, value: Any) -> None:
        db = sqlite3.connect(path)
        try:
            db.execute("UPDATE meta SET value=? WHERE key=?", (json.dumps(value), key))
            db.commit()
        finally:
            db.close()

    def writer(self) -> sqlite3.Connection:
        """The one writable connection (table ``review`` only); use under :attr:`lock`."""
        if self._writer is None:
            self._writer = sqlite3.connect(self.path, timeout=10, check_same_thread=False)
        return self._writer

    def _close_writer(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def db(self) -> sqlite3.Connection:
        """This thread's read-only connection to the current index (reopened after a rebuild)."""
        self.refresh()
        conn = getattr(self.local, "conn", None)
        if conn is None or self.local.generation != self.generation:
            if conn is not None:
                conn.close()
            conn = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True, timeout=10,
                                   check_same_thread=False)
            conn.execute("PRAGMA cache_size=-8000")
            conn.row_factory = sqlite3.Row
            self.local.conn, self.local.generation = conn, self.generation
        return conn

    def judge_columns(self) -> list[dict[str, str]]:
        return self._cached("judges", lambda db: [dict(r) for r in db.execute(
            "SELECT col, metric, judge FROM judge_col ORDER BY metric, judge")])

    def facets(self) -> dict[str, list[list[Any]]]:
        """Distinct models, attacks and categories with counts (computed once per index)."""
        def compute(db: sqlite3.Connection) -> dict[str, list[list[Any]]]:
            return {name: [list(r) for r in db.execute(
                f"SELECT {col}, count(*) FROM rec WHERE {col} IS NOT NULL GROUP BY {col} ORDER BY {col} LIMIT 1000")]
                    for name, col in (("model", "model_id"), ("attack", "attack"), ("category", "category"))}
        return self._cached("facets", compute)

    def _cached(self, name: str, compute: Callable[[sqlite3.Connection], Any]) -> Any:
        db = self.db()
        with self.lock:
            if name not in self.cache:
                self.cache[name] = compute(db)
            return self.cache[name]

    def quarantined(self) -> int:
        path = quarantine_path(self.fused)
        return count_lines(path) if path.is_file() else 0

    def close(self) -> None:
        with self.lock:
            self._close_writer()

