"""Tiny local toxicity models, built once per test session (offline, random weights)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from tiny.bert import build_bert_classifier, build_detoxify_checkpoint
from tiny.hub_cache import build_hub_cache

HUB_REPO = "lam3-tiny/toxic-bert"


@dataclass(frozen=True)
class HubCache:
    cache_dir: Path
    repo_id: str
    commit: str


@pytest.fixture(scope="session")
def detoxify_checkpoints(tiny_dir: Path) -> dict[str, tuple[Path, Path]]:
    """variant → (checkpoint file, huggingface_config_path folder) for all three Detoxify variants."""
    root = tiny_dir / "detoxify"
    return {variant: build_detoxify_checkpoint(root, variant, seed=i)
            for i, variant in enumerate(("original", "unbiased", "multilingual"))}


@pytest.fixture(scope="session")
def toxic_bert_dir(tiny_dir: Path) -> Path:
    """A tiny toxic-bert look-alike saved with ``save_pretrained`` (labels in id2label)."""
    return build_bert_classifier(tiny_dir / "toxic-bert", seed=7)


@pytest.fixture(scope="session")
def hub_cache(tiny_dir: Path, toxic_bert_dir: Path) -> HubCache:
    """The tiny toxic-bert as the hub cache holds it (refs/main → snapshot), for revision tests."""
    cache = tiny_dir / "hub-cache"
    return HubCache(cache, HUB_REPO, build_hub_cache(cache, HUB_REPO, toxic_bert_dir))
