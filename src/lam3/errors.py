"""User-facing errors: one line that names the file, line and field.

Anything the user can fix (a missing file, a typo'd config key, a bad record)
raises :class:`UserError`; the CLI prints its message and exits non-zero
without a traceback. Anything else is a bug and keeps its traceback.

Exit codes of ``lam3``: 0 done; 1 a bug (with its traceback); 2 a user error; 3 a missing
dependency or hardware; 4 a storage error (disk full, permission denied, read-only file system,
a file vanished mid-run: fix it and rerun the same command, which the CLI prints); 5 the output
is being written by another process; 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import errno
import os
from pathlib import Path


def location(path: str | Path | None, line: int | None = None, field: str | None = None) -> str:
    """``file:line: field`` — the prefix every LAM3 error message starts with."""
    parts = [str(path) if path is not None else "<input>"]
    if line is not None:
        parts[0] += f":{line}"
    if field:
        parts.append(field)
    return ": ".join(parts)


class UserError(Exception):
    """An error the user can fix; printed as one line, exit code 2."""

    exit_code = 2

    def __init__(self, message: str, *, path: str | Path | None = None, line: int | None = None,
                 field: str | None = None) -> None:
        self.path, self.line, self.field, self.message = path, line, field, message
        prefix = location(path, line, field) + ": " if (path is not None or field) else ""
        super().__init__(prefix + message)


class ConfigError(UserError):
    """A configuration file that does not validate."""


class DependencyError(UserError):
    """An optional dependency (extra) or hardware the requested feature needs is missing."""

    exit_code = 3


class StorageError(UserError):
    """The file system refused a read or write; what is written is safe and a rerun resumes (exit code 4)."""

    exit_code = 4


class OutputBusy(UserError):
    """Another process holds the lock on the output (:mod:`lam3.lock`); exit code 5."""

    exit_code = 5


STORAGE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM,
                            errno.ENOENT, errno.ESTALE, errno.EIO})
"""The ``OSError`` numbers that are the file system's doing, not LAM3's: reported in one line, exit code 4."""

_FIX = {errno.ENOSPC: "free some space", errno.EDQUOT: "free some space (disk quota)",
        errno.EFBIG: "write to a file system that takes larger files", errno.EROFS: "make it writable",
        errno.EACCES: "fix the permissions", errno.EPERM: "fix the permissions",
        errno.ENOENT: "make sure nothing else deletes or moves it", errno.ESTALE: "remount the network share",
        errno.EIO: "check the disk"}


def is_storage_error(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in STORAGE_ERRNOS


def storage_error(exc: OSError, *, output: str | Path | None = None, safe: int | None = None) -> StorageError:
    """``exc`` as one line: the file, what went wrong, the records already safe in ``output``, what to do.

    The message ends "…, then rerun the same command"; the CLI adds the command (``lam3 score …``).
    """
    code = errno.errorcode.get(exc.errno or 0, str(exc.errno))
    parts = [f"{(exc.strerror or os.strerror(exc.errno or 0)).lower()} [{code}]"]
    path = exc.filename if exc.filename is not None else output
    if output is not None and safe is not None:
        where = "there" if path is not None and Path(path) == Path(output) else f"in {output}"
        parts.append(f"{safe} records are safely written {where}, and a rerun does only the rest")
    parts.append(f"{_FIX.get(exc.errno or 0, 'fix the cause')}, then rerun the same command")
    return StorageError("; ".join(parts), path=path)
