"""``engine: ray``: the score stage's judges on a Ray cluster, one actor pool per judge.

What stays in the driver, exactly as in one process: reading the input, the quarantine, the
duplicate-id check, skipping ids already written, cutting the write batches, and the durable
writer (:class:`lam3.pipeline.stage.Stage`). So the resume rules are the same (kill the driver,
rerun the command, it finishes) and so is the output: every judge sees the same batches it would
see in one process.

What Ray does: the pending batches are streamed to a scratch JSONL next to the output (one line
per write batch, so memory never holds more than one), Ray Data reads it back as a stream
(``read_json(lines=True)``, pinned to the driver's node, one block per batch) and maps it through
one ``map_batches`` stage per judge. Each stage is an actor pool (``ActorPoolStrategy(size=actors)``)
whose actors load the judge once and reserve ``num_cpus`` / ``num_gpus`` each; the stages stream
into one another, so judge B works on batch *i* while judge A works on *i* + 1. With
``preserve_order`` the batches come back in input order and the driver writes them.

A killed actor is restarted (``max_restarts``) and its batch retried (Ray's actor task retries),
so nothing is lost or written twice; a judge that raises still gives per-record errors
(:func:`lam3.pipeline.engines.judging.run_judge`, the same call as in one process).

Ray is imported only here, only when ``engine: ray`` is asked for.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field, model_validator

from lam3.config import StrictModel
from lam3.errors import ConfigError, DependencyError, UserError
from lam3.judges.base import Judge, JudgeConfig, ScoreInput
from lam3.pipeline.engines.judging import Verdicts, run_judge
from lam3.records import Judgement
from lam3.secrets import redact

INSTALL_HINT = "install the 'ray' extra: pip install 'lam3[ray]'"


class RayOptions(StrictModel):
    """The score config's ``ray:`` block: which cluster (``engine: ray`` only)."""

    address: str | None = Field(None, description=(
        "an existing cluster (host:port, or 'auto'); unset: RAY_ADDRESS if set, else a local cluster"))
    num_cpus: int | None = Field(None, gt=0, description="local cluster only: CPUs it offers (unset: all)")
    num_gpus: int | None = Field(None, ge=0, description="local cluster only: GPUs it offers (unset: all)")

    @model_validator(mode="after")
    def _one_cluster(self) -> RayOptions:
        if self.address is not None and self.address.startswith("ray://"):
            raise ValueError("Ray Client (ray://) is not supported: the driver reads and writes files on its own "
                             "node; run lam3 on a cluster node (or through `ray job submit`) with address: auto")
        sized = [k for k in ("num_cpus", "num_gpus") if getattr(self, k) is not None]
        if self.address is not None and sized:
            raise ValueError(f"{', '.join(sized)} only size a local cluster; an existing cluster (address) has "
                             "its own resources")
        return self


class RayActorOptions(StrictModel):
    """A judge entry's ``ray:`` block: its actor pool (``engine: ray`` only)."""

    actors: int = Field(1, ge=1, description="actors in this judge's pool (each loads the judge once)")
    num_cpus: float = Field(1.0, ge=0, description="CPUs each actor reserves")
    num_gpus: float = Field(0.0, ge=0, description="GPUs each actor reserves (0.5: two actors share one GPU)")
    max_restarts: int = Field(3, ge=-1, description=(
        "restarts of a dead actor before the run stops (its batch is retried on the restarted actor); -1: no limit"))


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
    """Pools that ask for more than the cluster has would not all run at once: Ray Data would then run
    them one after another and hold every batch in its object store. On a local cluster started here
    that is an error; on an existing one (which may autoscale) it is a warning for the manifest."""
    have = ray.cluster_resources()
    for resource, need in (("CPU", sum(j.actor.actors * j.actor.num_cpus for j in judges)),
                           ("GPU", sum(j.actor.actors * j.actor.num_gpus for j in judges))):
        if need > have.get(resource, 0.0) + 1e-9:
            message = (f"the judges' actor pools reserve {need:g} {resource}s together, the Ray cluster has "
                       f"{have.get(resource, 0.0):g}: lower actors / num_{resource.lower()}s in the judges' ray: "
                       "blocks, or use a bigger cluster")
            if started:
                raise ConfigError(message, path=config_path, field="judges")
            return message
    return None


def import_ray() -> Any:
    try:
        import ray
        import ray.data  # noqa: F401  (Ray Data ships with the ray wheel; import it to fail here if not)
    except ImportError:
        raise DependencyError(f"engine: ray needs Ray: {INSTALL_HINT}") from None
    return ray


