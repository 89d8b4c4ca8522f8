"""Confidence intervals for rates and differences of rates: exact, cluster-aware, error-corrected.

Why this module exists: ASR tables need intervals that stay honest at the edges. A plain
bootstrap of 0 successes in 12 gives [0, 0], "no uncertainty" from twelve samples, and an
i.i.d. bootstrap over responses that share a behaviour treats correlated responses as
independent evidence. Every interval here comes from scipy or statsmodels (project rule: no
hand-written interval formulas). This module only picks the tool, feeds it the right units and
records what it did in ``Interval.method``.

Pure: no I/O, no torch. Inputs are counts, or aligned arrays of binary or [0, 1] outcomes.
"""

from __future__ import annotations

import operator
import warnings
from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike
from pydantic import BaseModel, ConfigDict

__all__ = [
    "Interval",
    "PairedInterval",
    "cluster_bootstrap_ci",
    "paired_statistic_ci",
    "paired_difference_ci",
    "proportion_ci",
    "rogan_gladen",
]

ProportionMethod = Literal["exact", "wilson"]
BootstrapMethod = Literal["BCa", "percentile"]

# statsmodels' name for each method, and the name the result reports.
_PROPORTION_METHODS: dict[str, tuple[str, str]] = {
    "exact": ("beta", "clopper-pearson"),
    "wilson": ("wilson", "wilson"),
}
# Above this many units the BCa jackknife (one statistic evaluation per unit) costs more than the
# resamples themselves; percentile bounds are used instead (recorded in ``Interval.method``).
_BCA_MAX_UNITS = 1000
# Cap on the cells of one resample batch (resamples × clusters), about 8 MB per index array.
_MAX_BATCH_CELLS = 1_000_000


class Interval(BaseModel):
    """A point estimate with its interval, or None where the data cannot give one (n = 0 ...).

    ``n`` counts the independent units the interval rests on. That is responses or pairs, or
    clusters for the cluster methods, so it is not always the number of responses.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    estimate: float | None
    low: float | None
    high: float | None
    method: str
    level: float
    n: int


class PairedInterval(Interval):
    """An :class:`Interval` on mean(a − b), with McNemar's exact p-value for independent binary pairs."""

    p_value: float | None = None


def proportion_ci(k: int, n: int, *, method: ProportionMethod = "exact", level: float = 0.95) -> Interval:
    """k successes of n. Clopper–Pearson ("exact") never under-covers. Wilson is shorter and near nominal.

    Both stay wide at 0/n and n/n, where a bootstrap collapses to a point. If n = 0, the estimate
    and bounds are None: an empty group is reported, not raised.
    """
    _check_level(level)
    if method not in _PROPORTION_METHODS:
        raise ValueError(f"unknown proportion interval method {method!r} (exact, wilson)")
    k, n = _count(k, "k"), _count(n, "n")
    if k > n:
        raise ValueError(f"k = {k} successes is more than n = {n}")
    sm_method, label = _PROPORTION_METHODS[method]
    if n == 0:
        return Interval(estimate=None, low=None, high=None, method=label, level=level, n=0)
    from statsmodels.stats.proportion import proportion_confint  # lazy: statsmodels costs ~1 s to import

    low, high = proportion_confint(k, n, alpha=1 - level, method=sm_method)
    # Both methods have the bound exactly 0 at 0/n and 1 at n/n. statsmodels' Wilson gives
    # 3e-17 and 1 - 1e-16 there, which a report would print as "not quite 1".
    low = 0.0 if k == 0 else _clip01(low)
    high = 1.0 if k == n else _clip01(high)
    return Interval(estimate=k / n, low=low, high=high, method=label, level=level, n=n)


