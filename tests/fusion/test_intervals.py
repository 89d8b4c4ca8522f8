"""Intervals: checked against statsmodels and scipy called directly, and against hand values."""

from __future__ import annotations

import numpy as np
import pydantic
import pytest
from scipy import stats
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.proportion import proportion_confint

from lam3.fusion import intervals
from lam3.fusion.intervals import (
    Interval,
    cluster_bootstrap_ci,
    paired_difference_ci,
    proportion_ci,
    rogan_gladen,
)

# Twelve behaviours with unequal numbers of responses. Responses of one behaviour agree,
# so the behaviour (not the response) is the independent unit.
SIZES = [1, 2, 3, 4, 5, 6, 1, 2, 3, 4, 5, 6]
OUTCOME = [1, 0, 1, 1, 0, 0, 1, 0, 0, 1, 0, 1]


def correlated_clusters() -> tuple[np.ndarray, list[int]]:
    values = np.repeat(np.array(OUTCOME, dtype=float), SIZES)
    clusters = list(np.repeat(np.arange(len(SIZES)), SIZES))
    return values, clusters


# --- proportion_ci -------------------------------------------------------------------------------

def test_zero_of_twelve_exact_is_the_known_clopper_pearson_value() -> None:
    ci = proportion_ci(0, 12)
    assert (ci.estimate, ci.low) == (0.0, 0.0)
    assert ci.high == pytest.approx(0.2646, abs=5e-5)
    assert (ci.method, ci.n, ci.level) == ("clopper-pearson", 12, 0.95)


@pytest.mark.parametrize("method,sm_method", [("exact", "beta"), ("wilson", "wilson")])
@pytest.mark.parametrize("k,n,level", [(3, 10, 0.95), (1, 7, 0.9), (17, 40, 0.99), (5, 6, 0.8)])
def test_proportion_ci_matches_statsmodels(method: str, sm_method: str, k: int, n: int, level: float) -> None:
    ci = proportion_ci(k, n, method=method, level=level)
    low, high = proportion_confint(k, n, alpha=1 - level, method=sm_method)
    assert (ci.low, ci.high) == (pytest.approx(low, rel=1e-12), pytest.approx(high, rel=1e-12))
    assert ci.estimate == k / n


@pytest.mark.parametrize("method,sm_method", [("exact", "beta"), ("wilson", "wilson")])
@pytest.mark.parametrize("n", [7, 10, 12])
def test_all_or_no_successes_reach_the_bound_exactly(method: str, sm_method: str, n: int) -> None:
    # statsmodels' Wilson gives 1 - 1e-16 at 10/10 and 3e-17 at 0/7; a report must read 1 and 0.
    full, none = proportion_ci(n, n, method=method), proportion_ci(0, n, method=method)
    assert (full.high, none.low) == (1.0, 0.0)
    assert full.low == pytest.approx(proportion_confint(n, n, alpha=0.05, method=sm_method)[0])
    assert none.high == pytest.approx(proportion_confint(0, n, alpha=0.05, method=sm_method)[1])
    assert 0.5 < full.low < 0.8


def test_single_unit_gives_the_widest_exact_intervals() -> None:
    zero, one = proportion_ci(0, 1), proportion_ci(1, 1)
    assert (zero.low, zero.high) == (0.0, pytest.approx(0.975))
    assert (one.low, one.high) == (pytest.approx(0.025), 1.0)


def test_empty_group_has_no_estimate_rather_than_an_error() -> None:
    ci = proportion_ci(0, 0, method="wilson")
    assert (ci.estimate, ci.low, ci.high, ci.n, ci.method) == (None, None, None, 0, "wilson")


def test_proportion_ci_rejects_bad_input_by_name() -> None:
    with pytest.raises(ValueError, match="k = 5 successes is more than n = 4"):
        proportion_ci(5, 4)
    with pytest.raises(ValueError, match="n must be a non-negative count"):
        proportion_ci(0, -1)
    with pytest.raises(ValueError, match="unknown proportion interval method 'wald'"):
        proportion_ci(1, 2, method="wald")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"level must be in \(0, 1\), got 95"):
        proportion_ci(1, 2, level=95)


