"""A flat Parquet table of fused results, for pandas / DuckDB / Polars users.

One row per response: ``id``; for every LAM3 metric ``<metric>_score``, ``<metric>_flagged`` and
``<metric>_resolution`` (null where the run has no such metric); ``review``; and every carried field
of the fused records (``sample_id``, ``model_id``, ``attack``, ``category``, ``prompt``, ``response``,
``images`` …). A carried object (e.g. ``labels``) becomes one column per key (``labels_toxic`` …);
anything deeper is JSON text. Per-judge probabilities (each metric's ``probabilities``) become
``judge_<metric>_<judge>`` columns. The file is read twice (once to fix the schema), streamed in
row groups of 10,000 records, and written to a temp file then renamed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lam3.errors import DependencyError
from lam3.export.run import ExportSummary, Run
from lam3.records import METRICS, FusedResult

ROW_GROUP = 10_000
METRIC_FIELDS = ("score", "flagged", "resolution")


def flat_row(rec: FusedResult) -> dict[str, Any]:
    """One fused record as flat ``column → value`` (the table's row, before typing)."""
    row: dict[str, Any] = {"id": rec.id}
    for metric in METRICS:
        result = getattr(rec, metric)
        for key in METRIC_FIELDS:
            row[f"{metric}_{key}"] = getattr(result, key)
        for judge, p in result.probabilities.items():
            row[f"judge_{metric}_{judge}"] = p
    row["review"] = rec.review
    for key, value in (rec.model_extra or {}).items():  # the fields fuse carried from the inputs
        if isinstance(value, dict):
            for sub, v in value.items():
                row[f"{key}_{sub}"] = v
        else:
            row[key] = value
    return row


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "list_str"
    return "json"


def _arrow_type(kinds: set[str]) -> Any:
    import pyarrow as pa

    if not kinds:
        return pa.null()
    if kinds <= {"int", "float"}:
        return pa.int64() if kinds == {"int"} else pa.float64()
    if len(kinds) == 1:
        return {"bool": pa.bool_(), "str": pa.string(), "list_str": pa.list_(pa.string()), "json": pa.string()}[
            kinds.pop()]
    return pa.string()  # mixed kinds: JSON text


def export_parquet(run: Run, out: Path) -> ExportSummary:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise DependencyError("Parquet export needs pyarrow: pip install 'lam3[export]'") from None
    summary = ExportSummary(output=out)
    kinds: dict[str, set[str]] = {}
    for rec in run.fused():
        for col, value in flat_row(rec).items():
            seen = kinds.setdefault(col, set())
            if value is not None:
                seen.add(_kind(value))
    fixed = ["id", *(f"{m}_{k}" for m in METRICS for k in METRIC_FIELDS), "review"]
    columns = fixed + sorted(c for c in kinds if c not in fixed)
    types = {c: _arrow_type(set(kinds.get(c, set()))) for c in columns}
    for metric in METRICS:  # fixed types even when a metric is absent from the run
        types[f"{metric}_score"], types[f"{metric}_flagged"] = pa.float64(), pa.bool_()
        types[f"{metric}_resolution"] = pa.string()
    types["id"], types["review"] = pa.string(), pa.bool_()
    schema = pa.schema([(c, types[c]) for c in columns])
    as_text = {c for c in columns if pa.types.is_string(types[c]) and kinds.get(c, set()) - {"str"}}

    def rows() -> Iterator[list[dict[str, Any]]]:
        batch: list[dict[str, Any]] = []
        for rec in run.fused():
            row = flat_row(rec)
            for col in as_text & row.keys():
                if row[col] is not None and not isinstance(row[col], str):
                    row[col] = json.dumps(row[col], ensure_ascii=False)
            batch.append(row)
            if len(batch) >= ROW_GROUP:
                yield batch
                batch = []
        if batch:
            yield batch

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    with pq.ParquetWriter(tmp, schema) as writer:
        for batch in rows():
            writer.write_table(pa.Table.from_pylist(batch, schema=schema))
            summary.written += len(batch)
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, out)
    return summary
