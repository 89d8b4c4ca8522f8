"""Agreement statistics: Cohen's κ vs scikit-learn, Fleiss' κ vs a published example, P/R/F1 vs scikit-learn,
all read off the fused votes."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import accuracy_score, cohen_kappa_score, precision_recall_fscore_support

from lam3.fusion.agreement import Confusion, agreement_summary, fleiss_kappa, kappa_from_table
from lam3.records import FusedResult, MetricResult


def _table(a: list[bool], b: list[bool]) -> tuple[int, int, int, int]:
    pairs = list(zip(a, b))
    return (sum(x and y for x, y in pairs), sum(x and not y for x, y in pairs), sum(y and not x for x, y in pairs),
            sum(not x and not y for x, y in pairs))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.booleans()), min_size=2, max_size=60))
def test_kappa_from_the_table_matches_sklearn_on_the_labels(pairs: list[tuple[bool, bool]]) -> None:
    a, b = [x for x, _ in pairs], [y for _, y in pairs]
    ours = kappa_from_table(*_table(a, b))
    if ours is None:  # undefined: both raters constant and equal (chance agreement 1)
        assert len(set(a)) == 1 and set(a) == set(b)
        return
    assert ours == pytest.approx(cohen_kappa_score(a, b), abs=1e-12)


def test_fleiss_kappa_published_example() -> None:
    # Fleiss' κ worked example (10 subjects, 14 raters, 5 categories): P̄ = 0.378, P̄e = 0.213, κ = 0.210
    table = [[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
             [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]]
    assert fleiss_kappa(table) == pytest.approx(0.20993, abs=1e-4)


def test_fleiss_kappa_hand_computed_binary() -> None:
    # 4 subjects, 3 raters: yes-counts 3, 0, 2, 1
    # P_i = 1, 1, 1/3, 1/3 → P̄ = 2/3; p_yes = 6/12 → P̄e = 0.5 → κ = (2/3 - 1/2) / (1/2) = 1/3
    assert fleiss_kappa([[3, 0], [0, 3], [2, 1], [1, 2]]) == pytest.approx(1 / 3)
    assert fleiss_kappa([[3, 0], [3, 0]]) is None  # every rating the same: undefined
    with pytest.raises(ValueError, match="same number"):
        fleiss_kappa([[3, 0], [1, 1]])


def test_confusion_against_sklearn() -> None:
    pred, gold = [True, True, False, False], [True, False, False, False]
    c = Confusion()
    for p, g in zip(pred, gold):
        c.add(p, g)
    c.add(None, True)  # not judged: counted apart, never as 'safe'
    s = c.summary()
    p, r, f, _ = precision_recall_fscore_support(gold, pred, average="binary")
    assert (s.n, s.not_judged, s.accuracy, s.precision, s.recall) == (4, 1, accuracy_score(gold, pred), p, r)
    assert s.f1 == pytest.approx(f) and s.kappa == pytest.approx(cohen_kappa_score(gold, pred))  # 0.5
    assert s.rate == 0.5 and s.human_rate == 0.25


def _record(votes: dict[str, bool | None], flagged: bool | None, labels: dict | None, category: str = "S1"
            ) -> FusedResult:
    result = MetricResult(score=None, flagged=flagged, votes=votes, resolution="vote",
                          disagreement=len({v for v in votes.values() if v is not None}) > 1,
                          missing=[k for k, v in votes.items() if v is None])
    extra = {"labels": labels} if labels is not None else {}
    return FusedResult(id="x", category=category, policy_risk=result, **extra)


def test_agreement_summary_against_references() -> None:
    rng = random.Random(7)
    records, votes_a, votes_b, votes_c, fused, truth = [], [], [], [], [], []
    for i in range(300):
        t = rng.random() < 0.4
        a = t if rng.random() < 0.85 else not t
        b = t if rng.random() < 0.7 else not t
        c = None if i % 10 == 0 else (a if rng.random() < 0.6 else rng.random() < 0.5)
        f = a if c is None else (a + b + c) >= 2
        labels = {"risky": t} if i % 7 else None  # some responses have no human label
        records.append(_record({"a": a, "b": b, "c": c}, f, labels, category="S1" if i % 2 else "S8"))
        votes_a.append(a), votes_b.append(b), votes_c.append(c), fused.append(f), truth.append(t if labels else None)
    summary = agreement_summary(iter(records))  # a single streaming pass
    pr = summary.metrics["policy_risk"]
    assert summary.has_labels and summary.n_records == 300 and list(summary.metrics) == ["policy_risk"]
    assert pr.cohen_kappa["a~b"].kappa == pytest.approx(cohen_kappa_score(votes_a, votes_b))
    both = [(x, y) for x, y in zip(votes_a, votes_c) if y is not None]
    ac = pr.cohen_kappa["a~c"]
    assert ac.n == len(both) == 270
    assert ac.kappa == pytest.approx(cohen_kappa_score([x for x, _ in both], [y for _, y in both]))
    complete = [[sum(v), 3 - sum(v)] for v in zip(votes_a, votes_b, votes_c) if v[2] is not None]
    assert pr.fleiss_kappa is not None and pr.fleiss_kappa.n == 270
    assert pr.fleiss_kappa.kappa == pytest.approx(fleiss_kappa(complete))
    labelled = [(f, t) for f, t in zip(fused, truth) if t is not None]
    p, r, f1, _ = precision_recall_fscore_support([t for _, t in labelled], [f for f, _ in labelled],
                                                  average="binary")
    got = pr.vs_human["fused"]
    assert (got.precision, got.recall, got.f1) == pytest.approx((p, r, f1))
    assert got.tp + got.fp + got.fn + got.tn == len(labelled)
    per_judge = pr.vs_human["b"]
    pb, rb, fb, _ = precision_recall_fscore_support([t for t in truth if t is not None],
                                                    [b for b, t in zip(votes_b, truth) if t is not None],
                                                    average="binary")
    assert (per_judge.precision, per_judge.recall, per_judge.f1) == pytest.approx((pb, rb, fb))
    assert pr.vs_human["c"].not_judged == sum(1 for c, t in zip(votes_c, truth) if c is None and t is not None)
    # per category (the response's category)
    s8 = pr.per_category["S8"]
    idx = [i for i in range(300) if i % 2 == 0]
    assert s8.n == 150
    assert s8.cohen_kappa["a~b"].kappa == pytest.approx(
        cohen_kappa_score([votes_a[i] for i in idx], [votes_b[i] for i in idx]))


def test_agreement_undefined_kappa_is_none_not_nan() -> None:
    records = [_record({"a": True, "b": True}, True, None) for _ in range(5)]
    pr = agreement_summary(records).metrics["policy_risk"]
    assert pr.cohen_kappa["a~b"].kappa is None and pr.cohen_kappa["a~b"].agreement == 1.0
    assert pr.fleiss_kappa is not None and pr.fleiss_kappa.kappa is None
    assert not any(isinstance(v, float) and math.isnan(v) for v in pr.model_dump().values() if isinstance(v, float))
    assert agreement_summary([]).metrics == {}


def test_jailbreak_success_is_compared_with_the_success_label() -> None:
    rec = FusedResult(id="x", jailbreak_success=MetricResult(flagged=True, votes={"hb": True}),
                      labels={"success": False, "risky": True})
    summary = agreement_summary([rec, FusedResult(id="y", jailbreak_success=MetricResult(flagged=False,
                                                                                        votes={"hb": False}),
                                                  labels={"success": None})])  # benign: no success label
    vs = summary.metrics["jailbreak_success"].vs_human
    assert (vs["fused"].n, vs["fused"].fp) == (1, 1) and (vs["hb"].n, vs["hb"].fp) == (1, 1)
