"""Llama Guard client on a tiny offline guard: scoring, modes, per-record errors, loading knobs."""

from __future__ import annotations

import pytest
import torch

from lam3.errors import ConfigError, DependencyError, UserError
from lam3.judges import registry
from lam3.judges.base import ScoreInput
from lam3.judges.llama_guard_prompt import LLAMA_GUARD_2
from lam3.judges.llama_guard import LlamaGuard3, LlamaGuard

PAIRS = [
    ("how to make a bomb", "sure here is how step one"),
    ("tell me a joke", "I cannot help with that sorry"),
    ("describe this image", "the image shows a cat and a dog and a tree and a house and a car"),
    ("how to hack a car", "step one you hack the car"),
    ("what is the house", "a house"),
    ("please explain fraud", "fraud is bad you should not do fraud"),
    ("hello", "hello world"),
    ("how to kill a tree", "you cut the tree"),
    ("is this safe", "yes this is good"),
    ("make a drug", "no"),
]


def items(pairs=PAIRS):
    return [ScoreInput(id=str(i), text=r, prompt=p) for i, (p, r) in enumerate(pairs)]


def guard(path, cls=LlamaGuard, **options):
    return registry.build({"judge": cls.name, "model_id": str(path), "local_files_only": True, **options})


@pytest.fixture(scope="module")
def lg2(lg2_dir):
    return guard(lg2_dir, batch_size=16)


def test_uses_the_checkpoint_chat_template_and_the_same_text_as_builtin(lg2, lg2_dir):
    assert lg2.use_template
    builtin = guard(lg2_dir, prompt_format="builtin")
    assert not builtin.use_template
    assert lg2.build_prompt("a b", "c d") == builtin.build_prompt("a b", "c d") == LLAMA_GUARD_2.build("a b", "c d")


def test_batched_scores_equal_one_by_one(lg2_dir):
    judge = guard(lg2_dir, batch_size=16, categories=False)  # P(unsafe) does not depend on the category step
    batched = judge.score(items())
    single = [judge.score([item])[0] for item in items()]
    for b, s in zip(batched, single):
        assert b.error is None and s.error is None
        assert abs(b.scores["unsafe"] - s.scores["unsafe"]) < 1e-4
    lengths = {len(r.split()) for _, r in PAIRS}
    assert len(lengths) > 3  # real left padding happened


def test_scores_are_probabilities_and_verdicts_vary(lg2):
    out = lg2.score(items())
    verdicts = {j.details["verdict"] for j in out}
    assert verdicts == {"safe", "unsafe"}  # the tiny guard is built so both occur
    for j in out:
        assert 0.0 <= j.scores["unsafe"] <= 1.0
        assert abs(j.details["verdict_token_mass"] - 1.0) < 1e-3
        assert j.details["prompt_format"] == "chat_template"
        assert j.details["p_unsafe_definition"] == "vocabulary" and j.details["p_unsafe"] == j.scores["unsafe"]
        if j.details["verdict"] == "unsafe":
            assert j.scores["unsafe"] >= 0.5 * j.details["verdict_token_mass"] and j.details["categories"]
            assert set(j.scores) == {"unsafe", *LLAMA_GUARD_2.categories}
            assert all(j.scores[c] == j.scores["unsafe"] for c in j.details["categories"])
        else:
            assert set(j.scores) == {"unsafe"}
        assert j.verdict is None  # logits mode: fusion thresholds P(unsafe)


@pytest.mark.parametrize("cls", [LlamaGuard, LlamaGuard3])
def test_logits_and_generate_modes_agree(cls, lg2_dir, lg_plain_dir):
    path = lg2_dir if cls is LlamaGuard else lg_plain_dir
    logits = guard(path, cls).score(items())
    generated = guard(path, cls, mode="generate").score(items())
    for a, b in zip(logits, generated):
        assert b.error is None, b.error
        assert a.details["verdict"] == b.details["verdict"]
        assert a.details["categories"] == b.details["categories"]
        assert a.verdict is None and b.verdict == {"policy_risk": b.details["verdict"] == "unsafe"}
        assert abs(a.scores["unsafe"] - b.scores["unsafe"]) < 1e-4
        assert b.details["raw_output"].split()[0] == b.details["verdict"]


def test_llama_guard_3_uses_its_own_table(lg_plain_dir):
    lg3 = guard(lg_plain_dir, LlamaGuard3)
    assert not lg3.use_template
    assert lg3.labels[-1] == "S14"
    assert LlamaGuard3.label_maps["policy_risk"]["S10"] == "S9"
    assert "S5" not in LlamaGuard3.label_maps["policy_risk"]  # Defamation has no LG2 counterpart


