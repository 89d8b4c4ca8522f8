"""Property-based checks of fusion (hypothesis): bounds, monotonicity, renormalisation, order independence."""

from __future__ import annotations

from typing import Any

import fusion_helpers  # noqa: F401 - registers the test judges
from fusion_helpers import judgement
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from lam3.fusion.config import EnsembleConfig
from lam3.fusion.ensemble import Ensemble
from lam3.pipeline.ensemble_files import judge_infos

KEYS = ("a", "b", "c")
STRATEGIES = st.sampled_from(["soft_vote", "vote", "merge"])
REDUCERS = st.sampled_from(["max", "mean", "noisy_or"])
PROB = st.floats(0.0, 1.0, allow_nan=False)
WEIGHT = st.floats(0.1, 10.0, allow_nan=False)


def ensemble(strategy: str, reducer: str, weights: dict[str, float], keys: tuple[str, ...] = KEYS,
             threshold: float = 0.5) -> Ensemble:
    if strategy == "merge" and reducer == "max":
        weights = {k: 1.0 for k in weights}  # weights have no effect there (a config error)
    config = EnsembleConfig.model_validate({
        "judges": {k: {"judge": "fusion_keywords", "weight": weights[k]} for k in keys},
        "policy_risk": {"strategy": strategy, "reducer": reducer, "threshold": threshold},
    })
    return Ensemble(config, judge_infos(config, "e.yaml", None))


def jmap(probs: dict[str, float | None], cat_probs: dict[str, float] | None = None) -> dict[str, Any]:
    """None = the judge errored."""
    out = {}
    for k, p in probs.items():
        if p is None:
            out[k] = judgement("fusion_keywords", error="RuntimeError: judge failed")
        else:
            scores = {"fraud": p}
            if cat_probs and k in cat_probs:
                scores["weapons"] = cat_probs[k]
            out[k] = judgement("fusion_keywords", scores)
    return out


@settings(max_examples=200, deadline=None)
@given(STRATEGIES, REDUCERS, st.fixed_dictionaries({k: WEIGHT for k in KEYS}),
       st.fixed_dictionaries({k: st.one_of(st.none(), PROB) for k in KEYS}),
       st.fixed_dictionaries({k: PROB for k in KEYS}))
def test_scores_stay_in_unit_interval(strategy, reducer, weights, probs, cats) -> None:
    r = ensemble(strategy, reducer, weights).fuse("x", jmap(probs, cats)).policy_risk
    if all(p is None for p in probs.values()):
        assert r.score is None and r.flagged is None
        return
    assert r.score is not None and 0.0 <= r.score <= 1.0
    assert all(0.0 <= v <= 1.0 for v in r.categories.values())
    assert all(v is None or 0.0 <= v <= 1.0 for v in r.probabilities.values())


@settings(max_examples=200, deadline=None)
@given(st.fixed_dictionaries({k: WEIGHT for k in KEYS}), st.fixed_dictionaries({k: PROB for k in KEYS}),
       st.sampled_from(KEYS), PROB, st.floats(0.05, 0.95))
def test_soft_vote_is_monotone_in_each_judge(weights, probs, key, bump, threshold) -> None:
    ens = ensemble("soft_vote", "max", weights, threshold=threshold)
    higher = dict(probs)
    higher[key] = max(probs[key], bump)
    lo = ens.fuse("x", jmap(probs)).policy_risk
    hi = ens.fuse("x", jmap(higher)).policy_risk
    assert hi.score >= lo.score - 1e-9
    assert not (lo.flagged and not hi.flagged)


@settings(max_examples=200, deadline=None)
@given(STRATEGIES, REDUCERS, st.fixed_dictionaries({k: WEIGHT for k in KEYS}),
       st.fixed_dictionaries({k: PROB for k in KEYS}), st.fixed_dictionaries({k: PROB for k in KEYS}),
       st.sampled_from(KEYS))
def test_errored_judge_equals_judge_absent(strategy, reducer, weights, probs, cats, failed) -> None:
    """A judge that errored is left out and the others' weights renormalised: same as not having it."""
    with_error = dict(probs)
    with_error[failed] = None
    full = ensemble(strategy, reducer, weights).fuse("x", jmap(with_error, cats)).policy_risk
    rest = tuple(k for k in KEYS if k != failed)
    without = ensemble(strategy, reducer, weights, keys=rest).fuse(
        "x", jmap({k: probs[k] for k in rest}, cats)).policy_risk
    assert full.score == without.score
    assert full.flagged == without.flagged
    assert full.categories == without.categories
    assert full.missing == [failed] and without.missing == []


@settings(max_examples=150, deadline=None)
@given(STRATEGIES, REDUCERS, st.fixed_dictionaries({k: WEIGHT for k in KEYS}),
       st.fixed_dictionaries({k: st.one_of(st.none(), PROB) for k in KEYS}),
       st.fixed_dictionaries({k: PROB for k in KEYS}), st.permutations(KEYS), st.permutations(KEYS))
def test_fusion_does_not_depend_on_order(strategy, reducer, weights, probs, cats, config_order, input_order) -> None:
    assume(any(p is not None for p in probs.values()))
    a = ensemble(strategy, reducer, weights).fuse("x", jmap(probs, cats)).policy_risk
    other_cfg = ensemble(strategy, reducer, weights, keys=tuple(config_order))
    shuffled_inputs = {k: jmap(probs, cats)[k] for k in input_order}
    b = other_cfg.fuse("x", shuffled_inputs).policy_risk
    assert a.score == b.score and a.flagged == b.flagged
    assert a.categories == b.categories and a.votes == b.votes
    assert sorted(a.missing) == sorted(b.missing) and a.disagreement == b.disagreement
