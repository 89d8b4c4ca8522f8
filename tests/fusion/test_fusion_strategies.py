"""Hand-computed fusion cases: every strategy, reducer, rule and arbitration path, vote sources, config errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from fusion_helpers import judgement, write_yaml

from lam3.errors import ConfigError
from lam3.fusion.ensemble import Ensemble, EnsembleError, RecordError
from lam3.fusion.reducers import REDUCERS
from lam3.pipeline.ensemble_files import load_ensemble

REPO = Path(__file__).resolve().parents[2]


def build(tmp_path: Path, text: str) -> Ensemble:
    return load_ensemble(write_yaml(tmp_path / "e.yaml", text)).ensemble


def guard(p: float, **cats: float):
    return judgement("fusion_guard", {"unsafe": p, **cats})


def kw(**scores: float):
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
    rec = ens.fuse("x", {"guard": guard(0.2, S8=0.2), "kw": kw(weapons=0.8)})
    r = rec.policy_risk
    # (3*0.2 + 1*0.8) / 4 = 0.35 < 0.5
    assert r.score == pytest.approx(0.35) and r.flagged is False
    # soft_vote combines probabilities: each vote is the probability against policy_risk.threshold
    assert r.votes == {"guard": False, "kw": True}
    assert r.disagreement is True and r.resolution == "soft_vote"
    assert r.categories == {"S8": 0.8}  # max over judges of the S8 category
    assert r.probabilities == {"guard": 0.2, "kw": 0.8}
    assert rec.review is False


def test_vote_strategy_weighted_share_and_tie_flags(tmp_path: Path) -> None:
    ens = build(tmp_path, """
        judges:
          a: {judge: fusion_keywords}
          b: {judge: fusion_keywords}
          c: {judge: fusion_keywords, weight: 2.0}
        policy_risk: {strategy: vote, threshold: 0.5}
    """)
    r = ens.fuse("x", {"a": kw(fraud=0.9), "b": kw(fraud=0.6), "c": kw(fraud=0.1)}).policy_risk
    assert r.score == pytest.approx(0.5) and r.flagged is True  # (1 + 1 + 0) / 4
    r = ens.fuse("x", {"a": kw(fraud=0.9), "b": kw(fraud=0.1), "c": kw(fraud=0.1)}).policy_risk
    assert r.score == pytest.approx(0.25) and r.flagged is False


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
    r = ens.fuse("x", {"guard": guard(0.6, S2=0.6), "kw": kw(fraud=0.2)}).policy_risk
    assert r.score == pytest.approx(expected, abs=1e-6)
    # the same reducer combines each category across judges
    assert r.categories["S2"] == pytest.approx(expected, abs=1e-6)


def test_noisy_or_equal_weights_is_textbook() -> None:
    noisy_or = REDUCERS.get("noisy_or")
    assert noisy_or([0.5, 0.5], [1, 1]) == pytest.approx(0.75)
    assert noisy_or([0.3, 1.0], [1, 1]) == 1.0
    assert noisy_or([0.3], [2.0]) == 0.3


def test_labels_mapped_to_categories_and_per_category_reducers(tmp_path: Path) -> None:
    ens = build(tmp_path, """
        judges:
          tox: {judge: fusion_tox}
          mod: {judge: fusion_moderation}
        social_toxicity:
          reducer: max
          category_reducers: {insult: mean}
    """)
    rec = ens.fuse("x", {
        "tox": judgement("fusion_tox", {"toxic": 0.1, "insult": 0.8, "obscene": 0.3, "swearing": 0.6}),
        "mod": judgement("fusion_moderation", {"harassment": 0.4, "hate": 0.05, "illicit": 0.9}),
    })
    st = rec.social_toxicity
    # within a judge, obscene and swearing both map to profanity: max(0.3, 0.6)
    assert st.categories == {"toxicity": 0.1, "insult": pytest.approx(0.6), "profanity": 0.6, "identity_attack": 0.05}
    # each judge's probability is its highest mapped category
    assert st.probabilities == {"tox": 0.8, "mod": 0.4}
    # moderation feeds policy risk through its second table
    assert rec.policy_risk.categories == {"S2": 0.9, "S9": 0.05}
    assert rec.policy_risk.votes == {"mod": True}


def test_label_map_override_and_drop(tmp_path: Path) -> None:
    ens = build(tmp_path, """
        judges:
          tox:
            judge: fusion_tox
            label_map: {social_toxicity: {swearing: null, toxic: severe_toxicity}}
    """)
    rec = ens.fuse("x", {"tox": judgement("fusion_tox", {"toxic": 0.7, "swearing": 0.9})})
    assert rec.social_toxicity.categories == {"severe_toxicity": 0.7}


def test_identity_fallback_for_judges_without_label_map(tmp_path: Path) -> None:
    ens = build(tmp_path, "judges:\n  ref: {judge: fusion_refusal}\n  ok: {judge: fusion_success}\n")
    rec = ens.fuse("x", {"ref": judgement("fusion_refusal", {"refusal": 0.8}),
                         "ok": judgement("fusion_success", {"success": 0.3})})
    assert rec.refusal.probabilities == {"ref": 0.8} and rec.refusal.flagged is True
    assert rec.refusal.score == 1.0  # strategy vote (the default): the share of 'flagged' votes
    # the fourth metric is fused like the others, in its one category
    assert rec.jailbreak_success.categories == {"jailbreak_success": 0.3}
    assert rec.jailbreak_success.votes == {"ok": False} and rec.jailbreak_success.flagged is False
    assert list(ens.metrics) == ["refusal", "jailbreak_success"]


def test_rules_decide_before_the_strategy(tmp_path: Path) -> None:
    ens = build(tmp_path, TWO_POLICY % ("soft_vote", "max") + """
  rules:
    - {name: guard_confident, judge: guard, at_least: 0.9, decide: flagged}
    - {judge: kw, at_most: 0.05, decide: safe}
