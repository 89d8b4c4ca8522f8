"""Model, generation and ``lam3 generate`` settings (YAML → pydantic, unknown keys are errors).

Every field here reaches ``from_pretrained`` (through :mod:`lam3.hf`, the one loader) or
``generate`` (:mod:`lam3.models.base`); settings that contradict each other — a temperature with
``do_sample: false``, ``min_new_tokens > max_new_tokens``, quantization details with
quantization off — are validation errors, because a knob that is silently ignored is the
worst bug this project can have. Defaults are the LAM3 log's.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from lam3.config import StrictModel
from lam3.hf import AttnImplementation, HFOptions, Precision, QuantizationConfig

Architecture = Literal["llava", "idefics2"]


class ModelConfig(HFOptions):
    """Which checkpoint to load and how: :class:`lam3.hf.HFOptions` plus the wrapper's architecture.

    The loading vocabulary is the one every local judge uses; only the defaults differ (the LAM3
    log's): the whole accelerate device map, bf16 weights, 4-bit nf4 with double quantization and
    bf16 compute, and sdpa attention.
    """

    architecture: Architecture = Field(description="which wrapper: llava (LLaVA-1.5) or idefics2")
    model_id: str = Field(min_length=1, description="hub id (org/name) or a local directory")
    device_map: str | dict[str, Any] | None = Field(
        "auto", description="accelerate device map, e.g. auto, cpu, cuda:0; null: one device, CUDA when present")
    precision: Precision = "bf16"
    quantization: QuantizationConfig = Field(default_factory=QuantizationConfig)
    attn_implementation: AttnImplementation | None = "sdpa"


class GenerationConfig(StrictModel):
    """Decoding settings; each reaches ``generate`` (HF) or ``SamplingParams`` (vLLM).

    With ``do_sample: false`` the sampling knobs (temperature, top_p, top_k) do not apply, so
    setting any of them explicitly is an error rather than a silent no-op.
    """

    max_new_tokens: int = Field(256, gt=0)
    min_new_tokens: int = Field(64, ge=0)
    do_sample: bool = True
    temperature: float = Field(0.2, gt=0.0)
    top_p: float = Field(0.95, gt=0.0, le=1.0)
    top_k: int = Field(0, ge=0, description="0 = no top-k filter")
    repetition_penalty: float = Field(1.0, gt=0.0)
    seed: int = Field(42, ge=0, description="global seed; each sample gets sha256(f'{seed}:{sample_id}')")

    @model_validator(mode="after")
    def _consistent(self) -> GenerationConfig:
        if self.min_new_tokens > self.max_new_tokens:
            raise ValueError(f"min_new_tokens ({self.min_new_tokens}) > max_new_tokens ({self.max_new_tokens})")
        if not self.do_sample:
            sampling = sorted(self.model_fields_set & {"temperature", "top_p", "top_k"})
            if sampling:
                raise ValueError(f"{', '.join(sampling)} set but do_sample is false (greedy decoding ignores them)")
        return self

    def used(self) -> dict[str, Any]:
        """The decoding settings that take effect (sampling knobs only when sampling)."""
        out: dict[str, Any] = {"max_new_tokens": self.max_new_tokens, "min_new_tokens": self.min_new_tokens,
                               "do_sample": self.do_sample, "repetition_penalty": self.repetition_penalty}
        if self.do_sample:
            out.update(temperature=self.temperature, top_p=self.top_p, top_k=self.top_k)
        return out


class GenerateConfig(StrictModel):
    """``configs/generation_*.yaml``: the file model of ``lam3 generate``."""

    backend: Literal["hf", "vllm"] = "hf"
    batch_size: int = Field(8, gt=0, description="samples per generate call (halved on out-of-memory)")
    model: ModelConfig
    generation: GenerationConfig = Field(default_factory=GenerationConfig)

    @model_validator(mode="after")
    def _backend_supports(self) -> GenerateConfig:
        if self.backend == "vllm":
            if self.model.architecture != "llava":
                raise ValueError(f"the vllm backend supports LLaVA-1.5 only, not {self.model.architecture}; "
                                 "use backend: hf for IDEFICS2")
            if self.model.quantization.enabled is not False:
                raise ValueError("the vllm backend cannot honour quant_type / use_double_quant / compute_dtype; "
                                 "set model.quantization: false (or use backend: hf)")
            hf_only = sorted(self.model.model_fields_set & {"device_map", "attn_implementation"})
            if hf_only:
                raise ValueError(f"model.{', model.'.join(hf_only)} only apply to backend: hf (vLLM places and "
                                 "schedules the model itself); remove them")
        return self
