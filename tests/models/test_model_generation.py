"""Both wrappers on tiny random checkpoints: every decoding knob reaches ``generate`` and changes behaviour."""

from __future__ import annotations

import pytest

from lam3.models import GenerationConfig, Request, load_mllm, sample_seed
from lam3.models.seeding import PerSampleSampler
from models.conftest import with_generation

ARCHS = ["llava", "idefics2"]
PROMPTS = ["describe this image", "how to make a weapon", "tell me about the cat", "what is the house", "hello world"]


def _images():
    from PIL import Image

    return [Image.new("RGB", (40, 32), (200, 20, 20)), Image.linear_gradient("L").convert("RGB")]


def _requests(n=5, seed=42):
    imgs = _images()
    return [Request(f"s{i}", PROMPTS[i % len(PROMPTS)], [imgs[i % 2]], sample_seed(seed, f"s{i}")) for i in range(n)]


def _spy_generate(monkeypatch, mllm):
    calls = []
    real = mllm.model.generate

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(mllm.model, "generate", spy)
    return calls


@pytest.mark.parametrize("arch", ARCHS)
def test_min_new_tokens_is_respected(arch, model_config_for):
    """The model is biased so end-of-turn is always its first choice: only min_new_tokens can delay it."""
    from tiny.llava import _bias_towards

    base = load_mllm(model_config_for(arch), GenerationConfig(max_new_tokens=10, min_new_tokens=0, do_sample=False))
    _bias_towards(base.model, base.eos_token_ids[-1], 8.0)
    reqs = _requests(3)
    eager = base.generate(reqs)
    assert [o.new_tokens for o in eager] == [1, 1, 1]  # without min_new_tokens: stop at once
    for mllm in (with_generation(base, max_new_tokens=10, min_new_tokens=5, do_sample=False),
                 with_generation(base, max_new_tokens=10, min_new_tokens=5, temperature=1.0)):
        outs = mllm.generate(reqs)
        assert [o.new_tokens for o in outs] == [6, 6, 6]  # 5 forced tokens, then the (favoured) stop token
        assert all(o.text for o in outs)


@pytest.mark.parametrize("arch", ARCHS)
def test_sampling_differs_from_greedy_and_is_reproducible(arch, loaded):
    greedy = with_generation(loaded(arch), max_new_tokens=6, min_new_tokens=6, do_sample=False)
    sampled = with_generation(loaded(arch), max_new_tokens=6, min_new_tokens=6, temperature=1.5, top_p=1.0)
    reqs = _requests(5)
    g, s1, s2 = greedy.generate(reqs), sampled.generate(reqs), sampled.generate(reqs)
    assert [o.text for o in s1] == [o.text for o in s2]
    assert [o.text for o in s1] != [o.text for o in g]
    other_seed = sampled.generate(_requests(5, seed=43))
    assert [o.text for o in other_seed] != [o.text for o in s1]


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("do_sample", [False, True])
def test_batch_size_and_order_do_not_change_results(arch, do_sample, loaded):
    gen = dict(max_new_tokens=6, min_new_tokens=3, do_sample=do_sample)
    if do_sample:
        gen.update(temperature=1.0, top_p=0.9)
    mllm = with_generation(loaded(arch), **gen)
    reqs = _requests(5)
    batched = mllm.generate(reqs)
    one_by_one = [mllm.generate([r])[0] for r in reqs]
    reversed_pairs = [o for i in range(0, 5, 2) for o in mllm.generate(list(reversed(reqs))[i:i + 2])][::-1]
    assert batched == one_by_one == reversed_pairs
    if do_sample:
        assert len({o.text for o in batched}) > 1  # rows do not share one random stream


@pytest.mark.parametrize("arch", ARCHS)
def test_every_knob_reaches_generate(arch, loaded, monkeypatch):
    mllm = with_generation(loaded(arch), max_new_tokens=7, min_new_tokens=2, temperature=0.7, top_p=0.8, top_k=5,
                           repetition_penalty=1.3, seed=3)
    calls = _spy_generate(monkeypatch, mllm)
    reqs = _requests(2, seed=3)
    mllm.generate(reqs)
    (kw,) = calls
    assert (kw["max_new_tokens"], kw["min_new_tokens"], kw["repetition_penalty"], kw["num_beams"]) == (7, 2, 1.3, 1)
    assert kw["do_sample"] is False  # HF's sampler is off: ours (per-sample seeded) is the last logits processor
    (sampler,) = [p for p in kw["logits_processor"] if isinstance(p, PerSampleSampler)]
    assert (sampler.temperature, sampler.top_p, sampler.top_k) == (0.7, 0.8, 5)
    assert sampler.seeds == [r.seed for r in reqs]
    assert kw["input_ids"].shape[0] == 2 and "pixel_values" in kw
    settings = mllm.settings()
    assert {k: settings[k] for k in ("max_new_tokens", "min_new_tokens", "temperature", "top_p", "top_k",
                                      "repetition_penalty", "do_sample")} == \
        {"max_new_tokens": 7, "min_new_tokens": 2, "temperature": 0.7, "top_p": 0.8, "top_k": 5,
         "repetition_penalty": 1.3, "do_sample": True}


@pytest.mark.parametrize("arch", ARCHS)
def test_sampling_knobs_change_behaviour(arch, loaded):
    """A knob that reached generate but did nothing would fail here: each extreme collapses sampling to greedy."""
    base = dict(max_new_tokens=5, min_new_tokens=5)
    reqs = _requests(3)
    greedy = [o.text for o in with_generation(loaded(arch), do_sample=False, **base).generate(reqs)]
    free = [o.text for o in with_generation(loaded(arch), temperature=2.0, top_p=1.0, **base).generate(reqs)]
    assert free != greedy
    for knob in ({"top_k": 1, "temperature": 2.0, "top_p": 1.0}, {"top_p": 1e-6, "temperature": 2.0},
                 {"temperature": 1e-4, "top_p": 1.0}):
        assert [o.text for o in with_generation(loaded(arch), **knob, **base).generate(reqs)] == greedy, knob
    short = with_generation(loaded(arch), do_sample=False, max_new_tokens=2, min_new_tokens=0).generate(reqs)
    assert all(o.new_tokens <= 2 for o in short)
    # < 1 rewards tokens already seen (the tiny model's logits are too flat for > 1 to flip an argmax)
    penalised = with_generation(loaded(arch), do_sample=False, repetition_penalty=0.05, **base).generate(reqs)
    assert [o.text for o in penalised] != greedy


@pytest.mark.parametrize("arch", ARCHS)
def test_attack_api_inputs_and_gradients(arch, loaded):
    """What the attack engineer relies on: model inputs with the image token, differentiable pixels."""
    import torch

    mllm = loaded(arch)
    inputs = mllm.prepare_inputs(["describe this image"], [[_images()[0]]])
    assert {"input_ids", "attention_mask", "pixel_values"} <= set(inputs.keys())
    assert (inputs["input_ids"] == mllm.image_token_id).sum() > 0
    assert mllm.image_token in mllm.build_prompt("x", 1)
    pixels = inputs["pixel_values"].clone().requires_grad_(True)
    with torch.enable_grad():
        logits = mllm.model(**{**inputs, "pixel_values": pixels}).logits
        logits[0, -1].logsumexp(-1).backward()
    assert pixels.grad is not None and pixels.grad.abs().sum() > 0
    outs = mllm.generate_from_inputs(inputs, seeds=[1])
    assert outs == mllm.generate([Request("a", "describe this image", [_images()[0]], 1)])