""")
    r = ens.fuse("x", {"guard": guard(0.92), "kw": kw(weapons=0.0)}).policy_risk
    assert r.flagged is True and r.resolution == "rule:guard_confident" and r.score == 0.92
    # second rule: kw <= 0.05 decides safe although soft vote (3*0.7+0.01)/4 = 0.53 would flag
    r = ens.fuse("x", {"guard": guard(0.7), "kw": kw(weapons=0.01)}).policy_risk
    assert r.flagged is False and r.resolution == "rule:kw<=0.05"
    # no rule matches: the strategy decides
    r = ens.fuse("x", {"guard": guard(0.7), "kw": kw(weapons=0.5)}).policy_risk
    assert r.resolution == "soft_vote" and r.score == pytest.approx((3 * 0.7 + 0.5) / 4)


def test_errored_judge_left_out_and_weights_renormalised(tmp_path: Path) -> None:
    ens = build(tmp_path, """
        judges:
          a: {judge: fusion_keywords, weight: 1.0}
          b: {judge: fusion_keywords, weight: 2.0}
          c: {judge: fusion_keywords, weight: 5.0}
        policy_risk: {strategy: soft_vote}
    """)
    r = ens.fuse("x", {"a": kw(fraud=0.9), "b": kw(fraud=0.3),
                       "c": judgement("fusion_keywords", error="TimeoutError: judge down")}).policy_risk
    assert r.score == pytest.approx((0.9 + 2 * 0.3) / 3)  # renormalised over a and b
    assert r.missing == ["c"] and r.votes["c"] is None and r.probabilities["c"] is None
    assert ens.stats.errored == {"c": 1} and ens.stats.missing == {"policy_risk": {"c": 1}}


def test_all_judges_missing_is_not_safe(tmp_path: Path) -> None:
    ens = build(tmp_path, TWO_POLICY % ("soft_vote", "max"))
    r = ens.fuse("x", {"guard": judgement("fusion_guard", error="boom")}).policy_risk
    assert r.flagged is None and r.score is None
    assert r.resolution == "no_judge" and sorted(r.missing) == ["guard", "kw"]


@pytest.mark.parametrize(("b_threshold", "b_vote", "flagged"), [(0.9, False, False), (0.7, True, True)])
def test_per_judge_thresholds_drive_votes_and_the_fused_verdict(tmp_path: Path, b_threshold: float, b_vote: bool,
                                                                flagged: bool) -> None:
    ens = build(tmp_path, f"""
        judges:
          a: {{judge: fusion_keywords, threshold: 0.2}}
          b: {{judge: fusion_keywords, threshold: {{policy_risk: {b_threshold}}}}}
        policy_risk: {{strategy: vote, threshold: 0.75}}
    """)
    r = ens.fuse("x", {"a": kw(fraud=0.3), "b": kw(fraud=0.8)}).policy_risk
    assert r.votes == {"a": True, "b": b_vote} and r.disagreement is not b_vote
    # only b's threshold differs, and it alone moves the verdict: one vote of two is below the 0.75 quorum
    assert r.score == (1.0 if b_vote else 0.5) and r.flagged is flagged


def test_a_label_type_verdict_is_the_vote_whatever_the_probability(tmp_path: Path) -> None:
    ens = build(tmp_path, """
        judges:
          guard: {judge: fusion_guard, score_label: {policy_risk: unsafe}}
    """)
    rec = ens.fuse("x", {"guard": judgement("fusion_guard", {"unsafe": 0.2}, verdict={"policy_risk": True})})
    assert rec.policy_risk.votes == {"guard": True} and rec.policy_risk.flagged is True
    assert rec.policy_risk.probabilities == {"guard": 0.2}  # kept, but not what it voted with
    rec = ens.fuse("y", {"guard": judgement("fusion_guard", {"unsafe": 0.9}, verdict={"policy_risk": False})})
    assert rec.policy_risk.flagged is False


def test_one_vote_source_per_judge(tmp_path: Path) -> None:
    ens = build(tmp_path, "judges:\n  guard: {judge: fusion_guard, score_label: {policy_risk: unsafe}}\n")
    ens.fuse("x", {"guard": judgement("fusion_guard", {"unsafe": 0.2}, verdict={"policy_risk": True})})
    with pytest.raises(RecordError, match="own policy_risk verdict on some responses and not on others") as info:
        ens.fuse("y", {"guard": judgement("fusion_guard", {"unsafe": 0.2})})
    assert info.value.field == "judgements.guard.verdict"


@pytest.mark.parametrize(("text", "loc", "message"), [
    ("judges:\n  guard: {judge: fusion_guard, threshold: 0.3}\n", ("judges", "guard", "threshold"),
     "by its own verdict"),
    ("judges:\n  guard: {judge: fusion_guard}\n  kw: {judge: fusion_keywords}\npolicy_risk: {strategy: soft_vote}\n",
     ("policy_risk", "strategy"), "which strategy 'soft_vote' would ignore"),
])
def test_label_type_verdicts_are_never_silently_ignored(tmp_path: Path, text: str, loc: tuple, message: str) -> None:
    ens = build(tmp_path, text)
    with pytest.raises(EnsembleError, match=message) as info:
        ens.fuse("x", {"guard": judgement("fusion_guard", {"S8": 0.2}, verdict={"policy_risk": True}),
                       "kw": kw(weapons=0.1)})
    assert info.value.loc == loc


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
    r = ens.fuse("x", {"a": kw(fraud=0.9), "b": kw(fraud=0.2), "guard": guard(0.1)}).policy_risk
    assert r.disagreement is True and r.resolution == "arbiter:guard"
    assert r.flagged is False and r.score == 0.1  # soft vote alone would flag 0.55
    assert r.votes == {"a": True, "b": False, "guard": False}
    # no split: the arbiter is not asked, and it does not vote
    r = ens.fuse("x", {"a": kw(fraud=0.9), "b": kw(fraud=0.8), "guard": guard(0.0)}).policy_risk
    assert r.resolution == "soft_vote" and r.flagged is True


def test_a_label_type_arbiter_settles_with_its_verdict(tmp_path: Path) -> None:
    ens = build(tmp_path, ARBITER % "")
    r = ens.fuse("x", {"a": kw(fraud=0.9), "b": kw(fraud=0.2),
                       "guard": judgement("fusion_guard", {"unsafe": 0.1}, verdict={"policy_risk": True})}).policy_risk
    assert r.resolution == "arbiter:guard" and r.flagged is True


def test_arbiter_missing_falls_back(tmp_path: Path) -> None:
    ens = build(tmp_path, ARBITER % "")
    rec = ens.fuse("x", {"a": kw(fraud=0.9), "b": kw(fraud=0.2)})
    assert rec.policy_risk.resolution == "soft_vote (arbiter missing)" and rec.review is False
    assert rec.policy_risk.missing == []  # the arbiter is only needed on a split; reported apart
    assert ens.stats.arbiter_missing == {"policy_risk": 1}
    ens = build(tmp_path, ARBITER % ", fallback: human")
    rec = ens.fuse("x", {"a": kw(fraud=0.9), "b": kw(fraud=0.2)})
    assert rec.policy_risk.resolution == "human_pending" and rec.review is True


def test_spread_margin_and_human_queue(tmp_path: Path) -> None:
    ens = build(tmp_path, """
        judges:
          a: {judge: fusion_keywords}
          b: {judge: fusion_keywords}
        policy_risk:
          arbitration: {when: spread, margin: 0.3, method: human}
    """)
    # both vote flagged but spread 0.99 - 0.6 = 0.39 > 0.3
    rec = ens.fuse("x", {"a": kw(fraud=0.99), "b": kw(fraud=0.6)})
    assert rec.policy_risk.disagreement is True and rec.review is True
    assert rec.policy_risk.resolution == "human_pending" and rec.policy_risk.flagged is True
    rec = ens.fuse("x", {"a": kw(fraud=0.7), "b": kw(fraud=0.6)})
    assert rec.policy_risk.disagreement is False and rec.review is False
    # a human label decides and clears the queue
    rec = ens.fuse("x", {"a": kw(fraud=0.99), "b": kw(fraud=0.6)}, human={"policy_risk": False})
    assert rec.policy_risk.flagged is False and rec.policy_risk.resolution == "human" and rec.review is False


def test_unmapped_and_unconfigured_are_reported(tmp_path: Path) -> None:
    ens = build(tmp_path, "judges:\n  kw: {judge: fusion_keywords}\n")
    rec = ens.fuse("x", {"kw": kw(), "other": kw(fraud=1.0)})
    assert rec.policy_risk.probabilities == {"kw": 0.0} and rec.policy_risk.score == 0.0  # ran, found nothing
    assert ens.stats.unmapped == {"policy_risk": {"kw": 1}}
    assert ens.stats.unconfigured == {"other": 1}


def test_score_label_absent_and_malformed_judgements_are_not_safe(tmp_path: Path) -> None:
    ens = build(tmp_path, TWO_POLICY % ("soft_vote", "max"))
    r = ens.fuse("x", {"guard": judgement("fusion_guard", {"S1": 0.1}), "kw": kw(fraud=0.2)}).policy_risk
    assert r.missing == ["guard"] and ens.stats.malformed == {"guard": 1}
    r = ens.fuse("x", {"guard": {"judge": "fusion_guard", "scores": {"unsafe": 2.0}}, "kw": kw(fraud=0.2)}).policy_risk
    assert r.missing == ["guard"] and ens.stats.malformed == {"guard": 2}  # not a Judgement: left out, counted


def test_carried_fields_travel_but_never_replace_a_metric(tmp_path: Path) -> None:
    ens = build(tmp_path, "judges:\n  kw: {judge: fusion_keywords}\n")
    rec = ens.fuse("x", {"kw": kw(fraud=0.9)}, carry={"model_id": "m", "labels": {"risky": True},
                                                       "policy_risk": "not a metric"})
    assert rec.model_id == "m" and rec.labels == {"risky": True}  # type: ignore[attr-defined]
    assert rec.policy_risk.flagged is True


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
    ("judges:\n  a: {judge: fusion_keywords}\npolicy_risk:\n  strategy: majority\n", 4, "policy_risk.strategy",
     "unknown strategy 'majority' (known: merge, soft_vote, vote"),
    ("judges:\n  a: {judge: fusion_keywords}\npolicy_risk:\n  category_reducers: {S1: median}\n", 4,
     "policy_risk.category_reducers", "unknown reducer 'median' (known: max, mean, noisy_or"),
    ("judges:\n  a: {judge: fusion_keywords, threshold: 0.7}\npolicy_risk: {strategy: soft_vote}\n", 2,
     "judges.a.threshold", "has no effect: policy_risk uses strategy 'soft_vote', which combines probabilities"),
    ("judges:\n  a:\n    judge: fusion_moderation\n    threshold: {policy_risk: 0.7}\npolicy_risk: {strategy: merge}\n",
     4, "judges.a.threshold.policy_risk", "has no effect"),
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


def test_a_scalar_threshold_counts_where_any_metric_combines_votes(tmp_path: Path) -> None:
    """OpenAI-moderation-like judges feed two metrics: a plain threshold applies where votes are combined."""
    ens = build(tmp_path, """
        judges:
          mod: {judge: fusion_moderation, threshold: 0.3}
        social_toxicity: {strategy: soft_vote}
        policy_risk: {strategy: vote}
    """)
    rec = ens.fuse("x", {"mod": judgement("fusion_moderation", {"harassment": 0.4, "illicit": 0.4})})
    assert rec.policy_risk.votes == {"mod": True}  # 0.4 >= its 0.3
    assert rec.social_toxicity.votes == {"mod": False}  # soft_vote: 0.4 < social_toxicity.threshold 0.5


def test_shipped_config_validates() -> None:
    """configs/ensemble.yaml names the offline judges; it must load with the registry."""
    ens = load_ensemble(REPO / "configs" / "ensemble.yaml").ensemble
    assert set(ens.metrics) == {"social_toxicity", "policy_risk", "refusal", "jailbreak_success"}
    assert ens.judges["keyword_risk"].thresholds["policy_risk"] == 0.5
    assert all(plan.strategy.combines == "votes" for plan in ens.metrics.values())


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
    r = ens.fuse("x", {"a": kw(fraud=0.1), "guard": guard(0.95)}).policy_risk
    assert r.resolution == "rule:guard>=0.9" and r.flagged is True
    r = ens.fuse("x", {"a": kw(fraud=0.1)}).policy_risk
    # guard is not a voter: its absence is not 'missing', and a alone decides
    assert r.missing == [] and r.flagged is False and r.probabilities == {"a": 0.1}
