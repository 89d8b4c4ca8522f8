"""Judge cards: a judge's validity on a human-labelled set, and when that validity applies to a run.

``lam3 validate`` writes a :class:`JudgeCard` (JSON). ``lam3 fuse``, ``lam3 asr`` and the reports
take cards and show each judge's figures beside every rate it produces, and, from a card of
the fused verdict, the Rogan–Gladen corrected rate beside the raw one.

A card applies only to the same judge doing the same thing. What "the same" means is a
fingerprint, compared field by field so a mismatch can say what differs:

- a **judge** (per judge key): its registered name, its version, the hash of its resolved
  score-config entry (:class:`JudgeIdentity`), and per metric the hash of its **vote rule** in
  the ensemble config (label table, score label, the threshold its vote uses, its calibration:
  :func:`vote_hash`);
- a **fused metric**: the hash of the metric's ensemble section with the vote rules and weights
  of every judge in it (:func:`ensemble_hash`), and the identity of each of those judges.

The run side of the comparison (:class:`RunIdentity`) is recorded by the fuse stage in its
manifest entry; the card side by the fuse stage that ``lam3 validate`` runs. A card that does not
match is reported with its reasons, never used. Pure: models, hashes and comparisons; reading
and writing files is :mod:`lam3.pipeline.cards`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from lam3.config import config_hash
from lam3.fusion.asr import AsrRow, Corrected, ValidityNote, success_is_flagged
from lam3.fusion.ensemble import Ensemble
from lam3.fusion.intervals import rogan_gladen
from lam3.fusion.validity import Figures, RaterAgreement, Resampling
from lam3.records import Metric

CARD_VERSION = 1
FUSED_KEY = "fused"


# --- identities -----------------------------------------------------------------------------------
class JudgeIdentity(BaseModel):
    """What makes two runs of a judge the same judge."""

    model_config = ConfigDict(extra="forbid")

    judge: str
    version: str | None = Field(description="None: judgements of several versions were mixed")
    config_hash: str | None = Field(description="hash of the resolved score-config entry; None: not recorded")


class RunJudge(JudgeIdentity):
    """A judge of one fused file: its identity, every version seen, and its vote rule per metric it feeds."""

    versions: list[str] = Field(default_factory=list)
    votes: dict[Metric, str] = Field(default_factory=dict, description="metric → vote_hash")


class RunMetric(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ensemble_hash: str
    judges: list[str]


class RunIdentity(BaseModel):
    """The judges and fused metrics of one fused file, as the fuse stage saw them."""

    model_config = ConfigDict(extra="forbid")

    judges: dict[str, RunJudge] = Field(default_factory=dict)
    metrics: dict[Metric, RunMetric] = Field(default_factory=dict)


def vote_hash(ensemble: Ensemble, key: str, metric: Metric) -> str:
    """Hash of what turns judge ``key``'s judgement into its ``metric`` vote under this ensemble."""
    plan, mplan = ensemble.judges[key], ensemble.metrics[metric]
    jc = ensemble.config.judges[key]
    cal = ensemble.calibration.judges.get(key, {}).get(metric) if ensemble.calibration and jc.calibrated else None
    threshold = plan.thresholds.get(metric) if mplan.combines_votes else mplan.config.threshold
    return config_hash({"judge": plan.judge, "labels": plan.maps.get(metric), "score_label": plan.score_label.get(metric),
                        "threshold": threshold, "calibration": cal.model_dump(mode="json") if cal else None})


def ensemble_hash(ensemble: Ensemble, metric: Metric) -> str:
    """Hash of how ``metric`` is fused: its section, and the vote rule and weight of each judge in it."""
    mplan = ensemble.metrics[metric]
    return config_hash({"metric": mplan.config.model_dump(mode="json"), "voters": sorted(mplan.voters),
                        "judges": {k: {"vote": vote_hash(ensemble, k, metric), "weight": ensemble.config.judges[k].weight}
                                   for k in sorted(mplan.judges)}})


def run_identity(ensemble: Ensemble, judges: dict[str, JudgeIdentity | RunJudge]) -> RunIdentity:
    """The identity of a fused file: the judges seen (their vote rules added) and each fused metric."""
    out: dict[str, RunJudge] = {}
    for key, ident in judges.items():
        if key not in ensemble.judges:
            continue
        votes = {m: vote_hash(ensemble, key, m) for m, plan in ensemble.metrics.items() if key in plan.judges}
        versions = ident.versions if isinstance(ident, RunJudge) else [v for v in [ident.version] if v]
        out[key] = RunJudge(judge=ident.judge, version=ident.version, config_hash=ident.config_hash,
                            versions=versions, votes=votes)
    metrics = {m: RunMetric(ensemble_hash=ensemble_hash(ensemble, m), judges=sorted(plan.judges))
               for m, plan in ensemble.metrics.items()}
    return RunIdentity(judges=out, metrics=metrics)


