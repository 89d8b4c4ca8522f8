"""The ``score`` stage: stream records through the configured judges, resumably.

Output is one line per input record: the input record plus ``judgements``
keyed by judge name. Rerunning the same command after a crash or Ctrl-C skips
the ids already written and finishes the run; ``retry_errors`` redoes records
whose judgement errored.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator

from lam3.config import StrictModel, load_config, read_yaml
from lam3.errors import UserError
from lam3.judges import registry
from lam3.judges.base import Judge, ScoreInput
from lam3.paths import ImageRoots
from lam3.pipeline.stage import Stage, StageSummary
from lam3.records import SCHEMA_VERSION, Judgement, upgrade
from lam3.secrets import redact
from lam3.integrations.score_inputs import count_score_input, read_score_input
from lam3.store import BadLine, Quarantine


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
class ScoreSummary(StageSummary):
    scored: int = 0
    errors: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        return {"scored": self.scored, **super().as_dict(), "errors": dict(self.errors)}


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


class BadField(ValueError):
    """A record field of the wrong type: the record goes to the quarantine, naming the field."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field


def _optional_text(rec: dict[str, Any], name: str) -> str | None:
    value = rec.get(name)
    if value is not None and not isinstance(value, str):
        raise BadField(name, f"must be a string, got {_json_type(value)}")
    return value


def _json_type(value: Any) -> str:
    return {bool: "a boolean", int: "a number", float: "a number", dict: "an object", list: "a list",
            type(None): "null"}.get(type(value), type(value).__name__)


def score_input(rec: dict[str, Any], config: ScoreConfig, *, image_roots: ImageRoots | None = None,
                source: str | Path | None = None, line: int | None = None) -> ScoreInput:
    """What the judges see of one input record; a field of the wrong type raises :class:`BadField`.

    The text must be a string (a number is not scored as its digits); prompt, behaviour and
    context are strings or absent; images are one path or a list of paths, read by a judge only
    inside ``image_roots`` (errors name ``source:line``).
    """
    text = rec[config.text_field]
    if not isinstance(text, str):
        raise BadField(config.text_field, f"must be a string, got {_json_type(text)}")
    images = rec.get(config.images_field)
    if isinstance(images, str):
        images = [images]
    elif images is None:
        images = []
    elif not (isinstance(images, list) and all(isinstance(i, str) for i in images)):
        raise BadField(config.images_field, "must be a path or a list of paths (strings)")
    return ScoreInput(id=str(rec[config.id_field]), text=text, prompt=_optional_text(rec, config.prompt_field),
                      images=images, record=rec, behavior=_optional_text(rec, config.behavior_field),
                      context=_optional_text(rec, config.context_field), image_roots=image_roots,
                      source=str(source) if source is not None else None, line=line,
                      images_field=config.images_field)


def judge_batch(judges: list[tuple[str, Judge]], items: list[ScoreInput]) -> list[dict[str, Judgement]]:
    """Run every judge on a batch. A judge that raises marks each record with an error; nothing is dropped.

    The one judge-calling loop: ``lam3 score`` and the Inspect scorer both call it.
    """
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
               on_bad: Callable[[BadLine], None] | None = None,
               allow_image_roots: Sequence[str | Path] = ()) -> ScoreSummary:
    """Score ``input_path`` into ``output``; resumable. ``progress(done, total)`` is called per batch.

    Judges read a record's images only inside the input's folder (or their ``image_root``) and
    ``allow_image_roots`` (:mod:`lam3.paths`).
    """
    input_path, output = Path(input_path), Path(output)
    if not input_path.is_file():
        raise UserError("input file not found", path=input_path)
    config, judges = load_score_config(config_path, text_field=text_field)
    roots = ImageRoots.at(input_path.parent, allow=allow_image_roots, name="run folder")
    summary = ScoreSummary(output)
    recorded = {**config.model_dump(mode="json"), "allow_image_roots": [str(p) for p in roots.allowed[1:]]} \
        if allow_image_roots else None
    stage = Stage("score", output, summary, settings=config, config=recorded, inputs=[input_path],
                  id_field=config.id_field, retry=_has_error if retry_errors else None, on_bad=on_bad)
    with stage:
        load_judges(judges, config_path)
        try:
            total = count_score_input(input_path)
            for batch in _batches(stage, input_path, config, limit, roots):
                verdicts = judge_batch(judges, batch)
                records = []
                for rec, verdict in zip((item.record for item in batch), verdicts):
                    merged = dict(upgrade(rec).get("judgements") or {})
                    merged.update({k: j.model_dump(mode="json") for k, j in verdict.items()})
                    for key, j in verdict.items():
                        if j.error:
                            summary.errors[key] += 1
                    records.append({**rec, "schema_version": SCHEMA_VERSION, "judgements": merged})
                stage.write(records)
                summary.scored += len(records)
                if progress:
                    progress(summary.scored + summary.skipped + stage.quarantine.count, total)
        finally:
            for _, judge in judges:
                judge.close()
        stage.finish()
    return summary


def load_judges(judges: list[tuple[str, Judge]], config_path: str | Path) -> None:
    """Load every judge before any record is read; a judge that cannot load names itself and the config."""
    for key, judge in judges:
        try:
            judge.load()
        except UserError:
            raise
        except Exception as exc:  # a model that cannot load would otherwise error every record
            raise UserError(redact(f"judge {key!r} could not load: {type(exc).__name__}: {exc}"),
                            path=config_path) from None


def _batches(stage: Stage, path: Path, config: ScoreConfig, limit: int | None, roots: ImageRoots
             ) -> Iterator[list[ScoreInput]]:
    """Group the input's good, not-yet-done, first-seen records into batches (at most ``limit`` records)."""
    batch: list[ScoreInput] = []
    for _, item in islice(stage.pending(_inputs(path, config, stage.quarantine, roots), source=path,
                                        key=lambda i: i.id), limit):
        batch.append(item)
        if len(batch) >= config.batch_size:
            yield batch
            batch = []
    if batch:
        yield batch


def _inputs(path: Path, config: ScoreConfig, quarantine: Quarantine, roots: ImageRoots
            ) -> Iterator[tuple[int, ScoreInput]]:
    """The input's records as judges see them; a line with a field of the wrong type goes to the quarantine."""
    for lineno, rec in read_score_input(path, quarantine=quarantine, id_field=config.id_field,
                                        required=(config.text_field,)):
        try:
            yield lineno, score_input(rec, config, image_roots=roots, source=path, line=lineno)
        except BadField as bad:
            quarantine.add(BadLine(str(path), lineno, bad.field, str(bad), json.dumps(rec, ensure_ascii=False)))
