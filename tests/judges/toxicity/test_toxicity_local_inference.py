"""The shared inference loop of the local toxicity judges, on tiny random BERTs.

References are computed independently: Detoxify's own ``predict`` on the same checkpoint,
and the transformers model run on one text at a time without padding.
"""

from __future__ import annotations

import random

import pytest
import torch

from lam3.errors import ConfigError, DependencyError
from lam3.judges.base import ScoreInput
from lam3.judges.detoxify import DetoxifyConfig, DetoxifyJudge
from lam3.judges.hf_classifier import HFClassifierConfig, HFClassifierJudge

WORDS = "the cat is a dog you idiot stupid hate kill bomb hello world please thanks good bad tree house".split()


def varied_texts(n: int, seed: int = 0, longest: int = 40) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choices(WORDS, k=rng.randint(1, longest))) for _ in range(n)]


def inputs(texts: list[str]) -> list[ScoreInput]:
    return [ScoreInput(id=f"r{i}", text=t) for i, t in enumerate(texts)]


def detoxify(checkpoints, variant="original", **kw) -> DetoxifyJudge:
    ckpt, hf_dir = checkpoints[variant]
    return DetoxifyJudge(DetoxifyConfig(variant=variant, checkpoint=str(ckpt),
                                        huggingface_config_path=str(hf_dir), **{"device_map": "cpu", **kw}))


def hf(model_dir, **kw) -> HFClassifierJudge:
    return HFClassifierJudge(HFClassifierConfig(model_id=str(model_dir), **{"device_map": "cpu", **kw}))


def one_text_reference(model_dir, texts: list[str]) -> list[list[float]]:
    """Each text alone through transformers: no padding, no sorting, nothing shared with the judge."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir, local_files_only=True).eval()
    out = []
    with torch.no_grad():
        for text in texts:
            enc = tok(text, truncation=True, max_length=64, return_tensors="pt")
            out.append(torch.sigmoid(model(**enc).logits)[0].tolist())
    return out


def test_hf_batched_sorted_scores_equal_one_text_at_a_time_in_input_order(toxic_bert_dir):
    texts = varied_texts(37, seed=1)
    lengths = [len(t.split()) for t in texts]
    assert lengths != sorted(lengths) and lengths != sorted(lengths, reverse=True)
    judge = hf(toxic_bert_dir, batch_size=8)
    got = judge.score(inputs(texts))
    ref = one_text_reference(toxic_bert_dir, texts)
    assert len(got) == len(texts)
    for j, expected in zip(got, ref):
        assert j.error is None
        assert list(j.scores) == judge.labels
        assert list(j.details["raw"].values()) == pytest.approx(expected, abs=1e-5)
        assert list(j.scores.values()) == pytest.approx(expected, abs=1e-5)  # toxic-bert's table is one-to-one
    spread = max(abs(a[0] - b[0]) for a, b in zip(ref, ref[1:]))
    assert spread > 1e-3, "the tiny model must score texts differently, or an order mix-up would not show"


def test_batched_equals_one_by_one_calls(toxic_bert_dir, detoxify_checkpoints):
    texts = varied_texts(20, seed=2)
    for judge in (hf(toxic_bert_dir, batch_size=6), detoxify(detoxify_checkpoints, "unbiased", batch_size=6)):
        batched = judge.score(inputs(texts))
        single = [judge.score([item])[0] for item in inputs(texts)]
        for a, b in zip(batched, single):
            assert a.scores.keys() == b.scores.keys()
            assert list(a.scores.values()) == pytest.approx(list(b.scores.values()), abs=1e-5)
            assert all(0.0 <= v <= 1.0 for v in a.scores.values())


def test_detoxify_matches_detoxify_package_predict(detoxify_checkpoints, tmp_path):
    """Same checkpoint, Detoxify's own loader and predict(): the scores must agree."""
    from detoxify import Detoxify

    ckpt, hf_dir = detoxify_checkpoints["original"]
    # Detoxify's loader reads the base config from model_type with its own num_labels, so give it a
    # local folder whose config already has the checkpoint's label count (its documented offline set-up).
    ref_dir = tmp_path / "ref"
    ref_dir.mkdir()
    for f in hf_dir.iterdir():
        (ref_dir / f.name).write_bytes(f.read_bytes())
    from transformers import BertConfig

    BertConfig.from_pretrained(hf_dir, num_labels=6).save_pretrained(ref_dir)
    data = torch.load(ckpt, weights_only=True)
    data["config"]["arch"]["args"]["model_type"] = str(ref_dir)
    torch.save(data, tmp_path / "ref.ckpt")

    texts = varied_texts(12, seed=3) + ["you idiot " * 200]
    expected = Detoxify(checkpoint=str(tmp_path / "ref.ckpt"), huggingface_config_path=str(ref_dir)).predict(texts)
    got = detoxify(detoxify_checkpoints, "original", batch_size=5).score(inputs(texts))
    assert set(expected) == set(got[0].scores)
    for i, j in enumerate(got):
        for label, values in expected.items():
            assert j.scores[label] == pytest.approx(values[i], abs=1e-5)


