"""``engine: ray`` for the generate stage: data-parallel replicas of the model on a Ray cluster.

What stays in the driver, exactly as in one process: reading the samples, the quarantine, the
duplicate-id check, skipping response ids already written, cutting the write batches
(``batch_size`` draws each), and the durable writer (:class:`lam3.pipeline.stage.Stage`). So the
resume rules are the same: kill the driver, rerun the command, it finishes.

What Ray does (:func:`lam3.pipeline.engines.ray_cluster.actor_stream`, shared with ``lam3 score
--engine ray``): the write batches stream through one actor pool, the ``replicas:``; each replica
loads the model once (``backend: hf`` or ``vllm``, :func:`lam3.models.load_mllm`, the same loader)
and answers whole write batches with :func:`lam3.pipeline.generate_batch.generate_chunk`, the same
call as in one process. A draw's seed is its own (``sample_seed(seed, sample_id, j)``), so a response
is the same whichever replica makes it, and its ``generation`` is what that replica's model applied.
The batches come back as they finish, not in input order (a slow batch never holds up a finished
one; resume goes by id), each written exactly once. A killed replica is restarted
(``max_restarts``) and its batch redone, with the same result.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Sequence
from contextlib import closing
from pathlib import Path
from typing import Any

from lam3.errors import UserError
from lam3.pipeline.engines import ray_cluster
from lam3.pipeline.engines.ray_cluster import ActorStage
from lam3.pipeline.generate_batch import BatchRunner, ChunkResult, Draw, GenerationJob, generate_chunk
from lam3.records import Response
from lam3.secrets import redact


class ReplicaActor:
    """What each replica runs: load the model once, then answer one write batch of draws per call.

    A model that cannot load does not raise here (Ray would restart the replica over and over, and
    the message would drown in its traceback): every batch then comes back marked with the error,
    and the driver stops the run with it, as a failed load does in one process.
    """

    def __init__(self, job: GenerationJob, config_path: str) -> None:
        config = job.config
        if config.replicas.num_gpus == 0:  # Ray hides no GPU from a replica that reserved none: hide them here
            os.environ["CUDA_VISIBLE_DEVICES"] = ""
        self.job, self.mllm, self.load_error = job, None, None
        try:
            from lam3.models import load_mllm

            self.mllm = load_mllm(config.model, config.generation, config.backend, source=config_path)
        except UserError as exc:
            self.load_error = str(exc)
        except Exception as exc:
            self.load_error = redact(f"{config_path}: model: {config.model.model_id!r} could not load in its Ray "
                                     f"replica: {type(exc).__name__}: {exc}")
        self.runner = BatchRunner(self.mllm, config.batch_size)  # its out-of-memory halvings last the replica's life

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        import numpy as np

        out = []
        for payload in batch["chunk"]:
            if self.mllm is None:
                out.append(json.dumps({"load_error": self.load_error}))
                continue
            result = generate_chunk(self.mllm, self.runner, self.job, [Draw.from_json(d) for d in json.loads(payload)])
            out.append(json.dumps({"records": [r.model_dump(mode="json") for r in result.records],
                                   "oom_halvings": result.oom_halvings, "batch_size": result.batch_size}))
        return {"seq": batch["seq"], "result": np.array(out, dtype=object)}  # the draws need not travel back

    def __del__(self) -> None:
        if self.mllm is not None:
            self.mllm.close()


def check_resources(ray: Any, job: GenerationJob, *, started: bool, config_path: str | Path | None = None
                    ) -> str | None:
    """The replicas against the cluster (:func:`lam3.pipeline.engines.ray_cluster.check_resources`)."""
    return ray_cluster.check_resources(ray, [job.config.replicas], started=started, what="the model's replicas",
                                       fix="replicas:", config_path=config_path, field="replicas")


def generate_stream(job: GenerationJob, chunks: Iterable[Sequence[Draw]], *, config_path: str | Path, scratch: Path,
                    on_connect: Any = None) -> Iterator[ChunkResult]:
    """Each write batch's responses, as the replicas finish them (see the module docstring).

    ``scratch``: the output file; the pending batches go to ``<scratch>.ray-pending.jsonl`` (removed
    at the end). ``on_connect(where, warning)`` is told which cluster was joined, and any resource warning.
    """
    payloads = ({"chunk": json.dumps([draw.to_json() for draw in chunk])} for chunk in chunks)
    stage = ActorStage(ReplicaActor, {"job": job, "config_path": str(config_path)}, job.config.replicas)
    with closing(ray_cluster.actor_stream(
            payloads, [stage], options=job.config.ray, config_path=config_path, scratch=scratch,
            preserve_order=False,
            check=lambda ray, started: check_resources(ray, job, started=started, config_path=config_path),
            died="a model replica died more often than replicas.max_restarts allows",
            on_connect=on_connect)) as rows:  # closing this generator stops the Ray run at once
        for row in rows:
            result = json.loads(row["result"])
            if "load_error" in result:  # the replica could not load the model
                raise UserError(result["load_error"])
            yield ChunkResult([Response.model_validate(r) for r in result["records"]], result["oom_halvings"],
                              result["batch_size"])
