"""Any labelled CSV or JSONL, read through a column map (``--map KEY=COLUMN``, repeatable).

Keys: ``response`` (required), ``id`` (default: the row number), ``prompt``, ``behavior``,
``behavior_id``, ``sample_id``, ``context``, ``category``, ``model_id``, ``attack``;
``labels.FIELD`` (the human label: ``FIELD`` one of toxic, risky, refusal, success) and
``raters.FIELD=COL1,COL2,…`` (each rater's label). Without ``labels.FIELD`` the label is the raters'
strict majority (a tie leaves the item unlabelled for that field). Labels read as 0/1,
true/false or yes/no; an empty cell is "not labelled". CSV columns are matched by header name,
case-insensitively; JSONL keys exactly (top-level keys). ``.jsonl``/``.json`` files are JSONL,
anything else CSV.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from lam3.bench.evalsets.labelled import LABELS, EvalSet, Labelled, labelled_response, majority
from lam3.bench.importers.base import Columns, RowError, parse_bool
from lam3.errors import UserError
from lam3.store import iter_jsonl

FIELDS = ("id", "response", "prompt", "behavior", "behavior_id", "sample_id", "context", "category", "model_id",
          "attack")


def check_map(columns: Mapping[str, list[str]]) -> None:
    """Unknown keys, a field given twice, or no response column: one error naming the key."""
    if "response" not in columns:
        raise UserError("the generic format needs --map response=COLUMN", field="--map")
    for key, cols in columns.items():
        field = key.split(".", 1)[1] if key.startswith(("labels.", "raters.")) else None
        if key not in FIELDS and field not in LABELS:
            raise UserError(f"unknown column-map key {key!r} (one of {', '.join(FIELDS)}, labels.FIELD, "
                            f"raters.FIELD with FIELD in {', '.join(LABELS)})", field="--map")
        if not cols or (len(cols) > 1 and not key.startswith("raters.")):
            raise UserError(f"{key} takes {'one column' if cols else 'a column'}", field="--map")
    if not any(k.startswith(("labels.", "raters.")) for k in columns):
        raise UserError("the generic format needs at least one labels.FIELD or raters.FIELD column", field="--map")


def _label(value: Any, column: str) -> bool | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        return value
    return parse_bool(str(value), column)


class Generic(EvalSet):
    name = "generic"
    title = "any labelled CSV or JSONL, with a column map (--map KEY=COLUMN)"
    download = "your own file"
    defines = LABELS
    takes = frozenset({"columns", "encoding"})

    def drafts(self) -> Iterator[Labelled]:
        check_map(self.columns)
        if self.source.suffix.lower() in (".jsonl", ".json"):
            for lineno, rec in iter_jsonl(self.source, id_field=None):
                yield self._draft(lineno, rec, lineno)  # row n is line n
            return
        names = [c for cols in self.columns.values() for c in cols]
        required = [c for k, cols in self.columns.items() for c in cols if k == "response"]
        columns = Columns(required=tuple(required), optional=tuple(c for c in names if c not in required))
        yield from self.csv_drafts(self.source, columns, lambda row, n: self._record(row.values, n + 1, row.line),
                                   encoding=self.encoding)

    def _draft(self, line: int, values: Mapping[str, Any], n: int) -> Labelled:
        try:
            return Labelled(self.source, line, record=self._record(values, n, line))
        except RowError as exc:
            return Labelled(self.source, line, error=exc)

    def _record(self, values: Mapping[str, Any], n: int, line: int) -> dict[str, Any]:
        def get(key: str) -> Any:
            cols = self.columns.get(key)
            return values.get(cols[0]) if cols else None

        text = {k: (None if get(k) is None else str(get(k))) for k in FIELDS}
        response = text["response"]
        if response is None:
            raise RowError(self.columns["response"][0], "missing")
        labels: dict[str, bool | None] = {}
        annotators: dict[str, list[bool]] = {}
        for field in LABELS:
            if f"raters.{field}" in self.columns:
                votes = [_label(values.get(c), c) for c in self.columns[f"raters.{field}"]]
                annotators[field] = [v for v in votes if v is not None]
                labels[field] = majority(annotators[field]) if annotators[field] else None
            if f"labels.{field}" in self.columns:
                column = self.columns[f"labels.{field}"][0]
                labels[field] = _label(values.get(column), column)
        rid = text["id"] or f"row-{n}"
        return labelled_response(
            id=rid, response=response, prompt=text["prompt"] or "", labels=labels, annotators=annotators,
            sample_id=text["sample_id"], behavior=text["behavior"], behavior_id=text["behavior_id"],
            context=text["context"], category=text["category"], model_id=text["model_id"] or "unknown",
            attack=text["attack"] or "unknown", source=f"{self.name}:{self.source.name}",
            meta={"benchmark": self.name, "source_file": self.source.name, "source_line": line})
