"""The ``generate`` stage: benchmark samples → model responses (``response.jsonl``), resumably.

- samples are ``lam3.records.Sample`` lines in ``BENCH/samples.jsonl``; image paths are relative
  to ``BENCH`` and must stay inside it (or a folder passed as ``allow_image_roots``, :mod:`lam3.paths`):
  one that leaves it is that response's error (``samples.jsonl:3: images[0]: …``); bad lines go to
  the quarantine file, the run goes on;
- each response records the settings actually used (``generation``), the model id, the
  revision loaded and the seed of its draw (``sample_seed(seed, sample_id, j)``; draw 0 is
  ``sha256(f"{seed}:{sample_id}")``), so a result does not depend on batch size, order or where a
  resumed run restarted;
- ``num_samples: k`` writes k responses per sample, draw ``j`` as ``{id}#{j}`` with
  ``sample_index = j`` (k = 1: the id is the sample's and ``sample_index`` is 0, as before);
- rerunning the same command skips response ids already written; ``retry_errors`` redoes
  the errored ones; resuming with different model/decoding settings is refused;
- an out-of-memory batch is halved and retried (and the smaller size kept); any other
  failure is narrowed down to the sample that caused it, which gets ``error`` set;
- ``attack_image`` replaces every sample's images by one (adversarial) image, recorded as
  ``attack=attack_name``; the response id becomes ``{sample_id}@{attack_name}`` (``…#{j}`` for
  draw j when ``num_samples > 1``);
- where the model runs is the engine's choice: ``local`` (this process) or ``ray`` (data-parallel
  replicas on a Ray cluster, :mod:`lam3.pipeline.engines.ray_generate`); both answer the same write
  batches with :func:`lam3.pipeline.generate_batch.generate_chunk`, so the responses are the same and
  the engine is no resume setting.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

from lam3.config import load_config
from lam3.errors import UserError
from lam3.manifest import sha256_file
from lam3.models.config import GenerateConfig
from lam3.paths import ImageRoots
from lam3.pipeline.engines import ray_generate
from lam3.pipeline.generate_batch import (CLEAN, BatchRunner, ChunkResult, Draw, GenerationJob, SampleImages,
                                          generate_chunk, load_image, response_id)
from lam3.pipeline.stage import Stage, StageSummary
from lam3.records import GenerationSettings, Response, Sample
from lam3.store import BadLine, iter_records

SAMPLES_FILE = "samples.jsonl"


@dataclass
class GenerateSummary(StageSummary):
    generated: int = 0
    errors: int = 0
    oom_halvings: int = 0
    batch_size: int = 0
    new_tokens: int = 0
    error_examples: list[str] = field(default_factory=list)
    engine: dict[str, Any] = field(default_factory=dict)
    """Where the model ran (engine, replicas, cluster) and the options this engine did not use."""

    def as_dict(self) -> dict[str, Any]:
        return {"generated": self.generated, "errors": self.errors, **super().as_dict(),
                "oom_halvings": self.oom_halvings, "final_batch_size": self.batch_size,
                "new_tokens": self.new_tokens, "engine": self.engine}


def bench_samples_path(bench: str | Path) -> tuple[Path, Path]:
    """``(bench_dir, samples.jsonl)`` from a benchmark directory or its samples file."""
    bench = Path(bench)
    if bench.is_dir():
        return bench, bench / SAMPLES_FILE
    if bench.is_file():
        return bench.parent, bench
    raise UserError("benchmark directory not found", path=bench)


UNCHANGED_WHEN_DEFAULT = {"preset": None, "num_samples": 1, "allow_identical_samples": False}
"""Generation keys added with ``num_samples`` and presets: left out of the resume settings at these values, so
an output written before they existed still resumes (its responses are what these values produce)."""


def _settings(config: GenerateConfig, attack: str, attack_sha: str | None) -> dict[str, Any]:
    """What must not change between a run and its resume (batch size may)."""
    generation = {k: v for k, v in config.generation.model_dump(mode="json").items()
                  if k not in UNCHANGED_WHEN_DEFAULT or v != UNCHANGED_WHEN_DEFAULT[k]}
    return {"backend": config.backend, "model": config.model.model_dump(mode="json"),
            "generation": generation, "attack": attack, "attack_image_sha256": attack_sha}


def requested_settings(config: GenerateConfig) -> GenerationSettings:
    """The generation settings ``config`` asks for, in the model every response records what it applied."""
    return GenerationSettings(backend=config.backend,
                              **config.generation.model_dump(exclude={"allow_identical_samples"}))


def pending_draws(stage: Stage, samples: Iterable[tuple[int, Sample]], source: Path, attack: str,
                  num_samples: int) -> Iterator[Draw]:
    """The draws still to do, sample by sample.

    The stage quarantines a repeated sample id and skips a sample whose k = 1 id is written; a
    k > 1 output never holds that id (resuming with another ``num_samples`` is refused), so with
    k > 1 each draw already written is skipped here, and counted as skipped.
    """
    assert stage.writer is not None, "open the stage first"
    for line, sample in stage.pending(samples, source=source, key=lambda s: s.id,
                                      out_id=lambda sid: response_id(sid, attack)):
        if num_samples == 1:
            yield Draw(sample, 0, line)
            continue
        for j in range(num_samples):
            if response_id(sample.id, attack, j) in stage.writer:
                stage.summary.skipped += 1
            else:
                yield Draw(sample, j, line)


REPLICA_FLAGS = {"actors": "--replicas", "num_cpus": "--replica-cpus", "num_gpus": "--replica-gpus"}
"""The CLI flags that set a key of the config's ``replicas:`` block."""


