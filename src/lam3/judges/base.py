"""The judge interface every scorer implements.

A judge is batched (``score(batch) -> list[Judgement]``, one judgement per
input, in order), typed (its options are a pydantic model with unknown keys
forbidden) and self-describing (its labels, metric and label →
canonical category tables), so the CLI, ``lam3 judges``, YAML configs and
fusion all work from the registry without special cases.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field, field_validator

from lam3.config import StrictModel
from lam3.paths import ImagePathError, ImageRoots
from lam3.records import Metric, Judgement


@dataclass(slots=True)
class ScoreInput:
    """What a judge sees of one record: the response to judge and what it answered.

    ``behavior`` is what the attacker asked for in plain words (a jailbreak-success judge
    compares the response with it); ``prompt`` is the attack prompt the model saw. A judge that
    reads an image gets its path from :meth:`image_path`, never from ``images`` directly: the
    record may come from a stranger, and the path must stay inside ``image_roots``.
    """

    id: str
    text: str
    prompt: str | None = None
    images: list[str] = field(default_factory=list)
    record: dict[str, Any] = field(default_factory=dict)
    behavior: str | None = None
    context: str | None = None
    image_roots: ImageRoots | None = None
    """Where this record's images may be read from (the score stage: the run folder + ``--allow-image-root``)."""
    source: str | None = None
    """The input file and line the record came from, and its images field, for per-record errors."""
    line: int | None = None
    images_field: str = "images"

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe form, for engines that ship records to other processes as text (Ray)."""
        out = {f: getattr(self, f) for f in self.__dataclass_fields__ if f != "image_roots"}
        out["image_roots"] = self.image_roots.to_json() if self.image_roots is not None else None
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ScoreInput:
        roots = data.get("image_roots")
        return cls(**{**data, "image_roots": ImageRoots.from_json(roots) if roots is not None else None})

    def image_path(self, index: int, image_root: str | Path | None = None) -> Path:
        """The file ``images[index]`` names, inside the allowed folders; :class:`ImagePathError` otherwise.

        ``image_root`` (a judge's option) replaces the run folder as the base; the extra folders stay allowed.
        """
        roots = self.image_roots
        if image_root is not None:
            roots = roots.rebase(image_root, name="image_root folder") if roots is not None else \
                ImageRoots.at(image_root, name="image_root folder")
        field_name = f"{self.images_field}[{index}]"
        if roots is None:
            raise ImagePathError(f"{field_name}: no folder to read images from is known for this record; "
                                 "set the judge's image_root")
        return roots.resolve(self.images[index], file=self.source, line=self.line, field=field_name)


class JudgeConfig(StrictModel):
    """Options every judge accepts; judges subclass this with their own.

    There is no threshold here: a judge reports probabilities (and a label-type judge its
    own verdict); the ensemble config alone turns them into votes.
    """

    batch_size: int = Field(64, gt=0)
    threshold: None = Field(None, exclude=True, description="not a judge option: see the ensemble config")

    @field_validator("threshold", mode="before")
    @classmethod
    def _no_threshold(cls, value: Any) -> None:
        if value is not None:  # wave 1 had one here; it set a flag fusion never read
            raise ValueError("thresholds live in the ensemble config only (configs/ensemble.yaml: "
                             "judges.KEY.threshold); remove 'threshold' from the judge entry")
        return None


class Judge(ABC):
    """Base class for judges. Subclasses are registered with :func:`lam3.judges.registry.register`."""

    name: ClassVar[str] = ""
    metric: ClassVar[Metric]
    version: ClassVar[str] = "1"
    offline: ClassVar[bool] = True
    """True when the judge runs with no network and no download (its weights ship in a package)."""
    remote: ClassVar[bool] = False
    """True for judges behind a web API (rate limited, need a key)."""
    description: ClassVar[str] = ""
    Config: ClassVar[type[JudgeConfig]] = JudgeConfig
    batches_internally: ClassVar[bool] = False
    """True when ``score`` splits its input into ``batch_size`` chunks itself (e.g. after sorting texts by
    length to minimise padding): the score stage then hands it the whole write batch at once."""
    label_maps: ClassVar[dict[str, dict[str, str]]] = {}
    """metric → {own label → canonical category} (tables live in :mod:`lam3.taxonomy`)."""

    def __init__(self, config: JudgeConfig | None = None) -> None:
        self.config = config if config is not None else self.Config()

    @property
    @abstractmethod
    def labels(self) -> list[str]:
        """The labels this judge scores, under its current config."""

    @abstractmethod
    def score(self, batch: Sequence[ScoreInput]) -> list[Judgement]:
        """Judge a batch; return exactly one Judgement per input, in input order."""

    def load(self) -> object:
        """Load weights / open sessions now, so a bad model path fails before any record is written."""
        return None

    @classmethod
    def availability(cls) -> tuple[bool, str]:
        """(usable here, why not): checks optional dependencies without loading any model."""
        return True, ""

    def close(self) -> None:
        """Release models, sessions, threads."""

    # -- helpers for subclasses -------------------------------------------------------------
    def judgement(self, scores: dict[str, float], *, verdict: dict[Metric, bool] | None = None,
                  latency_ms: float | None = None, details: dict[str, Any] | None = None) -> Judgement:
        """A successful judgement: probabilities, and ``verdict`` (per metric) only when this judge's answer is a decision."""
        clean = {k: min(1.0, max(0.0, float(v))) for k, v in scores.items()}
        return Judgement(judge=self.name, version=self.version, metric=self.metric, scores=clean,
                         verdict=verdict, latency_ms=latency_ms, details=details or {})

    def failure(self, error: str, *, latency_ms: float | None = None) -> Judgement:
        """A per-record error: recorded, retried on request, never a silent 0."""
        return Judgement.failed(self.name, self.version, self.metric, error, latency_ms=latency_ms)


class Stopwatch:
    """``with Stopwatch() as sw: ...; sw.ms`` — latency in milliseconds."""

    def __enter__(self) -> Stopwatch:
        self._t0 = time.perf_counter()
        self.ms = 0.0
        return self

    def __exit__(self, *exc: object) -> None:
        self.ms = (time.perf_counter() - self._t0) * 1000.0
