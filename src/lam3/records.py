"""Typed records: the only currency between LAM3 stages.

Every stage reads and writes JSONL lines that validate against one of these
models. ``SCHEMA_VERSION`` is written into every record so a file produced a
month ago can be recognised (and migrated by :func:`upgrade`) rather than silently misread.

Version history: 1 = wave 1 (judgements named ``provider``/``family`` and carried a
``flagged`` list set by a score-stage threshold; responses recorded the seed in ``generation``
as ``global_seed``; fused records kept per-judge probabilities in a top-level ``judge_scores``);
2 = judgements name their ``judge`` and ``metric``, carry probabilities and, for label-type judges
only, their own ``verdict``; samples and responses carry the requested ``behavior`` apart from the
attack prompt; ``Response.generation`` is a :class:`GenerationSettings`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, model_validator

SCHEMA_VERSION = 2

Metric = Literal["social_toxicity", "policy_risk", "refusal", "jailbreak_success"]
"""The LAM3 metrics, reported apart and never mixed: the one list of metric names."""
METRICS: tuple[Metric, ...] = get_args(Metric)


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
    behavior: str | None = Field(None, description=(
        "what the attacker wants, in plain words, apart from the attack prompt (a FigStep prompt says "
        "'fill in the list in the image'; the behaviour says what the list is for)"))
    behavior_id: str | None = Field(None, description="groups samples that attack the same behaviour")
    context: str | None = Field(None, description="context a contextual behaviour refers to (HarmBench)")
    source: str = "lam3/mini_bench"
    meta: dict[str, Any] = Field(default_factory=dict)


class GenerationSettings(BaseModel):
    """The decoding settings of a generate run: one model for what was asked and what was applied.

    ``lam3 generate`` records what its config asks for in the manifest (stage ``generation``) and
    what the loaded model applied in every :class:`Response` (``generation``); the daily log and
    the report compare the two field by field (:data:`GENERATION_KNOBS`), so a knob the backend
    ignored shows up and an honoured one never does. ``None`` means "not applied": the sampling
    knobs (temperature, top_p, top_k) apply only when ``do_sample`` is true and are ``None`` otherwise.
    """

    model_config = ConfigDict(extra="forbid")

    # the knobs a generate config sets (compared, requested vs applied)
    backend: str | None = None
    preset: str | None = Field(None, description="the generation preset that set the decoding knobs (None: none)")
    max_new_tokens: int | None = None
    min_new_tokens: int | None = None
    do_sample: bool | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    repetition_penalty: float | None = None
    seed: int | None = Field(None, description="the run's seed; draw j of a sample has sample_seed(seed, sample_id, j)")
    num_samples: int | None = Field(None, description="responses drawn per sample")
    # how the backend applied them (recorded only)
    sampler: str | None = None
    prompt_format: str | None = None
    eos_token_id: list[int] | None = None
    pad_token_id: int | None = None
    padding_side: str | None = None
    load: dict[str, Any] | None = Field(None, description="how the weights were loaded (revision, dtype, ...)")

    @model_validator(mode="after")
    def _sampling_knobs_only_when_sampling(self) -> GenerationSettings:
        if self.do_sample is False:
            self.temperature = self.top_p = self.top_k = None
        return self


GENERATION_KNOBS: tuple[str, ...] = ("backend", "preset", "max_new_tokens", "min_new_tokens", "do_sample",
                                     "temperature", "top_p", "top_k", "repetition_penalty", "seed", "num_samples")
"""The :class:`GenerationSettings` fields a config requests; the others only describe how they were applied."""


class Response(Record):
    """One model output for one sample, with everything needed to reproduce it."""

    id: str = Field(min_length=1, description="response id, unique within a file")
    sample_id: str
    prompt: str
    images: list[str] = Field(default_factory=list)
    response: str = ""
    category: str | None = None
    behavior: str | None = None
    behavior_id: str | None = None
    context: str | None = None
    attack: str = "clean"
    model_id: str
    model_revision: str | None = None
    generation: GenerationSettings | None = Field(
        None, description="the settings actually applied by the model (None: not made by lam3 generate)")
    seed: int | None = Field(None, description="this draw's own seed, derived from generation.seed, sample_id and "
                                               "sample_index")
    sample_index: int | None = Field(None, ge=0, description=(
        "which draw of its sample lam3 generate made (0 … num_samples - 1; the draws of one sample share sample_id); "
        "None: not a draw of lam3 generate (written by hand, imported, or by a LAM3 older than num_samples)"))
    timings: dict[str, float] = Field(default_factory=dict)
    error: str | None = None


Probability = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]
"""A score as judgements hold it: a number in [0, 1], never NaN (checked by pydantic-core, per score)."""


class Judgement(BaseModel):
    """One judge's verdict on one record.

    Scores are probabilities in [0, 1]. A judge never applies a threshold: fusion alone
    turns probabilities into votes, with the thresholds of the ensemble config. A
    label-type judge (one whose answer is a decision, e.g. Llama Guard ``mode: generate``
    or OpenAI ``flag_by: api``) also records that decision as ``verdict``, and fusion uses
    it as the judge's vote. An error is a string and never a silent zero: fusion must be
    able to tell "safe" from "not judged".
    """

    model_config = ConfigDict(extra="forbid")

    judge: str
    version: str
    metric: Metric
    scores: dict[str, Probability] = Field(default_factory=dict)
    verdict: dict[Metric, bool] | None = Field(
        None, description="label-type judges only: the judge's own decision per metric it feeds")
    error: str | None = None
    latency_ms: float | None = None
    details: dict[str, Any] = Field(default_factory=dict)

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
    """One fused metric for one response."""

    model_config = ConfigDict(extra="forbid")

    score: float | None = Field(default=None, ge=0.0, le=1.0)
    flagged: bool | None = None
    categories: dict[str, float] = Field(default_factory=dict)
    votes: dict[str, bool | None] = Field(default_factory=dict, description="per judge; None = errored/missing")
    probabilities: dict[str, float | None] = Field(
        default_factory=dict, description="per judge: its probability for this metric (calibrated); None = missing")
    disagreement: bool = False
    resolution: str | None = Field(default=None, description="how a disagreement was settled")
    missing: list[str] = Field(default_factory=list, description="judges with no usable judgement")


class FusedResult(Record):
    """The metrics of one response, each fused from its judges and reported apart."""

    id: str = Field(min_length=1)
    social_toxicity: MetricResult = Field(default_factory=MetricResult)
    policy_risk: MetricResult = Field(default_factory=MetricResult)
    refusal: MetricResult = Field(default_factory=MetricResult)
    jailbreak_success: MetricResult = Field(default_factory=MetricResult)
    review: bool = Field(default=False, description="queued for human review")


# --- reading older files ---------------------------------------------------------------------------
def upgrade_judgement(j: Any) -> Any:
    """A judgement as version 2 sees it (wave 1 named ``provider``/``family`` and kept a ``flagged`` list).

    Wave 1's ``flagged`` came from a score-stage threshold that fusion never read; it is dropped,
    so an old file fuses exactly as it did (fusion always used the ensemble's thresholds).
    """
    if not isinstance(j, dict) or "judge" in j or "provider" not in j:
        return j
    j = dict(j)
    j["judge"] = j.pop("provider")
    if "family" in j:
        j["metric"] = j.pop("family")
    j.pop("flagged", None)
    return j


def upgrade_generation(settings: Any) -> Any:
    """Generation settings as :class:`GenerationSettings` reads them (wave 1 wrote the seed as ``global_seed``)."""
    if not isinstance(settings, dict):
        return settings
    if not settings:
        return None  # wave 1 wrote {} where nothing was recorded
    settings = dict(settings)
    if "global_seed" in settings:
        settings.setdefault("seed", settings.pop("global_seed"))
    return settings


def upgrade(record: dict[str, Any]) -> dict[str, Any]:
    """Bring a record written by an older LAM3 to :data:`SCHEMA_VERSION` (unknown fields are kept).

    A record from a *newer* LAM3 is left as it is: its readers fail on what they cannot parse,
    naming the field, rather than guessing.
    """
    version = record.get("schema_version", 1)
    if not isinstance(version, int) or version >= SCHEMA_VERSION:
        return record
    out = dict(record)
    judgements = out.get("judgements")
    if isinstance(judgements, dict):
        out["judgements"] = {k: upgrade_judgement(v) for k, v in judgements.items()}
    if "generation" in out:
        out["generation"] = upgrade_generation(out["generation"])
    per_judge = out.pop("judge_scores", None)  # wave-1 fused records: per-judge probabilities beside the metrics
    if isinstance(per_judge, dict):
        for metric, scores in per_judge.items():
            if isinstance(out.get(metric), dict) and isinstance(scores, dict):
                out[metric] = {**out[metric], "probabilities": scores}
    out["schema_version"] = SCHEMA_VERSION
    return out
