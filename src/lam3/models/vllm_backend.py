"""Optional vLLM backend for LLaVA-1.5 (extra ``vllm``): same requests, records and settings as HF.

vLLM does not serve IDEFICS2 (an error says so: use ``backend: hf``). The model options are the
one vocabulary of :class:`lam3.hf.HFOptions` (``precision: auto`` resolves as it does for HF: bf16
on the GPU vLLM needs). Every setting maps to
vLLM's documented API — ``LLM(model=, revision=, tokenizer_revision=, dtype=, seed=,
download_dir=)`` and per-request ``SamplingParams(max_tokens=, min_tokens=, temperature=, top_p=,
top_k=, repetition_penalty=, seed=)`` — and settings vLLM cannot honour (bitsandbytes details,
``device_map``, ``attn_implementation``) are rejected when the config is validated
(:class:`lam3.models.config.GenerateConfig`). Sampling is seeded per request with the seed of
that draw, so as with HF the output of a sample does not depend on its batch. ``num_samples: k``
sends k requests per sample, each with its own seed (``sample_seed(seed, sample_id, j)``);
vLLM's ``n`` is not used, because its n sequences share one request seed, so sequence j would
neither have the seed of draw j nor stay the same when n changes.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Sequence
from typing import Any

from lam3.errors import ConfigError, DependencyError
from lam3.models.base import Output, Request
from lam3.hf import dtype_name
from lam3.models.config import GenerationConfig, ModelConfig
from lam3.models.llava import PROMPT_TEMPLATE


def vllm_available() -> tuple[bool, str]:
    if importlib.util.find_spec("vllm") is None:
        return False, "vllm is not installed (lam3's 'vllm' extra, on a CUDA machine)"
    try:
        import torch

        if not torch.cuda.is_available():
            return False, "vLLM needs a CUDA GPU and none is visible"
    except ImportError:
        return False, "torch is not installed"
    return True, ""


class VllmLlava:
    """LLaVA-1.5 served by vLLM's offline ``LLM`` engine (not differentiable: attacks use the HF wrapper)."""

    architecture = "llava"
    backend = "vllm"
    image_token = "<image>"

    def __init__(self, config: ModelConfig, generation: GenerationConfig, llm: Any,
                 load_record: dict[str, Any]) -> None:
        self.config, self.generation, self.llm, self.load_record = config, generation, llm, load_record

    @staticmethod
    def engine_kwargs(config: ModelConfig, generation: GenerationConfig) -> dict[str, Any]:
        """The arguments ``vllm.LLM`` receives."""
        if config.architecture != "llava":
            raise ConfigError(f"vLLM does not support {config.architecture}; use backend: hf", field="backend")
        return {"model": config.model_id, "revision": config.revision, "tokenizer_revision": config.revision,
                "dtype": dtype_name(config.precision), "seed": generation.seed,
                "download_dir": config.cache_dir}

    @classmethod
    def load(cls, config: ModelConfig, generation: GenerationConfig, *, source: Any = None) -> VllmLlava:
        ok, why = vllm_available()
        if not ok:
            raise DependencyError(f"backend: vllm unavailable: {why}; or use backend: hf", path=source,
                                  field="backend")
        kwargs = cls.engine_kwargs(config, generation)
        if config.local_files_only:  # vLLM reads the HF offline switch from the environment
            os.environ["HF_HUB_OFFLINE"] = "1"
        import vllm
        from vllm import LLM

        llm = LLM(**kwargs)
        record = {"model_id": config.model_id, "revision": config.revision, "commit": None,
                  "local_files_only": config.local_files_only, "precision": config.precision,
                  "dtype": kwargs["dtype"], "quantization": {"applied": False, "requested": False},
                  "vllm": vllm.__version__}
        return cls(config, generation, llm, record)

    @property
    def model_revision(self) -> str | None:
        return self.config.revision

    def build_prompt(self, prompt: str, n_images: int = 1) -> str:
        return PROMPT_TEMPLATE.format(images=f"{self.image_token}\n" * n_images, prompt=prompt)

    def sampling_kwargs(self, seed: int) -> dict[str, Any]:
        """One request's ``SamplingParams`` arguments: greedy is temperature 0 (vLLM's convention), no seed."""
        g = self.generation
        common = {"max_tokens": g.max_new_tokens, "min_tokens": g.min_new_tokens,
                  "repetition_penalty": g.repetition_penalty}
        if g.do_sample:
            return {**common, "temperature": g.temperature, "top_p": g.top_p, "top_k": g.top_k if g.top_k else -1,
                    "seed": seed}
        return {**common, "temperature": 0.0}

    def sampling_params(self, seed: int) -> Any:
        from vllm import SamplingParams

        return SamplingParams(**self.sampling_kwargs(seed))

    def generate(self, requests: Sequence[Request]) -> list[Output]:
        prompts = []
        for req in requests:
            if len(req.images) > 1:
                raise ValueError(f"sample {req.sample_id}: vLLM's LLaVA-1.5 takes one image per prompt")
            item: dict[str, Any] = {"prompt": self.build_prompt(req.prompt, len(req.images))}
            if req.images:
                item["multi_modal_data"] = {"image": req.images[0]}
            prompts.append(item)
        params = [self.sampling_params(req.seed) for req in requests]
        results = self.llm.generate(prompts, sampling_params=params, use_tqdm=False)
        return [Output(text=r.outputs[0].text.strip(), new_tokens=len(r.outputs[0].token_ids),
                       prompt_tokens=len(r.prompt_token_ids or [])) for r in results]

    def settings(self) -> dict[str, Any]:
        g = self.generation
        return {**g.used(), "sampler": "vllm.per_request_seed" if g.do_sample else "greedy",
                "seed": g.seed, "prompt_format": PROMPT_TEMPLATE.format(images="<image>\\n", prompt="{prompt}"),
                "backend": self.backend, "load": self.load_record}

    def close(self) -> None:
        self.llm = None
