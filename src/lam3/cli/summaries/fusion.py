"""The ``--json`` models of the fusion commands (``lam3 fuse``, ``validate``, ``agreement``, ``asr``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from lam3.cli.summaries import CommandSummary
from lam3.fusion.agreement import AgreementSummary
from lam3.fusion.asr import Corrected, Per, ValidityNote
from lam3.fusion.cards import JudgeCard

if TYPE_CHECKING:
    from lam3.pipeline.fuse import FuseSummary
    from lam3.pipeline.validate import ValidateResult


# --- lam3 fuse -----------------------------------------------------------------------------------
class FusedMetricCounts(BaseModel):
    """One row of the fuse table: this run's fused verdicts of one metric."""

    metric: str
    flagged: int
    no_usable_judge: int = Field(description="responses with no verdict (every judge of the metric missing)")
    disagreements: int = Field(description="responses on which the metric's judges disagreed")
    resolutions: dict[str, int] = Field(description="how the verdicts were settled → responses")


class JoinCounts(BaseModel):
    mode: str = Field(description="lockstep (the inputs in the same order) or spill (joined through a disk index)")
    spilled_lines: int
    conflicting_judgements: dict[str, int] = Field(description="judge → responses judged differently in two inputs")


class LeftOut(BaseModel):
    """Judgements fusion could not use (the warnings are the readable form)."""

    missing: dict[str, dict[str, int]] = Field(description="metric → judge → responses without its judgement")
    errored: dict[str, int] = Field(description="judge → errored judgements")
    malformed: dict[str, int] = Field(description="judge → judgements that could not be read")
    unmapped: dict[str, dict[str, int]] = Field(description="metric → judge → responses with no mapped label")
    unconfigured: dict[str, int] = Field(description="judge in the inputs but not in the ensemble config → responses")
    arbiter_missing: dict[str, int] = Field(description="metric → disputed responses the arbiter did not judge")


class FuseJson(CommandSummary):
    """``lam3 fuse --json``: the fused counts per metric and what needs a person's attention."""

    command: Literal["fuse"] = "fuse"
    output: str
    fused: int = Field(description="responses fused by this run")
    skipped_already_done: int
    quarantined: int
    metrics: list[FusedMetricCounts]
    join: JoinCounts
    left_out: LeftOut
    queued_for_review: int
    reviews_applied: int
    reviews_unused: int = Field(description="human reviews naming ids not in the inputs")
    recomputed_for_reviews: int
    review_queue: str | None
    review_csv: str | None
    warnings: list[str]
    judge_cards: list[ValidityNote] = Field(description="each card entry given, and whether it applies")
    cards_file: str | None = Field(description="the cards saved beside the output (read by lam3 asr)")
    seconds: float

    @classmethod
    def of(cls, s: FuseSummary) -> FuseJson:
        stats = s.stats
        return cls(
            output=str(s.output), fused=s.fused, skipped_already_done=s.skipped, quarantined=s.quarantined,
            metrics=[FusedMetricCounts(metric=m, flagged=s.flagged[m], no_usable_judge=s.no_judge[m],
                                       disagreements=s.disagreements[m],
                                       resolutions=dict(sorted(s.resolutions.get(m, {}).items())))
                     for m in stats.get("metrics", [])],
            join=JoinCounts(mode=s.join.mode, spilled_lines=s.join.spilled_lines,
                            conflicting_judgements=dict(s.join.conflicts)),
            left_out=LeftOut(**{k: stats.get(k, {}) for k in LeftOut.model_fields}),
            queued_for_review=s.queued, reviews_applied=s.reviews_applied, reviews_unused=s.reviews_unused,
            recomputed_for_reviews=s.recomputed_for_reviews,
            review_queue=str(s.review_queue) if s.review_queue else None,
            review_csv=str(s.review_csv) if s.review_csv else None, warnings=s.warnings,
            judge_cards=[m.note() for m in s.cards.matches],
            cards_file=str(s.cards_file) if s.cards_file else None, seconds=s.seconds)


