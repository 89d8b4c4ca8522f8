"""The tiny guard for the engine and prefix-reuse tests, built once per session."""

from __future__ import annotations

import pytest

from tiny.llama_guard import LG2_CHAT_TEMPLATE, build_tiny_llama_guard


@pytest.fixture(scope="session")
def guard_dir(tiny_dir):
    """The tiny Llama Guard 2 (its tokenizer carries LG2's chat template)."""
    return build_tiny_llama_guard(tiny_dir / "scale-llama-guard-2", chat_template=LG2_CHAT_TEMPLATE)
