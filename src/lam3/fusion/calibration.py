"""Per-judge probability calibration (Platt or isotonic) and thresholds, fitted on human labels.

Why: judges' raw scores are not comparable (a keyword matcher's 0.8 is not Llama Guard's
0.8), so soft voting on raw scores silently favours the over-confident judge. Calibration
maps each judge's probability for a metric onto the observed frequency of the human label.

Saved as JSON (never pickle): Platt as two numbers, isotonic as its breakpoints, so a
calibration file can be read, diffed and trusted (:class:`CalibrationFile`). Expected
calibration error (ECE) is reported before and after, in-sample and cross-fitted (the honest
figure). Fitting reads files in :mod:`lam3.pipeline.calibrate`; this module is arithmetic.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Sequence
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from lam3.fusion.config import EnsembleJudge
from lam3.records import Metric

CALIBRATION_VERSION = 1
Method = Literal["platt", "isotonic"]
Criterion = Literal["f1", "youden"]


class Calibrator(BaseModel):
    """p ↦ calibrated p. Platt: sigmoid(a·p + b). Isotonic: linear interpolation of breakpoints ``x`` → ``y``.

    Platt uses the raw score (as Platt did), not its logit: keyword-style judges emit exact 0s and 1s,
    whose clipped logits would dominate the fit.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    method: Method
    params: dict[str, Any]

    @model_validator(mode="after")
    def _params(self) -> Calibrator:
        p = self.params
        if self.method == "platt":
            if set(p) != {"a", "b"} or not all(isinstance(p[k], (int, float)) for k in p):
                raise ValueError("platt params are two numbers {a, b}")
        else:
            xs, ys = p.get("x"), p.get("y")
            if set(p) != {"x", "y"} or not isinstance(xs, list) or not isinstance(ys, list) or not xs \
                    or len(xs) != len(ys) or xs != sorted(xs):
                raise ValueError("isotonic params are equally long, sorted lists {x, y}")
        return self

    def __call__(self, p: float) -> float:
        if self.method == "platt":
            z = self.params["a"] * p + self.params["b"]
            return 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))
        xs, ys = self.params["x"], self.params["y"]
        if p <= xs[0]:
            return float(ys[0])
        if p >= xs[-1]:
            return float(ys[-1])
        i = bisect.bisect_right(xs, p)
        x0, x1, y0, y1 = xs[i - 1], xs[i], ys[i - 1], ys[i]
        return float(y0 if x1 == x0 else y0 + (y1 - y0) * (p - x0) / (x1 - x0))

    def many(self, ps: Iterable[float]) -> np.ndarray:
        return np.array([self(float(p)) for p in ps], dtype=float)


class JudgeSignature(BaseModel):
    """What about a judge's ensemble entry changes its probability (so a calibration stays valid)."""

    key: str
    judge: str
    label_map: dict[str, Any] = Field(default_factory=dict)
    score_label: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def of(cls, key: str, judge: EnsembleJudge) -> JudgeSignature:
        return cls(key=key, judge=judge.judge, label_map=judge.label_map, score_label=judge.score_label)