def test_interval_is_frozen() -> None:
    ci = proportion_ci(1, 2)
    with pytest.raises(pydantic.ValidationError):
        ci.low = 0.0  # type: ignore[misc]


# --- cluster_bootstrap_ci ------------------------------------------------------------------------

def test_singleton_clusters_reproduce_scipy_bootstrap_of_the_values() -> None:
    values = np.array([1, 0, 0, 1, 1, 0, 1, 0, 0, 0, 1, 1, 0, 1], dtype=float)
    for method in ("BCa", "percentile"):
        ci = cluster_bootstrap_ci(values, range(len(values)), n_resamples=2000, seed=3, method=method)
        ref = stats.bootstrap((values,), np.mean, n_resamples=2000, method=method,
                              rng=np.random.default_rng(3)).confidence_interval
        assert (ci.low, ci.high) == (pytest.approx(ref.low, rel=1e-9), pytest.approx(ref.high, rel=1e-9))
        assert ci.method == f"cluster-bootstrap-{method.lower()}"
        assert ci.n == len(values)


def test_point_estimate_is_the_pooled_mean_not_the_mean_of_cluster_means() -> None:
    # a: 1 of 1, b: 0 of 4, c: 1 of 2 -> pooled 2/7; the mean of the cluster means would be 1/2.
    ci = cluster_bootstrap_ci([1, 0, 0, 0, 0, 1, 0], ["a", "b", "b", "b", "b", "c", "c"], n_resamples=500)
    assert ci.estimate == pytest.approx(2 / 7)
    assert ci.n == 3
    assert ci.low is not None and ci.high is not None and ci.low <= ci.estimate <= ci.high


def test_resampled_statistic_is_the_pooled_mean_of_the_drawn_clusters() -> None:
    # Reference: the same scipy bootstrap over cluster indices, with the pooled mean written the
    # slow, literal way (concatenate the drawn clusters' responses, take their mean).
    values, clusters = correlated_clusters()
    values[[1, 7, 20]] = 1 - values[[1, 7, 20]]  # some within-cluster disagreement
    groups = [values[np.asarray(clusters) == c] for c in range(len(SIZES))]
    ref = stats.bootstrap((np.arange(len(groups)),), lambda idx: np.mean(np.concatenate([groups[i] for i in idx])),
                          vectorized=False, n_resamples=1000, method="percentile",
                          rng=np.random.default_rng(5)).confidence_interval
    ci = cluster_bootstrap_ci(values, clusters, n_resamples=1000, seed=5, method="percentile")
    assert (ci.low, ci.high) == (pytest.approx(ref.low, rel=1e-9), pytest.approx(ref.high, rel=1e-9))


def test_correlated_clusters_give_a_wider_interval_than_the_iid_bootstrap() -> None:
    values, clusters = correlated_clusters()
    ci = cluster_bootstrap_ci(values, clusters, n_resamples=2000, method="percentile")
    naive = stats.bootstrap((values,), np.mean, n_resamples=2000, method="percentile",
                            rng=np.random.default_rng(0)).confidence_interval
    assert ci.estimate == pytest.approx(values.mean())
    assert ci.n == len(SIZES)
    assert ci.high - ci.low > 1.5 * (naive.high - naive.low)


