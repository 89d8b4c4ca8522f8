"""The ``score`` stage: stream records through the configured judges, resumably.

Output is one line per input record: the input record plus ``judgements``
keyed by judge name. Rerunning the same command after a crash or Ctrl-C skips
the ids already written and finishes the run; ``retry_errors`` redoes records
whose judgement errored.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator

from lam3.config import StrictModel, load_config, read_yaml
from lam3.errors import UserError
from lam3.manifest import update_manifest
from lam3.judges import registry
from lam3.judges.base import Judge, ScoreInput
from lam3.records import SCHEMA_VERSION, Judgement, upgrade
from lam3.secrets import redact
from lam3.integrations.score_inputs import count_score_input, read_score_input
from lam3.store import BadLine, IdIndex, JsonlWriter, Quarantine, quarantine_path


class ScoreConfig(StrictModel):
    """``configs/*.yaml`` for ``lam3 score``: which fields to read and which judges to run."""

    id_field: str = "id"
    text_field: str = "response"
    prompt_field: str = "prompt"
    images_field: str = "images"
    behavior_field: str = "behavior"
    context_field: str = "context"
    batch_size: int = Field(256, gt=0, description="records per durable write (flush + fsync)")
    judges: list[dict[str, Any]] = Field(min_length=1)

    @field_validator("judges")
    @classmethod
    def _entries(cls, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        keys = []
        for i, entry in enumerate(entries):
            if "judge" not in entry:
                raise ValueError(f"entry {i} has no 'judge' key")
            keys.append(entry.get("key", entry["judge"]))
        if len(set(keys)) != len(keys):
            raise ValueError("two judges share a key; give one a distinct 'key:'")
        return entries


@dataclass
class ScoreSummary:
    output: Path
    scored: int = 0
    skipped: int = 0
    quarantined: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    retried: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"scored": self.scored, "skipped_already_done": self.skipped, "quarantined": self.quarantined,
                "retried_errors": self.retried, "errors": dict(self.errors),
                "seconds": round(self.seconds, 3)}


def load_score_config(path: str | Path, **overrides: Any) -> tuple[ScoreConfig, list[tuple[str, Judge]]]:
    """Validate the config and build its judges (errors name the file, line and key)."""
    config = load_config(path, ScoreConfig, overrides)
    _, node = read_yaml(path)
    judges = []
    for i, entry in enumerate(config.judges):
        judges.append((entry.get("key", entry["judge"]),
                       registry.build(entry, path=path, node=node, loc=("judges", i))))
    return config, judges


def _has_error(record: dict[str, Any]) -> bool:
    return any(isinstance(j, dict) and j.get("error") for j in (record.get("judgements") or {}).values())


def _judge(judges: list[tuple[str, Judge]], items: list[ScoreInput]) -> list[dict[str, Judgement]]:
    """Run every judge on a batch. A judge that raises marks each record with an error; nothing is dropped."""
    out: list[dict[str, Judgement]] = [{} for _ in items]
    for key, judge in judges:
        size = len(items) if judge.batches_internally else judge.config.batch_size
        for start in range(0, len(items), size):
            chunk = items[start:start + size]
            try:
                results = judge.score(chunk)
                if len(results) != len(chunk):
                    raise RuntimeError(f"returned {len(results)} judgements for {len(chunk)} inputs")
            except Exception as exc:  # a judge failure becomes a per-record error, the run goes on
                msg = redact(f"{type(exc).__name__}: {exc}")
                results = [judge.failure(msg) for _ in chunk]
            for slot, result in zip(out[start:start + size], results):
                slot[key] = result
    return out


def score_file(input_path: str | Path, config_path: str | Path, output: str | Path, *,
               text_field: str | None = None, retry_errors: bool = False, limit: int | None = None,
               progress: Callable[[int, int], None] | None = None,
               on_bad: Callable[[BadLine], None] | None = None) -> ScoreSummary:
    """Score ``input_path`` into ``output``; resumable. ``progress(done, total)`` is called per batch."""
    input_path, output = Path(input_path), Path(output)
    if not input_path.is_file():
        raise UserError("input file not found", path=input_path)
    if input_path.resolve() == output.resolve():
        raise UserError("output must differ from the input", path=output)
    config, judges = load_score_config(config_path, text_field=text_field)
    for key, judge in judges:
        try:
            judge.load()
        except UserError:
            raise
        except Exception as exc:  # a model that cannot load would otherwise error every record
            raise UserError(redact(f"judge {key!r} could not load: {type(exc).__name__}: {exc}"),
                            path=config_path) from None
    summary = ScoreSummary(output=output)
    quarantine = Quarantine(quarantine_path(output), on_bad=on_bad)
    t0 = time.perf_counter()
    try:
        with JsonlWriter(output, id_field=config.id_field, drop=_has_error if retry_errors else None) as writer:
            summary.retried = writer.dropped
            total = count_score_input(input_path)
            for batch in _batches(input_path, config, writer, quarantine, summary, limit):
                items = [ScoreInput(id=str(rec[config.id_field]), text=_text(rec[config.text_field]),
                                    prompt=rec.get(config.prompt_field),
                                    images=_images(rec.get(config.images_field)), record=rec,
                                    behavior=rec.get(config.behavior_field), context=rec.get(config.context_field))
                         for _, rec in batch]
                verdicts = _judge(judges, items)
                records = []
                for (_, rec), verdict in zip(batch, verdicts):
                    merged = dict(upgrade(rec).get("judgements") or {})
                    merged.update({k: j.model_dump(mode="json") for k, j in verdict.items()})
                    for key, j in verdict.items():
                        if j.error:
                            summary.errors[key] += 1
                    records.append({**rec, "schema_version": SCHEMA_VERSION, "judgements": merged})
                writer.write_batch(records)
                summary.scored += len(records)
                if progress:
                    progress(summary.scored + summary.skipped + summary.quarantined, total)
    finally:
        quarantine.close()
        for _, judge in judges:
            judge.close()
        summary.seconds = time.perf_counter() - t0
    summary.quarantined = quarantine.count
    update_manifest(output.parent, stage=f"score:{output.name}", config=config,
                    artifacts=[output, quarantine.path], inputs=[input_path], summary=summary.as_dict())
    return summary


def _images(value: Any) -> list[str]:
    """A record's image path(s): one path or a list of them."""
    if not value:
        return []
    return [value] if isinstance(value, str) else [str(v) for v in value]


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ("" if value is None else str(value))


def _batches(path: Path, config: ScoreConfig, writer: JsonlWriter, quarantine: Quarantine,
             summary: ScoreSummary, limit: int | None) -> Iterator[list[tuple[int, dict[str, Any]]]]:
    """Group the input's good, not-yet-done, first-seen records into batches."""
    seen = IdIndex()
    batch: list[tuple[int, dict[str, Any]]] = []
    taken = 0
    for lineno, rec in read_score_input(path, quarantine=quarantine, id_field=config.id_field,
                                        required=(config.text_field,)):
        rid = str(rec[config.id_field])
        if not seen.add(rid):
            quarantine.add(BadLine(str(path), lineno, config.id_field, f"duplicate id {rid!r}", rid))
            continue
        if rid in writer:
            summary.skipped += 1
            continue
        if limit is not None and taken >= limit:
            break
        taken += 1
        batch.append((lineno, rec))
        if len(batch) >= config.batch_size:
            yield batch
            batch = []
    if batch:
        yield batch