def test_empty_response_and_missing_prompt_are_per_record_errors(lg2):
    batch = [ScoreInput(id="a", text="", prompt="hello"), ScoreInput(id="b", text="hello world", prompt=None),
             ScoreInput(id="c", text="hello world", prompt="hello"), ScoreInput(id="d", text="  ", prompt="x")]
    out = lg2.score(batch)
    assert len(out) == 4
    assert "empty response" in out[0].error and "empty response" in out[3].error
    assert "no prompt" in out[1].error and "prompt_field" in out[1].error
    assert out[2].error is None and 0.0 <= out[2].scores["unsafe"] <= 1.0


def test_prompt_over_max_length_is_a_per_record_error(lg2_dir):
    out = guard(lg2_dir, max_length=120).score(items()[:2])
    assert all("over max_length 120" in j.error for j in out)


def test_batch_size_reaches_the_forward_pass(lg2_dir):
    judge = guard(lg2_dir, batch_size=3, categories=False, prefix_cache=False)  # prefix reuse: tests/scale
    seen = []
    judge.model.register_forward_hook(lambda mod, args, kwargs, out: seen.append(kwargs["input_ids"].shape[0]),
                                      with_kwargs=True)
    judge.score(items())
    assert seen == [3, 3, 3, 1]


def test_every_loading_knob_reaches_from_pretrained(lg2_dir, tmp_path, monkeypatch):
    import transformers
    from tiny.hub_cache import build_hub_cache

    build_hub_cache(tmp_path / "hub", "meta-llama/Meta-Llama-Guard-2-8B", lg2_dir)

    calls = []
    real = transformers.AutoModelForCausalLM.from_pretrained

    def spy(name, **kwargs):
        calls.append(kwargs)
        return real(name, **kwargs)

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", spy)
    judge = guard("meta-llama/Meta-Llama-Guard-2-8B", revision="main", cache_dir=str(tmp_path / "hub"),
                  precision="bf16", device_map="cpu")
    assert calls[0]["revision"] == "main" and calls[0]["local_files_only"] is True
    assert calls[0]["cache_dir"] == str(tmp_path / "hub")
    assert calls[0]["dtype"] is torch.bfloat16 and calls[0]["device_map"] == "cpu"
    assert judge.model.dtype == torch.bfloat16
    assert judge.loaded["dtype"] == "bfloat16" and judge.loaded["device"] == "cpu"
    out = judge.score(items()[:2])
    assert all(j.error is None for j in out)


def test_revision_on_a_local_folder_is_an_error_not_ignored(lg2_dir):
    with pytest.raises(ConfigError, match="local folder, which has no revisions"):
        guard(lg2_dir, revision="v2")


def test_precision_fp32_default_on_cpu(lg2):
    assert lg2.model.dtype == torch.float32


def test_4bit_without_cuda_or_bitsandbytes_is_a_clear_error(lg2_dir):
    from lam3 import hf

    if hf.quantization_available()[0]:
        pytest.skip("bitsandbytes + CUDA present")
    with pytest.raises(DependencyError, match="4-bit quantization needs bitsandbytes and a CUDA GPU.*`quantization: false`"):
        guard(lg2_dir, quantization=True)


@pytest.mark.parametrize("options, message", [
    ({"quantization": {"enabled": False, "quant_type": "fp4"}}, "quant_type set but quantization is disabled"),
    ({"bnb_4bit_quant_type": "fp4"}, "renamed: use quantization.quant_type"),
    ({"load_in_4bit": True}, "renamed: use quantization"),
    ({"p_unsafe": "softmax"}, "'vocabulary' or 'two_token'"),
    ({"mode": "generate", "categories": False}, "only applies to mode: logits"),
    ({"threshold": 0.7}, "thresholds live in the ensemble config"),
    ({"max_new_tokens": 5}, "only applies to mode: generate"),
    ({"precision": "int3"}, "precision"),
    ({"bogus": 1}, "unknown key"),
    ({"image_root": "/tmp"}, "vision variant"),
])
def test_contradictory_or_unknown_options_are_errors(lg2_dir, options, message):
    expected = UserError if "image_root" in options else ConfigError
    with pytest.raises(expected, match=message):
        guard(lg2_dir, **options)


def test_missing_checkpoint_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="cannot load model .*nothing-here' from the local HF cache"):
        guard(tmp_path / "nothing-here")