# --- the card -------------------------------------------------------------------------------------
class CardDataset(BaseModel):
    """The labelled set a card was measured on."""

    model_config = ConfigDict(extra="forbid")

    name: str
    format: str
    files: dict[str, str] = Field(description="file name → sha256")
    sha256: str = Field(description="of the one file, or of the sorted name:sha256 lines of several")
    records: int = Field(description="labelled records imported")
    quarantined: int = 0
    options: dict[str, Any] = Field(default_factory=dict, description="import options (encoding, behaviours file)")


class JudgeMetric(BaseModel):
    """One judge on one metric of the set."""

    model_config = ConfigDict(extra="forbid")

    label: str = Field(description="the labels field compared with (lam3.fusion.labels.LABEL_FIELDS)")
    vote_hash: str
    figures: Figures


class JudgeEntry(JudgeIdentity):
    metrics: dict[Metric, JudgeMetric]


class FusedEntry(BaseModel):
    """One fused verdict on the set: what the Rogan–Gladen correction of an ASR reads."""

    model_config = ConfigDict(extra="forbid")

    label: str
    ensemble_hash: str
    judges: dict[str, JudgeIdentity]
    figures: Figures


class JudgeCard(BaseModel):
    """The JSON ``lam3 validate`` writes (see docs/validity.md)."""

    model_config = ConfigDict(extra="forbid")

    lam3_card_version: Literal[1] = CARD_VERSION
    dataset: CardDataset
    n: int = Field(description="labelled records scored and fused")
    resampling: Resampling
    judges: dict[str, JudgeEntry] = Field(default_factory=dict)
    fused: dict[Metric, FusedEntry] = Field(default_factory=dict)
    raters: dict[Metric, RaterAgreement] = Field(default_factory=dict,
                                                 description="inter-annotator agreement, where the set has raters")
    score_configs: list[str] = Field(default_factory=list)
    ensemble_config: str | None = None
    commit: str | None = None
    dirty: bool | None = None
    created: str
    lam3_version: str


# --- matching -------------------------------------------------------------------------------------
def _short(h: str | None) -> str:
    return "not recorded" if h is None else h[:12]


def _identity_reasons(run: JudgeIdentity | RunJudge, card: JudgeIdentity, who: str) -> list[str]:
    reasons = []
    if run.judge != card.judge:
        reasons.append(f"{who} is judge {run.judge!r} here, {card.judge!r} on the card")
        return reasons
    versions = run.versions if isinstance(run, RunJudge) else []
    if run.version is None and len(versions) > 1:
        reasons.append(f"{who}: judgements of versions {', '.join(versions)} are mixed in this run")
    elif run.version != card.version:
        reasons.append(f"{who}: version {run.version} here, {card.version} on the card")
    if run.config_hash is None or card.config_hash is None:
        reasons.append(f"{who}: its score config is not recorded ({'here' if run.config_hash is None else 'on the card'})"
                       " — score with `lam3 score`, which records it in the manifest")
    elif run.config_hash != card.config_hash:
        reasons.append(f"{who}: score config differs (hash {_short(run.config_hash)} here, "
                       f"{_short(card.config_hash)} on the card)")
    return reasons


@dataclass
class CardMatch:
    """One card entry checked against a run."""

    source: str
    card: JudgeCard
    kind: Literal["judge", "fused"]
    key: str
    metric: Metric
    reasons: list[str]
    judge_entry: JudgeEntry | None = None
    fused_entry: FusedEntry | None = None

    @property
    def applies(self) -> bool:
        return not self.reasons

    @property
    def figures(self) -> Figures:
        if self.fused_entry is not None:
            return self.fused_entry.figures
        assert self.judge_entry is not None
        return self.judge_entry.metrics[self.metric].figures

    def note(self) -> ValidityNote:
        f = self.figures
        judge = FUSED_KEY if self.kind == "fused" else self.judge_entry.judge  # type: ignore[union-attr]
        return ValidityNote(source=self.source, dataset=self.card.dataset.name,
                            key=FUSED_KEY if self.kind == "fused" else self.key, judge=judge, metric=self.metric,
                            applies=self.applies, reasons=self.reasons, n=f.n, accuracy=f.accuracy, kappa=f.kappa,
                            sensitivity=f.sensitivity, specificity=f.specificity)

    def summary(self) -> dict[str, Any]:
        return {"source": self.source, "dataset": self.card.dataset.name, "kind": self.kind, "key": self.key,
                "metric": self.metric, "applies": self.applies, "reasons": self.reasons}


NO_IDENTITY = ("the fuse stage recorded no judge identities for this fused file (fused by an older LAM3): "
               "rerun `lam3 fuse` to use judge cards")


