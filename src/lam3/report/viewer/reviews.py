"""Labels given in the browser → ``reviews.jsonl``, in exactly the format ``lam3 review import`` writes.

One line per response id: ``{"id", "labels": {metric: true/false}, "reviewer", "note", "source",
"imported"}`` (``imported`` is when the label was given; ``source`` says ``lam3 view``).
``lam3 fuse … --reviews FILE`` reads the file with :func:`lam3.pipeline.review.load_reviews`,
which refuses an id twice. So a label for a new id is *appended* (one write, flush + fsync,
through :class:`lam3.store.JsonlWriter`), and a label for an id already in the file is merged
into its line (the other metrics' labels are kept, as ``review import`` merges) by an atomic
rewrite (temporary file, fsync, rename). Either way a label is on disk before the page hears "saved".
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from lam3.errors import UserError
from lam3.lock import OutputLock
from lam3.manifest import now
from lam3.pipeline.review import METRIC_COLUMNS, Review, load_reviews
from lam3.store import JsonlWriter, iter_jsonl, repair_tail, write_jsonl

SOURCE = "lam3 view"
REVIEW_METRICS: tuple[str, ...] = METRIC_COLUMNS
"""The metrics a person can label (those ``lam3 fuse --reviews`` accepts)."""


class ReviewFileError(Exception):
    """The reviews file cannot be used as it is (``lam3 fuse`` would refuse it too)."""


def _stat(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return st.st_size, st.st_mtime_ns


class ReviewLog:
    """The reviews file of one run, and its copy in the index's ``review`` table (for filters)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.lock = threading.Lock()
        self.changed = True
        self.error: str | None = None
        self.count = 0
        self._seen: tuple[int, int] | None = None

    def stale(self) -> bool:
        return self.changed or _stat(self.path) != self._seen

    def check(self) -> None:
        """Raise :class:`ReviewFileError` unless ``lam3 fuse --reviews`` would accept the file."""
        if not self.path.exists():
            return
        try:
            load_reviews(self.path)
        except UserError as exc:
            raise ReviewFileError(f"{exc} (fix the reviews file; no label was written)") from None

    def load_into(self, db: sqlite3.Connection) -> None:
        """Copy the file into table ``review`` (an unreadable file is reported, not fatal)."""
        seen = _stat(self.path)
        rows: list[tuple[str, ...]] = []
        error = None
        try:
            self.check()
            if seen is not None:
                rows = [(rec["id"], json.dumps(rec.get("labels")), *(str(rec.get(k) or "") for k in
                                                                      ("reviewer", "note", "imported", "source")))
                        for _, rec in iter_jsonl(self.path)]
        except (ReviewFileError, UserError) as exc:
            error = str(exc)
        with db:
            db.execute("DELETE FROM review")
            db.executemany("INSERT OR REPLACE INTO review VALUES (?,?,?,?,?,?)", rows)
        self.error, self.count, self._seen, self.changed = error, len(rows), seen, False

    def add(self, ids: Sequence[str], labels: Mapping[str, bool], reviewer: str, note: str = ""
            ) -> list[dict[str, Any]]:
        """Record ``labels`` for every id; return the lines now in the file for those ids."""
        with self.lock, OutputLock(self.path, wait=10):  # lam3 review import may be merging into it too
            repair_tail(self.path)  # a torn last line (crash mid-append) is cut, as every LAM3 writer does
            self.check()
            existing = {rec["id"]: rec for _, rec in iter_jsonl(self.path)} if self.path.exists() else {}
            given = now()
            lines: dict[str, dict[str, Any]] = {}
            for rid in dict.fromkeys(ids):  # each line is a Review, the model load_reviews reads
                merged = {**existing[rid]["labels"], **labels} if rid in existing else dict(labels)
                lines[rid] = Review(id=rid, labels=merged, reviewer=reviewer, note=note, source=SOURCE,
                                    imported=given).model_dump(mode="json")
            if lines.keys() & existing.keys():
                write_jsonl(self.path, {**existing, **lines}.values())
            else:
                with JsonlWriter(self.path) as writer:
                    writer.write_batch(lines.values())
            self.changed = True
            return list(lines.values())