def generate_file(config_path: str | Path, bench: str | Path, output: str | Path, *,
                  limit: int | None = None, batch_size: int | None = None,
                  attack_image: str | Path | None = None, attack_name: str | None = None,
                  retry_errors: bool = False, progress: Callable[[int, int], None] | None = None,
                  on_bad: Callable[[BadLine], None] | None = None, mllm: Any = None,
                  allow_image_roots: Sequence[str | Path] = (), engine: str | None = None,
                  replicas: int | None = None, replica_cpus: float | None = None,
                  replica_gpus: float | None = None) -> GenerateSummary:
    """Generate responses for the benchmark at ``bench`` into ``output``; resumable.

    ``mllm`` lets a caller pass an already loaded wrapper (it must match the config's model; local
    engine only). Sample images are read inside ``bench`` and ``allow_image_roots`` only. ``engine``
    overrides the config's; ``replicas`` / ``replica_cpus`` / ``replica_gpus`` its ``replicas:``
    (``actors`` / ``num_cpus`` / ``num_gpus``), ``engine: ray`` only.
    """
    pool = {k: v for k, v in (("actors", replicas), ("num_cpus", replica_cpus), ("num_gpus", replica_gpus))
            if v is not None}
    config = load_config(config_path, GenerateConfig, {"batch_size": batch_size, "engine": engine,
                                                       "replicas": pool or None})
    if pool and config.engine != "ray":
        raise UserError(f"{' / '.join(REPLICA_FLAGS[k] for k in pool)} only apply to --engine ray (or engine: ray "
                        "in the config)", path=config_path, field="engine")
    if mllm is not None and config.engine == "ray":
        raise UserError("a model loaded in this process (mllm=) cannot serve engine: ray, whose replicas load "
                        "their own", path=config_path, field="engine")
    bench_dir, samples_path = bench_samples_path(bench)
    roots = ImageRoots.at(bench_dir, allow=allow_image_roots, name="benchmark folder")
    output = Path(output)
    if (attack_image is None) != (attack_name is None):
        raise UserError("--attack-image and --attack-name go together", field="attack")
    attack = attack_name or CLEAN
    attack_img, attack_sha = None, None
    if attack_image is not None:
        if attack == CLEAN:
            raise UserError(f"attack name {CLEAN!r} is reserved for unattacked runs", field="attack_name")
        try:
            attack_img = load_image(Path(attack_image))
        except ValueError as exc:
            raise UserError(str(exc), path=attack_image) from None
        attack_sha = sha256_file(attack_image)
    resolved = {**config.model_dump(mode="json"), "bench": str(bench_dir), "attack": attack,
                "attack_image": str(attack_image) if attack_image else None,
                "allow_image_roots": [str(p) for p in roots.allowed[1:]]}
    summary = GenerateSummary(output, batch_size=config.batch_size,
                              engine={"engine": config.engine, **({"unused": config.unused()}
                                                                  if config.unused() else {})})
    stage = Stage("generate", output, summary, settings=_settings(config, attack, attack_sha), config=resolved,
                  seed=config.generation.seed, generation=requested_settings(config),
                  inputs=[samples_path, *([attack_image] if attack_image else [])],
                  retry=(lambda r: bool(r.get("error"))) if retry_errors else None, on_bad=on_bad,
                  restart_hint="write to a new --out (or delete it to start over)")
    own_model = mllm is None
    with stage:
        try:
            samples = iter_records(samples_path, Sample, quarantine=stage.quarantine)
            todo = list(islice(pending_draws(stage, samples, samples_path, attack,
                                             config.generation.num_samples), limit))
            job = GenerationJob(config, SampleImages(roots, samples_path), attack,
                                str(attack_image) if attack_image is not None else None, attack_img)
            # write batches of the configured batch size (in draws): each is durable once written
            chunks = [todo[start:start + config.batch_size] for start in range(0, len(todo), config.batch_size)]
            if not todo:
                if progress:
                    progress(0, 0)
            elif config.engine == "ray":
                summary.engine["replicas"] = config.replicas.model_dump(mode="json")
                _write(stage, summary, ray_generate.generate_stream(
                    job, chunks, config_path=config_path, scratch=output,
                    on_connect=lambda where, warning: summary.engine.update(
                        cluster=where, **({"warning": warning} if warning else {}))), len(todo), progress)
            else:
                if mllm is None:
                    from lam3.models import load_mllm

                    mllm = load_mllm(config.model, config.generation, config.backend, source=config_path)
                _write(stage, summary, _local_chunks(mllm, job, chunks), len(todo), progress)
        finally:
            if own_model and mllm is not None:
                mllm.close()
        stage.finish()
    return summary


