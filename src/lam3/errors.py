"""User-facing errors: one line that names the file, line and field.

Anything the user can fix (a missing file, a typo'd config key, a bad record)
raises :class:`UserError`; the CLI prints its message and exits non-zero
without a traceback. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

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
