"""The one Hugging Face loader (lam3.hf): one options model, one vocabulary, every knob to from_pretrained.

Used by the MLLM config and every local judge; the old wave-1 keys are errors that name the new key.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from lam3 import hf
from lam3.config import load_config
from lam3.errors import ConfigError, DependencyError
from lam3.judges import registry
from lam3.models.config import GenerateConfig, ModelConfig
from lam3.pipeline.score import load_score_config

HF_JUDGES = ["hf_classifier", "zero_shot_risk", "llama_guard", "llama_guard_3", "llama_guard_3_vision"]
OLD_KEYS = [("model", "x/y", "model_id"), ("load_in_4bit", True, "quantization"), ("device", "cpu", "device_map"),
            ("bnb_4bit_quant_type", "nf4", "quantization.quant_type"),
            ("bnb_4bit_use_double_quant", False, "quantization.use_double_quant"),
            ("bnb_4bit_compute_dtype", "bf16", "quantization.compute_dtype")]


def write(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def line(path: Path, key: str) -> int:
    """The 1-based line of ``key:`` in the file (counted here, apart from lam3.config.line_of)."""
    return next(i for i, text in enumerate(path.read_text().splitlines(), 1)
                if text.lstrip("- ").startswith(f"{key}:"))


def test_one_options_model_for_the_mllm_and_every_local_judge():
    assert issubclass(ModelConfig, hf.HFOptions)
    for name in HF_JUDGES:
        assert issubclass(registry.get(name).Config, hf.HFOptions), name
    assert issubclass(registry.get("detoxify").Config, hf.DeviceOptions)
    # the defaults: judges one device, no quantization; the MLLM the LAM3 log's 4-bit nf4 double-quant bf16
    for name in HF_JUDGES:
        options = registry.get(name).Config()
        assert options.device_map is None and options.quantization.enabled is False
    mllm = ModelConfig(architecture="llava", model_id="llava-hf/llava-1.5-7b-hf").quantization
    assert (mllm.enabled, mllm.bits, mllm.quant_type, mllm.use_double_quant, mllm.compute_dtype) == \
        (True, 4, "nf4", True, "bf16")


@pytest.mark.parametrize("judge", ["hf_classifier", "zero_shot_risk", "llama_guard"])
@pytest.mark.parametrize(("old", "value", "new"), OLD_KEYS)
def test_old_keys_are_one_line_errors_naming_the_new_key(tmp_path, judge, old, value, new):
    path = write(tmp_path / "old.yaml", {"judges": [{"judge": judge, "local_files_only": True, old: value}]})
    with pytest.raises(ConfigError) as err:
        load_score_config(path)
    assert str(err.value).startswith(f"{path}:{line(path, old)}: judges[0].{old}: renamed: use {new}")


def test_old_device_key_on_detoxify_and_the_mllm(tmp_path):
    path = write(tmp_path / "detox.yaml", {"judges": [{"judge": "detoxify", "device": "cpu"}]})
    with pytest.raises(ConfigError, match=rf"^{path}:{line(path, 'device')}: judges\[0\].device: renamed: use "
                                          "device_map$"):
        load_score_config(path)
    gen = write(tmp_path / "gen.yaml", {"model": {"architecture": "llava", "model_id": "a/b", "load_in_4bit": True}})
    with pytest.raises(ConfigError, match=rf"^{gen}:{line(gen, 'load_in_4bit')}: model.load_in_4bit: renamed: use "
                                         "quantization"):
        load_config(gen, GenerateConfig)


def test_revision_on_a_local_folder_is_a_config_error_with_its_line(tmp_path):
    path = write(tmp_path / "rev.yaml", {"model": {"architecture": "llava", "model_id": str(tmp_path),
                                                   "revision": "v1"}})
    with pytest.raises(ConfigError, match=rf"^{path}:2: model: .*is a local directory: a local folder, which has "
                                          "no revisions; drop revision"):
        load_config(path, GenerateConfig)


def test_every_knob_becomes_a_from_pretrained_keyword(monkeypatch):
    monkeypatch.setattr(hf, "quantization_available", lambda: (True, ""))
    options = registry.get("zero_shot_risk").Config(
        model_id="org/nli", revision="abc123", local_files_only=True, cache_dir="/hf", device_map="auto",
        precision="fp16", attn_implementation="eager",
        quantization={"quant_type": "fp4", "use_double_quant": False, "compute_dtype": "fp32"})
    kwargs = hf.from_pretrained_kwargs(options)
    q = kwargs.pop("quantization_config")
    assert kwargs == {"revision": "abc123", "local_files_only": True, "cache_dir": "/hf", "dtype": torch.float16,
                      "device_map": "auto", "attn_implementation": "eager"}
    assert (q.load_in_4bit, q.bnb_4bit_quant_type, q.bnb_4bit_use_double_quant, q.bnb_4bit_compute_dtype) == \
        (True, "fp4", False, torch.float32)
    eight = hf.from_pretrained_kwargs(registry.get("hf_classifier").Config(quantization={"bits": 8}))
    assert eight["quantization_config"].load_in_8bit and eight["device_map"] == {"": 0}  # quantized: on the GPU
    assert hf.source_kwargs(options) == {"revision": "abc123", "local_files_only": True, "cache_dir": "/hf"}


def test_device_map_null_is_one_device_cuda_when_present():
    options = registry.get("hf_classifier").Config()
    where = {"": 0} if torch.cuda.is_available() else {"": "cpu"}
    assert hf.from_pretrained_kwargs(options)["device_map"] == where
    assert hf.from_pretrained_kwargs(options)["dtype"] is torch.float32  # this judge's precision default: fp32
    auto = hf.from_pretrained_kwargs(registry.get("llama_guard").Config())["dtype"]
    assert auto is (torch.bfloat16 if torch.cuda.is_available() else torch.float32)  # precision: auto


@pytest.mark.skipif(hf.quantization_available()[0], reason="bitsandbytes + CUDA present")
def test_quantization_auto_loads_unquantized_and_records_why(tmp_path):
    from tiny.bert import build_bert_classifier

    folder = build_bert_classifier(tmp_path / "bert")
    judge = registry.build({"judge": "hf_classifier", "model_id": str(folder), "quantization": "auto"})
    assert judge.loaded["quantization"] == {"applied": False, "requested": "auto",
                                            "reason": hf.quantization_available()[1]}
    json.dumps(judge.loaded)  # the load record is JSON-safe
    assert set(judge.loaded) >= {"model_id", "revision", "commit", "local_files_only", "device_map", "device",
                                 "precision", "dtype", "attn_implementation", "quantization", "transformers"}


@pytest.mark.skipif(hf.quantization_available()[0], reason="bitsandbytes + CUDA present")
def test_lam3_score_with_4bit_on_a_machine_without_cuda_says_how_to_turn_it_off(tmp_path):
    from tiny.bert import build_bert_classifier

    folder = build_bert_classifier(tmp_path / "bert")
    config = write(tmp_path / "q.yaml", {"judges": [{"judge": "hf_classifier", "model_id": str(folder),
                                                     "quantization": True}]})
    (tmp_path / "in.jsonl").write_text('{"id": "a", "response": "hello"}\n')
    run = subprocess.run([sys.executable, "-m", "lam3", "score", str(tmp_path / "in.jsonl"), "-c", str(config),
                          "-o", str(tmp_path / "out.jsonl")], capture_output=True, text=True, timeout=120,
                         env={**__import__("os").environ, "COLUMNS": "300"})
    assert run.returncode == 3 and "Traceback" not in run.stderr
    assert f"{config}:{line(config, 'quantization')}: judges[0].quantization: 4-bit quantization needs bitsandbytes and a CUDA GPU" in run.stderr
    assert "`quantization: false`" in run.stderr


def test_a_cuda_device_map_without_a_gpu_is_a_dependency_error(monkeypatch):
    monkeypatch.setattr(hf, "cuda_available", lambda: False)
    hf.check_device(hf.DeviceOptions(device_map="cpu"))
    hf.check_device(hf.DeviceOptions(device_map="auto"))
    for device_map in ("cuda", "cuda:0", {"": 0}, {"lm_head": "cuda:1", "": "cpu"}):
        with pytest.raises(DependencyError, match="asks for a CUDA GPU but torch sees none"):
            hf.check_device(hf.DeviceOptions(device_map=device_map))
