"""The one interface every MLLM wrapper implements (LLaVA-1.5, IDEFICS2; vLLM mirrors it).

Generation::

    mllm = load_mllm(model_config, generation_config)          # lam3.models.load_mllm
    outs = mllm.generate([Request(sample_id, prompt, [pil_image], seed)])

For attacks (white-box access to the loaded Hugging Face model)::

    mllm.model            # the transformers model (torch.nn.Module), eval mode, on mllm.device
    mllm.processor        # its processor (tokenizer + image processor), left padding
    mllm.image_token_id   # id of the image placeholder token in input_ids
    mllm.image_token      # its text form ("<image>")
    mllm.build_prompt(prompt, n_images=1)          # the model's own prompt format
    inputs = mllm.prepare_inputs([prompt], [[pil_image]])
        # BatchFeature on mllm.device: input_ids, attention_mask, pixel_values (model dtype)
        # (+ pixel_attention_mask for IDEFICS2) — exactly what generate() feeds the model.
        # inputs["input_ids"] == mllm.image_token_id marks the image-feature positions.
    logits = mllm.model(**inputs).logits          # differentiable w.r.t. inputs["pixel_values"]
    outs = mllm.generate_from_inputs(inputs, seeds=[seed])   # generate from (perturbed) inputs

An attack that optimises ``pixel_values`` directly can feed them back through
``generate_from_inputs``; one that produces a PIL image saves it and runs
``lam3 generate --attack-image PATH --attack-name NAME`` so responses carry ``attack=NAME``.
Load with ``attn_implementation: eager`` when attention weights are needed
(``output_attentions=True``); sdpa does not return them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from lam3 import hf
from lam3.errors import ConfigError
from lam3.models.config import GenerationConfig, ModelConfig


@dataclass
class Request:
    """One prompt to answer: its images (PIL), and the seed of this draw that makes sampling reproducible.

    ``num_samples: k`` sends k requests per sample, one per draw ``j``, with the same prompt and
    images and ``seed = sample_seed(global_seed, sample_id, j)``.
    """

    sample_id: str
    prompt: str
    images: list[Any] = field(default_factory=list)
    seed: int = 0


@dataclass
class Output:
    """One answer: decoded text and token counts (new_tokens counts up to and including the stop token)."""

    text: str
    new_tokens: int
    prompt_tokens: int


class MLLM(ABC):
    """A loaded multimodal model that answers :class:`Request` s with the configured decoding settings."""

    architecture: ClassVar[str]
    model_type: ClassVar[str]
    """``config.model_type`` a checkpoint must have to be used with this wrapper."""
    model_class: ClassVar[str]
    """transformers class name used to load the weights."""
    backend: ClassVar[str] = "hf"

    def __init__(self, config: ModelConfig, generation: GenerationConfig, model: Any, processor: Any, *,
                 load_record: dict[str, Any] | None = None) -> None:
        model_type = getattr(model.config, "model_type", None)
        if model_type != self.model_type:
            raise ConfigError(f"{config.model_id!r} is a {model_type!r} checkpoint, not {self.model_type!r}",
                              field="model.architecture")
        self.config, self.generation = config, generation
        self.model, self.processor = model.eval(), processor
        self.tokenizer = processor.tokenizer
        self.tokenizer.padding_side = "left"  # decoder-only batching: prompts end at the same position
        self.load_record = load_record or {}

    # --- loading -----------------------------------------------------------------------------
    @classmethod
    def load(cls, config: ModelConfig, generation: GenerationConfig, *, source: Any = None) -> MLLM:
        """Load weights + processor through :func:`lam3.hf.load_model` with every knob of ``config``.

        ``source`` (the config file's path) is named in errors.
        """
        # check the checkpoint's architecture before loading any weights
        model_type = hf.load_processor(config, "AutoConfig", source=source, prefix="model.").model_type
        if model_type != cls.model_type:
            raise ConfigError(f"{config.model_id!r} is a {model_type!r} checkpoint, not {cls.model_type!r}",
                              path=source, field="model.architecture")
        loaded = hf.load_model(cls.model_class, config, source=source, prefix="model.")
        processor = hf.load_processor(config, "AutoProcessor", source=source, prefix="model.")
        return cls(config, generation, loaded.model, processor, load_record=loaded.record)

    # --- identity --------------------------------------------------------------------------------
    @property
    def model_revision(self) -> str | None:
        """The commit actually loaded when known, else the requested revision."""
        return self.load_record.get("commit") or self.config.revision

    @property
    def device(self) -> Any:
        return self.model.device

    @property
    def image_token(self) -> str:
        return self.processor.image_token

    @property
    def image_token_id(self) -> int:
        cfg = self.model.config
        token_id = getattr(cfg, "image_token_id", None)
        if token_id is None:
            token_id = getattr(cfg, "image_token_index", None)
        if token_id is None:
            token_id = self.tokenizer.convert_tokens_to_ids(self.image_token)
        return int(token_id)

    @property
    def eos_token_ids(self) -> list[int]:
        eos = self.model.generation_config.eos_token_id
        if eos is None:
            eos = self.tokenizer.eos_token_id
        return [int(e) for e in (eos if isinstance(eos, (list, tuple)) else [eos])]

    @property
    def pad_token_id(self) -> int:
        pad = self.model.generation_config.pad_token_id
        if pad is None:
            pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.eos_token_ids[0]
        return int(pad)

    # --- prompts and inputs ---------------------------------------------------------------------
    @abstractmethod
    def build_prompt(self, prompt: str, n_images: int = 1) -> str:
        """The model's own prompt format around ``prompt`` with ``n_images`` image placeholders."""

    @abstractmethod
    def _processor_images(self, images: Sequence[Sequence[Any]]) -> Any:
        """Images in the layout this processor expects (None when there are none)."""

    def prepare_inputs(self, prompts: Sequence[str], images: Sequence[Sequence[Any]]) -> Any:
        """Model inputs for raw prompts + PIL images, with the model's own preprocessing and left padding.

        Returns the processor's ``BatchFeature`` on :attr:`device`; floating tensors (pixel values)
        are cast to the model's dtype. Each row needs the same number of images as every other row.
        """
        if len(prompts) != len(images):
            raise ValueError(f"{len(prompts)} prompts but {len(images)} image lists")
        texts = [self.build_prompt(p, len(imgs)) for p, imgs in zip(prompts, images)]
        batch = self.processor(text=texts, images=self._processor_images(images), return_tensors="pt",
                               padding=True)
        dtype = self.model.dtype
        return batch.to(self.device).to(dtype) if hasattr(batch, "to") else batch

    # --- generation -------------------------------------------------------------------------------
    def generate_kwargs(self, seeds: Sequence[int]) -> dict[str, Any]:
        """Everything ``model.generate`` receives besides the inputs (the recorded settings come from here)."""
        from transformers import LogitsProcessorList

        from lam3.models.seeding import PerSampleSampler

        g = self.generation
        kwargs: dict[str, Any] = {
            "max_new_tokens": g.max_new_tokens, "min_new_tokens": g.min_new_tokens,
            "repetition_penalty": g.repetition_penalty, "num_beams": 1,
            # sampling happens in PerSampleSampler (per-row generators); HF's own sampler stays off
            "do_sample": False,
            "eos_token_id": self.eos_token_ids, "pad_token_id": self.pad_token_id,
        }
        if g.do_sample:
            kwargs["logits_processor"] = LogitsProcessorList([PerSampleSampler(
                seeds, temperature=g.temperature, top_p=g.top_p, top_k=g.top_k)])
        return kwargs

    def generate_from_inputs(self, inputs: Any, seeds: Sequence[int]) -> list[Output]:
        """Generate from prepared inputs (see :meth:`prepare_inputs`); one seed per row."""
        import torch

        input_ids = inputs["input_ids"]
        if len(seeds) != input_ids.shape[0]:
            raise ValueError(f"{input_ids.shape[0]} rows but {len(seeds)} seeds")
        with torch.inference_mode():
            out = self.model.generate(**inputs, **self.generate_kwargs(seeds))
        prompt_len = input_ids.shape[1]
        eos = set(self.eos_token_ids)
        results = []
        for row, mask in zip(out[:, prompt_len:].tolist(), inputs["attention_mask"].tolist()):
            n = next((i + 1 for i, t in enumerate(row) if t in eos), len(row))
            text = self.tokenizer.decode(row[:n], skip_special_tokens=True).strip()
            results.append(Output(text=text, new_tokens=n, prompt_tokens=int(sum(mask))))
        return results

    def generate(self, requests: Sequence[Request]) -> list[Output]:
        """Answer ``requests`` in one batch per distinct image count; outputs are in request order."""
        results: list[Output | None] = [None] * len(requests)
        groups: dict[int, list[int]] = {}
        for i, req in enumerate(requests):
            groups.setdefault(len(req.images), []).append(i)
        for idx in groups.values():
            inputs = self.prepare_inputs([requests[i].prompt for i in idx], [requests[i].images for i in idx])
            for i, out in zip(idx, self.generate_from_inputs(inputs, [requests[i].seed for i in idx])):
                results[i] = out
        return [r for r in results if r is not None]

    def settings(self) -> dict[str, Any]:
        """What every response records as ``generation``: decoding settings used + how the model was loaded."""
        g = self.generation
        return {
            **g.used(),
            "sampler": "lam3.per_sample_seeded" if g.do_sample else "greedy",
            "seed": g.seed,
            "eos_token_id": self.eos_token_ids,
            "pad_token_id": self.pad_token_id,
            "padding_side": "left",
            "prompt_format": self.prompt_format,
            "backend": self.backend,
            "load": self.load_record,
        }

    @property
    @abstractmethod
    def prompt_format(self) -> str:
        """A description of the prompt format, recorded with each response."""

    def close(self) -> None:
        """Release the model (and GPU memory)."""
        self.model = None
        try:
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        except ImportError:
            pass
