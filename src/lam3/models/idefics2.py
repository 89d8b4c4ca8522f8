"""IDEFICS2 (``HuggingFaceM4/idefics2-8b``): prompts go through the processor's own chat template."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lam3.models.base import MLLM


class Idefics2MLLM(MLLM):
    """IDEFICS2: one user turn (images first, then the text), then the assistant's generation prompt."""

    architecture = "idefics2"
    model_type = "idefics2"
    model_class = "Idefics2ForConditionalGeneration"

    def build_prompt(self, prompt: str, n_images: int = 1) -> str:
        from lam3.errors import ConfigError

        if not getattr(self.processor, "chat_template", None):
            raise ConfigError(f"the processor of {self.config.model_id!r} has no chat template", field="model.model_id")
        content = [{"type": "image"} for _ in range(n_images)] + [{"type": "text", "text": prompt}]
        return self.processor.apply_chat_template([{"role": "user", "content": content}], add_generation_prompt=True)

    def _processor_images(self, images: Sequence[Sequence[Any]]) -> Any:
        if not any(images):
            return None
        return [list(imgs) for imgs in images]

    @property
    def prompt_format(self) -> str:
        return "processor.apply_chat_template(user: images + text, add_generation_prompt=True)"
