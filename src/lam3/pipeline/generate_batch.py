"""One write batch of the ``generate`` stage: draws → responses, in this process or in a Ray replica.

The generate stage (:mod:`lam3.pipeline.generate`) cuts the pending draws into write batches of
``batch_size`` draws; :func:`generate_chunk` turns one into its responses. The local engine calls it
in the driver, the Ray engine (:mod:`lam3.pipeline.engines.ray_generate`) in each model replica,
with the same :class:`GenerationJob` and the same batches, so a response does not depend on where
it was made: its seed is its draw's (``sample_seed(seed, sample_id, j)``), its settings are what
the loaded model applied.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lam3.models.base import Output, Request
from lam3.models.config import GenerateConfig
from lam3.models.seeding import sample_seed
from lam3.paths import ImageRoots
from lam3.records import GenerationSettings, Response, Sample
from lam3.secrets import redact

CLEAN = "clean"


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

    def to_json(self) -> dict[str, Any]:
        return {"sample": self.sample.model_dump(mode="json"), "index": self.index, "line": self.line}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Draw:
        return cls(Sample.model_validate(data["sample"]), data["index"], data["line"])


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


@dataclass
class SampleImages:
    """A sample's images, read only inside the benchmark folder; errors name ``samples.jsonl:line: images[i]``."""

    roots: ImageRoots
    samples_path: Path

    def load(self, sample: Sample, line: int | None) -> list[Any]:
        return [load_image(self.roots.resolve(rel, file=self.samples_path, line=line, field=f"images[{k}]"))
                for k, rel in enumerate(sample.images)]


@dataclass(frozen=True)
class GenerationJob:
    """What every write batch of a run shares (picklable: each Ray replica gets a copy)."""

    config: GenerateConfig
    images: SampleImages
    attack: str = CLEAN
    attack_image: str | None = None
    """the attack image's path, as recorded in each response's ``images``"""
    attack_img: Any = None
    """the attack image itself (PIL), in place of every sample's images"""


@dataclass(frozen=True)
class ChunkResult:
    """One write batch's responses (in draw order) and what the batch runner did on the way."""

    records: list[Response]
    oom_halvings: int = 0
    """out-of-memory halvings during this batch"""
    batch_size: int = 0
    """the runner's batch size after it"""


class BatchRunner:
    """Generates batches, halving on out-of-memory and isolating per-sample failures."""

    def __init__(self, mllm: Any, batch_size: int) -> None:
        self.mllm, self.batch_size = mllm, batch_size
        self.oom_halvings = 0

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
                self.oom_halvings += 1
                return self.run(chunk)
            if len(chunk) == 1:
                return [redact(f"{type(exc).__name__}: {exc}")]
            return [r for req in chunk for r in self._attempt([req])]


def generate_chunk(mllm: Any, runner: BatchRunner, job: GenerationJob, chunk: Sequence[Draw]) -> ChunkResult:
    """The responses of one write batch of draws, in draw order (a sample's images are read once per batch)."""
    config = job.config
    k = config.generation.num_samples
    # the pipeline makes the k draws: what it applied is recorded beside what the model applied
    settings = GenerationSettings.model_validate({**mllm.settings(), "num_samples": k})
    halvings = runner.oom_halvings
    records: dict[int, dict[str, Any]] = {}
    requests: list[Request] = []
    slots: list[int] = []
    loaded: dict[str, list[Any] | str] = {}  # sample id -> its images, or why they failed (once per chunk)
    for i, draw in enumerate(chunk):
        sample = draw.sample
        images_recorded = [str(job.attack_image)] if job.attack_img is not None else list(sample.images)
        base = dict(id=response_id(sample.id, job.attack, draw.index if k > 1 else None), sample_id=sample.id,
                    sample_index=draw.index, prompt=sample.prompt,
                    images=images_recorded, category=sample.category, behavior=sample.behavior,
                    behavior_id=sample.behavior_id, context=sample.context, attack=job.attack,
                    model_id=config.model.model_id, model_revision=mllm.model_revision,
                    generation=settings, seed=sample_seed(config.generation.seed, sample.id, draw.index))
        if sample.id not in loaded:
            try:
                loaded[sample.id] = [job.attack_img] if job.attack_img is not None else \
                    job.images.load(sample, draw.line)
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
    return ChunkResult([Response(**records[i]) for i in range(len(chunk))], runner.oom_halvings - halvings,
                       runner.batch_size)
