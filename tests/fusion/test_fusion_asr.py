"""ASR: one definition per fused metric, read off the fused verdicts; grouping, exclusions and honest intervals."""

from __future__ import annotations

import pytest
from scipy.stats import beta

from lam3.fusion.asr import DEFINITIONS, asr_table, attack_succeeded
from lam3.fusion.intervals import cluster_bootstrap_ci
from lam3.records import FusedResult, MetricResult


def rec(rid: str, model: str, attack: str, *, refused: bool | None = None, risky: bool | None = None,
        toxic: bool | None = None, success: bool | None = None, sample: str | None = None, cat: str = "S1"
        ) -> FusedResult:
    def metric(flag: bool | None) -> MetricResult:
        return MetricResult(flagged=flag, score=None if flag is None else float(flag))

    return FusedResult(id=rid, model_id=model, attack=attack, category=cat, sample_id=sample or rid,
                       refusal=metric(refused), policy_risk=metric(risky), social_toxicity=metric(toxic),
                       jailbreak_success=metric(success))


def test_one_definition_per_metric_hand_computed() -> None:
    assert DEFINITIONS == ("jailbreak_success", "social_toxicity", "policy_risk", "non_refusal")  # headline first
    records = [
        rec("1", "m", "figstep", refused=False, risky=True, toxic=True, success=True),  # every definition succeeds
        rec("2", "m", "figstep", refused=True, risky=False, toxic=False, success=False),
        rec("3", "m", "figstep", refused=None, risky=True),  # refusal and toxicity not judged: left out
        rec("4", "m", "clean", refused=True, risky=False, toxic=False),
    ]
    rows = asr_table(records, group_by=("model_id", "attack"))
    got = {(r.group["attack"], r.definition): (r.n, r.successes, r.rate) for r in rows}
    assert got[("figstep", "non_refusal")] == (2, 1, 0.5)
    assert got[("figstep", "policy_risk")] == (3, 2, pytest.approx(2 / 3))
    assert got[("figstep", "social_toxicity")] == (2, 1, 0.5)
    assert got[("figstep", "jailbreak_success")] == (2, 1, 0.5)
    assert got[("clean", "non_refusal")] == (1, 0, 0.0)
    assert ("clean", "jailbreak_success") not in got  # no verdict in that group: omitted, not 0
    assert {r.group["model_id"] for r in rows} == {"m"}
    assert attack_succeeded(records[1], "refusal") is False and attack_succeeded(records[2], "refusal") is None


def test_zero_of_twelve_has_an_honest_exact_interval() -> None:
    """The Binomial(n, k/n) bootstrap gave [0, 0] here; Clopper–Pearson gives [0, 0.2646]."""
    records = [rec(str(i), "m", "a", refused=True) for i in range(12)]
    (row,) = asr_table(records, group_by=("model_id",))
    assert (row.n, row.successes, row.rate) == (12, 0, 0.0)
    assert row.interval.method == "clopper-pearson" and row.interval.low == 0.0
    assert row.interval.high == pytest.approx(beta.ppf(0.975, 1, 12))
    assert row.interval.high == pytest.approx(0.2646, abs=1e-4)
    flat = row.flat()
    assert (flat["ci_low"], flat["ci_high"], flat["interval"]) == (0.0, row.interval.high, "clopper-pearson")
    (wilson,) = asr_table(records, group_by=("model_id",), interval="wilson")
    assert wilson.interval.method == "wilson" and 0 < wilson.interval.high < row.interval.high


def test_responses_sharing_a_sample_are_one_cluster() -> None:
    # 6 samples, each attacked twice (two attacks), grouped overall: 12 responses, 6 clusters
    outcomes = {"s0": (1, 1), "s1": (0, 0), "s2": (1, 0), "s3": (0, 0), "s4": (1, 1), "s5": (0, 1)}
    records = [rec(f"{s}@{a}", "m", a, risky=bool(o[k]), sample=s)
               for s, o in outcomes.items() for k, a in enumerate(("x", "y"))]
    (row,) = [r for r in asr_table(records, group_by=()) if r.definition == "policy_risk" and r.per == "response"]
    assert (row.n, row.successes) == (12, 6) and row.interval.n == 6
    assert row.interval.method.startswith("cluster-bootstrap")
    values = [float(o[k]) for o in outcomes.values() for k in range(2)]
    labels = [s for s in outcomes for _ in range(2)]
    ref = cluster_bootstrap_ci(values, labels)
    assert (row.interval.low, row.interval.high) == (ref.low, ref.high)
    # per attack every sample appears once: the exact interval, one unit per response
    per_attack = [r for r in asr_table(records, group_by=("attack",)) if r.definition == "policy_risk"]
    assert {r.interval.method for r in per_attack} == {"clopper-pearson"} and {r.interval.n for r in per_attack} == {6}
    # no clustering asked for: 12 independent units
    (flat,) = [r for r in asr_table(records, group_by=(), cluster_by=None)
               if r.definition == "policy_risk" and r.per == "response"]
    assert flat.interval.method == "clopper-pearson" and flat.interval.n == 12


def test_deterministic_and_order_free() -> None:
    records = [rec(f"{i}", "m", "a", risky=i % 3 == 0, sample=f"s{i % 5}") for i in range(40)]
    assert asr_table(records, group_by=()) == asr_table(list(reversed(records)), group_by=())
