"""The ``score`` stage: stream records through the configured judges, resumably.

Output is one line per input record: the input record plus ``judgements``
keyed by judge name. Rerunning the same command after a crash or Ctrl-C skips
the ids already written and finishes the run; ``retry_errors`` redoes records
whose judgement errored.

How the judges run is the engine's choice (:mod:`lam3.pipeline.engines`): ``local`` runs them in
this process, concurrently, with a bounded look-ahead; ``ray`` runs one actor pool per judge on a
Ray cluster. Either way the batches, the durable writer and the output are the same, so the
engine is no resume setting: a run started with one engine can be finished with the other.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_serializer, field_validator, model_validator

from lam3.config import StrictModel, load_config, read_yaml, validation_error
from lam3.errors import UserError
from lam3.judges import registry
from lam3.judges.base import Judge, ScoreInput
from lam3.paths import ImageRoots
from lam3.pipeline.engines import concurrent, ray_score
from lam3.pipeline.engines.judging import Verdicts, merge, run_judge
from lam3.pipeline.engines.ray_cluster import RayActorOptions, RayOptions
from lam3.pipeline.engines.ray_score import RayJudge
from lam3.pipeline.stage import Stage, StageSummary
from lam3.records import SCHEMA_VERSION, Judgement, upgrade
from lam3.secrets import redact
from lam3.integrations.score_inputs import count_score_input, read_score_input
from lam3.store import BadLine, Quarantine

LOOKAHEAD_RECORDS = 512
"""The default look-ahead of the local engine, in records (ScoreConfig.lookahead_batches)."""


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
    # -- how the judges run: no resume settings (the output is the same), so left out of the settings hash
    engine: Literal["local", "ray"] = Field("local", exclude=True, description=(
        "local: the judges in this process; ray: one actor pool per judge on a Ray cluster (lam3[ray])"))
    concurrent_judges: bool = Field(True, exclude=True, description=(
        "local engine: each judge on its own thread (a slow remote judge never holds up a local one); "
        "false: one judge after another"))
    lookahead: int | None = Field(None, ge=0, exclude=True, description=(
        "local engine: batches a judge may work ahead of the oldest batch not yet written; default: enough "
        f"batches for {LOOKAHEAD_RECORDS} records, at least 2 (see lookahead_batches)"))
    ray: RayOptions = Field(default_factory=RayOptions, exclude=True, description=(
        "ray engine: which cluster (address, or num_cpus/num_gpus of a local one); per judge: `ray:` in its entry"))

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

    @field_serializer("judges")
    def _without_pools(self, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """A judge's ``ray:`` pool changes where it runs, not what it says: not a resume setting."""
        return [{k: v for k, v in entry.items() if k != "ray"} for entry in entries]

    @model_validator(mode="after")
    def _engine_options(self) -> ScoreConfig:
        if self.engine == "ray":
            local_only = sorted({"concurrent_judges", "lookahead"} & self.model_fields_set)
            if local_only:
                raise ValueError(f"{', '.join(local_only)} only apply to engine: local (under engine: ray each "
                                 "judge has its own actor pool, and Ray streams the batches between them)")
        return self

    @property
    def lookahead_batches(self) -> int:
        """The look-ahead in batches: as given, or enough for LOOKAHEAD_RECORDS records (at least 2).

        Why in records: the slack a fast judge needs, to keep working while a slower one has a slow
        stretch, is a span of records, not of writes; with small write batches two batches ahead is
        a fraction of a second, and two judges of about the same speed then wait on each other.
        """
        if self.lookahead is not None:
            return self.lookahead
        return max(2, math.ceil(LOOKAHEAD_RECORDS / self.batch_size))

    def unused(self) -> list[str]:
        """Options given that this engine does not use (reported, so none is silently ignored)."""
        if self.engine == "ray":
            return []
        given = ["ray"] if "ray" in self.model_fields_set else []
        return given + [f"judges[{i}].ray" for i, entry in enumerate(self.judges) if "ray" in entry]


@dataclass
class ScoreSummary(StageSummary):
    scored: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    engine: dict[str, Any] = field(default_factory=dict)
    """How the judges ran (engine, pools, cluster) and the options this engine did not use."""

    def as_dict(self) -> dict[str, Any]:
        return {"scored": self.scored, **super().as_dict(), "errors": dict(self.errors), "engine": self.engine}


def _entries(config: ScoreConfig, path: str | Path) -> Iterator[tuple[str, dict[str, Any], tuple[Any, ...],
                                                                       RayActorOptions, Any]]:
    """Each judge entry: key, its options without ``ray:``, where it sits, its (validated) pool, the YAML node."""
    _, node = read_yaml(path)
    for i, entry in enumerate(config.judges):
        loc = ("judges", i)
        try:
            pool = RayActorOptions.model_validate(entry.get("ray") or {})
        except ValidationError as exc:
            raise validation_error(exc, path, node, prefix=loc + ("ray",)) from None
        options = {k: v for k, v in entry.items() if k != "ray"}
        yield entry.get("key", entry["judge"]), options, loc, pool, node


def read_score_config(path: str | Path, **overrides: Any) -> ScoreConfig:
    """Validate the config file (``overrides``, e.g. CLI flags, win over it); no judge is built."""
    return load_config(path, ScoreConfig, overrides)


