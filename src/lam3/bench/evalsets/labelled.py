"""What every judge-evaluation set importer shares: the labelled record, the raters' majority, options.

An importer yields :class:`Labelled` drafts (a LAM3 response with ``labels`` and ``annotators``,
or the reason its row is unusable, with file and line); ``lam3 validate``
(:mod:`lam3.pipeline.validate`) writes them through the stage skeleton (resumable, duplicate ids
and bad rows quarantined as ``file:line: field: reason``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from lam3.bench.importers.base import Columns, Row, RowError, read_csv
from lam3.errors import UserError
from lam3.fusion.labels import LABEL_FIELDS
from lam3.records import Response

LABELS: tuple[str, ...] = tuple(LABEL_FIELDS.values())
"""The label fields a set may define: toxic, risky, refusal, success."""
UNKNOWN = "unknown"
"""model_id / attack of a set that does not record them."""


@dataclass
class Labelled:
    """One row of a set: a labelled response (a plain JSON object) or the row's error."""

    file: Path
    line: int
    record: dict[str, Any] | None = None
    error: RowError | None = None


def majority(votes: Sequence[bool]) -> bool | None:
    """The strict majority of the raters' labels; None on a tie (the item is not labelled for that field)."""
    yes = sum(bool(v) for v in votes)
    if 2 * yes == len(votes):
        return None
    return 2 * yes > len(votes)


def binary(value: Any, field: str) -> bool:
    """A 0/1 label as the sets write it (``0``, ``1``, ``1.0``, an int); anything else is the row's error."""
    text = str(value).strip()
    try:
        number = float(text)
    except ValueError:
        raise RowError(field, f"expected a 0/1 label, got {text!r}") from None
    if number not in (0.0, 1.0):
        raise RowError(field, f"expected a 0/1 label, got {text!r} (a graded score is not a binary label)")
    return number == 1.0


def labelled_response(*, id: str, response: str, prompt: str, labels: Mapping[str, bool | None],
                      annotators: Mapping[str, Sequence[bool]] | None = None, sample_id: str | None = None,
                      model_id: str = UNKNOWN, attack: str = UNKNOWN, behavior: str | None = None,
                      behavior_id: str | None = None, context: str | None = None, category: str | None = None,
                      source: str, meta: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A :class:`lam3.records.Response` (validated) with ``labels``, ``annotators``, ``source`` and ``meta``."""
    unknown = set(labels) - set(LABELS) | set(annotators or {}) - set(LABELS)
    if unknown:
        raise ValueError(f"unknown label fields {sorted(unknown)} (known: {', '.join(LABELS)})")
    rec = Response(id=id, sample_id=sample_id or id, prompt=prompt, response=response, category=category,
                   behavior=behavior, behavior_id=behavior_id, context=context, attack=attack, model_id=model_id,
                   labels=dict(labels), annotators={k: [bool(v) for v in vs] for k, vs in (annotators or {}).items()},
                   source=source, meta=dict(meta or {}))
    return rec.model_dump(mode="json")


class EvalSet:
    """One published judge-evaluation layout. Subclasses declare their name and files, and yield drafts."""

    name: ClassVar[str]
    title: ClassVar[str]
    download: ClassVar[str]
    """What to download, from where (docs/validity.md)."""
    defines: ClassVar[tuple[str, ...]]
    """The label fields it sets (``refusal``, ``success``, …); the generic format takes them from its column map."""
    takes: ClassVar[frozenset[str]] = frozenset()
    """Options it reads: ``encoding``, ``behaviors``, ``columns`` (anything else given is an error)."""

    def __init__(self, source: Path, *, encoding: str | None = None, behaviors: Path | None = None,
                 columns: Mapping[str, Sequence[str]] | None = None) -> None:
        if not source.exists():
            raise UserError("judge-evaluation set not found", path=source)
        given = {"encoding": encoding, "behaviors": behaviors, "columns": columns or None}
        for option, value in given.items():
            if value is not None and option not in self.takes:
                raise UserError(f"--{option} does not apply to the {self.name} format", field=f"--{option}")
        self.source, self.encoding, self.behaviors = source, encoding, behaviors
        self.columns = {k: list(v) for k, v in (columns or {}).items()}

    def inputs(self) -> list[Path]:
        """The files read (their sha256 goes into the manifest and the card)."""
        return [self.source]

    def options(self) -> dict[str, Any]:
        """The import options, as recorded in the card."""
        out: dict[str, Any] = {}
        if self.encoding:
            out["encoding"] = self.encoding
        if self.behaviors:
            out["behaviors"] = self.behaviors.name
        if self.columns:
            out["columns"] = self.columns
        return out

    def drafts(self) -> Iterator[Labelled]:
        raise NotImplementedError

    def csv_drafts(self, path: Path, columns: Columns, build: Callable[[Row, int], dict[str, Any]],
                   **read: Any) -> Iterator[Labelled]:
        """Stream ``path`` (:func:`lam3.bench.importers.base.read_csv`) through ``build(row, n)``; a
        :class:`RowError` becomes the draft's error, so the row is quarantined and the import goes on."""
        for n, row in enumerate(read_csv(path, columns, **read)):
            if row.error is not None:
                yield Labelled(row.file, row.line, error=row.error)
                continue
            try:
                yield Labelled(row.file, row.line, record=build(row, n))
            except RowError as exc:
                yield Labelled(row.file, row.line, error=exc)

    def folder_files(self, pattern: str) -> list[Path]:
        """SOURCE itself, or the files matching ``pattern`` in the folder SOURCE (sorted)."""
        if self.source.is_file():
            return [self.source]
        found = sorted(p for p in self.source.glob(pattern) if p.is_file())
        if not found:
            raise UserError(f"no {pattern} file in this folder", path=self.source)
        return found
