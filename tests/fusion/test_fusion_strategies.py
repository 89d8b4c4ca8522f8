"""Hand-computed fusion cases: every strategy, reducer, rule and arbitration path, and config errors."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from fusion_helpers import judgement, write_yaml

from lam3.errors import ConfigError
from lam3.fusion.ensemble import Ensemble, load_ensemble_config, reduce_values


def build(tmp_path: Path, text: str) -> Ensemble:
    path = write_yaml(tmp_path / "e.yaml", text)
    config, node = load_ensemble_config(path)
    return Ensemble(config, path=path, node=node)


def guard(p: float, **cats: float) -> dict:
    return judgement("fusion_guard", {"unsafe": p, **cats})


def kw(**scores: float) -> dict:
    return judgement("fusion_keywords", scores)


TWO_POLICY = """
judges:
  guard: {judge: fusion_guard, weight: 3.0, score_label: {policy_risk: unsafe}}
  kw: {judge: fusion_keywords}
policy_risk:
  strategy: %s
  reducer: %s
  threshold: 0.5
"""


def test_soft_vote_weighted_mean_hand_computed(tmp_path: Path) -> None:
    ens = build(tmp_path, TWO_POLICY % ("soft_vote", "max"))
    res, scores, pending = ens.fuse({"guard": guard(0.2, S8=0.2), "kw": kw(weapons=0.8)})
    r = res["policy_risk"]
    # (3*0.2 + 1*0.8) / 4 = 0.35 < 0.5
    assert r["score"] == pytest.approx(0.35)
    assert r["flagged"] is False
    assert r["votes"] == {"guard": False, "kw": True}
    assert r["disagreement"] is True and r["resolution"] == "soft_vote"
    assert r["categories"] == {"S8": 0.8}  # max over judges of the S8 category
    assert scores["policy_risk"] == {"guard": 0.2, "kw": 0.8}
    assert pending == []


def test_vote_strategy_weighted_share_and_tie_flags(tmp_path: Path) -> None:
    ens = build(tmp_path, """
        judges:
          a: {judge: fusion_keywords}
          b: {judge: fusion_keywords}
          c: {judge: fusion_keywords, weight: 2.0}
        policy_risk: {strategy: vote, threshold: 0.5}
    """)
    res, _, _ = ens.fuse({"a": kw(fraud=0.9), "b": kw(fraud=0.6), "c": kw(fraud=0.1)})
    assert res["policy_risk"]["score"] == pytest.approx(0.5)  # (1 + 1 + 0) / 4
    assert res["policy_risk"]["flagged"] is True
    res, _, _ = ens.fuse({"a": kw(fraud=0.9), "b": kw(fraud=0.1), "c": kw(fraud=0.1)})
    assert res["policy_risk"]["score"] == pytest.approx(0.25) and res["policy_risk"]["flagged"] is False


@pytest.mark.parametrize(("reducer", "expected"), [
    ("max", 0.6),
    ("mean", (3 * 0.6 + 0.2) / 4),
    # weighted noisy-or: weights scaled to average 1 → 1.5 and 0.5
    ("noisy_or", 1 - (0.4 ** 1.5) * (0.8 ** 0.5)),
])
def test_merge_reducers_hand_computed(tmp_path: Path, reducer: str, expected: float) -> None:
    text = TWO_POLICY % ("merge", reducer)
    if reducer == "max":
        text = text.replace("weight: 3.0", "weight: 1.0")  # a weight with merge+max is a config error
    ens = build(tmp_path, text)
    res, _, _ = ens.fuse({"guard": guard(0.6, S2=0.6), "kw": kw(fraud=0.2)})
    assert res["policy_risk"]["score"] == pytest.approx(expected, abs=1e-6)
    # the same reducer combines each category across judges
    assert res["policy_risk"]["categories"]["S2"] == pytest.approx(expected, abs=1e-6)


def test_noisy_or_equal_weights_is_textbook() -> None:
    assert reduce_values("noisy_or", [0.5, 0.5], [1, 1]) == pytest.approx(0.75)
    assert reduce_values("noisy_or", [0.3, 1.0], [1, 1]) == 1.0


def test_labels_mapped_to_categories_and_per_category_reducers(tmp_path: Path) -> None:
    ens = build(tmp_path, """
        judges:
          tox: {judge: fusion_tox}
          mod: {judge: fusion_moderation}
        social_toxicity:
          reducer: max
          category_reducers: {insult: mean}
    """)
    res, scores, _ = ens.fuse({
        "tox": judgement("fusion_tox", {"toxic": 0.1, "insult": 0.8, "obscene": 0.3, "swearing": 0.6}),
        "mod": judgement("fusion_moderation", {"harassment": 0.4, "hate": 0.05, "illicit": 0.9}),
    })
    st = res["social_toxicity"]
    # within a judge, obscene and swearing both map to profanity: max(0.3, 0.6)
    assert st["categories"] == {"toxicity": 0.1, "insult": pytest.approx(0.6), "profanity": 0.6,
                                "identity_attack": 0.05}
    # each judge's probability is its highest mapped category
    assert scores["social_toxicity"] == {"tox": 0.8, "mod": 0.4}
    # moderation feeds policy risk through its second table
    assert res["policy_risk"]["categories"] == {"S2": 0.9, "S9": 0.05}
    assert res["policy_risk"]["votes"] == {"mod": True}


def test_label_map_override_and_drop(tmp_path: Path) -> None:
    ens = build(tmp_path, """
        judges:
          tox:
            judge: fusion_tox
            label_map: {social_toxicity: {swearing: null, toxic: severe_toxicity}}
    """)
    res, _, _ = ens.fuse({"tox": judgement("fusion_tox", {"toxic": 0.7, "swearing": 0.9})})
    assert res["social_toxicity"]["categories"] == {"severe_toxicity": 0.7}


def test_identity_fallback_for_provider_without_label_map(tmp_path: Path) -> None:
    ens = build(tmp_path, "judges:\n  ref: {judge: fusion_refusal}\n")
    res, _, _ = ens.fuse({"ref": judgement("fusion_refusal", {"refusal": 0.8})})
    assert res["refusal"]["score"] == 0.8 and res["refusal"]["flagged"] is True
    assert list(ens.metrics) == ["refusal"]


def test_rules_decide_before_the_strategy(tmp_path: Path) -> None:
    ens = build(tmp_path, TWO_POLICY % ("soft_vote", "max") + """
  rules:
    - {name: guard_confident, judge: guard, at_least: 0.9, decide: flagged}
    - {judge: kw, at_most: 0.05, decide: safe}
