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
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from lam3.errors import UserError
from lam3.fusion.arbitration import HUMAN_PENDING
from lam3.lock import OutputLock
from lam3.pipeline.fused_records import parse_fused
from lam3.records import METRICS, FusedResult, Metric
from lam3.store import JsonlWriter, atomic_file, iter_jsonl, iter_records, write_jsonl

METRIC_COLUMNS: tuple[Metric, ...] = METRICS
CONTEXT_COLUMNS: tuple[str, ...] = ("model_id", "attack", "category", "prompt", "response")
CSV_COLUMNS: tuple[str, ...] = ("id", "pending", *CONTEXT_COLUMNS, "judges", "provisional", *METRIC_COLUMNS,
                                "reviewer", "note")
YES = {"yes", "y", "true", "1", "flagged", "unsafe", "x"}
NO = {"no", "n", "false", "0", "safe"}


def _cell(value: Any) -> str:
    """Text for a spreadsheet cell; a leading = + - @ is escaped so a response cannot become a formula."""
    text = "" if value is None else (value if isinstance(value, str) else str(value))
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


class ReviewItem(BaseModel):
    """One line of the review queue: what a reviewer needs to see about one disputed response."""

    model_config = ConfigDict(extra="ignore")

    id: str
    pending: list[Metric]
    sample_id: Any = None
    model_id: Any = None
    attack: Any = None
    category: Any = None
    prompt: Any = None
    response: Any = None
    votes: dict[Metric, dict[str, bool | None]] = Field(default_factory=dict)
    probabilities: dict[Metric, dict[str, float | None]] = Field(
        default_factory=dict, validation_alias=AliasChoices("probabilities", "judge_scores"))
    provisional: dict[Metric, bool | None] = Field(default_factory=dict)

    @classmethod
    def of(cls, fused: FusedResult, pending: Sequence[Metric]) -> ReviewItem:
        context = {k: getattr(fused, k, None) for k in ("sample_id", *CONTEXT_COLUMNS)}
        return cls(id=fused.id, pending=list(pending), **context,
                   votes={m: getattr(fused, m).votes for m in pending},
                   probabilities={m: getattr(fused, m).probabilities for m in pending},
                   provisional={m: getattr(fused, m).flagged for m in pending})

    def judges_text(self) -> str:
        """``metric: judge=0.83+, other=0.10-`` (probability, then + / - for the judge's vote)."""
        parts = []
        for metric in self.pending:
            votes = self.votes.get(metric, {})
            shown = ", ".join(f"{k}={'-' if p is None else f'{p:.2f}'}"
                              f"{'' if votes.get(k) is None else ('+' if votes[k] else '-')}"
                              for k, p in self.probabilities.get(metric, {}).items())
            parts.append(f"{metric}: {shown}")
        return " | ".join(parts)


class Review(BaseModel):
    """One line of ``reviews.jsonl`` (written by ``lam3 review import``): a person's labels for one response."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1)
    labels: dict[Metric, bool] = Field(min_length=1)
    reviewer: str = ""
    note: str = ""
    source: str | None = None
    imported: str | None = None


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

    def write_batch(self, items: Iterable[ReviewItem]) -> int:
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


def pending_metrics(fused: FusedResult) -> list[Metric]:
    """The metrics of a fused record that wait for a person."""
    return [m for m in METRICS if getattr(fused, m).resolution == HUMAN_PENDING]


def export_csv(source: str | Path, out: str | Path, *, only_pending: bool = True) -> Path:
    """CSV of a review queue (or of any fused.jsonl: with ``only_pending`` its ``review: true`` lines)."""
    source, out = Path(source), Path(out)
    with atomic_file(out, newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(CSV_COLUMNS)
        for lineno, rec in iter_jsonl(source):
            if "pending" in rec:
                item = ReviewItem.model_validate(rec)
            else:  # a fused.jsonl line
                fused = parse_fused(rec, source, lineno)
                if only_pending and not fused.review:
                    continue
                item = ReviewItem.of(fused, pending_metrics(fused) if only_pending else
                                     [m for m in METRICS if getattr(fused, m).votes])
            writer.writerow([_cell(item.id), ";".join(item.pending),
                             *(_cell(getattr(item, c)) for c in CONTEXT_COLUMNS), _cell(item.judges_text()),
                             ";".join(f"{m}={'flagged' if v else 'safe'}" for m, v in item.provisional.items()),
                             *("" for _ in METRIC_COLUMNS), "", ""])
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
    labelled: dict[str, Review] = {}
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
        labels: dict[Metric, bool] = {}
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
        labelled[rid] = Review(id=rid, labels=labels,
                               reviewer=row[cols["reviewer"]].strip() if "reviewer" in cols else "",
                               note=row[cols["note"]].strip() if "note" in cols else "",
                               source=f"{path.name}:{line}", imported=now())
    if errors:
        more = f"\n… and {len(errors) - 20} more" if len(errors) > 20 else ""
        raise UserError(f"{len(errors)} problem(s) in the review CSV; nothing imported:\n" + "\n".join(errors[:20])
                        + more)
    merged: dict[str, Review] = {}
    replaced = 0
    with OutputLock(out, wait=10):  # read, merge, rewrite: one writer at a time (lam3 view saves labels too)
        if out.exists():
            for _, review in iter_records(out, Review):
                merged[review.id] = review
        for rid, review in labelled.items():
            if rid in merged:
                replaced += 1
                review = review.model_copy(update={"labels": {**merged[rid].labels, **review.labels}})
            merged[rid] = review
        write_jsonl(out, merged.values())
    return {"rows": rows, "imported": len(labelled), "not_reviewed": skipped, "updated_existing": replaced,
            "total_reviews": len(merged), "output": str(out)}


def load_reviews(path: str | Path, metrics: Sequence[Metric] = METRICS) -> dict[str, dict[Metric, bool]]:
    """reviews.jsonl → {id: {metric: label}}. Labels for metrics not fused are an error, not ignored."""
    path = Path(path)
    out: dict[str, dict[Metric, bool]] = {}
    for lineno, review in iter_records(path, Review):
        for m in review.labels:
            if m not in metrics:
                raise UserError(f"a human label for {m}, which no configured judge feeds", path=path, line=lineno,
                                field=f"labels.{m}")
        if review.id in out:
            raise UserError(f"duplicate id {review.id!r}", path=path, line=lineno, field="id")
        out[review.id] = dict(review.labels)
    return out
