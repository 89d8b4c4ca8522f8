"""How far the judges agree with each other and with people: Cohen's κ, Fleiss' κ, confusion, P/R/F1.

Why: a fused metric is only as credible as the judges behind it; κ shows whether two
judges measure the same thing (toxicity judges vs guard models often do not), and
precision/recall against the human labels shows which judge to trust for which metric.

The one place LAM3 computes agreement (``lam3 agreement``, ``lam3 demo``, the reports). It reads
the FUSED votes (``MetricResult.votes``) and verdicts (``flagged``), never scores. One streaming
pass keeps counts only (memory grows with judges and categories, not responses); κ itself comes
from statsmodels (Cohen's from the 2×2 table, Fleiss'); a test checks Cohen's against scikit-learn.
"""

from __future__ import annotations

import math
import warnings
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

import numpy as np
from pydantic import BaseModel

from lam3.fusion.labels import human_label
from lam3.records import METRICS, FusedResult, Metric, MetricResult

FUSED = "fused"
"""The row of the fused verdict itself, beside each judge's vote."""


def _defined(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


def kappa_from_table(n11: int, n10: int, n01: int, n00: int) -> float | None:
    """Cohen's κ of two binary raters from their 2×2 table (None where κ is undefined: chance agreement 1).

    statsmodels' ``cohens_kappa`` on the table: about 30 µs a call, so the bootstrap intervals of
    ``lam3 validate`` can afford it thousands of times (scikit-learn's takes about 2 ms).
    """
    if n11 + n10 + n01 + n00 == 0:
        return None
    from statsmodels.stats.inter_rater import cohens_kappa

    with warnings.catch_warnings():  # undefined κ warns and is nan; reported as None
        warnings.simplefilter("ignore")
        return _defined(cohens_kappa(np.array([[n11, n10], [n01, n00]], dtype=float), return_results=False))


def fleiss_kappa(table: Sequence[Sequence[int]] | np.ndarray) -> float | None:
    """Fleiss' κ from a subjects × categories table of rater counts (same number ≥ 2 of raters per subject)."""
    from statsmodels.stats.inter_rater import fleiss_kappa as statsmodels_fleiss

    rows = np.asarray(table, dtype=float)
    if rows.size == 0:
        return None
    raters = rows.sum(axis=1)  # statsmodels assumes, and does not check, equal raters per subject
    if raters[0] < 2 or np.any(raters != raters[0]):
        raise ValueError("every subject needs the same number (>= 2) of ratings")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return _defined(statsmodels_fleiss(rows))


# --- the summary (typed: it goes to JSON, the CLI, the demo and the reports) ---------------------
class PairAgreement(BaseModel):
    a: str
    b: str
    n: int
    agreement: float
    kappa: float | None
    confusion: dict[str, int]


class FleissAgreement(BaseModel):
    kappa: float | None
    n: int
    raters: list[str]


class VsHuman(BaseModel):
    """One judge's votes (or the fused verdict) against the human label of the metric."""

    n: int
    not_judged: int = 0
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0
    rate: float | None = None
    human_rate: float | None = None
    accuracy: float | None = None
    precision: float | None = None
    recall: float | None = None
    f1: float | None = None
    kappa: float | None = None


class MetricAgreement(BaseModel):
    n: int
    judges: list[str]
    disagreement_rate: float | None
    cohen_kappa: dict[str, PairAgreement]
    fleiss_kappa: FleissAgreement | None
    vs_human: dict[str, VsHuman]
    per_category: dict[str, MetricAgreement] = {}


class AgreementSummary(BaseModel):
    n_records: int
    n_labelled: int
    has_labels: bool
    metrics: dict[Metric, MetricAgreement]


# --- streaming counts ------------------------------------------------------------------------------
@dataclass
class Confusion:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0
    not_judged: int = 0

    def add(self, pred: bool | None, truth: bool) -> None:
        if pred is None:
            self.not_judged += 1
        elif pred and truth:
            self.tp += 1
        elif pred:
            self.fp += 1
        elif truth:
            self.fn += 1
        else:
            self.tn += 1

    def summary(self) -> VsHuman:
        tp, fp, fn, tn = self.tp, self.fp, self.fn, self.tn
        n = tp + fp + fn + tn
        if n == 0:
            return VsHuman(n=0, not_judged=self.not_judged)
        return VsHuman(n=n, not_judged=self.not_judged, tp=tp, fp=fp, fn=fn, tn=tn, rate=(tp + fp) / n,
                       human_rate=(tp + fn) / n, accuracy=(tp + tn) / n,
                       precision=tp / (tp + fp) if tp + fp else None, recall=tp / (tp + fn) if tp + fn else None,
                       f1=2 * tp / (2 * tp + fp + fn) if tp + fp + fn else None, kappa=kappa_from_table(tp, fp, fn, tn))


@dataclass
class _Scope:
    """Counts for one metric (overall or within one category)."""

    n: int = 0
    disagreements: int = 0
    judges: set[str] = field(default_factory=set)
    pairs: dict[tuple[str, str], list[int]] = field(default_factory=dict)
    fleiss: dict[frozenset[str], Counter[int]] = field(default_factory=dict)
    """the judges that all voted on a response → how many responses had each number of 'flagged' votes"""
    human: dict[str, Confusion] = field(default_factory=dict)

    def add(self, result: MetricResult, truth: bool | None) -> None:
        if not result.votes and result.flagged is None:
            return  # the metric was not fused for this response
        if truth is not None:
            self.human.setdefault(FUSED, Confusion()).add(result.flagged, truth)
            for k, v in result.votes.items():
                self.human.setdefault(k, Confusion()).add(v, truth)
        votes = {k: v for k, v in result.votes.items() if v is not None}
        if not votes and result.flagged is None:
            return  # no judge could judge it: counted above as not judged, nothing to agree on
        self.n += 1
        self.disagreements += result.disagreement
        self.judges.update(result.votes)
        for a, b in combinations(sorted(votes), 2):
            cell = self.pairs.setdefault((a, b), [0, 0, 0, 0])
            cell[(0 if votes[a] else 2) + (0 if votes[b] else 1)] += 1
        if len(votes) >= 2:
            self.fleiss.setdefault(frozenset(votes), Counter())[sum(votes.values())] += 1

    def summary(self) -> MetricAgreement:
        judges = sorted(self.judges)
        pairwise = {}
        for (a, b), (n11, n10, n01, n00) in sorted(self.pairs.items()):
            n = n11 + n10 + n01 + n00
            pairwise[f"{a}~{b}"] = PairAgreement(
                a=a, b=b, n=n, agreement=(n11 + n00) / n, kappa=kappa_from_table(n11, n10, n01, n00),
                confusion={"both": n11, "only_a": n10, "only_b": n01, "neither": n00})
        fleiss = None
        complete = self.fleiss.get(frozenset(judges))
        if complete is not None and len(judges) >= 2:
            yes = np.repeat(np.array(list(complete), dtype=float), list(complete.values()))
            table = np.column_stack([yes, len(judges) - yes])  # one row per response: (flagged, not flagged)
            fleiss = FleissAgreement(kappa=fleiss_kappa(table), n=len(table), raters=judges)
        human = dict(sorted(self.human.items(), key=lambda kv: (kv[0] != FUSED, kv[0])))
        return MetricAgreement(n=self.n, judges=judges,
                               disagreement_rate=self.disagreements / self.n if self.n else None,
                               cohen_kappa=pairwise, fleiss_kappa=fleiss,
                               vs_human={k: c.summary() for k, c in human.items()})


def agreement_summary(records: Iterable[FusedResult]) -> AgreementSummary:
    """Judge-judge and judge-human agreement per metric, overall and per response category.

    Pairwise Cohen's κ uses the responses both judges voted on; Fleiss' κ the responses every
    judge of that metric voted on; ``vs_human`` the responses with a human label for the metric
    (``labels`` field named by :data:`lam3.fusion.labels.LABEL_FIELDS`), for the fused verdict
    (``fused``) and each judge. κ is None where it is undefined.
    """
    overall: dict[Metric, _Scope] = {m: _Scope() for m in METRICS}
    per_cat: dict[Metric, dict[str, _Scope]] = {m: {} for m in METRICS}
    n_records = n_labelled = 0
    for rec in records:
        n_records += 1
        labels: Any = getattr(rec, "labels", None)
        n_labelled += isinstance(labels, dict)
        cat = str(getattr(rec, "category", None) or "(none)")
        for metric in METRICS:
            result, truth = getattr(rec, metric), human_label(labels, metric)
            overall[metric].add(result, truth)
            per_cat[metric].setdefault(cat, _Scope()).add(result, truth)
    metrics = {}
    for metric in METRICS:
        if overall[metric].n:
            summary = overall[metric].summary()
            summary.per_category = {c: s.summary() for c, s in sorted(per_cat[metric].items()) if s.n}
            metrics[metric] = summary
    return AgreementSummary(n_records=n_records, n_labelled=n_labelled, has_labels=n_labelled > 0, metrics=metrics)
