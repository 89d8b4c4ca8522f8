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
  draw j when ``num_samples > 1``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

from lam3.config import load_config
from lam3.errors import UserError
from lam3.manifest import sha256_file
from lam3.models.base import Output, Request
from lam3.models.config import GenerateConfig
from lam3.models.seeding import sample_seed
from lam3.paths import ImageRoots
from lam3.pipeline.stage import Stage, StageSummary
from lam3.records import GenerationSettings, Response, Sample
from lam3.secrets import redact
from lam3.store import BadLine, iter_records

SAMPLES_FILE = "samples.jsonl"
CLEAN = "clean"


@dataclass
class GenerateSummary(StageSummary):
    generated: int = 0
    errors: int = 0
    oom_halvings: int = 0
    batch_size: int = 0
    new_tokens: int = 0
    error_examples: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"generated": self.generated, "errors": self.errors, **super().as_dict(),
                "oom_halvings": self.oom_halvings, "final_batch_size": self.batch_size,
                "new_tokens": self.new_tokens}


def response_id(sample_id: str, attack: str = CLEAN, draw: int | None = None) -> str:
    """A response's id: the sample id, ``@attack`` for attacked runs, ``#draw`` when num_samples > 1.

    ``s1``, ``s1@pgd`` (k = 1, as before ``num_samples`` existed); ``s1#0`` … ``s1#3``,
    ``s1@pgd#0`` … (k = 4). The draw is the part after the last ``#``; ``sample_id`` and
    ``sample_index`` are recorded apart, so nothing needs to parse an id.
    """
    base = sample_id if attack == CLEAN else f"{sample_id}@{attack}"
    return base if draw is None else f"{base}#{draw}"


@dataclass(frozen=True)
class Draw:
    """Draw ``index`` of ``sample``: what becomes one response."""

    sample: Sample
    index: int
    line: int | None = None
    """the sample's line in samples.jsonl (errors about its images name it)"""


def bench_samples_path(bench: str | Path) -> tuple[Path, Path]:
    """``(bench_dir, samples.jsonl)`` from a benchmark directory or its samples file."""
    bench = Path(bench)
    if bench.is_dir():
        return bench, bench / SAMPLES_FILE
    if bench.is_file():
        return bench.parent, bench
    raise UserError("benchmark directory not found", path=bench)


def load_image(path: Path) -> Any:
    """Open an image fully (so a truncated file fails here, per sample) as RGB."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img.load()
            return img.convert("RGB")
    except FileNotFoundError:
        raise ValueError(f"image not found: {path}") from None
    except (UnidentifiedImageError, OSError) as exc:
        raise ValueError(f"unreadable image {path}: {exc}") from None


UNCHANGED_WHEN_DEFAULT = {"preset": None, "num_samples": 1, "allow_identical_samples": False}
"""Generation keys added with ``num_samples`` and presets: left out of the resume settings at these values, so
an output written before they existed still resumes (its responses are what these values produce)."""


@dataclass
class SampleImages:
    """A sample's images, read only inside the benchmark folder; errors name ``samples.jsonl:line: images[i]``."""

    roots: ImageRoots
    samples_path: Path

    def load(self, sample: Sample, line: int | None) -> list[Any]:
        return [load_image(self.roots.resolve(rel, file=self.samples_path, line=line, field=f"images[{k}]"))
                for k, rel in enumerate(sample.images)]


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


