"""Reading ``fused.jsonl`` back as typed :class:`~lam3.records.FusedResult` records, older versions included.

Every reader of fused results (``lam3 asr``, ``lam3 agreement``, ``lam3 demo``, ``lam3 review
export``, the reports) goes through here, so they all see the same fields: wave-1 files are
brought up to date by :func:`lam3.records.upgrade`, and a line that is not a fused record names
its file, line and field and says what to rerun.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from lam3.config import dotted
from lam3.errors import UserError
from lam3.records import METRICS, FusedResult, upgrade
from lam3.store import BadLine, Quarantine, iter_jsonl


def _parse(rec: dict[str, Any], path: str | Path, lineno: int) -> FusedResult | BadLine:
    if not any(m in rec for m in METRICS):  # e.g. a scored file given where a fused one was meant
        return BadLine(str(path), lineno, None, f"not a fused record (none of {', '.join(METRICS)}): make it with "
                       "'lam3 fuse' from the scored files", json.dumps(rec, ensure_ascii=False))
    try:
        return FusedResult.model_validate(upgrade(rec))
    except ValidationError as exc:
        err = exc.errors()[0]
        return BadLine(str(path), lineno, dotted(tuple(err["loc"])) or None,
                       f"{err['msg']} (not a fused record this LAM3 reads: rerun 'lam3 fuse' on the scored files)",
                       json.dumps(rec, ensure_ascii=False))


def parse_fused(rec: dict[str, Any], path: str | Path, lineno: int) -> FusedResult:
    """One line of a fused file as a typed record; UserError naming file, line and field otherwise."""
    parsed = _parse(rec, path, lineno)
    if isinstance(parsed, BadLine):
        raise UserError(parsed.reason, path=path, line=lineno, field=parsed.field)
    return parsed


def read_fused(path: str | Path, *, quarantine: Quarantine | None = None) -> Iterator[tuple[int, FusedResult]]:
    """``(line, record)`` for each line; a bad line raises UserError (or goes to ``quarantine``)."""
    for lineno, rec in iter_jsonl(path, quarantine=quarantine):
        parsed = _parse(rec, path, lineno)
        if isinstance(parsed, FusedResult):
            yield lineno, parsed
        elif quarantine is None:
            raise UserError(parsed.reason, path=path, line=lineno, field=parsed.field)
        else:
            quarantine.add(parsed)