def _local_chunks(mllm: Any, job: GenerationJob, chunks: Iterable[Sequence[Draw]]) -> Iterator[ChunkResult]:
    """``engine: local``: the write batches in this process, in order."""
    runner = BatchRunner(mllm, job.config.batch_size)
    for chunk in chunks:
        yield generate_chunk(mllm, runner, job, chunk)


def _write(stage: Stage, summary: GenerateSummary, results: Iterator[ChunkResult], total: int,
           progress: Callable[[int, int], None] | None) -> None:
    """Write each batch durably as it comes and count it (any engine)."""
    done = 0
    with closing(results):  # on an error, stop the Ray run before the stage closes
        for result in results:
            stage.write(result.records)
            _count(summary, result.records)
            summary.oom_halvings += result.oom_halvings
            summary.batch_size = min(summary.batch_size, result.batch_size)
            done += len(result.records)
            if progress:
                progress(done, total)


def _count(summary: GenerateSummary, records: Sequence[Response]) -> None:
    for rec in records:
        if rec.error:
            summary.errors += 1
            if len(summary.error_examples) < 5:
                summary.error_examples.append(f"{rec.sample_id}: {rec.error}")
        else:
            summary.generated += 1
            summary.new_tokens += (getattr(rec, "usage", None) or {}).get("new_tokens", 0)