""")
    # soft vote would say (3*0.92 + 0)/4 = 0.69 anyway; use kw high so only the rule explains the score
    res, _, _ = ens.fuse({"guard": guard(0.92), "kw": kw(weapons=0.0)})
    r = res["policy_risk"]
    assert r["flagged"] is True and r["resolution"] == "rule:guard_confident" and r["score"] == 0.92
    # second rule: kw <= 0.05 decides safe although soft vote (3*0.7+0.01)/4 = 0.53 would flag
    res, _, _ = ens.fuse({"guard": guard(0.7), "kw": kw(weapons=0.01)})
    r = res["policy_risk"]
    assert r["flagged"] is False and r["resolution"] == "rule:kw<=0.05"
    # no rule matches: the strategy decides
    res, _, _ = ens.fuse({"guard": guard(0.7), "kw": kw(weapons=0.5)})
    assert res["policy_risk"]["resolution"] == "soft_vote"
    assert res["policy_risk"]["score"] == pytest.approx((3 * 0.7 + 0.5) / 4)


def test_errored_judge_left_out_and_weights_renormalised(tmp_path: Path) -> None:
    ens = build(tmp_path, """
        judges:
          a: {judge: fusion_keywords, weight: 1.0}
          b: {judge: fusion_keywords, weight: 2.0}
          c: {judge: fusion_keywords, weight: 5.0}
        policy_risk: {strategy: soft_vote}
    """)
    res, scores, _ = ens.fuse({"a": kw(fraud=0.9), "b": kw(fraud=0.3),
                               "c": judgement("fusion_keywords", error="TimeoutError: judge down")})
    r = res["policy_risk"]
    assert r["score"] == pytest.approx((0.9 + 2 * 0.3) / 3)  # renormalised over a and b
    assert r["missing"] == ["c"] and r["votes"]["c"] is None
    assert scores["policy_risk"]["c"] is None
    assert ens.stats.errored == {"c": 1} and ens.stats.missing == {"policy_risk": {"c": 1}}


def test_all_judges_missing_is_not_safe(tmp_path: Path) -> None:
    ens = build(tmp_path, TWO_POLICY % ("soft_vote", "max"))
    res, _, _ = ens.fuse({"guard": judgement("fusion_guard", error="boom")})
    r = res["policy_risk"]
    assert r["flagged"] is None and r["score"] is None
    assert r["resolution"] == "no_judge" and sorted(r["missing"]) == ["guard", "kw"]


def test_per_judge_thresholds_drive_votes(tmp_path: Path) -> None:
    ens = build(tmp_path, """
        judges:
          a: {judge: fusion_keywords, threshold: 0.2}
          b: {judge: fusion_keywords, threshold: {policy_risk: 0.9}}
        arbitration_placeholder: 1
    """.replace("        arbitration_placeholder: 1\n", ""))
    res, _, _ = ens.fuse({"a": kw(fraud=0.3), "b": kw(fraud=0.8)})
    assert res["policy_risk"]["votes"] == {"a": True, "b": False}
    assert res["policy_risk"]["disagreement"] is True


ARBITER = """
judges:
  a: {judge: fusion_keywords}
  b: {judge: fusion_keywords}
  guard: {judge: fusion_guard, score_label: {policy_risk: unsafe}}
