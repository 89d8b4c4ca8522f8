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

import errno
import hashlib
import json
import os
import secrets
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_core import PydanticSerializationError, from_json, to_json

from lam3.config import dotted
from lam3.errors import UserError, location
from lam3.lock import OutputLock

M = TypeVar("M", bound=BaseModel)


def naming(exc: OSError, path: str | Path) -> OSError:
    """``exc`` naming ``path`` (a failed write or fsync names no file), same errno and subclass."""
    if exc.filename is not None or exc.errno is None:
        return exc
    return OSError(exc.errno, exc.strerror or os.strerror(exc.errno), str(path))


# --- one JSON value ---------------------------------------------------------------------------
def parse_json(raw: bytes | str) -> Any:
    """One JSON document, as :func:`json.loads` reads it, about three times faster.

    pydantic-core's Rust parser (already a dependency) reads the common case; anything it refuses
    (a UTF-8 byte-order mark, a lone surrogate escape, nesting past 200 levels, or simply bad JSON) is
    read again by :func:`json.loads`, so what is accepted and the error a bad line reports are the
    standard library's.
    """
    try:
        return from_json(raw)
    except ValueError:
        return json.loads(raw)


def dump_json(value: Any) -> str:
    """``value`` as one compact JSON line (UTF-8 kept, as ``json.dumps(ensure_ascii=False)`` writes it), by
    pydantic-core's encoder, about three times faster; what it refuses goes through :func:`json.dumps`."""
    try:
        return to_json(value).decode("utf-8")
    except PydanticSerializationError:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


# --- id index ---------------------------------------------------------------------------------
def _h64(key: str) -> int:
    return int.from_bytes(hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest(), "little", signed=True)


@contextmanager
def _index_space() -> Iterator[None]:
    """SQLite's "database or disk is full" as the OSError (ENOSPC) every other full disk raises."""
    try:
        yield
    except sqlite3.OperationalError as exc:
        if "full" not in str(exc):
            raise
        import tempfile

        raise OSError(errno.ENOSPC, "No space left on device (the temporary id index)",
                      tempfile.gettempdir()) from None


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
        """Add ``key``; return False if it was already present. A full temporary folder is ENOSPC."""
        with _index_space():
            return self._db.execute("INSERT OR IGNORE INTO ids VALUES (?)", (_h64(key),)).rowcount == 1

    def present(self, keys: Sequence[str]) -> set[str]:
        """The ``keys`` already in the index, in one query per 500 keys (not one per key)."""
        hashes = [_h64(k) for k in keys]
        found = self._found(hashes)
        return {k for k, h in zip(keys, hashes) if h in found}

    def add_all(self, keys: Sequence[str]) -> str | None:
        """Add the keys of one batch; return a key already present or repeated within ``keys``, else None.
        Nothing is added when a key is refused."""
        hashes = [_h64(k) for k in keys]
        seen: set[int] = set()
        for key, h in zip(keys, hashes):
            if h in seen:
                return key
            seen.add(h)
        found = self._found(hashes)
        if found:
            return next(k for k, h in zip(keys, hashes) if h in found)
        self._insert(hashes)
        return None

    def add_each(self, keys: Sequence[str]) -> list[bool]:
        """Add every key; per key, False when it was present already (or earlier in ``keys``)."""
        hashes = [_h64(k) for k in keys]
        present = self._found(hashes)
        new: list[bool] = []
        for h in hashes:
            new.append(h not in present)
            present.add(h)
        self._insert([h for h, fresh in zip(hashes, new) if fresh])
        return new

    # Why batches: sqlite3 lets go of the GIL in every statement, and a stage's judge thread then
    # keeps it for up to a switch interval (5 ms); one statement per 500 ids, not one per id.
    _CHUNK = 500  # well under SQLite's limit on bound parameters

    def _found(self, hashes: list[int]) -> set[int]:
        """The ``hashes`` already in the table."""
        found: set[int] = set()
        for i in range(0, len(hashes), self._CHUNK):
            chunk = hashes[i:i + self._CHUNK]
            found.update(h for (h,) in self._db.execute(
                f"SELECT h FROM ids WHERE h IN ({','.join('?' * len(chunk))})", chunk))
        return found

    def _insert(self, hashes: list[int]) -> None:
        with _index_space():
            for i in range(0, len(hashes), self._CHUNK):
                chunk = hashes[i:i + self._CHUNK]
                self._db.execute(f"INSERT INTO ids VALUES {','.join(['(?)'] * len(chunk))}", chunk)

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
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise naming(exc, path)
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

    _held: HeldReports | None = field(default=None, repr=False)

    def add(self, bad: BadLine) -> None:
        self.count += 1
        if self._held is not None:
            self._held.reports.append(bad)
        else:
            self._write(bad)

    @contextmanager
    def holding(self) -> Iterator[HeldReports]:
        """Reports made inside the block are held back, not written: a reader that reads ahead of what it
        hands on releases them in input order, among its own reports (:meth:`HeldReports.release`)."""
        held = self._held = HeldReports(self)
        try:
            yield held
        except BaseException:
            held.release()  # reading failed half-way: what it met is still reported
            raise
        finally:
            self._held = None

    def _write(self, bad: BadLine) -> None:
        try:
            if self._fh is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._fh = open(self.path, "a", encoding="utf-8")
            self._fh.write(json.dumps({"file": bad.file, "line": bad.line, "field": bad.field,
                                       "reason": bad.reason, "raw": bad.raw}, ensure_ascii=False) + "\n")
            self._fh.flush()
        except OSError as exc:
            raise naming(exc, self.path)
        if self.on_bad is not None:
            self.on_bad(bad)

    def close(self) -> None:
        if self._fh is not None:
            fh, self._fh = self._fh, None
            try:
                fh.flush()
                os.fsync(fh.fileno())
            except OSError as exc:
                raise naming(exc, self.path)
            finally:
                try:
                    fh.close()
                except OSError:
                    pass  # the flush above already failed and said why


