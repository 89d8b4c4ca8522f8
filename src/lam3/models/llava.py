"""LLaVA-1.5 (``llava-hf/llava-1.5-7b-hf``): prompt ``USER: <image>\\n{prompt} ASSISTANT:``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lam3.models.base import MLLM

PROMPT_TEMPLATE = "USER: {images}{prompt} ASSISTANT:"


class LlavaMLLM(MLLM):
    """LLaVA-1.5: one ``<image>`` placeholder per image (the processor expands it to the patch tokens)."""

    architecture = "llava"
    model_type = "llava"
    model_class = "LlavaForConditionalGeneration"

    def build_prompt(self, prompt: str, n_images: int = 1) -> str:
        return PROMPT_TEMPLATE.format(images=f"{self.image_token}\n" * n_images, prompt=prompt)

    def _processor_images(self, images: Sequence[Sequence[Any]]) -> Any:
        flat = [img for imgs in images for img in imgs]
        return flat or None

    @property
    def prompt_format(self) -> str:
        return PROMPT_TEMPLATE.format(images="<image>\\n", prompt="{prompt}")