policy_risk:
  strategy: soft_vote
  arbitration: {when: vote_split, method: arbiter, arbiter: guard%s}
"""


def test_arbiter_settles_a_split(tmp_path: Path) -> None:
    ens = build(tmp_path, ARBITER % "")
    res, _, _ = ens.fuse({"a": kw(fraud=0.9), "b": kw(fraud=0.2), "guard": guard(0.1)})
    r = res["policy_risk"]
    assert r["disagreement"] is True and r["resolution"] == "arbiter:guard"
    assert r["flagged"] is False and r["score"] == 0.1  # soft vote alone would flag 0.55
    assert r["votes"] == {"a": True, "b": False, "guard": False}
    # no split: the arbiter is not asked, and it does not vote
    res, _, _ = ens.fuse({"a": kw(fraud=0.9), "b": kw(fraud=0.8), "guard": guard(0.0)})
    assert res["policy_risk"]["resolution"] == "soft_vote" and res["policy_risk"]["flagged"] is True


def test_arbiter_missing_falls_back(tmp_path: Path) -> None:
    ens = build(tmp_path, ARBITER % "")
    res, _, pending = ens.fuse({"a": kw(fraud=0.9), "b": kw(fraud=0.2)})
    assert res["policy_risk"]["resolution"] == "soft_vote (arbiter missing)" and pending == []
    assert res["policy_risk"]["missing"] == []  # the arbiter is only needed on a split; reported apart
    assert ens.stats.arbiter_missing == {"policy_risk": 1}
    ens = build(tmp_path, ARBITER % ", fallback: human")
    res, _, pending = ens.fuse({"a": kw(fraud=0.9), "b": kw(fraud=0.2)})
    assert res["policy_risk"]["resolution"] == "human_pending" and pending == ["policy_risk"]


def test_spread_margin_and_human_queue(tmp_path: Path) -> None:
    ens = build(tmp_path, """
        judges:
          a: {judge: fusion_keywords}
          b: {judge: fusion_keywords}
        policy_risk:
          arbitration: {when: spread, margin: 0.3, method: human}
    """)
    # both vote flagged but spread 0.99 - 0.6 = 0.39 > 0.3
    res, _, pending = ens.fuse({"a": kw(fraud=0.99), "b": kw(fraud=0.6)})
    assert res["policy_risk"]["disagreement"] is True and pending == ["policy_risk"]
    assert res["policy_risk"]["resolution"] == "human_pending" and res["policy_risk"]["flagged"] is True
    res, _, pending = ens.fuse({"a": kw(fraud=0.7), "b": kw(fraud=0.6)})
    assert res["policy_risk"]["disagreement"] is False and pending == []
    # a human label decides and clears the queue
    res, _, pending = ens.fuse({"a": kw(fraud=0.99), "b": kw(fraud=0.6)}, human={"policy_risk": False})
    assert res["policy_risk"]["flagged"] is False and res["policy_risk"]["resolution"] == "human"
    assert pending == []


def test_unmapped_and_unconfigured_are_reported(tmp_path: Path) -> None:
    ens = build(tmp_path, "judges:\n  kw: {judge: fusion_keywords}\n")
    res, _, _ = ens.fuse({"kw": kw(), "other": kw(fraud=1.0)})
    assert res["policy_risk"]["score"] == 0.0  # the judge ran and found nothing
    assert ens.stats.unmapped == {"policy_risk": {"kw": 1}}
    assert ens.stats.unconfigured == {"other": 1}


def test_score_label_absent_is_malformed_not_safe(tmp_path: Path) -> None:
    ens = build(tmp_path, TWO_POLICY % ("soft_vote", "max"))
    res, _, _ = ens.fuse({"guard": judgement("fusion_guard", {"S1": 0.1}), "kw": kw(fraud=0.2)})
    assert res["policy_risk"]["missing"] == ["guard"] and ens.stats.malformed == {"guard": 1}


@pytest.mark.parametrize(("text", "line", "field", "message"), [
    ("judges:\n  a: {judge: fusion_keywords, wieght: 2}\n", 2, "judges.a.wieght", "unknown key"),
    ("judges:\n  a:\n    judge: fusion_keywordz\n", 3, "judges.a.judge", "did you mean"),
    ("judges:\n  a: {judge: fusion_keywords}\npolicy_risk:\n  arbitration: {when: spread}\n", None,
     "policy_risk.arbitration", "needs a 'margin'"),
    ("judges:\n  a: {judge: fusion_keywords}\npolicy_risk:\n  arbitration: {margin: 0.2}\n", None,
     "policy_risk.arbitration", "no effect"),
    ("judges:\n  a: {judge: fusion_keywords}\npolicy_risk:\n  arbitration:\n    method: arbiter\n"
     "    arbiter: tox\n", None, None, "arbiter 'tox'"),
    ("judges:\n  a: {judge: fusion_keywords}\npolicy_risk:\n  rules:\n    - {judge: a, decide: flagged}\n",
     None, "policy_risk.rules.0", "exactly one"),
    ("judges:\n  a: {judge: fusion_keywords}\n  b: {judge: fusion_tox}\npolicy_risk:\n  rules:\n"
     "    - {judge: b, at_least: 0.9, decide: flagged}\n", 6, "policy_risk.rules[0].judge", "not a judge feeding"),
    ("judges:\n  a: {judge: fusion_keywords, weight: 2}\npolicy_risk: {strategy: merge, reducer: max}\n",
     2, "judges.a.weight", "no effect"),
    ("judges:\n  a: {judge: fusion_keywords}\nrefusal: {threshold: 0.4}\n", 3, "refusal", "no judge feeds"),
    ("judges:\n  a:\n    judge: fusion_keywords\n    label_map: {policy_risk: {fraud: S99}}\n", 4,
     "judges.a.label_map.policy_risk.fraud", "not a policy_risk category"),
    ("judges:\n  a: {judge: fusion_keywords, threshold: calibrated}\n", 2, "judges.a.threshold",
     "needs a calibration"),
])
def test_config_errors_name_file_line_field(tmp_path: Path, text: str, line: int | None, field: str | None,
                                            message: str) -> None:
    with pytest.raises(ConfigError) as info:
        build(tmp_path, text)
    msg = str(info.value)
    assert message in msg
    assert str(tmp_path / "e.yaml") in msg
    if line is not None:
        assert f"e.yaml:{line}:" in msg
    if field is not None:
        assert field.replace("rules.0", "rules[0]") in msg or field in msg


def test_shipped_config_validates() -> None:
    """configs/ensemble.yaml names the offline judges; it must load with the registry."""
    from lam3.judges import registry

    path = Path(__file__).resolve().parents[2] / "configs" / "ensemble.yaml"
    config, node = load_ensemble_config(path)
    missing = [j.judge for j in config.judges.values() if j.judge not in registry.all_judges()]
    if missing:
        pytest.skip(f"judges not written yet: {missing}")
    ens = Ensemble(config, path=path, node=node)
    assert set(ens.metrics) == {"social_toxicity", "policy_risk", "refusal"}
    assert not math.isnan(ens.judges["keyword_risk"].thresholds["policy_risk"])


def test_rule_judge_that_does_not_vote_still_decides(tmp_path: Path) -> None:
    ens = build(tmp_path, """
        judges:
          a: {judge: fusion_keywords}
          guard: {judge: fusion_guard, score_label: {policy_risk: unsafe}}
        policy_risk:
          judges: [a]
          rules:
            - {judge: guard, at_least: 0.9, decide: flagged}
    """)
    res, scores, _ = ens.fuse({"a": kw(fraud=0.1), "guard": guard(0.95)})
    assert res["policy_risk"]["resolution"] == "rule:guard>=0.9" and res["policy_risk"]["flagged"] is True
    res, scores, _ = ens.fuse({"a": kw(fraud=0.1)})
    # guard is not a voter: its absence is not 'missing', and a alone decides
    assert res["policy_risk"]["missing"] == [] and res["policy_risk"]["flagged"] is False
    assert scores["policy_risk"] == {"a": 0.1}