@dataclass
class HeldReports:
    """Bad lines reported while a :class:`Quarantine` was holding; written when released."""

    quarantine: Quarantine
    reports: list[BadLine] = field(default_factory=list)
    released: int = 0

    def release(self, upto: int | None = None) -> None:
        """Write the held reports before position ``upto`` (all of them when None) not written yet."""
        end = len(self.reports) if upto is None else upto
        while self.released < end:
            self.released += 1
            self.quarantine._write(self.reports[self.released - 1])


def quarantine_path(out: str | Path) -> Path:
    """Where bad input lines of a stage writing ``out`` go: ``out.quarantine.jsonl``."""
    out = Path(out)
    return out.with_name(out.name.removesuffix(".jsonl") + ".quarantine.jsonl")


# --- reading --------------------------------------------------------------------------------------
def count_lines(path: str | Path, *, complete: bool = False) -> int:
    """Number of non-empty lines, counted in 1 MiB chunks (for progress bars).

    ``complete``: only lines that end in a newline (a torn last line is not a record yet).
    """
    n, last = 0, b"\n"
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            n += chunk.count(b"\n")
            last = chunk[-1:]
    return n + (last != b"\n" and not complete)


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
                obj = parse_json(raw)
            except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
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


@dataclass(frozen=True, slots=True)
class Encoded:
    """A record already turned into its JSONL text, with its id.

    Why: a stage that buffers a batch of a thousand models keeps a thousand object trees alive
    for the garbage collector to walk again and again; a batch of encoded records is strings.
    """

    id: str
    text: str

    @classmethod
    def of(cls, record: dict[str, Any] | BaseModel, id_field: str = "id") -> Encoded:
        return cls(_record_id(record, id_field), _dump(record))


Writable = dict[str, Any] | BaseModel | Encoded
"""What a JSONL writer takes: a plain record, a model, or an :class:`Encoded` one."""


def _record_id(record: Writable, id_field: str) -> str:
    if isinstance(record, Encoded):
        return record.id
    return str(record[id_field] if isinstance(record, dict) else getattr(record, id_field))


def _dump(record: Writable) -> str:
    if isinstance(record, Encoded):
        return record.text
    if isinstance(record, BaseModel):
        return record.model_dump_json()
    return dump_json(record)


