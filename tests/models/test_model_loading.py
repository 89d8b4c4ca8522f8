"""``from_pretrained`` receives every model knob, through the real hub-cache resolution path."""

from __future__ import annotations

import json

import pytest

from lam3 import hf
from lam3.errors import ConfigError, DependencyError, UserError
from lam3.models import GenerationConfig, load_mllm
from models.conftest import COMMITS, REPOS


@pytest.fixture
def from_pretrained_calls(monkeypatch):
    """Record the kwargs of the model classes' and AutoProcessor's from_pretrained (then call the real one)."""
    import transformers

    calls: list[tuple[str, str, dict]] = []
    for name in ("LlavaForConditionalGeneration", "Idefics2ForConditionalGeneration", "AutoProcessor"):
        cls = getattr(transformers, name)
        real = cls.from_pretrained.__func__

        def spy(klass, model_id, *args, _real=real, _name=name, **kwargs):
            calls.append((_name, model_id, kwargs))
            return _real(klass, model_id, *args, **kwargs)

        monkeypatch.setattr(cls, "from_pretrained", classmethod(spy))
    return calls


@pytest.mark.parametrize("arch", ["llava", "idefics2"])
def test_every_model_knob_reaches_from_pretrained(arch, model_config_for, from_pretrained_calls, hf_cache):
    import torch

    config = model_config_for(arch, precision="bf16", attn_implementation="eager", device_map={"": "cpu"})
    mllm = load_mllm(config, GenerationConfig())
    (_, model_id, kw), (proc_name, _, proc_kw) = from_pretrained_calls
    assert model_id == REPOS[arch] and proc_name == "AutoProcessor"
    assert kw["revision"] == "v1" and kw["local_files_only"] is True and kw["cache_dir"] == str(hf_cache)
    assert kw["device_map"] == {"": "cpu"} and kw["dtype"] is torch.bfloat16 and kw["attn_implementation"] == "eager"
    assert "quantization_config" not in kw
    assert proc_kw == {"revision": "v1", "local_files_only": True, "cache_dir": str(hf_cache)}
    # and they took effect
    assert mllm.model.dtype is torch.bfloat16
    assert mllm.model.config._attn_implementation == "eager"
    assert mllm.model_revision == COMMITS[arch]  # the tag resolved to its commit, recorded per response
    record = mllm.settings()["load"]
    assert record["attn_implementation"] == "eager" and record["dtype"] == "bfloat16" and record["revision"] == "v1"
    assert record["commit"] == COMMITS[arch] and record["device_map"] == {"": "cpu"} and record["device"] == "cpu"
    json.dumps(record)  # JSON-safe: it is written into every response


def test_unknown_revision_fails_clearly(model_config_for):
    with pytest.raises(UserError, match="model.model_id: cannot load config 'lam3-tiny/llava-1.5' at revision 'v2' "
                                        "from the local HF cache"):
        load_mllm(model_config_for("llava", revision="v2"), GenerationConfig())


def test_pinned_commit_loads(model_config_for):
    mllm = load_mllm(model_config_for("llava", revision=COMMITS["llava"]), GenerationConfig())
    assert mllm.model_revision == COMMITS["llava"]


def test_revision_on_a_local_directory_is_an_error(model_config_for, tiny_dir, hf_cache):
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="is a local directory: a local folder, which has no revisions"):
        model_config_for("llava", model_id=str(tiny_dir / "llava"), revision="v1")


def test_wrong_architecture_is_an_error(model_config_for):
    with pytest.raises(ConfigError, match="is a 'idefics2' checkpoint, not 'llava'"):
        load_mllm(model_config_for("llava", model_id=REPOS["idefics2"]), GenerationConfig())


def test_quantization_without_bitsandbytes_or_cuda_is_a_clear_error(model_config_for, monkeypatch):
    monkeypatch.setattr(hf, "quantization_available", lambda: (False, "no CUDA GPU is visible"))
    with pytest.raises(DependencyError) as err:
        load_mllm(model_config_for("llava", quantization=True), GenerationConfig())
    msg = str(err.value)
    assert "bitsandbytes and a CUDA GPU" in msg and "quantization: false" in msg and "quantization: auto" in msg
    assert err.value.field == "model.quantization"


def test_quantization_error_on_this_machine(model_config_for):
    ok, why = hf.quantization_available()
    if ok:
        pytest.skip("bitsandbytes + CUDA present")
    with pytest.raises(DependencyError, match="quantization"):
        load_mllm(model_config_for("llava", quantization={"enabled": True}), GenerationConfig())


def test_quantization_auto_falls_back_and_records_why(model_config_for, monkeypatch):
    monkeypatch.setattr(hf, "quantization_available", lambda: (False, "bitsandbytes is not installed"))
    mllm = load_mllm(model_config_for("llava", quantization="auto"), GenerationConfig())
    assert mllm.settings()["load"]["quantization"] == {"applied": False, "requested": "auto",
                                                       "reason": "bitsandbytes is not installed"}


def test_quantization_settings_reach_bitsandbytes_config(model_config_for):
    """Where bitsandbytes+CUDA exist, every quantization knob lands in BitsAndBytesConfig (checked without loading)."""
    import torch

    config = model_config_for("llava", quantization={"enabled": True, "quant_type": "fp4", "use_double_quant": False,
                                                     "compute_dtype": "fp16"})
    kw = hf.from_pretrained_kwargs(config, {"applied": True, "bits": 4, "quant_type": "fp4",
                                            "use_double_quant": False, "compute_dtype": "fp16"})
    q = kw["quantization_config"]
    assert (q.load_in_4bit, q.bnb_4bit_quant_type, q.bnb_4bit_use_double_quant, q.bnb_4bit_compute_dtype) == \
        (True, "fp4", False, torch.float16)
    assert hf.resolve_quantization(model_config_for("llava", quantization=False)) == \
        {"applied": False, "requested": False}