def connect(ray: Any, options: RayOptions, config_path: str | Path | None = None) -> tuple[bool, str]:
    """Join or start a cluster; return (started here, where). A Ray session this process already runs is reused."""
    if ray.is_initialized():
        given = [k for k in ("address", "num_cpus", "num_gpus") if getattr(options, k) is not None]
        if given:
            raise ConfigError(f"Ray is already initialised in this process; ray.{given[0]} cannot take effect "
                              "(remove it, or call ray.shutdown() first)", path=config_path, field=f"ray.{given[0]}")
        return False, "the Ray session of this process"
    address = options.address or os.environ.get("RAY_ADDRESS") or None
    kwargs: dict[str, Any] = {"include_dashboard": False, "logging_level": logging.WARNING}
    if address is None:
        kwargs.update(num_cpus=options.num_cpus, num_gpus=options.num_gpus)
    try:
        ray.init(address=address, **kwargs)
    except ConnectionError as exc:
        raise UserError(f"cannot reach the Ray cluster at {address!r}: {exc}", path=config_path,
                        field="ray.address") from None
    return True, f"cluster at {address}" if address else "a local cluster"


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


def write_pending(path: Path, batches: Iterable[list[ScoreInput]]) -> int:
    """Stream the batches to the scratch file (one line per batch); return how many."""
    n = 0
    with path.open("w", encoding="utf-8") as f:
        for batch in batches:
            f.write(json.dumps({"seq": n, "batch": json.dumps([item.to_json() for item in batch])}) + "\n")
            n += 1
    return n


def judge_stream(judges: Sequence[RayJudge], batches: Iterable[list[ScoreInput]], *, options: RayOptions,
                 config_path: str | Path, scratch: Path, on_connect: Any = None
                 ) -> Iterator[tuple[list[ScoreInput], Verdicts]]:
    """Each pending batch with its verdicts, in input order (see the module docstring).

    ``scratch``: the output file; the pending batches go to ``<scratch>.ray-pending.jsonl`` (removed
    at the end). ``on_connect(where, warning)`` is told which cluster was joined, and any resource warning.
    """
    check_pools(judges, config_path)
    ray = import_ray()
    started, where = connect(ray, options, config_path)
    pending = scratch.with_name(scratch.name + ".ray-pending.jsonl")
    context = ray.data.DataContext.get_current()
    saved = (context.execution_options.preserve_order, context.target_max_block_size, context.enable_progress_bars)
    data_log = logging.getLogger("ray.data")
    saved_level = data_log.level
    try:
        warning = check_resources(ray, judges, started=started, config_path=config_path)
        if on_connect is not None:
            on_connect(where, warning)
        data_log.setLevel(logging.WARNING)  # Ray Data's INFO lines would interleave with the CLI's progress bar
        n = write_pending(pending, batches)
        if n == 0:
            return
        context.execution_options.preserve_order = True  # the durable writer needs input order
        context.target_max_block_size = 1  # one block per batch line, so the pool's actors share the batches
        context.enable_progress_bars = False  # the CLI draws its own
        node = ray.get_runtime_context().get_node_id()
        ds = ray.data.read_json(str(pending.resolve()), lines=True, num_cpus=0,
                                label_selector={"ray.io/node-id": node})  # the scratch file is on this node
        for judge in judges:
            with warnings.catch_warnings():  # max_restarts is a plain remote arg until Ray 2.64 (the extra's pin)
                warnings.filterwarnings("ignore", message=".*ray_remote_args.*deprecated")
                ds = ds.map_batches(JudgeActor, fn_constructor_kwargs={
                    "key": judge.key, "cls": judge.cls, "config": judge.config, "field": judge.field,
                    "config_path": str(config_path)}, batch_size=1, batch_format="numpy",
                    compute=ray.data.ActorPoolStrategy(size=judge.actor.actors), num_cpus=judge.actor.num_cpus,
                    num_gpus=judge.actor.num_gpus, max_restarts=judge.actor.max_restarts)
        expected = 0
        for row in _rows(ray, ds):
            if int(row["seq"]) != expected:  # preserve_order is what makes resume exact; never write out of order
                raise RuntimeError(f"Ray returned batch {row['seq']} where batch {expected} was due")
            expected += 1
            yield _decode(row, judges)
        if expected != n:
            raise RuntimeError(f"Ray returned {expected} of {n} batches")
    finally:
        (context.execution_options.preserve_order, context.target_max_block_size,
         context.enable_progress_bars) = saved
        data_log.setLevel(saved_level)
        pending.unlink(missing_ok=True)
        if started:
            ray.shutdown()


def _rows(ray: Any, ds: Any) -> Iterator[dict[str, Any]]:
    """The dataset's rows; an actor that died more often than ``max_restarts`` allows stops the run in one line."""
    try:
        yield from ds.iter_rows()
    except ray.exceptions.RayActorError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"a judge's Ray actor died more often than its ray.max_restarts allows ({first}); "
                        "the batches written so far are kept: rerun the same command to resume") from None


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