class DuplicateIdError(UserError):
    pass


class JsonlWriter:
    """Append-only JSONL output that can be resumed, with one writer at a time.

    On open, the output's lock is taken (:class:`lam3.lock.OutputLock`: another process writing
    the same file is refused at once), a torn tail is removed and the ids already present are
    indexed. With ``drop=`` (a predicate on existing records) matching lines are removed first —
    this is how errored records are retried: the file is rewritten to a temp file and atomically
    renamed, so a crash during the rewrite leaves the old file intact.

    Batches go straight to the file descriptor (no buffer that a later flush could write half of)
    and are fsync'd. A write the file system refuses raises ``OSError`` naming the file; so does
    finding, after a batch, that the path no longer leads to the file being written (deleted or
    replaced by another program: what went into the old file is not in the output any more).
    """

    def __init__(self, path: str | Path, *, id_field: str = "id",
                 drop: Callable[[dict[str, Any]], bool] | None = None) -> None:
        self.path = Path(path)
        self.id_field = id_field
        self.lock = OutputLock(self.path).acquire()
        self._fd: int | None = None
        self.ids = IdIndex()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.repaired_bytes = repair_tail(self.path)
            self.dropped = self._rewrite_without(drop) if drop is not None and self.path.exists() else 0
            self.existing = 0
            if self.path.exists():
                for lineno, obj in iter_jsonl(self.path, id_field=id_field):
                    if not self.ids.add(str(obj[id_field])):
                        raise DuplicateIdError(f"duplicate id {obj[id_field]!r} in existing output",
                                               path=self.path, line=lineno, field=id_field)
                    self.existing += 1
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0),
                               0o644)
            self._inode = _inode(os.fstat(self._fd))
        except OSError as exc:
            self._abandon()
            raise naming(exc, self.path)
        except BaseException:
            self._abandon()
            raise
        self.failed = False

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

    def id_of(self, record: Writable) -> str:
        return _record_id(record, self.id_field)

    def write_batch(self, records: Iterable[Writable]) -> int:
        """Append records and make them durable (fsync). Refuses an id already written."""
        assert self._fd is not None and not self.failed, "the writer is closed or a write failed"
        records = list(records)
        repeated = self.ids.add_all([self.id_of(rec) for rec in records])
        if repeated is not None:
            raise DuplicateIdError(f"duplicate id {repeated!r}", path=self.path, field=self.id_field)
        lines = [_dump(rec) + "\n" for rec in records]
        if lines:
            try:
                data = memoryview("".join(lines).encode("utf-8"))
                while data:
                    data = data[os.write(self._fd, data):]
                os.fsync(self._fd)
                self._check_still_there()
            except OSError as exc:
                self.failed = True  # a rerun cuts the torn line this may leave, and redoes its records
                raise naming(exc, self.path)
        return len(lines)

    def _check_still_there(self) -> None:
        try:
            now = _inode(os.stat(self.path))
        except FileNotFoundError:
            now = None
        if now != self._inode:
            raise OSError(errno.ENOENT, "the output was deleted or replaced while it was being written "
                                        "(records written into the old file are not in it)", str(self.path))

    def _abandon(self) -> None:
        if self._fd is not None:
            try:
                os.close(self._fd)
            except OSError:
                pass
            self._fd = None
        self.ids.close()
        self.lock.release()

    def close(self) -> None:
        if self._fd is None:
            return
        try:
            if not self.failed:
                os.fsync(self._fd)
        except OSError as exc:
            raise naming(exc, self.path)
        finally:
            self._abandon()

    def __enter__(self) -> JsonlWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _inode(st: os.stat_result) -> tuple[int, int]:
    return st.st_dev, st.st_ino


def write_jsonl(path: str | Path, records: Iterable[dict[str, Any] | BaseModel]) -> int:
    """Write a whole (small) file atomically (see :func:`atomic_file`)."""
    n = 0
    with atomic_file(path) as fh:
        for rec in records:
            fh.write(_dump(rec) + "\n")
            n += 1
    return n
