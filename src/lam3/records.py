"""Typed records: the only currency between LAM3 stages.

Every stage reads and writes JSONL lines that validate against one of these
models. ``SCHEMA_VERSION`` is written into every record so a file produced a
month ago can be recognised (and migrated) rather than silently misread.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

SCHEMA_VERSION = 1

Metric = Literal["social_toxicity", "policy_risk", "refusal"]
"""Which metric a judge's labels feed: the two LAM3 metrics are never mixed."""


class Record(BaseModel):
    """Base for all records: unknown fields are kept (inputs come from other tools)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    schema_version: int = SCHEMA_VERSION


class Sample(Record):
    """One benchmark item: what the model under test is asked."""

    id: str = Field(min_length=1)
    prompt: str
    images: list[str] = Field(default_factory=list, description="paths relative to the benchmark directory")
    category: str = Field(description="policy category S1..S11, or 'benign'")
    source: str = "lam3/mini_bench"
    meta: dict[str, Any] = Field(default_factory=dict)


class Response(Record):
    """One model output for one sample, with everything needed to reproduce it."""

    id: str = Field(min_length=1, description="response id, unique within a file")
    sample_id: str
    prompt: str
    images: list[str] = Field(default_factory=list)
    response: str = ""
    category: str | None = None
    attack: str = "clean"
    model_id: str
    model_revision: str | None = None
    generation: dict[str, Any] = Field(
        default_factory=dict, description="the generation settings actually passed to the model"
    )
    seed: int | None = None
    timings: dict[str, float] = Field(default_factory=dict)
    error: str | None = None


class Judgement(BaseModel):
    """One judge's verdict on one record.

    Scores are probabilities in [0, 1]. An error is a string and never a silent
    zero: fusion must be able to tell "safe" from "not judged".
    """

    model_config = ConfigDict(extra="forbid")

    judge: str
    version: str
    metric: Metric
    scores: dict[str, float] = Field(default_factory=dict)
    flagged: list[str] = Field(default_factory=list)
    error: str | None = None
    latency_ms: float | None = None
    details: dict[str, Any] = Field(default_factory=dict)

    @field_validator("scores")
    @classmethod
    def _probabilities(cls, scores: dict[str, float]) -> dict[str, float]:
        for label, value in scores.items():
            if math.isnan(value) or not 0.0 <= value <= 1.0:
                raise ValueError(f"score for {label!r} must be a probability in [0, 1], got {value}")
        return scores

    @classmethod
    def failed(cls, judge: str, version: str, metric: Metric, error: str, **kw: Any) -> Judgement:
        return cls(judge=judge, version=version, metric=metric, error=error, **kw)


class ScoredRecord(Record):
    """An input record plus the judgements of each configured judge, keyed by judge name."""

    id: str = Field(min_length=1)
    judgements: dict[str, Judgement] = Field(default_factory=dict)

    @property
    def has_error(self) -> bool:
        return any(j.error for j in self.judgements.values())


class MetricResult(BaseModel):
    """One fused metric (social toxicity or policy risk) for one response."""

    model_config = ConfigDict(extra="forbid")

    score: float | None = Field(default=None, ge=0.0, le=1.0)
    flagged: bool | None = None
    categories: dict[str, float] = Field(default_factory=dict)
    votes: dict[str, bool | None] = Field(default_factory=dict, description="per judge; None = errored/missing")
    disagreement: bool = False
    resolution: str | None = Field(default=None, description="how a disagreement was settled")
    missing: list[str] = Field(default_factory=list, description="judges with no usable judgement")


class FusedResult(Record):
    """The dual metric for one response: Social Toxicity and Policy Risk, reported apart."""

    id: str = Field(min_length=1)
    social_toxicity: MetricResult = Field(default_factory=MetricResult)
    policy_risk: MetricResult = Field(default_factory=MetricResult)
    refusal: MetricResult = Field(default_factory=MetricResult)
    review: bool = Field(default=False, description="queued for human review")
