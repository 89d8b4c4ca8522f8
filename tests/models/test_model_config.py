"""Config validation: LAM3-log defaults, and contradictory settings are errors (file:line: field)."""

from __future__ import annotations

import pytest
import yaml

from lam3.config import load_config
from lam3.errors import ConfigError
from lam3.models.config import GenerateConfig, GenerationConfig, QuantizationConfig


def _write(tmp_path, data):
    path = tmp_path / "gen.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


BASE = {"model": {"architecture": "llava", "model_id": "llava-hf/llava-1.5-7b-hf"}}


def test_shipped_configs_have_the_lam3_log_defaults():
    for name in ("configs/generation_llava.yaml", "configs/generation_idefics2.yaml"):
        cfg = load_config(name, GenerateConfig)
        g, q = cfg.generation, cfg.model.quantization
        assert (g.max_new_tokens, g.min_new_tokens, g.do_sample, g.temperature, g.top_p, g.seed) == \
            (256, 64, True, 0.2, 0.95, 42)
        assert (q.enabled, q.bits, q.quant_type, q.use_double_quant, q.compute_dtype) == (True, 4, "nf4", True, "bf16")
        assert cfg.model.precision == "bf16"
    assert load_config("configs/generation_idefics2.yaml", GenerateConfig).model.model_id == "HuggingFaceM4/idefics2-8b"
    # the pydantic defaults are the same as the shipped files
    assert GenerationConfig().used() == load_config("configs/generation_llava.yaml", GenerateConfig).generation.used()


@pytest.mark.parametrize("generation, field, words", [
    ({"do_sample": False, "temperature": 0.7}, "generation", "do_sample is false"),
    ({"do_sample": False, "top_p": 0.5}, "generation", "do_sample is false"),
    ({"min_new_tokens": 300, "max_new_tokens": 256}, "generation", "min_new_tokens (300) > max_new_tokens (256)"),
    ({"temperature": 0}, "generation.temperature", "greater than 0"),
    ({"top_p": 1.5}, "generation.top_p", "less than or equal to 1"),
    ({"max_tokens": 5}, "generation.max_tokens", "unknown key"),
])
def test_contradictory_generation_settings_are_errors(tmp_path, generation, field, words):
    path = _write(tmp_path, {**BASE, "generation": generation})
    with pytest.raises(ConfigError) as err:
        load_config(path, GenerateConfig)
    msg = str(err.value)
    assert words in msg and f"{path}:" in msg and err.value.field == field and err.value.line is not None


def test_greedy_records_no_sampling_knobs():
    used = GenerationConfig(do_sample=False).used()
    assert used["do_sample"] is False and "temperature" not in used and "top_p" not in used


@pytest.mark.parametrize("model, words", [
    ({"quantization": {"enabled": False, "quant_type": "fp4"}}, "quant_type set but quantization is disabled"),
    ({"quantization": {"bits": 8, "quant_type": "nf4"}}, "only apply to 4-bit"),
    ({"quantization": "yes"}, "true, false, auto"),
    ({"precision": "int4"}, "Input should be"),
])
def test_contradictory_model_settings_are_errors(tmp_path, model, words):
    path = _write(tmp_path, {"model": {**BASE["model"], **model}})
    with pytest.raises(ConfigError, match="model") as err:
        load_config(path, GenerateConfig)
    assert words in str(err.value)


def test_quantization_shorthands():
    assert QuantizationConfig.model_validate("auto").enabled == "auto"
    assert QuantizationConfig.model_validate(False).enabled is False
    assert QuantizationConfig.model_validate(True).bits == 4


@pytest.mark.parametrize("extra, words", [
    ({"model": {"architecture": "idefics2", "model_id": "HuggingFaceM4/idefics2-8b", "quantization": False}},
     "supports LLaVA-1.5 only"),
    ({"model": {**BASE["model"]}}, "set model.quantization: false"),
    ({"model": {**BASE["model"], "quantization": False, "device_map": "cuda:0"}}, "only apply to backend: hf"),
])
def test_vllm_backend_rejects_what_it_cannot_honour(tmp_path, extra, words):
    path = _write(tmp_path, {"backend": "vllm", **extra})
    with pytest.raises(ConfigError) as err:
        load_config(path, GenerateConfig)
    assert words in str(err.value)
