"""What every Ray engine shares: the cluster options, joining or starting the cluster, the actor
pools' options and resources, and streaming work lines through actor pools with Ray Data.

``lam3 score --engine ray`` (:mod:`.ray_score`, one pool per judge) and ``lam3 generate --engine ray``
(:mod:`.ray_generate`, one pool of model replicas) differ only in what their actors compute. Around
that both do the same, done here once (:func:`actor_stream`):

1. join the cluster (``ray.address``, else ``RAY_ADDRESS``, else a local cluster started here);
2. refuse pools that a local cluster cannot hold at once (Ray Data would run them one after another
   and hold every line in its object store);
3. stream the work lines (one per write batch) to a scratch JSONL next to the output, so memory never
   holds more than one; Ray Data reads it back (``read_json(lines=True)``, pinned to the driver's
   node, one block per line) and maps it through one actor pool per stage
   (``ActorPoolStrategy(size=actors)``, ``num_cpus`` / ``num_gpus`` reserved per actor,
   ``max_restarts``: a killed actor is restarted and its line retried);
4. hand each line back to the driver, which writes it through its :class:`lam3.pipeline.stage.Stage`
   (durable writer, resume rules), exactly once, and restore Ray Data's settings afterwards.

Ray is imported only inside :func:`import_ray`, only when ``engine: ray`` is asked for.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field, model_validator

from lam3.config import StrictModel
from lam3.errors import ConfigError, DependencyError, UserError

INSTALL_HINT = "install the 'ray' extra: pip install 'lam3[ray]'"


class RayOptions(StrictModel):
    """A config's ``ray:`` block: which cluster (``engine: ray`` only)."""

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
    """One actor pool: a judge entry's ``ray:`` block, a generate config's ``replicas:`` (``engine: ray`` only)."""

    actors: int = Field(1, ge=1, description="actors in the pool (each loads its model once)")
    num_cpus: float = Field(1.0, ge=0, description="CPUs each actor reserves (its torch uses that many threads)")
    num_gpus: float = Field(0.0, ge=0, description="GPUs each actor reserves (0.5: two actors share one GPU)")
    max_restarts: int = Field(3, ge=-1, description=(
        "restarts of a dead actor before the run stops (its batch is retried on the restarted actor); -1: no limit"))


@dataclass(frozen=True)
class ActorStage:
    """One ``map_batches`` stage: the actor class, what its constructor gets, and its pool."""

    cls: type
    kwargs: dict[str, Any]
    pool: RayActorOptions


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


def check_resources(ray: Any, pools: Sequence[RayActorOptions], *, started: bool, what: str, fix: str,
                    config_path: str | Path | None = None, field: str | None = None) -> str | None:
    """Pools that ask for more than the cluster has would not all run at once: Ray Data would then run
    them one after another and hold every line in its object store. On a local cluster started here
    that is an error; on an existing one (which may autoscale) it is a warning for the manifest.
    ``what`` names the pools (``the judges' actor pools``), ``fix`` where to lower them."""
    have = ray.cluster_resources()
    for resource, need in (("CPU", sum(p.actors * p.num_cpus for p in pools)),
                           ("GPU", sum(p.actors * p.num_gpus for p in pools))):
        if need > have.get(resource, 0.0) + 1e-9:
            message = (f"{what} reserve {need:g} {resource}s together, the Ray cluster has "
                       f"{have.get(resource, 0.0):g}: lower actors / num_{resource.lower()}s in {fix}, "
                       "or use a bigger cluster")
            if started:
                raise ConfigError(message, path=config_path, field=field)
            return message
    return None


def write_pending(path: Path, payloads: Iterable[dict[str, str]]) -> int:
    """Stream the work lines to the scratch file (``seq`` numbers them); return how many."""
    n = 0
    with path.open("w", encoding="utf-8") as f:
        for payload in payloads:
            f.write(json.dumps({"seq": n, **payload}) + "\n")
            n += 1
    return n


