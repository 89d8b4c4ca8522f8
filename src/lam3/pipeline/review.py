"""Human review of disputed responses: the queue, the CSV a person fills in, and importing the labels back.

Round trip: ``lam3 fuse`` queues responses whose judges split (``arbitration.method: human``)
into ``<out>.review.jsonl`` and writes ``<out>.review.csv``; a person fills the metric columns
(yes/no); ``lam3 review import`` validates the CSV (every error names file:line:column) and
writes ``reviews.jsonl``; ``lam3 fuse … --reviews reviews.jsonl`` recomputes exactly those
responses with the human label deciding (resolution ``"human"``).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from lam3.errors import UserError
from lam3.store import JsonlWriter, atomic_file, iter_jsonl, write_jsonl

METRIC_COLUMNS: tuple[str, ...] = ("social_toxicity", "policy_risk", "refusal")
CONTEXT_COLUMNS: tuple[str, ...] = ("model_id", "attack", "category", "prompt", "response")
CSV_COLUMNS: tuple[str, ...] = ("id", "pending", *CONTEXT_COLUMNS, "judges", "provisional", *METRIC_COLUMNS,
                                "reviewer", "note")
YES = {"yes", "y", "true", "1", "flagged", "unsafe", "x"}
NO = {"no", "n", "false", "0", "safe"}


def _cell(value: Any) -> str:
    """Text for a spreadsheet cell; a leading = + - @ is escaped so a response cannot become a formula."""
    text = "" if value is None else (value if isinstance(value, str) else str(value))
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def _judges_text(item: Mapping[str, Any]) -> str:
    parts = []
    for metric in item.get("pending", []):
        scores = (item.get("judge_scores") or {}).get(metric, {})
        votes = (item.get("votes") or {}).get(metric, {})
        shown = ", ".join(f"{k}={'-' if p is None else f'{p:.2f}'}{'' if votes.get(k) is None else ('+' if votes[k] else '-')}"
                          for k, p in scores.items())
        parts.append(f"{metric}: {shown}")
    return " | ".join(parts)


class ReviewQueue:
    """Append-only queue of responses waiting for a person (resumable like every LAM3 output)."""

    def __init__(self, path: str | Path, drop: Callable[[dict[str, Any]], bool] | None = None, *,
                 enabled: bool = True) -> None:
        """``enabled=False`` (no metric routes to people, no queue yet): no files are created."""
        self.path = Path(path)
        self.writer = JsonlWriter(self.path, drop=drop) if enabled else None
        self.csv_path = self.path.with_suffix(".csv")
        self.csv_skipped_reason: str | None = None

    def __contains__(self, rid: str) -> bool:
        return self.writer is not None and rid in self.writer

    @staticmethod
    def item(fused: Mapping[str, Any], pending: Sequence[str]) -> dict[str, Any]:
        """What a reviewer needs to see about one disputed response."""
        return {
            "id": fused["id"], "pending": list(pending),
            **{k: fused[k] for k in ("sample_id", *CONTEXT_COLUMNS) if k in fused},
            "votes": {m: fused[m]["votes"] for m in pending},
            "judge_scores": {m: (fused.get("judge_scores") or {}).get(m, {}) for m in pending},
            "provisional": {m: fused[m]["flagged"] for m in pending},
        }

    def write_batch(self, items: Iterable[dict[str, Any]]) -> int:
        if self.writer is None:
            if list(items):
                raise RuntimeError("review queue is disabled but a response was routed to people")
            return 0
        return self.writer.write_batch(items)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()

    def __enter__(self) -> ReviewQueue:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def export_csv(self) -> Path | None:
        """Write the CSV beside the queue, unless a person already started filling in the existing one."""
        if self.writer is None:
            return None
        self.writer.close()
        if self.csv_path.exists() and has_filled_labels(self.csv_path):
            self.csv_skipped_reason = (f"{self.csv_path} already has labels filled in and was not overwritten; "
                                       "import it with 'lam3 review import'")
            return None
        return export_csv(self.path, self.csv_path)


def has_filled_labels(path: Path) -> bool:
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            for row in csv.DictReader(fh):
                if any((row.get(m) or "").strip() for m in METRIC_COLUMNS):
                    return True
    except (OSError, csv.Error, UnicodeDecodeError):
        return True  # unreadable: do not overwrite what a person may have edited
    return False


def export_csv(source: str | Path, out: str | Path, *, only_pending: bool = True) -> Path:
    """CSV of a review queue (or of any fused.jsonl: with ``only_pending`` its ``review: true`` lines)."""
    source, out = Path(source), Path(out)
    n = 0
    with atomic_file(out, newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(CSV_COLUMNS)
        for _, rec in iter_jsonl(source):
            if "pending" not in rec:  # a fused.jsonl line
                if only_pending and not rec.get("review"):
                    continue
                pending = [m for m in METRIC_COLUMNS if isinstance(rec.get(m), dict)
                           and (rec[m].get("resolution") == "human_pending" or not only_pending)]
                rec = ReviewQueue.item(rec, pending)
            writer.writerow([_cell(rec.get("id")), ";".join(rec.get("pending", [])),
                             *(_cell(rec.get(c)) for c in CONTEXT_COLUMNS), _cell(_judges_text(rec)),
                             ";".join(f"{m}={'flagged' if v else 'safe'}"
                                      for m, v in (rec.get("provisional") or {}).items()),
                             *("" for _ in METRIC_COLUMNS), "", ""])
            n += 1
    return out


def _parse_label(text: str) -> bool | None | str:
    value = text.strip().lower()
    if not value:
        return None
    if value in YES:
        return True
    if value in NO:
        return False
    return "bad"


def import_csv(path: str | Path, out: str | Path, *, queue: str | Path | None = None) -> dict[str, Any]:
    """Validate a filled-in review CSV and merge its labels into ``out`` (reviews.jsonl).

    All errors are collected and reported together as ``file:line:column: field: reason``.
    Rows with no label filled in are skipped (not reviewed yet).
    """
    from lam3.manifest import now

    path, out = Path(path), Path(out)
    if not path.is_file():
        raise UserError("review CSV not found", path=path)
    allowed = None
    if queue is not None:
        allowed = {rid for _, rec in iter_jsonl(queue) for rid in [rec["id"]]}
    errors: list[str] = []
    labelled: dict[str, dict[str, Any]] = {}
    rows = skipped = 0
    with open(path, newline="", encoding="utf-8-sig") as fh:
        text = fh.read()
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        raise UserError("empty CSV (expected a header row)", path=path, line=1) from None
    except csv.Error as exc:
        raise UserError(f"unreadable CSV: {exc}", path=path, line=1) from None
    cols = {name.strip(): i for i, name in enumerate(header)}
    if "id" not in cols:
        raise UserError("header has no 'id' column", path=path, line=1)
    metric_cols = [m for m in METRIC_COLUMNS if m in cols]
    if not metric_cols:
        raise UserError(f"header has none of the label columns {', '.join(METRIC_COLUMNS)}", path=path, line=1)
    first_line: dict[str, int] = {}
    start = reader.line_num + 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            errors.append(f"{path}:{start}: unreadable row: {exc}")
            break
        line, start = start, reader.line_num + 1
        if not any(cell.strip() for cell in row):
            continue
        rows += 1
        if len(row) != len(header):
            errors.append(f"{path}:{line}:{len(row)}: expected {len(header)} columns, got {len(row)}")
            continue
        rid = row[cols["id"]].strip()
        if not rid:
            errors.append(f"{path}:{line}:{cols['id'] + 1}: id: empty")
            continue
        labels: dict[str, bool] = {}
        for m in metric_cols:
            parsed = _parse_label(row[cols[m]])
            if parsed == "bad":
                errors.append(f"{path}:{line}:{cols[m] + 1}: {m}: expected yes/no (or 1/0, true/false, "
                              f"flagged/safe), got {row[cols[m]]!r}")
            elif parsed is not None:
                labels[m] = bool(parsed)
        if not labels:
            skipped += 1
            continue
        if rid in first_line:
            errors.append(f"{path}:{line}:{cols['id'] + 1}: id: {rid!r} already labelled on line {first_line[rid]}")
            continue
        if allowed is not None and rid not in allowed:
            errors.append(f"{path}:{line}:{cols['id'] + 1}: id: {rid!r} is not in the review queue {queue}")
            continue
        first_line[rid] = line
        labelled[rid] = {"id": rid, "labels": labels,
                         "reviewer": row[cols["reviewer"]].strip() if "reviewer" in cols else "",
                         "note": row[cols["note"]].strip() if "note" in cols else "",
                         "source": f"{path.name}:{line}", "imported": now()}
    if errors:
        more = f"\n… and {len(errors) - 20} more" if len(errors) > 20 else ""
        raise UserError(f"{len(errors)} problem(s) in the review CSV; nothing imported:\n" + "\n".join(errors[:20])
                        + more)
    merged: dict[str, dict[str, Any]] = {}
    replaced = 0
    if out.exists():
        for _, rec in iter_jsonl(out):
            merged[rec["id"]] = rec
    for rid, rec in labelled.items():
        if rid in merged:
            replaced += 1
            rec = {**rec, "labels": {**merged[rid].get("labels", {}), **rec["labels"]}}
        merged[rid] = rec
    write_jsonl(out, merged.values())
    return {"rows": rows, "imported": len(labelled), "not_reviewed": skipped, "updated_existing": replaced,
            "total_reviews": len(merged), "output": str(out)}


def load_reviews(path: str | Path, metrics: Sequence[str] = METRIC_COLUMNS) -> dict[str, dict[str, bool]]:
    """reviews.jsonl → {id: {metric: label}}. Labels for metrics not fused are an error, not ignored."""
    path = Path(path)
    out: dict[str, dict[str, bool]] = {}
    for lineno, rec in iter_jsonl(path, required=("labels",)):
        labels = rec["labels"]
        if not isinstance(labels, dict):
            raise UserError("must be an object {metric: true/false}", path=path, line=lineno, field="labels")
        for m, v in labels.items():
            if m not in METRIC_COLUMNS:
                raise UserError(f"unknown metric {m!r}", path=path, line=lineno, field=f"labels.{m}")
            if m not in metrics:
                raise UserError(f"a human label for {m}, which no configured judge feeds", path=path, line=lineno,
                                field=f"labels.{m}")
            if not isinstance(v, bool):
                raise UserError("must be true or false", path=path, line=lineno, field=f"labels.{m}")
        if rec["id"] in out:
            raise UserError(f"duplicate id {rec['id']!r}", path=path, line=lineno, field="id")
        out[rec["id"]] = dict(labels)
    return out
