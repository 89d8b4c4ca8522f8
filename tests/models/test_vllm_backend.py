"""The optional vLLM backend: clear errors here; real generation only where vLLM and a GPU exist."""

from __future__ import annotations

import importlib.util

import pytest

from lam3.errors import ConfigError, DependencyError
from lam3.models import GenerationConfig, ModelConfig, load_mllm, sample_seed, wrapper_class
from lam3.models.vllm_backend import VllmLlava, vllm_available


def test_idefics2_on_vllm_is_a_clear_error():
    with pytest.raises(ConfigError, match="vLLM does not support idefics2"):
        wrapper_class("idefics2", "vllm")


def test_engine_kwargs_carry_every_model_knob():
    cfg = ModelConfig(architecture="llava", model_id="llava-hf/llava-1.5-7b-hf", revision="abc123", precision="fp16",
                      quantization=False, cache_dir="/models")
    assert VllmLlava.engine_kwargs(cfg, GenerationConfig(seed=5)) == {
        "model": "llava-hf/llava-1.5-7b-hf", "revision": "abc123", "tokenizer_revision": "abc123",
        "dtype": "float16", "seed": 5, "download_dir": "/models"}


def test_engine_precision_auto_means_what_it_means_for_hf():
    import torch

    cfg = ModelConfig(architecture="llava", model_id="llava-hf/llava-1.5-7b-hf", precision="auto", quantization=False)
    dtype = VllmLlava.engine_kwargs(cfg, GenerationConfig())["dtype"]
    assert dtype == ("bfloat16" if torch.cuda.is_available() else "float32")


@pytest.mark.skipif(vllm_available()[0], reason="vLLM + GPU present")
def test_missing_vllm_is_a_dependency_error():
    cfg = ModelConfig(architecture="llava", model_id="llava-hf/llava-1.5-7b-hf", quantization=False)
    with pytest.raises(DependencyError, match="backend: vllm unavailable"):
        load_mllm(cfg, GenerationConfig(), backend="vllm")


@pytest.mark.gpu
@pytest.mark.skipif(not vllm_available()[0], reason="needs vllm and a CUDA GPU")
def test_vllm_generates_with_per_request_seeds(tiny_dir):
    from PIL import Image

    from lam3.models import Request
    from tiny.llava import build_tiny_llava

    path = build_tiny_llava(tiny_dir / "vllm-llava")
    cfg = ModelConfig(architecture="llava", model_id=str(path), local_files_only=True, precision="fp16",
                      quantization=False)
    mllm = load_mllm(cfg, GenerationConfig(max_new_tokens=8, min_new_tokens=4, temperature=1.0), backend="vllm")
    img = Image.new("RGB", (32, 32), (200, 0, 0))
    # two samples x three draws, each draw one request with its own seed (num_samples: 3)
    reqs = [Request(f"s{i}", "describe this image", [img], sample_seed(42, f"s{i}", j)) for i in range(2)
            for j in range(3)]
    batched = mllm.generate(reqs)
    assert all(o.new_tokens >= 4 for o in batched)
    assert [o.text for o in batched] == [mllm.generate([r])[0].text for r in reqs]
    assert len({o.text for o in batched[:3]}) > 1  # the draws of one sample differ
    assert importlib.util.find_spec("vllm") is not None


def test_each_draw_is_one_request_with_its_own_seed():
    """What vLLM receives per request, built without vLLM: sampling seeds the draw; greedy has no seed."""
    cfg = ModelConfig(architecture="llava", model_id="llava-hf/llava-1.5-7b-hf", quantization=False)
    sampled = VllmLlava(cfg, GenerationConfig(num_samples=3, temperature=0.7, top_k=5), llm=None, load_record={})
    seeds = [sample_seed(42, "s1", j) for j in range(3)]
    assert [sampled.sampling_kwargs(s) for s in seeds] == [
        {"max_tokens": 256, "min_tokens": 64, "repetition_penalty": 1.0, "temperature": 0.7, "top_p": 0.95,
         "top_k": 5, "seed": s} for s in seeds]
    greedy = VllmLlava(cfg, GenerationConfig(preset="jailbreakbench"), llm=None, load_record={})
    assert greedy.sampling_kwargs(seeds[0]) == {"max_tokens": 150, "min_tokens": 0, "repetition_penalty": 1.0,
                                                "temperature": 0.0}
    assert greedy.settings()["preset"] == "jailbreakbench" and greedy.settings()["sampler"] == "greedy"
