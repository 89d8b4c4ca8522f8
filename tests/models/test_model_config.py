"""Config validation: LAM3-log defaults, and contradictory settings are errors (file:line: field)."""

from __future__ import annotations

from typing import get_args

import pytest
import yaml

from lam3.config import load_config
from lam3.errors import ConfigError
from lam3.models.config import PRESETS, GenerateConfig, GenerationConfig, PresetName, QuantizationConfig


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


def _load_error(tmp_path, generation) -> ConfigError:
    path = _write(tmp_path, {**BASE, "generation": generation})
    with pytest.raises(ConfigError) as err:
        load_config(path, GenerateConfig)
    return err.value


def _line_of_key(path, key: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if line.strip().startswith(f"{key}:"))


@pytest.mark.parametrize("preset, tokens", [("harmbench", 512), ("jailbreakbench", 150)])
def test_a_benchmark_preset_sets_its_fixed_generation(preset, tokens):
    g = GenerationConfig(preset=preset, seed=3)  # the seed is left open
    assert (g.max_new_tokens, g.min_new_tokens, g.do_sample, g.repetition_penalty, g.seed) == (tokens, 0, False,
                                                                                               1.0, 3)
    assert g.used() == {"preset": preset, "max_new_tokens": tokens, "min_new_tokens": 0, "do_sample": False,
                        "repetition_penalty": 1.0}
    assert GenerationConfig(preset=preset, max_new_tokens=tokens, do_sample=False).used() == g.used()  # agreeing


def test_preset_lam3_is_the_defaults_and_the_shipped_presets_load():
    assert GenerationConfig(preset="lam3").used() == {**GenerationConfig().used(), "preset": "lam3"}
    assert set(PRESETS) == set(get_args(PresetName))
    for name, preset in (("configs/generation_llava_harmbench.yaml", "harmbench"),
                         ("configs/generation_llava_jailbreakbench.yaml", "jailbreakbench")):
        g = load_config(name, GenerateConfig).generation
        assert g.preset == preset and {k: getattr(g, k) for k in PRESETS[preset].settings} == \
            PRESETS[preset].settings


@pytest.mark.parametrize("generation, field, words", [
    ({"preset": "harmbench", "max_new_tokens": 256}, "max_new_tokens",
     "256 contradicts preset 'harmbench', which sets max_new_tokens: 512; remove max_new_tokens or the preset"),
    ({"preset": "jailbreakbench", "do_sample": True}, "do_sample",
     "true contradicts preset 'jailbreakbench', which sets do_sample: false; remove do_sample or the preset"),
    ({"preset": "jailbreakbench", "min_new_tokens": 64}, "min_new_tokens",
     "64 contradicts preset 'jailbreakbench', which sets min_new_tokens: 0; remove min_new_tokens or the preset"),
    ({"preset": "harmbench", "temperature": 0.7}, "temperature",
     "preset 'harmbench' decodes greedily (do_sample: false), so temperature does not apply; remove it"),
    ({"preset": "lam3", "top_p": 0.5}, "top_p",
     "0.5 contradicts preset 'lam3', which sets top_p: 0.95; remove top_p or the preset"),
])
def test_a_field_that_contradicts_the_preset_is_a_one_line_error(tmp_path, generation, field, words):
    err = _load_error(tmp_path, generation)
    path = tmp_path / "gen.yaml"
    assert str(err) == f"{path}:{_line_of_key(path, field)}: generation.{field}: {words}"
    assert err.field == f"generation.{field}" and "\n" not in str(err)


def test_every_contradiction_is_counted(tmp_path):
    err = _load_error(tmp_path, {"preset": "harmbench", "max_new_tokens": 256, "min_new_tokens": 64})
    assert err.field == "generation.max_new_tokens" and str(err).endswith("(and 1 more)")


def test_unknown_preset_names_the_known_ones(tmp_path):
    err = _load_error(tmp_path, {"preset": "strongreject"})
    assert err.field == "generation.preset" and "'lam3', 'harmbench' or 'jailbreakbench'" in str(err)


def test_num_samples_with_greedy_decoding_needs_to_be_allowed(tmp_path):
    err = _load_error(tmp_path, {"do_sample": False, "num_samples": 4})
    path = tmp_path / "gen.yaml"
    assert str(err).startswith(f"{path}:{_line_of_key(path, 'num_samples')}: generation.num_samples: 4 samples with "
                               "greedy decoding (do_sample: false) are 4 identical answers")
    err = _load_error(tmp_path, {"preset": "harmbench", "num_samples": 2})
    assert err.field == "generation.num_samples" and "allow_identical_samples: true" in str(err)
    assert GenerationConfig(preset="harmbench", num_samples=2, allow_identical_samples=True).num_samples == 2
    err = _load_error(tmp_path, {"num_samples": 2, "allow_identical_samples": True})
    assert err.field == "generation.allow_identical_samples" and "only applies with do_sample: false" in str(err)
    assert _load_error(tmp_path, {"num_samples": 0}).field == "generation.num_samples"