def actor_stream(payloads: Iterable[dict[str, str]], stages: Sequence[ActorStage], *, options: RayOptions,
                 config_path: str | Path, scratch: Path, preserve_order: bool,
                 check: Callable[[Any, bool], str | None], died: str,
                 on_connect: Callable[[str, str | None], None] | None = None) -> Iterator[dict[str, Any]]:
    """Each work line back from the last stage, with the columns the stages' actors added (see the module doc).

    ``payloads``: one dict of string columns per write batch; ``scratch``: the output file (the lines go
    to ``<scratch>.ray-pending.jsonl``, removed at the end); ``preserve_order``: lines come back in input
    order (else as they finish); each comes back exactly once or the run stops. ``check(ray, started)``
    checks the pools against the cluster (:func:`check_resources`); ``died`` starts the one line said
    when an actor died more often than its ``max_restarts`` allows; ``on_connect(where, warning)`` is
    told which cluster was joined, and any resource warning.
    """
    ray = import_ray()
    started, where = connect(ray, options, config_path)
    pending = scratch.with_name(scratch.name + ".ray-pending.jsonl")
    context = ray.data.DataContext.get_current()
    saved = (context.execution_options.preserve_order, context.target_max_block_size, context.enable_progress_bars)
    data_log = logging.getLogger("ray.data")
    saved_level = data_log.level
    try:
        warning = check(ray, started)
        if on_connect is not None:
            on_connect(where, warning)
        data_log.setLevel(logging.WARNING)  # Ray Data's INFO lines would interleave with the CLI's progress bar
        n = write_pending(pending, payloads)
        if n == 0:
            return
        context.execution_options.preserve_order = preserve_order
        context.target_max_block_size = 1  # one block per line, so the pool's actors share the lines
        context.enable_progress_bars = False  # the CLI draws its own
        node = ray.get_runtime_context().get_node_id()
        ds = ray.data.read_json(str(pending.resolve()), lines=True, num_cpus=0,
                                label_selector={"ray.io/node-id": node})  # the scratch file is on this node
        for stage in stages:
            with warnings.catch_warnings():  # max_restarts is a plain remote arg until Ray 2.64 (the extra's pin)
                warnings.filterwarnings("ignore", message=".*ray_remote_args.*deprecated")
                ds = ds.map_batches(stage.cls, fn_constructor_kwargs=stage.kwargs, batch_size=1,
                                    batch_format="numpy", compute=ray.data.ActorPoolStrategy(size=stage.pool.actors),
                                    num_cpus=stage.pool.num_cpus, num_gpus=stage.pool.num_gpus,
                                    max_restarts=stage.pool.max_restarts)
        seen: set[int] = set()
        for row in _rows(ray, ds, died):
            seq = int(row["seq"])
            if preserve_order and seq != len(seen):  # the order the caller relies on; never write out of order
                raise RuntimeError(f"Ray returned line {seq} where line {len(seen)} was due")
            if seq in seen:  # a line written twice would be duplicate output
                raise RuntimeError(f"Ray returned line {seq} twice")
            seen.add(seq)
            yield row
        if len(seen) != n:
            raise RuntimeError(f"Ray returned {len(seen)} of {n} lines")
    finally:
        (context.execution_options.preserve_order, context.target_max_block_size,
         context.enable_progress_bars) = saved
        data_log.setLevel(saved_level)
        pending.unlink(missing_ok=True)
        if started:
            ray.shutdown()


def _rows(ray: Any, ds: Any, died: str) -> Iterator[dict[str, Any]]:
    """The dataset's rows; an actor that died more often than ``max_restarts`` allows stops the run in one line."""
    try:
        yield from ds.iter_rows()
    except ray.exceptions.RayActorError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"{died} ({first}); the batches written so far are kept: rerun the same command to "
                        "resume") from None
