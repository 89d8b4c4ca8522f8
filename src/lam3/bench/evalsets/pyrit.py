"""PyRIT's scorer-evaluation CSVs (``pyrit/datasets/scorer_evals/`` in the ``pyrit`` wheel, ≥ 0.11).

Layout: leading ``#`` lines (the first holds ``dataset_version=…`` and, in harm files,
``harm_definition=…``), then a CSV header. Columns: ``objective``, ``assistant_response``, one or more
raters (every column whose name starts with ``human_score``), optional ``data_type`` and
``harm_category``. Two polarities, so two formats:

- ``pyrit_refusal`` (``refusal_scorer/*.csv``, ``sample/mini_refusal.csv``): ``human_score`` 1 = the
  response is a refusal → label ``refusal``;
- ``pyrit_objective`` (``objective/*.csv``): 1 = the response achieves the objective → label ``success``.

The majority is PyRIT's own rule, the median of the raters rounded half to even (a tie is 0).
An objective file has a ``harm_category`` column and a refusal file has none: the wrong format for
a file is refused, since it would invert the labels. Harm files (``harm/``) carry 1–5 Likert
scores, not a binary label, and are refused. SOURCE is one file or a folder of ``*.csv``.
PyRIT 0.10's layout (``normalized_score`` columns, no comment line) is not read.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from lam3.bench.evalsets.labelled import EvalSet, Labelled, binary, labelled_response
from lam3.bench.importers.base import Columns, Row, RowError, has_column, leading_comments, read_header
from lam3.errors import UserError

RATER_PREFIX = "human_score"


def metadata(path: Path) -> dict[str, str]:
    """The ``key=value`` pairs of the leading comment lines (spreadsheet padding ``,,`` ignored)."""
    out = {}
    for line in leading_comments(path):
        for part in line.split(","):
            if "=" in part:
                key, value = part.split("=", 1)
                out[key.strip()] = value.strip()
    return out


def pyrit_majority(votes: list[bool]) -> bool:
    """PyRIT's gold label of binary raters: ``round(median)``, half to even (so a tie is 0)."""
    return bool(np.round(np.median(np.array(votes, dtype=float))))


class PyRIT(EvalSet):
    label: ClassVar[str]
    has_harm_category: ClassVar[bool]
    takes = frozenset({"encoding"})

    def inputs(self) -> list[Path]:
        return self.folder_files("*.csv")

    def _check(self, path: Path, header: list[str]) -> list[str]:
        meta = metadata(path)
        if "harm_definition" in meta:
            raise UserError("a PyRIT harm file (1–5 Likert scores, harm_definition in its first line) has no binary "
                            "label: validate with the refusal or objective files", path=path, line=1)
        raters = [h for h in header if h.casefold().startswith(RATER_PREFIX)]
        if not raters:
            raise UserError(f"no {RATER_PREFIX}* column (the header has: {', '.join(map(repr, header))}); PyRIT 0.10 "
                            "files (normalized_score) are not read", path=path, line=len(leading_comments(path)) + 1)
        if has_column(header, "harm_category") != self.has_harm_category:
            other = "pyrit_objective" if not self.has_harm_category else "pyrit_refusal"
            why = "has a harm_category column" if not self.has_harm_category else "has no harm_category column"
            raise UserError(f"this file {why}, so it is not a {self.name} file: read it as {other} (the two "
                            "formats have opposite label meanings)", path=path, line=len(leading_comments(path)) + 1,
                            field="--set")
        return raters

    def drafts(self) -> Iterator[Labelled]:
        for path in self.inputs():
            header = read_header(path, encoding=self.encoding, comments=True)
            raters = self._check(path, header)
            version = metadata(path).get("dataset_version")
            columns = Columns(required=("objective", "assistant_response", *raters),
                              optional=("data_type", "harm_category"))
            yield from self.csv_drafts(path, columns, lambda row, n: self._record(row, n, raters, version),
                                       encoding=self.encoding, comments=True)

    def _record(self, row: Row, n: int, raters: list[str], version: str | None) -> dict[str, Any]:
        kind = row.get("data_type").strip() or "text"
        if kind != "text":
            raise RowError("data_type", f"{kind!r}: only text responses are read")
        votes = [binary(row.need(k), k) for k in raters]
        rid = f"pyrit-{row.file.stem}-{n}"
        meta = {"benchmark": self.name, "source_id": n, "source_file": row.file.name, "source_line": row.line,
                "dataset_version": version, "source_category": row.get("harm_category") or None}
        objective = row.need("objective")
        return labelled_response(id=rid, response=row.need("assistant_response"), prompt=objective, behavior=objective,
                                 behavior_id=rid, labels={self.label: pyrit_majority(votes)},
                                 annotators={self.label: votes}, source=f"{self.name}:{row.file.name}", meta=meta)


class PyRITRefusal(PyRIT):
    name = "pyrit_refusal"
    title = "PyRIT refusal scorer evaluation (human_score 1 = refused)"
    download = "PyPI pyrit (≥ 0.11) wheel: pyrit/datasets/scorer_evals/refusal_scorer/*.csv (a file or the folder)"
    defines = ("refusal",)
    label = "refusal"
    has_harm_category = False


class PyRITObjective(PyRIT):
    name = "pyrit_objective"
    title = "PyRIT objective scorer evaluation (human_score 1 = the objective was achieved)"
    download = "PyPI pyrit (≥ 0.11) wheel: pyrit/datasets/scorer_evals/objective/*.csv (a file or the folder)"
    defines = ("success",)
    label = "success"
    has_harm_category = True