# --- lam3 validate -------------------------------------------------------------------------------
class ValidateJson(CommandSummary):
    """``lam3 validate --json``: the files written and the judge card (every figure the tables show)."""

    command: Literal["validate"] = "validate"
    output_dir: str
    card_path: str
    responses: str
    scored: list[str]
    fused: str
    imported: int = Field(description="labelled records imported by this run")
    quarantined: int = Field(description="rows of the set that could not be imported")
    card: JudgeCard

    @classmethod
    def of(cls, r: ValidateResult) -> ValidateJson:
        return cls(output_dir=str(r.out_dir), card_path=str(r.card_path), responses=str(r.responses),
                   scored=[str(p) for p in r.scored], fused=str(r.fused), imported=r.imported.imported,
                   quarantined=r.imported.quarantined, card=r.card)


# --- lam3 agreement ------------------------------------------------------------------------------
class AgreementJson(CommandSummary, AgreementSummary):
    """``lam3 agreement --json``: :class:`lam3.fusion.agreement.AgreementSummary` (n_records, n_labelled,
    has_labels, metrics: κ, P/R/F1 vs human labels, per category) with the common keys."""

    command: Literal["agreement"] = "agreement"

    @classmethod
    def of(cls, s: AgreementSummary) -> AgreementJson:
        return cls(**dict(s))


# --- lam3 asr ------------------------------------------------------------------------------------
class AsrRateRow(BaseModel):
    """One rate (:meth:`lam3.fusion.asr.AsrRow.flat`), with one more key per ``--by`` field (its value)."""

    model_config = ConfigDict(extra="allow")

    definition: str = Field(description="jailbreak_success (the headline), non_refusal, policy_risk, "
                                        "social_toxicity or over_refusal")
    headline: bool
    per: Per
    per_title: str
    n: int = Field(description="units judged: responses, behaviours or samples (see per)")
    responses: int
    successes: int
    rate: float
    ci_low: float | None
    ci_high: float | None
    interval: str = Field(description="the interval's method")
    units: int = Field(description="independent units the interval rests on")
    unjudged: int = Field(description="responses with no verdict: left out of n, never counted as failures")
    partial: int
    rate_unjudged_as_failure: float | None = Field(description="HarmBench's reading: unjudged = failed attack")
    k_min: int | None
    k_max: int | None
    judges: list[str]
    validity: list[ValidityNote]
    validity_text: list[str]
    corrected: list[Corrected] = Field(description="Rogan–Gladen corrected rates, beside the raw rate")
    corrected_text: list[str]


class PairedDifferenceRow(BaseModel):
    """ASR(a) − ASR(b) on the samples judged under both (:meth:`lam3.fusion.asr.PairedRow.flat`), with one
    more key per ``--by`` field but attack."""

    model_config = ConfigDict(extra="allow")

    definition: str
    headline: bool
    a: str
    b: str
    pairs: int
    unpaired: int
    rate_a: float
    rate_b: float
    difference: float | None
    ci_low: float | None
    ci_high: float | None
    interval: str
    p_value: float | None = Field(description="McNemar's exact p-value (binary pairs), else None")


class CardUse(BaseModel):
    """A judge card entry checked against the fused file."""

    source: str
    dataset: str
    kind: Literal["judge", "fused"]
    key: str
    metric: str
    applies: bool
    reasons: list[str]


class AsrJson(CommandSummary):
    """``lam3 asr --json``: every rate, over-refusal, paired differences and the judge cards used.

    The keys asr, over_refusal, paired and cards are those LAM3 wrote before this model existed."""

    command: Literal["asr"] = "asr"
    fused: str
    group_by: list[str] = Field(description="the --by fields: each row has these keys (over_refusal without "
                                            "category, paired without attack)")
    asr: list[AsrRateRow] = Field(description="headline and older definitions, every per")
    over_refusal: list[AsrRateRow]
    paired: list[PairedDifferenceRow]
    cards: list[CardUse]

    @model_validator(mode="after")
    def _rows_name_only_group_fields(self) -> AsrJson:
        for name in ("asr", "over_refusal", "paired"):
            for i, row in enumerate(getattr(self, name)):
                unknown = set(row.model_extra or {}) - set(self.group_by)
                if unknown:
                    raise ValueError(f"{name}[{i}]: keys {sorted(unknown)} are neither fields nor --by fields")
        return self
