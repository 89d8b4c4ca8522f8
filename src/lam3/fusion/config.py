"""The ensemble config (``configs/ensemble.yaml``) as pydantic models: which judges, how each metric is fused.

Where a threshold lives: every threshold is in this config, none in a judge. A judge's vote is
its own verdict when it is a label-type judge, otherwise its probability against
``judges.KEY.threshold`` (strategies that combine votes) or against the metric's ``threshold``
(strategies that combine probabilities); the metric's ``threshold`` turns the fused score into
the fused verdict. Reading the YAML file is the pipeline's job (:mod:`lam3.pipeline.ensemble_files`).
"""

from __future__ import annotations

from typing import Any, Literal, Union

from pydantic import Field, create_model, field_validator, model_validator

from lam3.config import StrictModel
from lam3.fusion.reducers import REDUCERS
from lam3.fusion.registry import UnknownName
from lam3.fusion.strategies import STRATEGIES
from lam3.records import METRICS, Metric

Threshold = Union[float, Literal["calibrated"]]
DEFAULT_CARRY: tuple[str, ...] = ("sample_id", "model_id", "attack", "category", "behavior", "behavior_id", "prompt",
                                  "response", "images", "labels")


class EnsembleJudge(StrictModel):
    """How one judge (a key of ``judgements`` in the scored files) takes part."""

    judge: str = Field(description="registered judge name; must match each judgement's 'judge'")
    weight: float = Field(1.0, gt=0.0)
    threshold: Threshold | dict[Metric, Threshold] = Field(
        0.5, description=("its vote: probability >= threshold, in metrics whose strategy combines votes "
                          "('calibrated' = the one fitted by lam3 calibrate); not for label-type judges"))
    metrics: list[Metric] | None = Field(None, description="restrict which metrics this judge feeds")
    label_map: dict[Metric, dict[str, str | None]] = Field(
        default_factory=dict, description="overrides of the judge's label → category table (null drops a label)")
    score_label: dict[Metric, str] = Field(
        default_factory=dict, description="label whose score is the judge's probability (default: max category)")
    calibrated: bool = Field(True, description="apply the calibration file to this judge when one is given")

    @model_validator(mode="after")
    def _thresholds(self) -> EnsembleJudge:
        values = self.threshold.values() if isinstance(self.threshold, dict) else [self.threshold]
        for t in values:
            if isinstance(t, float) and not 0.0 <= t <= 1.0:
                raise ValueError(f"threshold must be in [0, 1] or 'calibrated', got {t}")
        return self

    def threshold_for(self, metric: Metric) -> Threshold:
        if isinstance(self.threshold, dict):
            return self.threshold.get(metric, 0.5)
        return self.threshold

    def sets_threshold(self, metric: Metric) -> bool:
        """Whether the YAML gives this judge a threshold for ``metric`` (not just the default)."""
        if "threshold" not in self.model_fields_set:
            return False
        return metric in self.threshold if isinstance(self.threshold, dict) else True


class Rule(StrictModel):
    """``judge``'s probability at least / at most a bound decides the metric (first matching rule wins)."""

    name: str | None = None
    judge: str
    at_least: float | None = Field(None, ge=0.0, le=1.0)
    at_most: float | None = Field(None, ge=0.0, le=1.0)
    decide: Literal["flagged", "safe"]

    @model_validator(mode="after")
    def _one_bound(self) -> Rule:
        if (self.at_least is None) == (self.at_most is None):
            raise ValueError("give exactly one of 'at_least' or 'at_most'")
        return self

    @property
    def label(self) -> str:
        if self.name:
            return self.name
        bound = f">={self.at_least}" if self.at_least is not None else f"<={self.at_most}"
        return f"{self.judge}{bound}"

    def matches(self, p: float) -> bool:
        return (self.at_least is not None and p >= self.at_least) or (self.at_most is not None and p <= self.at_most)