class CalibrationEntry(Calibrator):
    """One judge × metric of a calibration file: the calibrator, its fitted threshold and how it was fitted."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    threshold: float = Field(ge=0.0, le=1.0, description="fitted on the calibrated scale")
    criterion: Criterion = "f1"
    n: int = Field(ge=0)
    positives: int = Field(ge=0)
    ece_before: float | None = None
    ece_after: float | None = None
    ece_after_cv: float | None = None
    judge: JudgeSignature | None = Field(None, description="the ensemble entry it was fitted with")

    def calibrator(self) -> Calibrator:
        return Calibrator(method=self.method, params=self.params)


class CalibrationFile(BaseModel):
    """The JSON ``lam3 calibrate`` writes."""

    model_config = ConfigDict(extra="forbid")

    lam3_calibration_version: Literal[1]
    created: str | None = None
    method: Method
    inputs: list[str] = Field(default_factory=list)
    records: int = 0
    unlabelled: int = 0
    quarantined: int = 0
    judges: dict[str, dict[Metric, CalibrationEntry]] = Field(default_factory=dict)
    skipped: dict[str, dict[str, str]] = Field(default_factory=dict)


def fit_calibrator(p: Sequence[float], y: Sequence[int], method: Method) -> Calibrator:
    """Fit on raw probabilities ``p`` and binary labels ``y`` (both classes needed)."""
    x = np.asarray(p, dtype=float)
    t = np.asarray(y, dtype=int)
    if method == "platt":
        from sklearn.linear_model import LogisticRegression

        lr = LogisticRegression(C=1e4, max_iter=1000).fit(x.reshape(-1, 1), t)
        return Calibrator(method="platt", params={"a": float(lr.coef_[0][0]), "b": float(lr.intercept_[0])})
    if method == "isotonic":
        from sklearn.isotonic import IsotonicRegression

        iso = IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True, out_of_bounds="clip").fit(x, t)
        return Calibrator(method="isotonic", params={"x": [float(v) for v in iso.X_thresholds_],
                                                     "y": [float(v) for v in iso.y_thresholds_]})
    raise ValueError(f"unknown calibration method {method!r} (platt or isotonic)")


class ReliabilityBins:
    """Counts of a reliability diagram over equal-width bins: per bin, items, Σ probability, Σ label.

    Streaming (``add`` as often as needed), so a report over a large run keeps ``3 × bins`` numbers;
    the expected calibration error is read off the same bins the diagram shows.
    """

    def __init__(self, bins: int = 10) -> None:
        if bins < 1:
            raise ValueError(f"bins must be at least 1, got {bins}")
        self.bins = bins
        self.count = np.zeros(bins, dtype=np.int64)
        self.sum_p = np.zeros(bins, dtype=float)
        self.sum_y = np.zeros(bins, dtype=float)

    def add(self, p: Sequence[float] | np.ndarray, y: Sequence[int] | np.ndarray) -> ReliabilityBins:
        """Count probabilities ``p`` with their binary labels ``y`` (1.0 falls in the last bin)."""
        x = np.asarray(p, dtype=float)
        t = np.asarray(y, dtype=float)
        if x.shape != t.shape:
            raise ValueError("p and y must be aligned")
        idx = np.minimum((x * self.bins).astype(int), self.bins - 1)
        self.count += np.bincount(idx, minlength=self.bins)
        self.sum_p += np.bincount(idx, weights=x, minlength=self.bins)
        self.sum_y += np.bincount(idx, weights=t, minlength=self.bins)
        return self

    @property
    def n(self) -> int:
        return int(self.count.sum())

    def edges(self) -> list[tuple[float, float]]:
        return [(b / self.bins, (b + 1) / self.bins) for b in range(self.bins)]

    def ece(self) -> float:
        """Σ_b |B_b|/n · |mean(y in b) − mean(p in b)| (NaN with no item)."""
        if not self.n:
            return float("nan")
        full = self.count > 0
        gap = np.abs(self.sum_y[full] - self.sum_p[full]) / self.count[full]
        return float(np.sum(self.count[full] / self.n * gap))


def expected_calibration_error(p: Sequence[float], y: Sequence[int], bins: int = 10) -> float:
    """ECE with equal-width bins: Σ_b |B_b|/n · |mean(y in b) − mean(p in b)| (:class:`ReliabilityBins`)."""
    return ReliabilityBins(bins).add(p, y).ece()


def fit_threshold(p: Sequence[float], y: Sequence[int], criterion: Criterion = "f1") -> float:
    """The threshold on ``p`` that maximises F1 (or Youden's J); ties go to the highest threshold."""
    if criterion not in ("f1", "youden"):
        raise ValueError(f"unknown threshold criterion {criterion!r} (f1 or youden)")
    x = np.asarray(p, dtype=float)
    t = np.asarray(y, dtype=int)
    best, best_t = -1.0, 0.5
    for cand in np.unique(x):
        pred = x >= cand
        tp = int((pred & (t == 1)).sum())
        fp = int((pred & (t == 0)).sum())
        fn = int((~pred & (t == 1)).sum())
        tn = int((~pred & (t == 0)).sum())
        if criterion == "f1":
            value = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
        else:
            value = tp / max(tp + fn, 1) - fp / max(fp + tn, 1)
        if value >= best - 1e-12:  # ties (up to rounding) go to the higher threshold
            best, best_t = max(value, best), float(cand)
    return best_t


def cross_fitted(p: Sequence[float], y: Sequence[int], method: Method, folds: int = 5,
                 seed: int = 0) -> np.ndarray | None:
    """Out-of-fold calibrated probabilities (None when a class has fewer than ``folds`` examples)."""
    t = np.asarray(y, dtype=int)
    if min(int(t.sum()), int(len(t) - t.sum())) < folds:
        return None
    from sklearn.model_selection import StratifiedKFold

    x = np.asarray(p, dtype=float)
    out = np.empty(len(x))
    for train, test in StratifiedKFold(folds, shuffle=True, random_state=seed).split(x.reshape(-1, 1), t):
        out[test] = fit_calibrator(x[train], t[train], method).many(x[test])
    return out


def fit_entry(ps: Sequence[float], ys: Sequence[int], *, method: Method, criterion: Criterion, seed: int,
              signature: JudgeSignature) -> CalibrationEntry:
    """Calibrator, threshold and ECE figures for one judge × metric (``ys`` must hold both classes)."""
    cal = fit_calibrator(ps, ys, method)
    after = cal.many(ps)
    cv = cross_fitted(ps, ys, method, seed=seed)
    return CalibrationEntry(
        method=cal.method, params=cal.params, threshold=fit_threshold(after, ys, criterion), criterion=criterion,
        n=len(ys), positives=int(sum(ys)), ece_before=round(expected_calibration_error(ps, ys), 6),
        ece_after=round(expected_calibration_error(after, ys), 6),
        ece_after_cv=None if cv is None else round(expected_calibration_error(cv, ys), 6), judge=signature)
