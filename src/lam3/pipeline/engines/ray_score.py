"""``engine: ray``: the score stage's judges on a Ray cluster, one actor pool per judge.

What stays in the driver, exactly as in one process: reading the input, the quarantine, the
duplicate-id check, skipping ids already written, cutting the write batches, and the durable
writer (:class:`lam3.pipeline.stage.Stage`). So the resume rules are the same (kill the driver,
rerun the command, it finishes) and so is the output: every judge sees the same batches it would
see in one process.

What Ray does (:func:`lam3.pipeline.engines.ray_cluster.actor_stream`, shared with ``lam3 generate
--engine ray``): the pending batches are streamed to a scratch JSONL next to the output (one line
per write batch, so memory never holds more than one), Ray Data reads it back as a stream
(``read_json(lines=True)``, pinned to the driver's node, one block per batch) and maps it through
one ``map_batches`` stage per judge. Each stage is an actor pool (``ActorPoolStrategy(size=actors)``)
whose actors load the judge once and reserve ``num_cpus`` / ``num_gpus`` each; the stages stream
into one another, so judge B works on batch *i* while judge A works on *i* + 1. With
``preserve_order`` the batches come back in input order and the driver writes them.

A killed actor is restarted (``max_restarts``) and its batch retried (Ray's actor task retries),
so nothing is lost or written twice; a judge that raises still gives per-record errors
(:func:`lam3.pipeline.engines.judging.run_judge`, the same call as in one process).

Ray is imported only when ``engine: ray`` is asked for.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lam3.errors import ConfigError, UserError
from lam3.judges.base import Judge, JudgeConfig, ScoreInput
from lam3.pipeline.engines import ray_cluster
from lam3.pipeline.engines.judging import Verdicts, run_judge
from lam3.pipeline.engines.ray_cluster import ActorStage, RayActorOptions, RayOptions
from lam3.records import Judgement
from lam3.secrets import redact

@dataclass(frozen=True)
class RayJudge:
    """One judge of the config as the Ray engine runs it: validated in the driver, built in its actors."""

    key: str
    cls: type[Judge]
    config: JudgeConfig
    actor: RayActorOptions
    field: str
    """Where the entry sits in the config (``judges[1]``), for errors raised inside an actor."""


def quota_bound(judge: RayJudge) -> bool:
    """A judge behind an API quota: its limiter lives in its process, so it must not be multiplied."""
    return judge.cls.remote or getattr(judge.config, "base_url", None) is not None


def check_pools(judges: Sequence[RayJudge], config_path: str | Path | None = None) -> None:
    """Refuse pools that would break a judge's guarantees (before anything starts)."""
    for judge in judges:
        if quota_bound(judge) and judge.actor.actors > 1:
            raise ConfigError(f"judge {judge.key!r} is behind an API quota that its process enforces; "
                              f"{judge.actor.actors} actors would send {judge.actor.actors}× the quota: use actors: 1",
                              path=config_path, field=f"{judge.field}.ray.actors")


def pool_summary(judges: Sequence[RayJudge]) -> dict[str, Any]:
    """What the manifest records of the pools."""
    return {j.key: j.actor.model_dump(mode="json") for j in judges}


def check_resources(ray: Any, judges: Sequence[RayJudge], *, started: bool,
                    config_path: str | Path | None = None) -> str | None:
    """The judges' pools against the cluster (:func:`lam3.pipeline.engines.ray_cluster.check_resources`)."""
    return ray_cluster.check_resources(ray, [j.actor for j in judges], started=started,
                                       what="the judges' actor pools", fix="the judges' ray: blocks",
                                       config_path=config_path, field="judges")


class JudgeActor:
    """What each actor of a judge's pool runs: build the judge once, then judge one write batch per call.

    A judge that cannot be built or loaded does not raise here (Ray would restart the actor over and
    over, and the message would drown in its traceback): every batch then comes back marked with the
    error, and the driver stops the run with it, as ``load_judges`` does in one process.
    """

    def __init__(self, key: str, cls: type[Judge], config: JudgeConfig, field: str, config_path: str) -> None:
        self.key, self.column = key, column(key)
        self.judge: Judge | None = None
        self.load_error: str | None = None
        try:
            judge = cls(config)
            judge.load()
            self.judge = judge
        except UserError as exc:
            where = f"{field}.{exc.field}" if exc.field else field
            self.load_error = str(UserError(exc.message, path=config_path, field=where))
        except Exception as exc:
            self.load_error = redact(f"{config_path}: {field}: judge {key!r} could not load in its Ray actor: "
                                     f"{type(exc).__name__}: {exc}")

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        import numpy as np

        out = []
        for payload in batch["batch"]:
            if self.judge is None:
                out.append(json.dumps({"load_error": self.load_error}))
                continue
            items = [ScoreInput.from_json(d) for d in json.loads(payload)]
            out.append(json.dumps([j.model_dump(mode="json") for j in run_judge(self.judge, items)]))
        batch[self.column] = np.array(out, dtype=object)
        return batch

    def __del__(self) -> None:
        if self.judge is not None:
            self.judge.close()


def column(key: str) -> str:
    return f"judge:{key}"


def judge_stream(judges: Sequence[RayJudge], batches: Iterable[list[ScoreInput]], *, options: RayOptions,
                 config_path: str | Path, scratch: Path, on_connect: Any = None
                 ) -> Iterator[tuple[list[ScoreInput], Verdicts]]:
    """Each pending batch with its verdicts, in input order (see the module docstring).

    ``scratch``: the output file; the pending batches go to ``<scratch>.ray-pending.jsonl`` (removed
    at the end). ``on_connect(where, warning)`` is told which cluster was joined, and any resource warning.
    """
    check_pools(judges, config_path)
    payloads = ({"batch": json.dumps([item.to_json() for item in batch])} for batch in batches)
    stages = [ActorStage(JudgeActor, {"key": j.key, "cls": j.cls, "config": j.config, "field": j.field,
                                      "config_path": str(config_path)}, j.actor) for j in judges]
    with closing(ray_cluster.actor_stream(
            payloads, stages, options=options, config_path=config_path, scratch=scratch, preserve_order=True,
            check=lambda ray, started: check_resources(ray, judges, started=started, config_path=config_path),
            died="a judge's Ray actor died more often than its ray.max_restarts allows",
            on_connect=on_connect)) as rows:  # closing this generator stops the Ray run at once
        for row in rows:
            yield _decode(row, judges)


def _decode(row: dict[str, Any], judges: Sequence[RayJudge]) -> tuple[list[ScoreInput], Verdicts]:
    items = [ScoreInput.from_json(d) for d in json.loads(row["batch"])]
    verdicts: Verdicts = [{} for _ in items]
    for judge in judges:
        results = json.loads(row[column(judge.key)])
        if isinstance(results, dict):  # the actor could not build or load its judge
            raise UserError(results["load_error"])
        for slot, result in zip(verdicts, results):
            slot[judge.key] = Judgement.model_validate(result)
    return items, verdicts