@pytest.mark.parametrize("value", [0.0, 1.0])
def test_identical_outcomes_give_clopper_pearson_on_the_number_of_clusters(value: float) -> None:
    sizes = [1, 2, 3, 4, 5]
    values = np.full(sum(sizes), value)
    clusters = list(np.repeat(np.arange(5), sizes))
    ci = cluster_bootstrap_ci(values, clusters)
    low, high = proportion_confint(int(value) * 5, 5, alpha=0.05, method="beta")
    assert (ci.estimate, ci.n, ci.method) == (value, 5, "clopper-pearson-clusters")
    assert (ci.low, ci.high) == (pytest.approx(low), pytest.approx(high))
    # Effective n is 5 clusters, not 15 responses: far wider than the exact interval on 15.
    assert ci.high - ci.low > 0.2 + (proportion_ci(int(value) * 15, 15).high - proportion_ci(int(value) * 15, 15).low)


def test_one_cluster_of_zeros_is_zero_of_one() -> None:
    ci = cluster_bootstrap_ci([0, 0, 0], ["x", "x", "x"])
    assert (ci.low, ci.high, ci.n) == (0.0, pytest.approx(0.975), 1)


def test_identical_cluster_means_other_than_zero_or_one_give_no_interval() -> None:
    ci = cluster_bootstrap_ci([1, 0, 0, 1, 1, 0], [0, 0, 1, 1, 2, 2])
    assert (ci.estimate, ci.low, ci.high, ci.n) == (0.5, None, None, 3)


def test_no_values_give_no_estimate() -> None:
    ci = cluster_bootstrap_ci([], [])
    assert (ci.estimate, ci.low, ci.high, ci.n) == (None, None, None, 0)


def test_cluster_bootstrap_rejects_misaligned_or_out_of_range_input() -> None:
    with pytest.raises(ValueError, match="3 labels for 2 values"):
        cluster_bootstrap_ci([0, 1], ["a", "b", "c"])
    with pytest.raises(ValueError, match=r"values must hold finite outcomes in \[0, 1\]"):
        cluster_bootstrap_ci([0, 2], ["a", "b"])
    with pytest.raises(ValueError, match="unknown bootstrap method 'basic'"):
        cluster_bootstrap_ci([0, 1], ["a", "b"], method="basic")  # type: ignore[arg-type]


def test_failed_bca_falls_back_to_percentile(monkeypatch: pytest.MonkeyPatch) -> None:
    real = stats.bootstrap
    calls: list[str] = []

    def bca_fails(*args, **kwargs):
        calls.append(kwargs["method"])
        res = real(*args, **kwargs)
        if kwargs["method"] == "BCa":
            res.confidence_interval = type(res.confidence_interval)(np.nan, np.nan)
        return res

    monkeypatch.setattr(stats, "bootstrap", bca_fails)  # intervals imports scipy.stats where it runs
    values, clusters = correlated_clusters()
    ci = cluster_bootstrap_ci(values, clusters, n_resamples=500, seed=2)
    monkeypatch.undo()
    ref = cluster_bootstrap_ci(values, clusters, n_resamples=500, seed=2, method="percentile")
    assert calls == ["BCa", "percentile"]
    assert ci == ref
    assert ci.method == "cluster-bootstrap-percentile"


def test_cluster_bootstrap_is_deterministic_for_a_seed() -> None:
    values, clusters = correlated_clusters()
    first = cluster_bootstrap_ci(values, clusters, n_resamples=500, seed=11)
    assert cluster_bootstrap_ci(values, clusters, n_resamples=500, seed=11) == first
    assert cluster_bootstrap_ci(values, clusters, n_resamples=500, seed=12) != first


# --- paired_difference_ci ------------------------------------------------------------------------

ADV = np.array([1, 1, 1, 1, 1, 0, 1, 0, 1, 1, 0, 0, 1, 1], dtype=float)
CLEAN = np.array([0, 0, 0, 1, 0, 0, 0, 0, 1, 1, 0, 1, 0, 0], dtype=float)


def test_paired_difference_is_adversarial_minus_clean_and_its_sign_flips() -> None:
    up = paired_difference_ci(ADV, CLEAN, method="percentile")
    down = paired_difference_ci(CLEAN, ADV, method="percentile")
    assert up.estimate == pytest.approx(10 / 14 - 4 / 14)
    assert up.low is not None and up.high is not None and 0 < up.low < up.estimate < up.high
    assert (down.estimate, down.low, down.high) == (pytest.approx(-up.estimate), pytest.approx(-up.high),
                                                    pytest.approx(-up.low))
    assert up.n == 14


