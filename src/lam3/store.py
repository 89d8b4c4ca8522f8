"""Streaming, crash-safe, resumable JSONL: the storage every stage shares.

Guarantees:
- reading streams line by line (memory does not grow with the file);
- writing is append-only, one batch at a time, each batch flushed and fsync'd,
  so a crash loses at most the batch in flight;
- a torn last line (the process died mid-write) is cut off on reopen and
  the record it held is redone;
- ids already in the output are skipped on resume, records with errors are
  redone on request, and a duplicate id is refused;
- a bad input line is reported as ``file:line: field: reason`` and copied
  to a quarantine file while the rest of the run goes on.

Ids are remembered as 64-bit hashes in a temporary on-disk SQLite table, so
resuming a 1 M-record run costs no more memory than a 10 k one. The chance of
two different ids colliding is about n²/2⁶⁵ (≈3·10⁻⁸ at 1 M).
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TypeVar

from pydantic import BaseModel, ValidationError

from lam3.config import dotted
from lam3.errors import UserError, location

M = TypeVar("M", bound=BaseModel)


# --- id index ---------------------------------------------------------------------------------
def _h64(key: str) -> int:
    return int.from_bytes(hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest(), "little", signed=True)


class IdIndex:
    """A set of string ids whose memory does not grow with the run.

    Ids are kept as 64-bit hashes in a private, temporary on-disk SQLite table (the stdlib's
    ``sqlite3.connect("")``: deleted on close, a few MiB of page cache), so resuming or
    de-duplicating a 1 M-record run costs no more RAM than a 10 k one.
    """

    def __init__(self, cache_kib: int = 4096) -> None:
        self._db = sqlite3.connect("", check_same_thread=False)
        self._db.executescript(f"PRAGMA cache_size=-{int(cache_kib)}; PRAGMA journal_mode=OFF; "
                               "PRAGMA synchronous=OFF; CREATE TABLE ids (h INTEGER PRIMARY KEY);")

    def __contains__(self, key: str) -> bool:
        return self._db.execute("SELECT 1 FROM ids WHERE h=?", (_h64(key),)).fetchone() is not None

    def add(self, key: str) -> bool:
        """Add ``key``; return False if it was already present."""
        return self._db.execute("INSERT OR IGNORE INTO ids VALUES (?)", (_h64(key),)).rowcount == 1

    def close(self) -> None:
        self._db.close()


# --- whole files, atomically --------------------------------------------------------------------
def _fsync_dir(directory: Path) -> None:
    """Make a rename in ``directory`` durable (a no-op where folders cannot be opened, e.g. Windows)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextmanager
def atomic_file(path: str | Path, mode: str = "w", **open_kwargs: Any) -> Iterator[IO[Any]]:
    """Open a whole file for writing so that readers see the old file or the new one, never half of one.

    Writes go to a hidden temp file in the same folder (``.NAME.<pid>.<random>.tmp``: unique, so two
    processes never write into one temp file; hidden, so ``pack`` skips a leftover). When the block
    ends without error the file is flushed and fsync'd, renamed over ``path`` and the folder fsync'd;
    on error the temp file is removed and ``path`` is untouched. ``fh.name`` is the temp path, for
    writers that need a path rather than a handle. Every whole-file writer in LAM3 goes through here.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    if "b" not in mode:
        open_kwargs.setdefault("encoding", "utf-8")
    try:
        with open(tmp, mode, **open_kwargs) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def atomic_write(path: str | Path, data: str | bytes | Callable[[IO[bytes]], object]) -> Path:
    """Write ``data`` (text, bytes, or a function that writes into a binary file) to ``path`` atomically."""
    if callable(data):
        with atomic_file(path, "wb") as fh:
            data(fh)
    else:
        with atomic_file(path, "wb" if isinstance(data, bytes) else "w") as fh:
            fh.write(data)
    return Path(path)


def write_json(path: str | Path, data: Any) -> Path:
    """A JSON document (indented, UTF-8), written atomically."""
    return atomic_write(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


# --- quarantine ---------------------------------------------------------------------------------
@dataclass
class BadLine:
    file: str
    line: int
    field: str | None
    reason: str
    raw: str

    def __str__(self) -> str:
        return f"{location(self.file, self.line, self.field)}: {self.reason}"


@dataclass
class Quarantine:
    """Collects bad input lines into ``path`` (created on first use) and reports them."""

    path: Path
    on_bad: Callable[[BadLine], None] | None = None
    count: int = 0
    _fh: Any = field(default=None, repr=False)

    def add(self, bad: BadLine) -> None:
        self.count += 1
        if self._fh is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = open(self.path, "a", encoding="utf-8")
        self._fh.write(json.dumps({"file": bad.file, "line": bad.line, "field": bad.field,
                                   "reason": bad.reason, "raw": bad.raw}, ensure_ascii=False) + "\n")
        self._fh.flush()
        if self.on_bad is not None:
            self.on_bad(bad)

    def close(self) -> None:
        if self._fh is not None:
            os.fsync(self._fh.fileno())
            self._fh.close()
            self._fh = None


def quarantine_path(out: str | Path) -> Path:
    """Where bad input lines of a stage writing ``out`` go: ``out.quarantine.jsonl``."""
    out = Path(out)
    return out.with_name(out.name.removesuffix(".jsonl") + ".quarantine.jsonl")


# --- reading --------------------------------------------------------------------------------------
def count_lines(path: str | Path) -> int:
    """Number of non-empty lines, counted in 1 MiB chunks (for progress bars)."""
    n, last = 0, b"\n"
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            n += chunk.count(b"\n")
            last = chunk[-1:]
    return n + (last != b"\n")


def iter_jsonl(path: str | Path, *, quarantine: Quarantine | None = None, id_field: str | None = "id",
               required: Iterable[str] = ()) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_number, object)`` for each good line of ``path``, streaming.

    ``id_field`` (when not None) must hold a non-empty string or integer and is returned as a
    string; ``required`` fields must be present. A bad line goes to ``quarantine`` (or raises
    UserError when there is none). A last line with no newline that does not parse is a torn
    write: reported the same way, never fatal.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError("file not found", path=path)
    required = ((id_field,) if id_field else ()) + tuple(f for f in required if f != id_field)

    def bad(lineno: int, fld: str | None, reason: str, raw: bytes) -> None:
        item = BadLine(str(path), lineno, fld, reason, raw.decode("utf-8", "replace").rstrip("\n"))
        if quarantine is None:
            raise UserError(reason, path=path, line=lineno, field=fld)
        quarantine.add(item)

    with open(path, "rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                torn = not raw.endswith(b"\n")
                bad(lineno, None, "torn last line (incomplete write)" if torn else f"invalid JSON: {exc}", raw)
                continue
            if not isinstance(obj, dict):
                bad(lineno, None, f"expected a JSON object, got {type(obj).__name__}", raw)
                continue
            missing = next((f for f in required if f not in obj), None)
            if missing is not None:
                bad(lineno, missing, "missing", raw)
                continue
            if id_field:
                rid = obj[id_field]
                if isinstance(rid, bool) or not isinstance(rid, (str, int)) or rid == "":
                    bad(lineno, id_field, "must be a non-empty string", raw)
                    continue
                obj[id_field] = str(rid)
            yield lineno, obj


def iter_records(path: str | Path, model: type[M], *, quarantine: Quarantine | None = None
                 ) -> Iterator[tuple[int, M]]:
    """Like :func:`iter_jsonl` but each line is validated into ``model``; invalid lines are quarantined."""
    for lineno, obj in iter_jsonl(path, quarantine=quarantine, id_field=None):
        try:
            yield lineno, model.model_validate(obj)
        except ValidationError as exc:
            err = exc.errors()[0]
            raw = json.dumps(obj, ensure_ascii=False).encode()
            item = BadLine(str(path), lineno, dotted(tuple(err["loc"])) or None, err["msg"], raw.decode())
            if quarantine is None:
                raise UserError(item.reason, path=path, line=lineno, field=item.field) from None
            quarantine.add(item)


# --- writing --------------------------------------------------------------------------------------
def repair_tail(path: Path) -> int:
    """Cut a torn last line (no trailing newline) off ``path``; return the bytes removed."""
    if not path.exists():
        return 0
    size = path.stat().st_size
    if size == 0:
        return 0
    with open(path, "rb+") as fh:
        fh.seek(-1, os.SEEK_END)
        if fh.read(1) == b"\n":
            return 0
        pos, step = size, 1 << 16
        while pos > 0:
            start = max(0, pos - step)
            fh.seek(start)
            chunk = fh.read(pos - start)
            nl = chunk.rfind(b"\n")
            if nl >= 0:
                keep = start + nl + 1
                break
            pos = start
        else:
            keep = 0
        fh.truncate(keep)
        fh.flush()
        os.fsync(fh.fileno())
        return size - keep


def _dump(record: dict[str, Any] | BaseModel) -> str:
    if isinstance(record, BaseModel):
        return record.model_dump_json()
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


class DuplicateIdError(UserError):
    pass


class JsonlWriter:
    """Append-only JSONL output that can be resumed.

    On open, a torn tail is removed and the ids already present are indexed. With
    ``drop=`` (a predicate on existing records) matching lines are removed first — this is
    how errored records are retried: the file is rewritten to a temp file and atomically
    renamed, so a crash during the rewrite leaves the old file intact.
    """

    def __init__(self, path: str | Path, *, id_field: str = "id",
                 drop: Callable[[dict[str, Any]], bool] | None = None) -> None:
        self.path = Path(path)
        self.id_field = id_field
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.repaired_bytes = repair_tail(self.path)
        self.dropped = self._rewrite_without(drop) if drop is not None and self.path.exists() else 0
        self.ids = IdIndex()
        self.existing = 0
        if self.path.exists():
            for lineno, obj in iter_jsonl(self.path, id_field=id_field):
                if not self.ids.add(str(obj[id_field])):
                    raise DuplicateIdError(f"duplicate id {obj[id_field]!r} in existing output",
                                           path=self.path, line=lineno, field=id_field)
                self.existing += 1
        self._fh = open(self.path, "a", encoding="utf-8")

    def _rewrite_without(self, drop: Callable[[dict[str, Any]], bool]) -> int:
        """Remove the lines ``drop`` matches, by an atomic rewrite (a crash leaves the old file intact)."""
        dropped = sum(1 for _, obj in iter_jsonl(self.path, id_field=self.id_field) if drop(obj))
        if dropped:
            with atomic_file(self.path) as out:
                for _, obj in iter_jsonl(self.path, id_field=self.id_field):
                    if not drop(obj):
                        out.write(_dump(obj) + "\n")
        return dropped

    def __contains__(self, record_id: str) -> bool:
        return record_id in self.ids

    def id_of(self, record: dict[str, Any] | BaseModel) -> str:
        return str(record[self.id_field] if isinstance(record, dict) else getattr(record, self.id_field))

    def write_batch(self, records: Iterable[dict[str, Any] | BaseModel]) -> int:
        """Append records and make them durable (flush + fsync). Refuses an id already written."""
        lines = []
        for rec in records:
            rid = self.id_of(rec)
            if not self.ids.add(rid):
                raise DuplicateIdError(f"duplicate id {rid!r}", path=self.path, field=self.id_field)
            lines.append(_dump(rec) + "\n")
        if lines:
            self._fh.write("".join(lines))
            self._fh.flush()
            os.fsync(self._fh.fileno())
        return len(lines)

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()
            self.ids.close()

    def __enter__(self) -> JsonlWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_jsonl(path: str | Path, records: Iterable[dict[str, Any] | BaseModel]) -> int:
    """Write a whole (small) file atomically (see :func:`atomic_file`)."""
    n = 0
    with atomic_file(path) as fh:
        for rec in records:
            fh.write(_dump(rec) + "\n")
            n += 1
    return n
