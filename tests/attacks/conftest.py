"""Tiny LLaVA / IDEFICS2 for the attack tests, built once per session from the shared tiny builders.

Why a re-initialised copy: with Hugging Face's default init (std 0.02) a random tiny model's
next-token distribution is almost uniform whatever the image, so a working attack and a broken
one would look the same. Re-drawing every weight matrix with unit-variance scaling (std
1/sqrt(fan_in)) keeps the architecture, processor and loading path identical but makes the
output depend on the pixels, so "the target loss decreases" can actually fail.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from tiny.idefics2 import build_tiny_idefics2
from tiny.llava import build_tiny_llava

# in-vocabulary words of the tiny word-level tokenizer (tests/tiny/tokenizer.py)
TARGETS = ["sure here is", "you are a stupid idiot", "this image shows a bad dog", "yes I can help"]
PROMPT = "describe this image"


@pytest.fixture(autouse=True)
def work_in_pytest_temp(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """An attack reads its clean image and target corpus only inside the working folder (lam3.paths);
    these tests keep theirs under pytest's temporary folder, so they run from there."""
    monkeypatch.chdir(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="package", autouse=True)
def one_torch_thread():
    """Tiny models gain nothing from intra-op threads, and on a busy shared CPU OpenMP threads spin-wait
    each other (measured here: 20x slower with 2 threads under load). Restored after this package."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def sharpen(src: Path, dst: Path, seed: int = 0) -> Path:
    """Copy a tiny checkpoint with every weight matrix redrawn ~ N(0, 1/fan_in)."""
    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor

    model = AutoModelForImageTextToText.from_pretrained(src, local_files_only=True)
    processor = AutoProcessor.from_pretrained(src, local_files_only=True)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _, weight in sorted(model.named_parameters()):
            if weight.ndim == 2:
                weight.copy_(torch.randn(weight.shape, generator=generator) / math.sqrt(weight.shape[1]))
    model.save_pretrained(dst)
    processor.save_pretrained(dst)
    return dst


@pytest.fixture(scope="session")
def attack_models(tiny_dir: Path) -> dict[str, Path]:
    """{"llava": dir, "idefics2": dir} of image-sensitive tiny checkpoints."""
    base = {"llava": build_tiny_llava(tiny_dir / "attack-llava-base"),
            "idefics2": build_tiny_idefics2(tiny_dir / "attack-idefics2-base")}
    return {arch: sharpen(src, tiny_dir / f"attack-{arch}") for arch, src in base.items()}


def model_fields(path: Path, arch: str) -> dict[str, Any]:
    return dict(architecture=arch, model_id=str(path), local_files_only=True, device_map="cpu", precision="fp32",
                quantization=False)


@pytest.fixture(scope="session")
def mllms(attack_models: dict[str, Path]) -> dict[str, Any]:
    """Loaded wrappers (lam3.models) for both tiny models, shared by the tests that take ``mllm=``."""
    from lam3.models import GenerationConfig, ModelConfig, wrapper_class

    return {arch: wrapper_class(arch).load(ModelConfig(**model_fields(path, arch)), GenerationConfig())
            for arch, path in attack_models.items()}


@pytest.fixture(scope="session")
def targets_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("targets") / "targets.txt"
    path.write_text("# tiny-vocabulary targets\n" + "\n".join(TARGETS) + "\n\n", encoding="utf-8")
    return path


@pytest.fixture
def make_config(attack_models: dict[str, Path], targets_file: Path, tmp_path: Path):
    """``make_config("llava", pgd={...}, objective={...}, ...)`` → a validated AttackConfig in tmp_path."""
    from lam3.attacks.config import AttackConfig

    def make(arch: str, out: str = "out", **overrides: Any) -> AttackConfig:
        fields: dict[str, Any] = dict(name=f"test_{arch}", model=model_fields(attack_models[arch], arch),
                                      targets=str(targets_file), prompt=PROMPT, seed=0,
                                      pgd=dict(epsilon=32, step_size=2, steps=10, targets_per_step=None),
                                      checkpoint_every=5, output_dir=str(tmp_path / out))
        fields.update(overrides)
        return AttackConfig.model_validate(fields)

    return make
