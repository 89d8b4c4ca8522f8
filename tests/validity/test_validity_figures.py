"""Judge figures against human labels: checked against scikit-learn, statsmodels and scipy called directly."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import cohen_kappa_score, f1_score, precision_score, recall_score
from statsmodels.stats.inter_rater import fleiss_kappa
from statsmodels.stats.proportion import proportion_confint

from lam3.fusion.calibration import expected_calibration_error
from lam3.fusion.intervals import paired_statistic_ci
from lam3.fusion.validity import Resampling, figures, rater_agreement

RNG = np.random.default_rng(7)
TRUTH = RNG.random(120) < 0.4
PRED = np.where(RNG.random(120) < 0.85, TRUTH, ~TRUTH)
PROB = np.clip(PRED * 0.7 + RNG.random(120) * 0.3, 0, 1)


def test_figures_match_sklearn_and_exact_intervals() -> None:
    f = figures(list(PRED), list(TRUTH), list(PROB))
    assert f.n == 120 and f.not_judged == 0 and f.tp + f.fp + f.fn + f.tn == 120
    assert f.accuracy.estimate == pytest.approx(np.mean(PRED == TRUTH))
    assert f.precision.estimate == pytest.approx(precision_score(TRUTH, PRED))
    assert f.sensitivity.estimate == pytest.approx(recall_score(TRUTH, PRED))  # recall
    assert f.specificity.estimate == pytest.approx(recall_score(~TRUTH, ~PRED))
    assert f.f1.estimate == pytest.approx(f1_score(TRUTH, PRED))
    assert f.kappa.estimate == pytest.approx(cohen_kappa_score(TRUTH, PRED))
    assert f.ece.estimate == pytest.approx(expected_calibration_error(PROB, TRUTH.astype(int)))
    assert (f.positives, f.negatives) == (int(TRUTH.sum()), int((~TRUTH).sum()))
    low, high = proportion_confint(f.tp + f.tn, 120, alpha=0.05, method="beta")
    assert (f.accuracy.low, f.accuracy.high) == (pytest.approx(low), pytest.approx(high))
    low, high = proportion_confint(f.tp, f.positives, alpha=0.05, method="beta")
    assert (f.sensitivity.low, f.sensitivity.high, f.sensitivity.n) == (pytest.approx(low), pytest.approx(high),
                                                                        f.positives)


def test_kappa_interval_is_scipys_paired_bootstrap() -> None:
    f = figures(list(PRED), list(TRUTH), resampling=Resampling(n_resamples=300))
    ref = stats.bootstrap((PRED, TRUTH), lambda a, b: cohen_kappa_score(a, b), paired=True, vectorized=False,
                          n_resamples=300, method="BCa", rng=np.random.default_rng(0))
    assert f.kappa.method == "bootstrap-bca"
    assert (f.kappa.low, f.kappa.high) == (pytest.approx(ref.confidence_interval.low),
                                           pytest.approx(ref.confidence_interval.high))
    assert f.ece is None  # no probabilities given


def test_not_judged_items_are_left_out_and_counted() -> None:
    pred = [True, None, False, True, None]
    f = figures(pred, [True, True, False, False, False])
    assert (f.n, f.not_judged, f.tp, f.fp, f.fn, f.tn) == (3, 2, 1, 1, 0, 1)
    assert figures(pred, [True] * 5, [0.9, None, 0.1, 0.8, None]).ece is not None  # judged items all have one
    assert figures(pred, [True] * 5, [0.9, None, None, 0.8, None]).ece is None  # a partial ECE is not reported


def test_perfect_agreement_has_no_zero_width_bootstrap_interval() -> None:
    truth = [True] * 10 + [False] * 10
    f = figures(truth, truth)
    assert f.accuracy.estimate == 1.0 and f.accuracy.low == pytest.approx(stats.beta.ppf(0.025, 20, 1))
    assert f.kappa.estimate == 1.0 and (f.kappa.low, f.kappa.high) == (None, None)
    assert f.kappa.method == "undefined: identical resamples"


def test_one_item_and_no_positive() -> None:
    f = figures([True], [True])
    assert f.accuracy.estimate == 1.0 and f.accuracy.low == pytest.approx(0.025)
    assert f.kappa.estimate is None and f.specificity.estimate is None  # undefined, not 0 or 1
    assert f.f1.estimate == 1.0 and (f.f1.low, f.f1.high, f.f1.method) == (None, None, "undefined: one unit")
    g = figures([False, False, False], [False, False, False])
    assert g.f1.estimate is None and g.sensitivity.estimate is None and g.positives == 0


def test_above_a_thousand_units_the_bootstrap_is_percentile() -> None:
    truth = np.random.default_rng(1).random(1500) < 0.5
    pred = np.where(np.random.default_rng(2).random(1500) < 0.8, truth, ~truth)
    f = figures(list(pred), list(truth), resampling=Resampling(n_resamples=200))
    assert f.f1.method == "bootstrap-percentile" and f.f1.low < f.f1.estimate < f.f1.high


def test_paired_statistic_ci_rejects_misaligned_data() -> None:
    with pytest.raises(ValueError, match="equal length"):
        paired_statistic_ci(lambda a, b: 0.0, (np.zeros(3), np.zeros(4)))
    assert paired_statistic_ci(lambda a: 0.0, (np.zeros(0),)).estimate is None


def test_raters_fleiss_kappa_and_unanimous_share() -> None:
    ratings = [[True, True, True], [True, False, True], [False, False, False], [False, False, True],
               [True, True, True], [False, False, False], [True, True], [False]]
    r = rater_agreement(ratings, resampling=Resampling(n_resamples=500))
    assert (r.raters, r.n, r.items_left_out) == (3, 6, 2)
    table = np.array([[sum(x), 3 - sum(x)] for x in ratings[:6]], dtype=float)
    assert r.fleiss_kappa.estimate == pytest.approx(fleiss_kappa(table))
    assert r.unanimous.estimate == pytest.approx(4 / 6)
    assert (r.unanimous.low, r.unanimous.high) == tuple(pytest.approx(x) for x in proportion_confint(4, 6, method="beta"))
    assert rater_agreement([[True], [False]]) is None  # one rater: no agreement to report