def cluster_bootstrap_ci(values: ArrayLike, clusters: Iterable[Hashable], *, level: float = 0.95,
                         n_resamples: int = 2000, seed: int = 0, method: BootstrapMethod = "BCa") -> Interval:
    """Pooled mean of ``values`` (binary or [0, 1]) with a bootstrap that draws whole clusters.

    Why clusters: responses to one behaviour or sample are correlated. Resampling them one by one
    counts them as independent evidence and makes the interval too narrow. Here whole clusters
    are drawn with replacement (``scipy.stats.bootstrap`` over cluster indices). The statistic is
    the ratio of sums, Σ values / Σ sizes of the drawn clusters. So the estimate is the pooled
    mean of all responses, and each cluster weighs by its size. ``n`` is the number of clusters.

    BCa is used unless scipy cannot compute it (NaN bounds), then percentile. ``method`` on the
    result says which one was used.

    If every cluster has the same mean, every resample gives that mean. The bootstrap then cannot
    express any uncertainty, so it is not used:

    - all values 0 or all 1 (0/n or n/n): the exact Clopper–Pearson interval, with the number of
      CLUSTERS as the effective n (0 of m or m of m clusters). This treats each cluster as one
      observation. Identical outcomes cannot rule out perfectly correlated responses within a
      cluster, so that is the conservative count.
    - any other common mean (say every cluster half successes): the estimate only, low and high None.
    """
    _check_level(level)
    x = _as_outcomes(values, "values")
    if x.size == 0:
        return Interval(estimate=None, low=None, high=None, method="cluster-bootstrap", level=level, n=0)
    sums, counts = _cluster_totals(x, clusters)
    estimate = float(sums.sum() / counts.sum())
    m = len(sums)
    if _all_equal(sums / counts):
        if np.all(x == 0) or np.all(x == 1):
            exact = proportion_ci(m if x[0] == 1 else 0, m, method="exact", level=level)
            return exact.model_copy(update={"method": "clopper-pearson-clusters"})
        return Interval(estimate=estimate, low=None, high=None, method="undefined: identical cluster means",
                        level=level, n=m)
    low, high, used = _bootstrap_pooled_mean(sums, counts, level=level, n_resamples=n_resamples, seed=seed,
                                             method=method)
    return Interval(estimate=estimate, low=low, high=high, method=f"cluster-bootstrap-{used}", level=level, n=m)


def paired_difference_ci(a: ArrayLike, b: ArrayLike, *, clusters: Iterable[Hashable] | None = None,
                         level: float = 0.95, n_resamples: int = 2000, seed: int = 0,
                         method: BootstrapMethod = "BCa") -> PairedInterval:
    """mean(a − b) for aligned outcomes on the same samples (e.g. adversarial − clean), bootstrapped.

    Why paired: one sample under both conditions is one unit. Resampling pairs keeps each
    difference intact, so the interval uses the within-sample correlation. Two separate
    intervals would ignore it and come out too wide or too narrow. The bootstrap is
    ``scipy.stats.bootstrap`` over the pairs. With ``clusters`` (e.g. several responses per
    behaviour), whole clusters of pairs are drawn instead, and the estimate is the pooled mean
    difference (ratio of sums, as in :func:`cluster_bootstrap_ci`). ``n`` is pairs or clusters.

    ``p_value`` is McNemar's exact test (statsmodels) when a and b are binary and no clusters are
    given. Otherwise it is None: McNemar assumes independent pairs, and with clusters its p-value
    would be too small.

    If every difference (or every cluster's mean difference) is the same, for example when no
    pair is discordant, the bootstrap is a single point. The estimate is then returned with low
    and high None, not as a zero-width interval.
    """
    _check_level(level)
    xa, xb = _as_outcomes(a, "a"), _as_outcomes(b, "b")
    if xa.shape != xb.shape:
        raise ValueError(f"a and b must be aligned: {xa.size} vs {xb.size} outcomes")
    label = "cluster-bootstrap" if clusters is not None else "bootstrap"
    if xa.size == 0:
        return PairedInterval(estimate=None, low=None, high=None, method=label, level=level, n=0)
    p_value = None
    if clusters is None and _is_binary(xa) and _is_binary(xb):
        table = [[int(np.sum((xa == 1) & (xb == 1))), int(np.sum((xa == 1) & (xb == 0)))],
                 [int(np.sum((xa == 0) & (xb == 1))), int(np.sum((xa == 0) & (xb == 0)))]]
        from statsmodels.stats.contingency_tables import mcnemar

        p_value = float(mcnemar(table, exact=True).pvalue)
    d = xa - xb
    if clusters is None:
        sums, counts = d, np.ones_like(d)
    else:
        sums, counts = _cluster_totals(d, clusters)
    estimate = float(sums.sum() / counts.sum())
    m = len(sums)
    if _all_equal(sums / counts):
        return PairedInterval(estimate=estimate, low=None, high=None, method="undefined: constant differences",
                              level=level, n=m, p_value=p_value)
    low, high, used = _bootstrap_pooled_mean(sums, counts, level=level, n_resamples=n_resamples, seed=seed,
                                             method=method)
    return PairedInterval(estimate=estimate, low=low, high=high, method=f"{label}-{used}", level=level, n=m,
                          p_value=p_value)


