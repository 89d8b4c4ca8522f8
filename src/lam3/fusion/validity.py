"""How right a judge is: its decisions against the human majority of a labelled set, with 95 % intervals.

Why: an ASR is only as good as the judge that decided each success, and peers report the same
attack at 98 % under one judge and 51 % under another. ``lam3 validate`` measures every judge
(and every fused verdict) on a human-labelled judge-evaluation set; these figures go into the
judge card (:mod:`lam3.fusion.cards`) that ``lam3 asr`` and the reports show beside each rate,
and sensitivity and specificity feed the Rogan–Gladen correction.

Intervals: proportions (accuracy, precision, sensitivity = recall, specificity, the share of
unanimous items) are exact Clopper–Pearson; F1, Cohen's κ, calibration error and Fleiss' κ come
from a paired bootstrap (:func:`lam3.fusion.intervals.paired_statistic_ci`). The statistics
themselves come from the one place each lives: the confusion counts and κ from
:mod:`lam3.fusion.agreement`, ECE from :mod:`lam3.fusion.calibration`. Pure: no I/O.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict

from lam3.fusion.agreement import Confusion, fleiss_kappa
from lam3.fusion.calibration import expected_calibration_error
from lam3.fusion.intervals import Interval, paired_statistic_ci, proportion_ci


class Resampling(BaseModel):
    """How the bootstrap intervals were drawn (recorded in every card)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    level: float = 0.95
    n_resamples: int = 2000
    seed: int = 0


class Figures(BaseModel):
    """One judge's decisions (or a fused verdict) against the human majority label of one metric.

    ``n`` counts the items the judge decided; ``not_judged`` the labelled items it could not
    (errored, unparseable, missing): left out of every figure and reported beside them, never
    counted as a "no". ``sensitivity`` is recall; ``positives``/``negatives`` are the human
    labels the sensitivity/specificity rest on (what the Rogan–Gladen correction needs).
    """

    model_config = ConfigDict(extra="forbid")

    n: int
    not_judged: int
    tp: int
    fp: int
    fn: int
    tn: int
    positives: int
    negatives: int
    accuracy: Interval
    precision: Interval
    sensitivity: Interval
    specificity: Interval
    f1: Interval
    kappa: Interval
    ece: Interval | None = None
    """expected calibration error of the probabilities (10 equal-width bins); None without probabilities"""


class RaterAgreement(BaseModel):
    """How far the human raters of a set agree with each other: the ceiling a judge can reach.

    Computed on the items with the most common number of raters (``n``); Fleiss' κ needs the
    same number on every item.
    """

    model_config = ConfigDict(extra="forbid")

    raters: int
    n: int
    items_left_out: int
    fleiss_kappa: Interval
    unanimous: Interval


def _counts(pred: np.ndarray, truth: np.ndarray) -> Confusion:
    return Confusion(tp=int(np.sum(pred & truth)), fp=int(np.sum(pred & ~truth)), fn=int(np.sum(~pred & truth)),
                     tn=int(np.sum(~pred & ~truth)))


def _f1(pred: np.ndarray, truth: np.ndarray) -> float | None:
    return _counts(pred, truth).summary().f1


def _kappa(pred: np.ndarray, truth: np.ndarray) -> float | None:
    return _counts(pred, truth).summary().kappa


def _ece(prob: np.ndarray, truth: np.ndarray) -> float:
    return expected_calibration_error(prob, truth.astype(int))


def figures(pred: Sequence[bool | None], truth: Sequence[bool], prob: Sequence[float | None] | None = None, *,
            resampling: Resampling = Resampling()) -> Figures:
    """Figures of decisions ``pred`` (None: not judged) against ``truth``; ``prob`` for the calibration error.

    ``prob[i]`` belongs to ``pred[i]``; ECE uses the judged items whose probability is known and
    is None when that is not every judged item (a partial ECE would not describe the judge).
    """
    if len(pred) != len(truth) or (prob is not None and len(prob) != len(pred)):
        raise ValueError("pred, truth and prob must be aligned")
    judged = [i for i, p in enumerate(pred) if p is not None]
    p = np.array([bool(pred[i]) for i in judged], dtype=bool)
    t = np.array([bool(truth[i]) for i in judged], dtype=bool)
    c = _counts(p, t)
    boot = resampling.model_dump()
    positives, negatives = c.tp + c.fn, c.tn + c.fp
    ece = None
    if prob is not None and judged and all(prob[i] is not None for i in judged):
        probs = np.array([float(prob[i]) for i in judged])  # type: ignore[arg-type]
        ece = paired_statistic_ci(_ece, (probs, t), **boot)
    return Figures(
        n=len(judged), not_judged=len(pred) - len(judged), tp=c.tp, fp=c.fp, fn=c.fn, tn=c.tn,
        positives=positives, negatives=negatives,
        accuracy=proportion_ci(c.tp + c.tn, len(judged), level=resampling.level),
        precision=proportion_ci(c.tp, c.tp + c.fp, level=resampling.level),
        sensitivity=proportion_ci(c.tp, positives, level=resampling.level),
        specificity=proportion_ci(c.tn, negatives, level=resampling.level),
        f1=paired_statistic_ci(_f1, (p, t), **boot), kappa=paired_statistic_ci(_kappa, (p, t), **boot), ece=ece)


def rater_agreement(ratings: Sequence[Sequence[bool]], *, resampling: Resampling = Resampling()
                    ) -> RaterAgreement | None:
    """Fleiss' κ and the share of unanimous items from each item's binary ratings (None: fewer than 2 raters)."""
    sizes = Counter(len(r) for r in ratings if len(r) >= 2)
    if not sizes:
        return None
    raters = max(sizes, key=lambda k: (sizes[k], k))
    rows = [r for r in ratings if len(r) == raters]
    yes = np.array([sum(bool(v) for v in r) for r in rows], dtype=float)
    table = np.column_stack([yes, raters - yes])
    unanimous = int(np.sum((yes == 0) | (yes == raters)))

    def kappa(idx: np.ndarray) -> float | None:
        return fleiss_kappa(table[idx])

    return RaterAgreement(
        raters=raters, n=len(rows), items_left_out=len(ratings) - len(rows),
        fleiss_kappa=paired_statistic_ci(kappa, (np.arange(len(rows)),), **resampling.model_dump()),
        unanimous=proportion_ci(unanimous, len(rows), level=resampling.level))
