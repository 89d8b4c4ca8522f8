"""What ``lam3 score`` reads, chosen by file suffix: LAM3 JSONL, Inspect AI logs or HarmBench completions.

- ``.eval``: an Inspect AI log (:mod:`lam3.integrations.inspect_log`);
- ``.json``: an Inspect AI log when its first key is ``"version"`` (how Inspect writes them), else a
  HarmBench completions/results file (:func:`lam3.export.harmbench.read_harmbench`);
- anything else: JSONL records (:func:`lam3.store.iter_jsonl`).

Peer records come out as LAM3 response dicts (``id``, ``prompt``, ``response``, ``images``,
``behavior`` …), checked like JSONL lines (id, required fields), bad ones quarantined.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from lam3.errors import UserError
from lam3.store import BadLine, Quarantine, count_lines, iter_jsonl

_FIRST_KEY = re.compile(rb'^\s*\{\s*"((?:[^"\\]|\\.)*)"')


def kind_of(path: Path) -> str:
    """``inspect``, ``harmbench`` or ``jsonl``."""
    suffix = path.suffix.lower()
    if suffix == ".eval":
        return "inspect"
    if suffix == ".json":
        with open(path, "rb") as fh:
            match = _FIRST_KEY.match(fh.read(4096))
        return "inspect" if match and match.group(1) == b"version" else "harmbench"
    return "jsonl"


def count_score_input(path: str | Path) -> int | None:
    """How many records to expect (for the progress bar); None when only reading tells."""
    path = Path(path)
    return count_lines(path) if kind_of(path) == "jsonl" else None


def read_score_input(path: str | Path, *, quarantine: Quarantine | None = None, id_field: str | None = "id",
                     required: Iterable[str] = ()) -> Iterator[tuple[int, dict[str, Any]]]:
    """Like :func:`lam3.store.iter_jsonl`, for every input kind ``lam3 score`` accepts."""
    path = Path(path)
    if not path.is_file():
        raise UserError("file not found", path=path)
    kind = kind_of(path)
    if kind == "jsonl":
        yield from iter_jsonl(path, quarantine=quarantine, id_field=id_field, required=required)
        return
    if kind == "inspect":
        from lam3.integrations.inspect_log import read_eval_log_responses

        records: Iterator[tuple[int, Any]] = read_eval_log_responses(path)
    else:
        from lam3.export.harmbench import read_harmbench

        records = read_harmbench(path)
    need = ((id_field,) if id_field else ()) + tuple(f for f in required if f != id_field)
    for n, rec in records:
        problem = rec if isinstance(rec, str) else next((f"{f}: missing" for f in need if f not in rec), None)
        if problem is None:
            yield n, rec
            continue
        fld, _, reason = problem.partition(": ")
        if quarantine is None:
            raise UserError(reason, path=path, line=n, field=fld)
        quarantine.add(BadLine(str(path), n, fld, reason, "" if isinstance(rec, str) else str(rec.get("id", ""))))