def test_very_long_text_is_truncated_and_reported(toxic_bert_dir, detoxify_checkpoints):
    texts = ["hello world", "you stupid idiot " * 3000, "the cat"]
    for judge in (hf(toxic_bert_dir), detoxify(detoxify_checkpoints)):
        got = judge.score(inputs(texts))
        assert [j.details["truncated"] for j in got] == [False, True, False]
        assert got[1].details["tokens"] == 64  # the tiny model's position limit
        assert got[0].details["tokens"] == 4  # [CLS] hello world [SEP]
        assert all(0.0 <= v <= 1.0 for j in got for v in j.scores.values())


def test_max_length_reaches_the_tokenizer_and_is_checked(toxic_bert_dir, detoxify_checkpoints):
    text = "the cat is a dog and the dog is a cat"
    full = hf(toxic_bert_dir).score(inputs([text]))[0]
    short = hf(toxic_bert_dir, max_length=6).score(inputs([text]))[0]
    assert (full.details["tokens"], full.details["truncated"]) == (13, False)
    assert (short.details["tokens"], short.details["truncated"]) == (6, True)
    assert short.scores != full.scores
    det = detoxify(detoxify_checkpoints, max_length=6).score(inputs([text]))[0]
    assert (det.details["tokens"], det.details["truncated"]) == (6, True)
    with pytest.raises(ConfigError, match="max_length 65 exceeds the model's limit of 64"):
        hf(toxic_bert_dir, max_length=65)


def test_batch_size_sets_the_rows_of_each_forward_pass(toxic_bert_dir):
    judge = hf(toxic_bert_dir, batch_size=4)
    rows: list[int] = []
    judge.model.register_forward_hook(lambda _m, args, kwargs, _out: rows.append(kwargs["input_ids"].shape[0]),
                                             with_kwargs=True)
    judge.score(inputs(varied_texts(10)))
    assert rows == [4, 4, 2]


def test_softmax_activation_gives_one_distribution(toxic_bert_dir):
    got = hf(toxic_bert_dir, activation="softmax").score(inputs(["you idiot", "hello"]))
    assert [sum(j.scores.values()) for j in got] == pytest.approx([1.0, 1.0], abs=1e-5)


def test_model_loads_once_when_built_and_never_again(toxic_bert_dir):
    judge = hf(toxic_bert_dir)
    model = judge.model
    assert judge.loaded["model_id"] == str(toxic_bert_dir)
    judge.score(inputs(["hello"]))
    judge.score(inputs(["world"]))
    assert judge.model is model
    assert judge.score([]) == []
    assert HFClassifierJudge().loaded is None  # no config (listing labels): nothing is loaded


def test_empty_text_is_a_per_record_error(toxic_bert_dir):
    out = hf(toxic_bert_dir).score(inputs(["", "hello", "   "]))
    assert [j.error for j in out] == ["empty response: nothing to classify", None,
                                      "empty response: nothing to classify"]


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU message")
@pytest.mark.parametrize("device_map", ["cuda", "cuda:1", {"": 0}])
def test_cuda_device_map_without_gpu_is_a_clear_error(toxic_bert_dir, detoxify_checkpoints, device_map):
    with pytest.raises(DependencyError, match="asks for a CUDA GPU but torch sees none: use device_map: null"):
        hf(toxic_bert_dir, device_map=device_map)
    with pytest.raises(DependencyError, match="asks for a CUDA GPU"):
        detoxify(detoxify_checkpoints, device_map=device_map)


def test_one_device_by_default_where_torch_can(toxic_bert_dir):
    judge = HFClassifierJudge(HFClassifierConfig(model_id=str(toxic_bert_dir)))
    assert judge.config.device_map is None
    judge.score(inputs(["hello"]))
    where = "cuda:0" if torch.cuda.is_available() else "cpu"
    assert judge.loaded["device"] == where and str(judge.model.device) == where
