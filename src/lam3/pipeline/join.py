"""Join scored files by response id, streaming: the input of the ``fuse`` and ``calibrate`` stages.

Files written by ``lam3 score`` from one response file share its order, so they are read in
lockstep (one line of each at a time; a file that ends early just drops out). At the first id
that does not line up, the rest of every file is spilled into an on-disk SQLite index and joined
from there, so memory never grows with the files either way. Lines from older LAM3 versions are
brought up to date with :func:`lam3.records.upgrade`.
"""

from __future__ import annotations

import json
import sqlite3
import tempfile
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lam3.errors import UserError
from lam3.records import upgrade
from lam3.store import BadLine, Quarantine, dump_json, iter_jsonl, parse_json


@dataclass
class Joined:
    """One response with the judgements of every input file merged."""

    id: str
    record: dict[str, Any]
    judgements: dict[str, Any]
    sources: list[tuple[str, int]]


@dataclass
class JoinStats:
    mode: str = "lockstep"
    spilled_lines: int = 0
    conflicts: Counter[str] = field(default_factory=Counter)


def _merge_judgement(current: dict[str, Any], key: str, new: Any, stats: JoinStats) -> None:
    """Two files judged the same response with the same judge: a success beats an error; else the later file wins."""
    old = current.get(key)
    if old is None or old == new:
        current[key] = new
        return
    old_err = isinstance(old, Mapping) and bool(old.get("error"))
    new_err = isinstance(new, Mapping) and bool(new.get("error"))
    if old_err and not new_err:
        current[key] = new
    elif new_err and not old_err:
        return
    else:
        stats.conflicts[key] += 1
        current[key] = new


def _assemble(parts: list[tuple[str, int, dict[str, Any]]], id_field: str, stats: JoinStats) -> Joined:
    judgements: dict[str, Any] = {}
    for _, _, rec in parts:
        for key, j in rec["judgements"].items():
            _merge_judgement(judgements, key, j, stats)
    base: dict[str, Any] = {}
    for _, _, rec in parts:  # fields any file has (labels may live in one only); the first file wins
        for k, v in rec.items():
            if k != "judgements" and k not in base:
                base[k] = v
    return Joined(str(base[id_field]), base, judgements, [(p, n) for p, n, _ in parts])


def _valid(it: Iterator[tuple[int, dict[str, Any]]], path: str, quarantine: Quarantine
           ) -> Iterator[tuple[int, dict[str, Any]]]:
    for lineno, rec in it:
        rec = upgrade(rec)
        if not isinstance(rec["judgements"], dict):
            quarantine.add(BadLine(path, lineno, "judgements", "must be an object {judge: judgement}",
                                   json.dumps(rec, ensure_ascii=False)))
            continue
        yield lineno, rec


def join_scored(inputs: Sequence[str | Path], id_field: str, quarantine: Quarantine, workdir: Path,
                stats: JoinStats | None = None) -> Iterator[Joined]:
    """Yield each response id once with the judgements of all ``inputs`` (see module docstring)."""
    stats = stats if stats is not None else JoinStats()
    paths = [str(p) for p in inputs]
    for p in paths:
        if not Path(p).is_file():
            raise UserError("input file not found", path=p)
    iters = [_valid(iter_jsonl(p, quarantine=quarantine, id_field=id_field, required=("judgements",)), p,
                    quarantine) for p in paths]
    heads: list[tuple[int, dict[str, Any]] | None] = [next(it, None) for it in iters]
    while True:
        active = [i for i, h in enumerate(heads) if h is not None]
        if not active:
            return
        ids = {heads[i][1][id_field] for i in active}  # type: ignore[index]
        if len(ids) != 1:
            break
        yield _assemble([(paths[i], heads[i][0], heads[i][1]) for i in active], id_field, stats)  # type: ignore[index]
        for i in active:
            heads[i] = next(iters[i], None)
    stats.mode = "index"
    yield from _join_indexed(paths, iters, heads, id_field, quarantine, workdir, stats)


def _join_indexed(paths: list[str], iters: list[Iterator[tuple[int, dict[str, Any]]]],
                  heads: list[tuple[int, dict[str, Any]] | None], id_field: str, quarantine: Quarantine,
                  workdir: Path, stats: JoinStats) -> Iterator[Joined]:
    """Spill what is left of each file into SQLite, then emit ids in first-seen order."""
    db_path = Path(tempfile.mkdtemp(prefix="lam3-join-", dir=workdir)) / "join.sqlite"
    db = sqlite3.connect(db_path)
    try:
        db.executescript("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA cache_size=-16000;"
                         "PRAGMA temp_store=FILE;"
                         "CREATE TABLE rec(seq INTEGER PRIMARY KEY, id TEXT, src INT, line INT, body TEXT);")
        seq = 0
        for src, (head, it) in enumerate(zip(heads, iters)):
            if head is None:
                continue
            rows = []

            def lines() -> Iterator[tuple[int, dict[str, Any]]]:
                yield head  # type: ignore[misc]
                yield from it

            for lineno, rec in lines():
                seq += 1
                rows.append((seq, rec[id_field], src, lineno, dump_json(rec)))
                if len(rows) >= 10_000:
                    db.executemany("INSERT INTO rec VALUES (?,?,?,?,?)", rows)
                    rows.clear()
            db.executemany("INSERT INTO rec VALUES (?,?,?,?,?)", rows)
            stats.spilled_lines = seq
        db.executescript("CREATE INDEX rec_id ON rec(id, seq);"
                         "CREATE TABLE ord(first INTEGER PRIMARY KEY, id TEXT);"
                         "INSERT INTO ord SELECT MIN(seq), id FROM rec GROUP BY id;")
        db.commit()
        reader = db.cursor()
        for (rid,) in db.execute("SELECT id FROM ord ORDER BY first"):
            parts: list[tuple[str, int, dict[str, Any]]] = []
            used: set[int] = set()
            for src, lineno, body in reader.execute("SELECT src, line, body FROM rec WHERE id=? ORDER BY seq",
                                                    (rid,)):
                if src in used:
                    quarantine.add(BadLine(paths[src], lineno, id_field, f"duplicate id {rid!r}", body))
                    continue
                used.add(src)
                parts.append((paths[src], lineno, parse_json(body)))
            yield _assemble(parts, id_field, stats)
    finally:
        db.close()
        db_path.unlink(missing_ok=True)
        db_path.parent.rmdir()
