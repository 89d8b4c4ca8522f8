"""The optional vLLM backend: clear errors here; real generation only where vLLM and a GPU exist."""

from __future__ import annotations

import importlib.util

import pytest

from lam3.errors import ConfigError, DependencyError
from lam3.models import GenerationConfig, ModelConfig, load_mllm, wrapper_class
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

    from lam3.models import Request, sample_seed
    from tiny.llava import build_tiny_llava

    path = build_tiny_llava(tiny_dir / "vllm-llava")
    cfg = ModelConfig(architecture="llava", model_id=str(path), local_files_only=True, precision="fp16",
                      quantization=False)
    mllm = load_mllm(cfg, GenerationConfig(max_new_tokens=8, min_new_tokens=4, temperature=1.0), backend="vllm")
    img = Image.new("RGB", (32, 32), (200, 0, 0))
    reqs = [Request(f"s{i}", "describe this image", [img], sample_seed(42, f"s{i}")) for i in range(4)]
    batched = mllm.generate(reqs)
    assert all(o.new_tokens >= 4 for o in batched)
    assert [o.text for o in batched] == [mllm.generate([r])[0].text for r in reqs]
    assert importlib.util.find_spec("vllm") is not None