def test_paired_interval_matches_scipy_bootstrap_of_the_differences() -> None:
    ci = paired_difference_ci(ADV, CLEAN, n_resamples=2000, seed=4)
    ref = stats.bootstrap((ADV - CLEAN,), np.mean, n_resamples=2000, rng=np.random.default_rng(4)).confidence_interval
    assert (ci.low, ci.high) == (pytest.approx(ref.low, rel=1e-9), pytest.approx(ref.high, rel=1e-9))
    assert ci.method == "bootstrap-bca"


def test_mcnemar_p_value_equals_statsmodels_and_the_hand_value() -> None:
    ci = paired_difference_ci(ADV, CLEAN)
    # discordant pairs: adversarial-only 7, clean-only 1; exact two-sided p = 2 * P(X <= 1 | 8, 1/2) = 18/256.
    table = [[3, 7], [1, 3]]
    assert ci.p_value == pytest.approx(mcnemar(table, exact=True).pvalue, rel=1e-12)
    assert ci.p_value == pytest.approx(18 / 256)


def test_p_value_only_for_independent_binary_pairs() -> None:
    scores = paired_difference_ci([0.9, 0.2, 0.7, 0.4], [0.1, 0.3, 0.2, 0.4])
    assert scores.p_value is None and scores.estimate == pytest.approx(0.3)
    clustered = paired_difference_ci(ADV, CLEAN, clusters=[i // 2 for i in range(14)])
    assert clustered.p_value is None


def test_paired_clusters_resample_whole_clusters() -> None:
    values, clusters = correlated_clusters()
    a = values
    b = np.zeros_like(values)
    pairs = paired_difference_ci(a, b, n_resamples=2000, method="percentile")
    grouped = paired_difference_ci(a, b, clusters=clusters, n_resamples=2000, method="percentile")
    singletons = paired_difference_ci(a, b, clusters=range(len(a)), n_resamples=2000, method="percentile")
    assert grouped.estimate == pytest.approx(pairs.estimate)
    assert (grouped.n, grouped.method) == (len(SIZES), "cluster-bootstrap-percentile")
    assert grouped.high - grouped.low > 1.5 * (pairs.high - pairs.low)
    assert (singletons.low, singletons.high) == (pytest.approx(pairs.low), pytest.approx(pairs.high))


def test_no_discordant_pair_gives_no_interval_and_p_one() -> None:
    ci = paired_difference_ci(CLEAN, CLEAN)
    assert (ci.estimate, ci.low, ci.high, ci.p_value) == (0.0, None, None, 1.0)


def test_paired_inputs_must_be_aligned() -> None:
    with pytest.raises(ValueError, match="a and b must be aligned: 3 vs 2 outcomes"):
        paired_difference_ci([1, 0, 1], [1, 0])


# --- rogan_gladen --------------------------------------------------------------------------------

def test_rogan_gladen_hand_value() -> None:
    ci = rogan_gladen(30, 100, 0.9, 0.95, sens_n=60, spec_n=60)
    assert ci.estimate == pytest.approx((0.3 + 0.95 - 1) / 0.85)
    assert ci.estimate == pytest.approx(0.294118, abs=5e-7)
    assert ci.low is not None and ci.high is not None and ci.low < ci.estimate < ci.high
    assert (ci.n, ci.method) == (100, "rogan-gladen-bootstrap")


def test_rogan_gladen_clips_at_zero_and_one() -> None:
    low = rogan_gladen(2, 100, 0.9, 0.95, sens_n=60, spec_n=60)  # (0.02 - 0.05) / 0.85 < 0
    high = rogan_gladen(92, 100, 0.9, 0.95, sens_n=60, spec_n=60)  # 0.87 / 0.85 > 1
    assert (low.estimate, low.low) == (0.0, 0.0)
    assert low.high is not None and 0 < low.high < 0.2
    assert (high.estimate, high.high) == (1.0, 1.0)
    assert high.low is not None and 0.8 < high.low < 1
    assert low.method == high.method == "rogan-gladen-bootstrap"


def test_rogan_gladen_says_when_the_interval_collapses_onto_a_bound() -> None:
    # 0 flags in 100, though the judge flags 5 % of harmless responses: nearly every draw clips to 0.
    ci = rogan_gladen(0, 100, 0.9, 0.95, sens_n=60, spec_n=60)
    assert (ci.estimate, ci.low, ci.high) == (0.0, 0.0, 0.0)
    assert ci.method == "rogan-gladen-bootstrap-clipped"
    # With a perfect specificity the same run is consistent, and the interval keeps its width.
    ok = rogan_gladen(0, 100, 0.9, 1.0, sens_n=60, spec_n=60)
    assert ok.high is not None and ok.high > 0.01 and ok.method == "rogan-gladen-bootstrap"


def test_perfect_judge_with_a_huge_validation_set_is_the_jeffreys_interval() -> None:
    ci = rogan_gladen(30, 100, 1.0, 1.0, sens_n=10**7, spec_n=10**7, n_resamples=2000)
    low, high = proportion_confint(30, 100, alpha=0.05, method="jeffreys")
    assert ci.estimate == pytest.approx(0.3)
    assert (ci.low, ci.high) == (pytest.approx(low, abs=0.01), pytest.approx(high, abs=0.01))


def test_validation_set_uncertainty_widens_the_interval() -> None:
    def width(sens_n: int, spec_n: int, spec: float = 0.95) -> float:
        ci = rogan_gladen(30, 100, 0.9, spec, sens_n=sens_n, spec_n=spec_n)
        return ci.high - ci.low

    assert width(20, 20) > 1.3 * width(10**6, 10**6)
    assert width(20, 10**6) > 1.1 * width(10**6, 10**6)  # sensitivity alone
    assert width(10**6, 20) > 1.1 * width(10**6, 10**6)  # specificity alone
    # A perfect validation score still carries uncertainty from its small size.
    assert width(10**6, 15, spec=1.0) > 1.1 * width(10**6, 10**6, spec=1.0)


@pytest.mark.parametrize("sens,spec", [(0.5, 0.5), (0.4, 0.3)])
def test_rogan_gladen_refuses_a_judge_no_better_than_chance(sens: float, spec: float) -> None:
    with pytest.raises(ValueError, match=rf"sensitivity={sens} \+ specificity={spec} = .* <= 1"):
        rogan_gladen(30, 100, sens, spec, sens_n=50, spec_n=50)


def test_rogan_gladen_empty_run_and_bad_rates() -> None:
    empty = rogan_gladen(0, 0, 0.9, 0.95, sens_n=50, spec_n=50)
    assert (empty.estimate, empty.low, empty.high, empty.n) == (None, None, None, 0)
    with pytest.raises(ValueError, match=r"specificity must be in \[0, 1\], got 1.2"):
        rogan_gladen(3, 10, 0.9, 1.2, sens_n=50, spec_n=50)
    with pytest.raises(ValueError, match="sens_n=0"):
        rogan_gladen(3, 10, 0.9, 0.95, sens_n=0, spec_n=50)


def test_rogan_gladen_is_deterministic_for_a_seed() -> None:
    first = rogan_gladen(30, 100, 0.9, 0.95, sens_n=40, spec_n=40, seed=7)
    assert rogan_gladen(30, 100, 0.9, 0.95, sens_n=40, spec_n=40, seed=7) == first
    assert rogan_gladen(30, 100, 0.9, 0.95, sens_n=40, spec_n=40, seed=8) != first
    assert isinstance(first, Interval)
