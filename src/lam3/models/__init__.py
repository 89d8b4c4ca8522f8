"""Multimodal models under test: one interface (:class:`~lam3.models.base.MLLM`), LLaVA-1.5 and IDEFICS2.

Heavy libraries (torch, transformers, vllm) are imported only when a model is loaded.
"""

from __future__ import annotations

from typing import Any

from lam3.models.base import MLLM, Output, Request
from lam3.models.config import GenerateConfig, GenerationConfig, ModelConfig, QuantizationConfig
from lam3.models.seeding import sample_seed


def wrapper_class(architecture: str, backend: str = "hf") -> type[Any]:
    """The class that serves ``architecture`` on ``backend``."""
    from lam3.errors import ConfigError

    if backend == "vllm":
        if architecture != "llava":
            raise ConfigError(f"vLLM does not support {architecture}; use backend: hf", field="backend")
        from lam3.models.vllm_backend import VllmLlava

        return VllmLlava
    if architecture == "llava":
        from lam3.models.llava import LlavaMLLM

        return LlavaMLLM
    if architecture == "idefics2":
        from lam3.models.idefics2 import Idefics2MLLM

        return Idefics2MLLM
    raise ConfigError(f"unknown architecture {architecture!r}", field="model.architecture")


def load_mllm(model: ModelConfig, generation: GenerationConfig, backend: str = "hf", *, source: Any = None) -> Any:
    """Load the wrapper for ``model`` (``MLLM`` for hf, ``VllmLlava`` for vllm) with every knob applied.

    ``source`` (the config file's path) is named in error messages.
    """
    return wrapper_class(model.architecture, backend).load(model, generation, source=source)


__all__ = ["MLLM", "GenerateConfig", "GenerationConfig", "ModelConfig", "Output", "QuantizationConfig", "Request",
           "load_mllm", "sample_seed", "wrapper_class"]
