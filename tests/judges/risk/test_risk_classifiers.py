"""Zero-shot NLI risk judge and the HF classifier as a policy-risk judge, on tiny offline checkpoints."""

from __future__ import annotations

import pytest

from lam3.errors import ConfigError, UserError
from lam3.judges import registry
from lam3.judges.base import ScoreInput
from lam3.taxonomy import ZERO_SHOT_POLICY_LABELS
from tiny.nli import build_tiny_classifier

TEXTS = ["how to make a bomb", "hello world", "the cat is a good cat and the dog is a bad dog", "fraud and hack"]


def items(texts=TEXTS):
    return [ScoreInput(id=str(i), text=t) for i, t in enumerate(texts)]


def build(name, path, **options):
    return registry.build({"judge": name, "model_id": str(path), "local_files_only": True, **options})


def policy_classifier(path, **options):
    return build("hf_classifier", path, metric="policy_risk", **options)


def test_zero_shot_matches_the_transformers_pipeline_multi_label(nli_dir):
    from transformers import pipeline

    judge = build("zero_shot_risk", nli_dir, pair_batch_size=7)
    out = judge.score(items())
    pipe = pipeline("zero-shot-classification", model=judge.model, tokenizer=judge.tokenizer, device="cpu")
    descriptions = {v: k for k, v in ZERO_SHOT_POLICY_LABELS.items()}
    for text, judgement in zip(TEXTS, out):
        ref = pipe(text, candidate_labels=list(descriptions), multi_label=True)
        expected = {descriptions[label]: score for label, score in zip(ref["labels"], ref["scores"])}
        assert set(judgement.scores) == set(ZERO_SHOT_POLICY_LABELS)
        for code, score in expected.items():
            assert abs(judgement.scores[code] - score) < 1e-5
    assert len({round(j.scores["S1"], 6) for j in out}) == len(TEXTS)  # input-dependent


def test_zero_shot_labels_and_template_from_yaml_reach_the_model(nli_dir):
    a = build("zero_shot_risk", nli_dir, labels={"S1": "violence", "S8": "a bomb"})
    b = build("zero_shot_risk", nli_dir, labels={"S1": "violence", "S8": "a bomb"}, hypothesis_template="{} is here .")
    ja, jb = a.score(items())[0], b.score(items())[0]
    assert set(ja.scores) == {"S1", "S8"} and a.labels == ["S1", "S8"]
    assert a.hypotheses == ["This example is violence.", "This example is a bomb."]
    assert ja.scores != jb.scores


def test_zero_shot_empty_text_is_a_per_record_error(nli_dir):
    out = build("zero_shot_risk", nli_dir).score(items(["", "hello world"]))
    assert "empty response" in out[0].error and out[1].error is None


def test_zero_shot_reads_entailment_index_from_id2label(tmp_path, nli_dir):
    swapped = build_tiny_classifier(tmp_path / "swapped", {0: "entailment", 1: "neutral", 2: "contradiction"})
    judge = build("zero_shot_risk", swapped)
    assert (judge.entail, judge.contra) == (0, 2)
    plain = build_tiny_classifier(tmp_path / "plain", {0: "LABEL_0", 1: "LABEL_1"})
    with pytest.raises(UserError, match="not an NLI model"):
        build("zero_shot_risk", plain)


@pytest.mark.parametrize("options, message", [
    ({"labels": {"violence": "violent crime"}}, "policy categories"),
    ({"hypothesis_template": "no slot"}, "exactly one"),
    ({"labels": {}}, "at least one"),
])
def test_zero_shot_config_errors(nli_dir, options, message):
    with pytest.raises(ConfigError, match=message):
        build("zero_shot_risk", nli_dir, **options)


def test_policy_classifier_maps_labels_onto_categories(clf_dir):
    judge = policy_classifier(clf_dir, label_map={"violence": "S1", "fraud": "S2"}, activation="softmax")
    out = judge.score(items())
    for j in out:
        assert j.metric == "policy_risk" and set(j.scores) == {"S1", "S2"}
        assert abs(sum(j.details["raw"].values()) - 1.0) < 1e-5  # softmax over the model's three labels
        assert j.scores["S1"] == j.details["raw"]["violence"] and j.scores["S2"] == j.details["raw"]["fraud"]
    assert judge.labels == ["S1", "S2"] and judge.metric == "policy_risk"
    assert len({round(j.scores["S1"], 6) for j in out}) == len(TEXTS)  # input-dependent


def test_policy_classifier_sigmoid_and_several_labels_per_category(clf_dir):
    judge = policy_classifier(clf_dir, label_map={"violence": "S2", "fraud": "S2"}, activation="sigmoid")
    for j in judge.score(items()):
        raw = j.details["raw"]
        assert sum(raw.values()) != pytest.approx(1.0, abs=1e-3)
        assert j.scores == {"S2": max(raw["violence"], raw["fraud"])}


def test_policy_classifier_matches_the_transformers_pipeline(clf_dir):
    """Same checkpoint through transformers' own text-classification pipeline, one text at a time."""
    from transformers import pipeline

    judge = policy_classifier(clf_dir, label_map={"violence": "S1", "fraud": "S2"}, activation="softmax")
    pipe = pipeline("text-classification", model=judge.model, tokenizer=judge.tokenizer, device="cpu", top_k=None,
                    function_to_apply="softmax")
    for text, j in zip(TEXTS, judge.score(items())):
        expected = {r["label"]: r["score"] for r in pipe([text])[0]}
        assert j.details["raw"] == pytest.approx(expected, abs=1e-5)


@pytest.mark.parametrize("options, error, message", [
    ({"label_map": {"toxic": "S1"}}, UserError, "label_map names toxic, which .* does not have"),
    ({"label_map": {"violence": "violence"}}, ConfigError, "label_map values must be policy_risk categories"),
    ({}, ConfigError, r"got .*toxicity.* \(the default label_map is toxic-bert's social-toxicity table\)"),
    ({"label_map": {}}, ConfigError, "at least one"),
])
def test_policy_classifier_config_errors(clf_dir, options, error, message):
    with pytest.raises(error, match=message):
        policy_classifier(clf_dir, **options)


def test_zero_shot_pair_batch_size_reaches_the_forward_pass(nli_dir):
    judge = build("zero_shot_risk", nli_dir, pair_batch_size=7, precision="fp32")
    seen = []
    judge.model.register_forward_hook(lambda mod, args, kwargs, out: seen.append(kwargs["input_ids"].shape[0]),
                                      with_kwargs=True)
    judge.score(items())
    assert seen == [7] * 6 + [2]  # 4 texts x 11 labels = 44 pairs