class Arbitration(StrictModel):
    """What counts as a disagreement, and who settles it."""

    when: Literal["never", "vote_split", "spread", "either"] = "vote_split"
    margin: float | None = Field(None, gt=0.0, le=1.0, description="probability spread (max-min) that counts")
    method: Literal["none", "arbiter", "human"] = "none"
    arbiter: str | None = Field(None, description="judge whose verdict settles a split (method: arbiter)")
    fallback: Literal["strategy", "human"] | None = Field(
        None, description="when the arbiter has no usable judgement (method: arbiter; default strategy)")

    @model_validator(mode="after")
    def _consistent(self) -> Arbitration:
        uses_spread = self.when in ("spread", "either")
        if uses_spread and self.margin is None:
            raise ValueError(f"when: {self.when} needs a 'margin'")
        if not uses_spread and self.margin is not None:
            raise ValueError(f"'margin' has no effect with when: {self.when}")
        if self.method == "arbiter" and not self.arbiter:
            raise ValueError("method: arbiter needs 'arbiter: JUDGE'")
        if self.method != "arbiter" and (self.arbiter or self.fallback):
            raise ValueError("'arbiter'/'fallback' only apply with method: arbiter")
        if self.method != "none" and self.when == "never":
            raise ValueError(f"method: {self.method} never runs with when: never")
        return self


def _registered(registry: Any, name: str) -> str:
    try:
        registry.get(name)
    except UnknownName as exc:
        raise ValueError(str(exc)) from None
    return name


class MetricConfig(StrictModel):
    """How the judges feeding one metric are combined."""

    strategy: str = Field("vote", description="a registered strategy: vote, soft_vote, merge or a plugin's")
    threshold: float = Field(0.5, ge=0.0, le=1.0, description="fused score >= threshold → flagged")
    reducer: str = Field("max", description="per category across judges (and the score for 'merge')")
    category_reducers: dict[str, str] = Field(default_factory=dict)
    judges: list[str] | None = Field(None, description="voters (default: every judge that feeds this metric)")
    rules: list[Rule] = Field(default_factory=list)
    arbitration: Arbitration = Field(default_factory=Arbitration)

    @field_validator("strategy")
    @classmethod
    def _known_strategy(cls, name: str) -> str:
        return _registered(STRATEGIES, name)

    @field_validator("reducer")
    @classmethod
    def _known_reducer(cls, name: str) -> str:
        return _registered(REDUCERS, name)

    @field_validator("category_reducers")
    @classmethod
    def _known_reducers(cls, names: dict[str, str]) -> dict[str, str]:
        for name in names.values():
            _registered(REDUCERS, name)
        return names


class EnsembleSettings(StrictModel):
    """The settings of ``configs/ensemble.yaml`` apart from the metric sections (see :data:`EnsembleConfig`)."""

    id_field: str = "id"
    batch_size: int = Field(1000, gt=0, description="records per durable write")
    carry_fields: list[str] = Field(default_factory=lambda: list(DEFAULT_CARRY),
                                    description="input fields copied into each fused record")
    judges: dict[str, EnsembleJudge] = Field(min_length=1)
    calibration: str | None = Field(None, description="calibration JSON written by 'lam3 calibrate'")
    reviews: str | None = Field(None, description="human labels written by 'lam3 review import'")
    judge_cards: list[str] = Field(default_factory=list,
                                   description="judge cards written by 'lam3 validate' (shown beside every rate)")

    def metric(self, name: Metric) -> MetricConfig | None:
        """The metric's section, None when the YAML has none (defaults then apply)."""
        return getattr(self, name)


EnsembleConfig = create_model(
    "EnsembleConfig", __base__=EnsembleSettings, __module__=__name__,
    **{m: (MetricConfig | None, Field(None, description=f"how {m} is fused")) for m in METRICS})  # type: ignore[call-overload]
"""``configs/ensemble.yaml``: :class:`EnsembleSettings` plus one optional :class:`MetricConfig` per metric."""