class _Runner:
    """Generates batches, halving on out-of-memory and isolating per-sample failures."""

    def __init__(self, mllm: Any, batch_size: int, summary: GenerateSummary) -> None:
        self.mllm, self.batch_size, self.summary = mllm, batch_size, summary

    @staticmethod
    def _is_oom(exc: BaseException) -> bool:
        try:
            import torch
        except ImportError:
            return False
        oom = getattr(torch, "OutOfMemoryError", None) or torch.cuda.OutOfMemoryError
        return isinstance(exc, oom)

    @staticmethod
    def _free_memory() -> None:
        import gc

        gc.collect()
        try:
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        except ImportError:
            pass

    def run(self, requests: Sequence[Request]) -> list[Output | str]:
        """One result per request: an Output, or an error message."""
        results: list[Output | str] = []
        start = 0
        while start < len(requests):
            chunk = requests[start:start + self.batch_size]
            results.extend(self._attempt(chunk))
            start += len(chunk)
        return results

    def _attempt(self, chunk: Sequence[Request]) -> list[Output | str]:
        try:
            outs = self.mllm.generate(chunk)
            if len(outs) != len(chunk):
                raise RuntimeError(f"model returned {len(outs)} outputs for {len(chunk)} requests")
            return list(outs)
        except Exception as exc:  # noqa: BLE001 - every failure becomes a halving or a per-sample error
            if self._is_oom(exc):
                self._free_memory()
                if len(chunk) == 1:
                    return [f"out of memory at batch size 1 ({type(exc).__name__})"]
                self.batch_size = max(1, (len(chunk) + 1) // 2)
                self.summary.oom_halvings += 1
                return self.run(chunk)
            if len(chunk) == 1:
                return [redact(f"{type(exc).__name__}: {exc}")]
            return [r for req in chunk for r in self._attempt([req])]


def generate_file(config_path: str | Path, bench: str | Path, output: str | Path, *,
                  limit: int | None = None, batch_size: int | None = None,
                  attack_image: str | Path | None = None, attack_name: str | None = None,
                  retry_errors: bool = False, progress: Callable[[int, int], None] | None = None,
                  on_bad: Callable[[BadLine], None] | None = None, mllm: Any = None,
                  allow_image_roots: Sequence[str | Path] = ()) -> GenerateSummary:
    """Generate responses for the benchmark at ``bench`` into ``output``; resumable.

    ``mllm`` lets a caller pass an already loaded wrapper (it must match the config's model).
    Sample images are read inside ``bench`` and ``allow_image_roots`` only.
    """
    config = load_config(config_path, GenerateConfig, {"batch_size": batch_size})
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
    summary = GenerateSummary(output, batch_size=config.batch_size)
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
            images = SampleImages(roots, samples_path)
            if todo:
                if mllm is None:
                    from lam3.models import load_mllm

                    mllm = load_mllm(config.model, config.generation, config.backend, source=config_path)
                _generate(mllm, config, todo, images, stage, summary, attack, attack_image, attack_img,
                          progress)
            elif progress:
                progress(0, 0)
        finally:
            if own_model and mllm is not None:
                mllm.close()
        stage.finish()
    return summary


def _generate(mllm: Any, config: GenerateConfig, todo: list[Draw], sample_images: SampleImages, stage: Stage,
              summary: GenerateSummary, attack: str, attack_image: str | Path | None, attack_img: Any,
              progress: Callable[[int, int], None] | None) -> None:
    runner = _Runner(mllm, config.batch_size, summary)
    k = config.generation.num_samples
    # the pipeline makes the k draws: what it applied is recorded beside what the model applied
    settings = GenerationSettings.model_validate({**mllm.settings(), "num_samples": k})
    seed = config.generation.seed
    done = 0
    # write in chunks of the configured batch size (in draws): each chunk is durable once written
    for start in range(0, len(todo), config.batch_size):
        chunk = todo[start:start + config.batch_size]
        records: dict[int, dict[str, Any]] = {}
        requests: list[Request] = []
        slots: list[int] = []
        loaded: dict[str, list[Any] | str] = {}  # sample id -> its images, or why they failed (once per chunk)
        for i, draw in enumerate(chunk):
            sample = draw.sample
            images_recorded = [str(attack_image)] if attack_img is not None else list(sample.images)
            base = dict(id=response_id(sample.id, attack, draw.index if k > 1 else None), sample_id=sample.id,
                        sample_index=draw.index, prompt=sample.prompt,
                        images=images_recorded, category=sample.category, behavior=sample.behavior,
                        behavior_id=sample.behavior_id, context=sample.context, attack=attack,
                        model_id=config.model.model_id, model_revision=mllm.model_revision,
                        generation=settings, seed=sample_seed(seed, sample.id, draw.index))
            if sample.id not in loaded:
                try:
                    loaded[sample.id] = [attack_img] if attack_img is not None else \
                        sample_images.load(sample, draw.line)
                except ValueError as exc:
                    loaded[sample.id] = str(exc)
            images = loaded[sample.id]
            if isinstance(images, str):
                records[i] = {**base, "error": images}
                continue
            requests.append(Request(sample.id, sample.prompt, images, base["seed"]))
            records[i] = base
            slots.append(i)
        t = time.perf_counter()
        results = runner.run(requests) if requests else []
        elapsed = time.perf_counter() - t
        for i, result in zip(slots, results):
            rec = records[i]
            rec["timings"] = {"batch_s": round(elapsed, 4), "batch_size": float(len(requests))}
            if isinstance(result, str):
                rec["error"] = result
            else:
                rec["response"] = result.text
                rec["usage"] = {"prompt_tokens": result.prompt_tokens, "new_tokens": result.new_tokens}
                summary.new_tokens += result.new_tokens
        ordered = [Response(**records[i]) for i in range(len(chunk))]
        stage.write(ordered)
        for rec in ordered:
            if rec.error:
                summary.errors += 1
                if len(summary.error_examples) < 5:
                    summary.error_examples.append(f"{rec.sample_id}: {rec.error}")
            else:
                summary.generated += 1
        summary.batch_size = runner.batch_size
        done += len(chunk)
        if progress:
            progress(done, len(todo))