def paired_statistic_ci(statistic: Callable[..., float | None], data: Sequence[ArrayLike], *,
                        level: float = 0.95, n_resamples: int = 2000, seed: int = 0,
                        method: BootstrapMethod = "BCa") -> Interval:
    """A statistic of aligned arrays (κ or F1 of votes vs labels, ECE of probabilities vs labels), bootstrapped.

    Why: κ, F1 and calibration error have no exact interval, so their uncertainty comes from
    ``scipy.stats.bootstrap`` with paired resampling (one unit = one item, its arrays kept
    together). ``statistic(*arrays)`` returns the value or None where it is undefined (κ when
    both raters are constant, F1 with no positive anywhere).

    BCa unless scipy cannot compute it or there are more than 1000 units (its jackknife costs one
    evaluation per unit), then percentile; ``method`` on the result says which. The estimate
    only, with low and high None, when the statistic is undefined on the data, undefined in
    some resample (the interval would be silently conditional on the defined ones), or equal in
    every resample (a zero-width bootstrap is no evidence of certainty, as at 0/n).
    """
    from scipy import stats  # lazy: scipy.stats costs ~0.5 s to import

    _check_level(level)
    _check_resamples(n_resamples)
    arrays = [np.asarray(a) for a in data]
    if not arrays or any(a.ndim != 1 or a.shape != arrays[0].shape for a in arrays):
        raise ValueError("data must be one-dimensional arrays of equal length")
    n = int(arrays[0].size)
    label = "bootstrap"
    if n == 0:
        return Interval(estimate=None, low=None, high=None, method=label, level=level, n=0)
    value = statistic(*arrays)
    if value is None or not np.isfinite(value):
        return Interval(estimate=None, low=None, high=None, method=f"undefined: {label}", level=level, n=n)
    estimate = float(value)
    if n < 2:  # one unit: every resample is that unit
        return Interval(estimate=estimate, low=None, high=None, method="undefined: one unit", level=level, n=n)

    def stat(*sample: np.ndarray) -> float:
        got = statistic(*sample)
        return float("nan") if got is None else float(got)

    def run(kind: str) -> tuple[float, float, np.ndarray]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", stats.DegenerateDataWarning)
            warnings.simplefilter("ignore", RuntimeWarning)
            res = stats.bootstrap(tuple(arrays), stat, paired=True, vectorized=False, n_resamples=n_resamples,
                                  batch=max(1, min(n_resamples, _MAX_BATCH_CELLS // n)), confidence_level=level,
                                  method=kind, rng=np.random.default_rng(seed))
        return (float(res.confidence_interval.low), float(res.confidence_interval.high),
                np.asarray(res.bootstrap_distribution))

    kind = method if (method != "BCa" or n <= _BCA_MAX_UNITS) else "percentile"
    low, high, dist = run(kind)
    if not np.all(np.isfinite(dist)):
        return Interval(estimate=estimate, low=None, high=None, method=f"undefined in some resamples: {label}",
                        level=level, n=n)
    if _all_equal(dist):
        return Interval(estimate=estimate, low=None, high=None, method="undefined: identical resamples",
                        level=level, n=n)
    if kind == "BCa" and not (np.isfinite(low) and np.isfinite(high)):
        low, high, _ = run("percentile")
        kind = "percentile"
    return Interval(estimate=estimate, low=low, high=high, method=f"{label}-{kind.lower()}", level=level, n=n)


def rogan_gladen(k: int, n: int, sensitivity: float, specificity: float, *, sens_n: int, spec_n: int,
                 level: float = 0.95, n_resamples: int = 2000, seed: int = 0) -> Interval:
    """Rate corrected for an imperfect judge: (p_obs + spec − 1) / (sens + spec − 1), clipped to [0, 1].

    Why: a judge with specificity 0.95 flags 5 % of harmless responses, so a raw ASR of 0.05 can
    mean no successful attack at all. Rogan & Gladen (1978) undo the judge's error rates, which are
    measured on a human-labelled validation set.

    The interval carries three sources of uncertainty: the run (k of n), and the validation set
    behind sensitivity (``sens_n`` positives) and specificity (``spec_n`` negatives). It is a
    parametric bootstrap. Each draw takes the three proportions from their Jeffreys
    distributions Beta(x + ½, m − x + ½), where x = rate · m of m, computes the corrected rate
    and clips it to [0, 1]. The bounds are percentiles of the draws. Beta draws are used instead
    of Binomial(m, rate) / m so that a perfect validation score (specificity 40 of 40) or a 0/n
    run still carries uncertainty. A Binomial(40, 1.0) draw is always 40. Draws whose
    sensitivity + specificity is ≤ 1 (correction undefined) are dropped. statsmodels has no
    Rogan–Gladen interval. Lang & Reiczigel (2014) give a closed-form adjusted interval, which is
    not used here.

    If the run's rate lies below the judge's false-positive rate 1 − spec (or above its
    sensitivity) by more than the noise, nearly every draw clips and the interval collapses
    onto 0 (or 1). That means the run and the validation rates disagree; it is not certainty.
    Such a result says so in ``method`` ("…-clipped").

    Raises ValueError when sensitivity + specificity ≤ 1. At 1 the correction divides by zero;
    below 1 the judge is worse than chance and the correction inverts the rate. If n = 0, the
    estimate and bounds are None.
    """
    _check_level(level)
    k, n = _count(k, "k"), _count(n, "n")
    if k > n:
        raise ValueError(f"k = {k} flagged is more than n = {n}")
    for name, rate in (("sensitivity", sensitivity), ("specificity", specificity)):
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"{name} must be in [0, 1], got {rate}")
    if sensitivity + specificity <= 1:
        raise ValueError(
            f"Rogan–Gladen correction is undefined for sensitivity={sensitivity} + specificity={specificity} "
            f"= {sensitivity + specificity:g} <= 1 (a judge no better than chance; below 1 it would invert the rate)")
    sens_n, spec_n = _count(sens_n, "sens_n"), _count(spec_n, "spec_n")
    if sens_n == 0 or spec_n == 0:
        raise ValueError(f"sens_n and spec_n must be at least 1, got sens_n={sens_n}, spec_n={spec_n}")
    _check_resamples(n_resamples)
    if n == 0:
        return Interval(estimate=None, low=None, high=None, method="rogan-gladen-bootstrap", level=level, n=0)
    estimate = _clip01((k / n + specificity - 1) / (sensitivity + specificity - 1))
    rng = np.random.default_rng(seed)
    p_obs = rng.beta(k + 0.5, n - k + 0.5, size=n_resamples)
    sens = rng.beta(sensitivity * sens_n + 0.5, (1 - sensitivity) * sens_n + 0.5, size=n_resamples)
    spec = rng.beta(specificity * spec_n + 0.5, (1 - specificity) * spec_n + 0.5, size=n_resamples)
    denom = sens + spec - 1
    valid = denom > 0
    if not valid.any():
        raise ValueError("no bootstrap draw had sensitivity + specificity > 1; the validation set is too small")
    corrected = np.clip((p_obs[valid] + spec[valid] - 1) / denom[valid], 0.0, 1.0)
    alpha = 1 - level
    low, high = np.quantile(corrected, [alpha / 2, 1 - alpha / 2])
    method = "rogan-gladen-bootstrap" + ("-clipped" if low == high else "")
    return Interval(estimate=estimate, low=float(low), high=float(high), method=method, level=level, n=n)


def _bootstrap_pooled_mean(sums: np.ndarray, counts: np.ndarray, *, level: float, n_resamples: int, seed: int,
                           method: str) -> tuple[float, float, str]:
    """scipy's bootstrap over unit indices; the statistic is Σ sums / Σ counts of the drawn units."""
    from scipy import stats  # lazy: scipy.stats costs ~0.5 s to import

    _check_resamples(n_resamples)
    if method not in ("BCa", "percentile"):
        raise ValueError(f"unknown bootstrap method {method!r} (BCa, percentile)")

    def pooled_mean(idx: np.ndarray, axis: int = -1) -> np.ndarray:
        return sums[idx].sum(axis=axis) / counts[idx].sum(axis=axis)

    units = np.arange(len(sums))
    batch = max(1, min(n_resamples, _MAX_BATCH_CELLS // len(units)))

    def run(kind: str) -> tuple[float, float]:
        with warnings.catch_warnings():
            # BCa on awkward data warns and returns NaN; the NaN is checked below.
            warnings.simplefilter("ignore", stats.DegenerateDataWarning)
            warnings.simplefilter("ignore", RuntimeWarning)
            res = stats.bootstrap((units,), pooled_mean, n_resamples=n_resamples, batch=batch, vectorized=True,
                                  confidence_level=level, method=kind, rng=np.random.default_rng(seed))
        return float(res.confidence_interval.low), float(res.confidence_interval.high)

    low, high = run(method)
    used = method.lower()
    if method == "BCa" and not (np.isfinite(low) and np.isfinite(high)):
        low, high = run("percentile")
        used = "percentile"
    return low, high, used


def _cluster_totals(values: np.ndarray, clusters: Iterable[Hashable]) -> tuple[np.ndarray, np.ndarray]:
    """Per-cluster sum of values and size, clusters numbered in order of first appearance."""
    labels = list(clusters)
    if len(labels) != values.size:
        raise ValueError(f"clusters must label every value: {len(labels)} labels for {values.size} values")
    codes: dict[Hashable, int] = {}
    idx = np.fromiter((codes.setdefault(c, len(codes)) for c in labels), dtype=np.intp, count=len(labels))
    sums = np.bincount(idx, weights=values, minlength=len(codes))
    counts = np.bincount(idx, minlength=len(codes)).astype(float)
    return sums, counts


def _as_outcomes(x: ArrayLike, name: str) -> np.ndarray:
    """A 1-D float array of finite outcomes in [0, 1]."""
    arr = np.asarray(x, dtype=float)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)) or np.any(arr < 0) or np.any(arr > 1):
        raise ValueError(f"{name} must hold finite outcomes in [0, 1]")
    return arr


def _is_binary(x: np.ndarray) -> bool:
    return bool(np.all((x == 0) | (x == 1)))


def _all_equal(x: np.ndarray) -> bool:
    return bool(np.all(x == x[0]))


def _count(x: int, name: str) -> int:
    value = operator.index(x)
    if value < 0:
        raise ValueError(f"{name} must be a non-negative count, got {value}")
    return value


def _check_resamples(n_resamples: int) -> None:
    if operator.index(n_resamples) < 1:
        raise ValueError(f"n_resamples must be at least 1, got {n_resamples}")


def _check_level(level: float) -> None:
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")


def _clip01(x: float) -> float:
    return float(min(1.0, max(0.0, x)))
