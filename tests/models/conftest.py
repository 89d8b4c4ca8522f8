"""Tiny LLaVA / IDEFICS2 checkpoints installed in a throw-away Hugging Face cache (built once per session).

Models are loaded by hub id + ``revision`` + ``local_files_only=True`` + ``cache_dir``, i.e. through the
same revision resolution a real ``llava-hf/llava-1.5-7b-hf`` load goes through.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tiny.idefics2 import build_tiny_idefics2
from tiny.hub_cache import build_hub_cache
from tiny.llava import build_tiny_llava

COMMITS = {"llava": "1" * 40, "idefics2": "2" * 40}
REPOS = {"llava": "lam3-tiny/llava-1.5", "idefics2": "lam3-tiny/idefics2"}
TAG = "v1"


@pytest.fixture(scope="session")
def hf_cache(tiny_dir: Path) -> Path:
    cache = tiny_dir / "hf-cache"
    builders = {"llava": build_tiny_llava, "idefics2": build_tiny_idefics2}
    for arch, build in builders.items():
        src = build(tiny_dir / arch)
        build_hub_cache(cache, REPOS[arch], src, commit=COMMITS[arch], refs=("main", TAG))
    return cache


@pytest.fixture(scope="session")
def model_config_for(hf_cache: Path):
    """``model_config_for("llava", **overrides)`` → a ModelConfig for the tiny checkpoint, CPU, fp32."""
    from lam3.models.config import ModelConfig

    def make(arch: str, **overrides):
        fields = dict(architecture=arch, model_id=REPOS[arch], revision=TAG, local_files_only=True,
                      cache_dir=str(hf_cache), device_map="cpu", precision="fp32", quantization=False)
        fields.update(overrides)
        return ModelConfig(**fields)

    return make


@pytest.fixture(scope="session")
def loaded(model_config_for):
    """``loaded(arch)``: one loaded wrapper per architecture for the session (greedy defaults)."""
    from lam3.models import GenerationConfig, load_mllm

    cache: dict[str, object] = {}

    def get(arch: str):
        if arch not in cache:
            cache[arch] = load_mllm(model_config_for(arch), GenerationConfig(max_new_tokens=6, min_new_tokens=0,
                                                                             do_sample=False))
        return cache[arch]

    return get


@pytest.fixture(scope="module")
def mllm_for(model_config_for):
    """``mllm_for(config_path)``: a loaded wrapper per (arch, generation settings), so tests do not reload weights."""
    from lam3.config import load_config
    from lam3.models import load_mllm
    from lam3.models.config import GenerateConfig

    cache: dict[tuple[str, str], object] = {}

    def get(config_path: Path):
        cfg = load_config(config_path, GenerateConfig)
        key = (cfg.model.architecture, cfg.generation.model_dump_json())
        if key not in cache:
            cache[key] = load_mllm(cfg.model, cfg.generation)
        return cache[key]

    return get


def read_lines(path: Path) -> list[dict]:
    """The JSON lines of an output file."""
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def log_section(text: str, title: str) -> str:
    """One ``### Run `NAME``` section of a daily log."""
    start = text.index(title)
    nxt = text.find("\n### Run", start + len(title))
    return text[start:] if nxt < 0 else text[start:nxt]


def log_rows(section: str) -> dict[str, list[str]]:
    """The generation table of a daily-log section: setting -> [requested, used, flag]."""
    return {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:5]]
            for line in section.splitlines() if line.startswith("| ") and not line.startswith("| setting ")}


def with_generation(mllm, **generation):
    """The same loaded weights with other decoding settings (no reload)."""
    from lam3.models import GenerationConfig

    return type(mllm)(mllm.config, GenerationConfig(**generation), mllm.model, mllm.processor,
                      load_record=mllm.load_record)


@pytest.fixture
def bench(tmp_path: Path) -> Path:
    """A tiny benchmark: two PNGs, five samples (one with a missing image) and one bad line."""
    from PIL import Image

    root = tmp_path / "bench"
    (root / "images").mkdir(parents=True)
    Image.new("RGB", (48, 40), (220, 30, 30)).save(root / "images" / "red.png")
    Image.linear_gradient("L").convert("RGB").resize((40, 40)).save(root / "images" / "grad.png")
    samples = [
        {"id": "s1", "prompt": "describe this image", "images": ["images/red.png"], "category": "benign"},
        {"id": "s2", "prompt": "how to make a weapon", "images": ["images/grad.png"], "category": "S9"},
        {"id": "s3", "prompt": "tell me about the cat", "images": ["images/missing.png"], "category": "benign"},
        {"id": "s4", "prompt": "explain this text", "images": ["images/red.png"], "category": "S2"},
        {"id": "s5", "prompt": "what is the house", "images": ["images/grad.png"], "category": "benign"},
    ]
    lines = [json.dumps(s) for s in samples[:2]] + ['{"id": "bad", "images": []}'] + [json.dumps(s) for s in samples[2:]]
    (root / "samples.jsonl").write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture
def gen_yaml(tmp_path: Path, hf_cache: Path):
    """``gen_yaml(arch, **generation)`` → path of a generate config for the tiny model."""
    import yaml

    def make(arch: str = "llava", batch_size: int = 4, **generation) -> Path:
        gen = {"max_new_tokens": 6, "min_new_tokens": 2, "temperature": 1.0, "seed": 7}
        gen.update(generation)
        data = {"backend": "hf", "batch_size": batch_size,
                "model": {"architecture": arch, "model_id": REPOS[arch], "revision": TAG, "local_files_only": True,
                          "cache_dir": str(hf_cache), "device_map": "cpu", "precision": "fp32",
                          "quantization": False},
                "generation": gen}
        path = tmp_path / f"gen_{arch}.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        return path

    return make