def load_score_config(path: str | Path, **overrides: Any) -> tuple[ScoreConfig, list[tuple[str, Judge]]]:
    """Validate the config and build its judges in this process (errors name the file, line and key)."""
    config = read_score_config(path, **overrides)
    return config, build_judges(config, path)


def build_judges(config: ScoreConfig, path: str | Path) -> list[tuple[str, Judge]]:
    """Each judge of the config, built here (a local judge loads its weights now)."""
    return [(key, registry.build(options, path=path, node=node, loc=loc))
            for key, options, loc, _, node in _entries(config, path)]


def ray_judges(config: ScoreConfig, path: str | Path) -> list[RayJudge]:
    """The judges as the Ray engine runs them: validated here (file, line, key), built in their actors."""
    out = []
    for key, options, loc, pool, node in _entries(config, path):
        cls, judge_config = registry.resolve(options, path=path, node=node, loc=loc)
        out.append(RayJudge(key=key, cls=cls, config=judge_config, actor=pool, field=f"judges[{loc[1]}]"))
    return out


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
    """Run every judge on one batch, concurrently. A judge that raises marks each record with an error;
    nothing is dropped. The Inspect scorer calls it; ``lam3 score`` streams batches through the same
    call (:func:`lam3.pipeline.engines.judging.run_judge`) with a look-ahead."""
    if len(judges) == 1:
        key, judge = judges[0]
        return merge([key], [run_judge(judge, items)], len(items))
    ((_, verdicts),) = concurrent.judge_stream(judges, [items], lookahead=0)
    return verdicts


def score_file(input_path: str | Path, config_path: str | Path, output: str | Path, *,
               text_field: str | None = None, retry_errors: bool = False, limit: int | None = None,
               engine: str | None = None, progress: Callable[[int, int], None] | None = None,
               on_bad: Callable[[BadLine], None] | None = None,
               allow_image_roots: Sequence[str | Path] = ()) -> ScoreSummary:
    """Score ``input_path`` into ``output``; resumable. ``engine`` overrides the config's;
    ``progress(done, total)`` is called per batch.

    Judges read a record's images only inside the input's folder (or their ``image_root``) and
    ``allow_image_roots`` (:mod:`lam3.paths`).
    """
    input_path, output = Path(input_path), Path(output)
    if not input_path.is_file():
        raise UserError("input file not found", path=input_path)
    config = read_score_config(config_path, text_field=text_field, engine=engine)
    roots = ImageRoots.at(input_path.parent, allow=allow_image_roots, name="run folder")
    pools = ray_judges(config, config_path) if config.engine == "ray" else []
    judges = build_judges(config, config_path) if config.engine == "local" else []
    summary = ScoreSummary(output, engine={"engine": config.engine, **({"unused": config.unused()}
                                                                       if config.unused() else {})})
    recorded = {**config.model_dump(mode="json"), "allow_image_roots": [str(p) for p in roots.allowed[1:]]} \
        if allow_image_roots else None
    stage = Stage("score", output, summary, settings=config, config=recorded, inputs=[input_path],
                  id_field=config.id_field, retry=_has_error if retry_errors else None, on_bad=on_bad)
    with stage:
        load_judges(judges, config_path)
        try:
            total = count_score_input(input_path)
            batches = _batches(stage, input_path, config, limit, roots)
            judged = _judged(config, config_path, judges, pools, summary, batches, output)
            with closing(judged):  # on an error, stop the judge threads / the Ray run before the judges close
                for batch, verdicts in judged:
                    records = _scored(batch, verdicts, summary)
                    stage.write(records)
                    summary.scored += len(records)
                    if progress:
                        progress(summary.scored + summary.skipped + stage.quarantine.count, total)
        finally:
            for _, judge in judges:
                judge.close()
        stage.finish()
    return summary


def _scored(batch: list[ScoreInput], verdicts: Verdicts, summary: ScoreSummary) -> list[dict[str, Any]]:
    """The output records: each input record with its judgements merged in (earlier ones kept), errors counted."""
    records = []
    for rec, verdict in zip((item.record for item in batch), verdicts):
        merged = dict(upgrade(rec).get("judgements") or {})
        merged.update({k: j.model_dump(mode="json") for k, j in verdict.items()})
        for key, j in verdict.items():
            if j.error:
                summary.errors[key] += 1
        records.append({**rec, "schema_version": SCHEMA_VERSION, "judgements": merged})
    return records


def _judged(config: ScoreConfig, config_path: str | Path, judges: list[tuple[str, Judge]], pools: list[RayJudge],
            summary: ScoreSummary, batches: Iterator[list[ScoreInput]], output: Path
            ) -> Iterator[tuple[list[ScoreInput], Verdicts]]:
    """The batches with their verdicts, in input order, from the configured engine."""
    if config.engine == "ray":  # ray is imported inside, only now
        summary.engine["pools"] = ray_score.pool_summary(pools)
        return ray_score.judge_stream(pools, batches, options=config.ray, config_path=config_path, scratch=output,
                                      on_connect=lambda where, warning: summary.engine.update(
                                          cluster=where, **({"warning": warning} if warning else {})))
    summary.engine.update(concurrent_judges=config.concurrent_judges, lookahead=config.lookahead_batches)
    return concurrent.judge_stream(judges, batches, lookahead=config.lookahead_batches,
                                   concurrent=config.concurrent_judges)


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
    for _, item in stage.pending(_inputs(path, config, stage.quarantine, roots), source=path, key=lambda i: i.id,
                                 limit=limit):
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