def check_card(source: str, card: JudgeCard, run: RunIdentity | None) -> list[CardMatch]:
    """Every entry of ``card`` that concerns this run, with the reasons it does not apply (none: it applies).

    A judge entry concerns the run judges of the same registered name (whatever their key); a
    fused entry the same fused metric.
    """
    out: list[CardMatch] = []
    for ckey, entry in sorted(card.judges.items()):
        targets = sorted(run.judges.items()) if run is not None else [(ckey, None)]
        for rkey, rj in targets:
            if rj is not None and rj.judge != entry.judge:
                continue
            for metric, jm in sorted(entry.metrics.items()):
                if rj is None:
                    reasons = [NO_IDENTITY]
                elif metric not in rj.votes:
                    continue  # this run's judge does not vote on that metric
                else:
                    reasons = _identity_reasons(rj, entry, f"judge {rkey}")
                    if rj.votes[metric] != jm.vote_hash:
                        reasons.append(f"judge {rkey}: its {metric} vote rule differs (threshold, label map, score "
                                       "label or calibration in the ensemble config)")
                out.append(CardMatch(source, card, "judge", rkey, metric, reasons, judge_entry=entry))
    for metric, fe in sorted(card.fused.items()):
        if run is None:
            out.append(CardMatch(source, card, "fused", metric, metric, [NO_IDENTITY], fused_entry=fe))
            continue
        rm = run.metrics.get(metric)
        if rm is None:
            continue
        reasons = []
        if rm.ensemble_hash != fe.ensemble_hash:
            reasons.append(f"{metric} is fused differently (ensemble hash {_short(rm.ensemble_hash)} here, "
                           f"{_short(fe.ensemble_hash)} on the card)")
        for key in sorted(set(fe.judges) | set(rm.judges)):
            if key not in rm.judges or key not in fe.judges:
                continue  # a different judge set already changes the ensemble hash
            rj = run.judges.get(key)
            if rj is None:
                reasons.append(f"judge {key}: no judgement of it in this run")
            else:
                reasons.extend(_identity_reasons(rj, fe.judges[key], f"judge {key}"))
        out.append(CardMatch(source, card, "fused", metric, metric, reasons, fused_entry=fe))
    return out


@dataclass
class Validity:
    """The cards checked against one run, looked up per judge and metric."""

    matches: list[CardMatch] = field(default_factory=list)

    @classmethod
    def of(cls, cards: Iterable[tuple[str, JudgeCard]], run: RunIdentity | None) -> Validity:
        return cls([m for source, card in cards for m in check_card(source, card, run)])

    def notes(self, metric: Metric, keys: Sequence[str]) -> list[ValidityNote]:
        """Every card entry for the judges ``keys`` of ``metric`` and for its fused verdict (applying or not)."""
        return [m.note() for m in self.matches if m.metric == metric and (m.kind == "fused" or m.key in keys)]

    def fused(self, metric: Metric) -> list[CardMatch]:
        return [m for m in self.matches if m.kind == "fused" and m.metric == metric]

    def summary(self) -> list[dict[str, Any]]:
        return [m.summary() for m in self.matches]


def correct(k: int, n: int, name: str, match: CardMatch, *, n_resamples: int = 2000, seed: int = 0) -> Corrected:
    """The Rogan–Gladen rate of ``k`` of ``n`` from a fused card, or why there is none.

    A rate that counts the metric's absence (non-refusal) is corrected with the roles swapped:
    detecting "not refused" has sensitivity = the refusal verdict's specificity and vice versa.
    """
    base = {"source": match.source, "dataset": match.card.dataset.name}
    if not match.applies:
        return Corrected(**base, reason="the card does not apply: " + "; ".join(match.reasons))
    f = match.figures
    sens, spec, sens_n, spec_n = f.sensitivity, f.specificity, f.positives, f.negatives
    if not success_is_flagged(name):
        sens, spec, sens_n, spec_n = spec, sens, spec_n, sens_n
    if sens.estimate is None or spec.estimate is None:
        missing = "positive" if sens.estimate is None else "negative"
        return Corrected(**base, reason=f"the validation set has no {missing} human label for this rate: "
                                        f"{'sensitivity' if sens.estimate is None else 'specificity'} unknown")
    if sens.estimate + spec.estimate <= 1:
        return Corrected(**base, reason=f"sensitivity {sens.estimate:.3f} + specificity {spec.estimate:.3f} ≤ 1 on "
                                        f"{match.card.dataset.name}: the verdict is no better than chance there, so the "
                                        "correction is undefined (it would invert the rate)")
    try:
        ci = rogan_gladen(k, n, sens.estimate, spec.estimate, sens_n=sens_n, spec_n=spec_n,
                          level=match.card.resampling.level, n_resamples=n_resamples, seed=seed)
    except ValueError as exc:
        return Corrected(**base, reason=str(exc))
    return Corrected(**base, interval=ci)


def annotate(rows: Iterable[AsrRow], validity: Validity, *, n_resamples: int = 2000, seed: int = 0) -> list[AsrRow]:
    """Rows with every card note of their judges, and per-response rows with their corrected rates."""
    out = []
    for row in rows:
        notes = validity.notes(row.metric, row.judges)
        corrected = []
        if row.per == "response":
            corrected = [correct(row.successes, row.n, row.definition, m, n_resamples=n_resamples, seed=seed)
                         for m in validity.fused(row.metric)]
        out.append(row.model_copy(update={"validity": notes, "corrected": corrected}))
    return out
