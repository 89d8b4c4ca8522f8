"""Tiny offline checkpoints for the policy-risk judges, built once per session."""

from __future__ import annotations

import pytest

from tiny.llama_guard import LG2_CHAT_TEMPLATE, build_tiny_llama_guard
from tiny.nli import build_tiny_classifier


@pytest.fixture(scope="session")
def lg2_dir(tiny_dir):
    """Tiny guard whose tokenizer carries the Llama Guard 2 chat template."""
    return build_tiny_llama_guard(tiny_dir / "llama-guard-2", chat_template=LG2_CHAT_TEMPLATE)


@pytest.fixture(scope="session")
def lg_plain_dir(tiny_dir):
    """Same kind of tiny guard with no chat template (the built-in prompt text is used)."""
    return build_tiny_llama_guard(tiny_dir / "llama-guard-plain", chat_template=None)


@pytest.fixture(scope="session")
def lg_distractor_dir(tiny_dir):
    """Tiny guard where a third token competes with 'safe'/'unsafe' at the first answer position."""
    return build_tiny_llama_guard(tiny_dir / "llama-guard-distractor", distractor=1.0)


@pytest.fixture(scope="session")
def nli_dir(tiny_dir):
    return build_tiny_classifier(tiny_dir / "nli")


@pytest.fixture(scope="session")
def clf_dir(tiny_dir):
    return build_tiny_classifier(tiny_dir / "safety-clf", {0: "safe", 1: "violence", 2: "fraud"}, seed=3)


@pytest.fixture(scope="session")
def lg_vision_dir(tiny_dir):
    """Tiny random Mllama + processor (Llama Guard 3 Vision's classes)."""
    from tiny.llama_guard import build_tiny_llama_guard_vision

    return build_tiny_llama_guard_vision(tiny_dir / "llama-guard-vision")
