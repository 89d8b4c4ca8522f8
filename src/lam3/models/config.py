"""Model, generation and ``lam3 generate`` settings (YAML → pydantic, unknown keys are errors).

Every field here reaches ``from_pretrained`` (through :mod:`lam3.hf`, the one loader) or
``generate`` (:mod:`lam3.models.base`); settings that contradict each other — a temperature with
``do_sample: false``, ``min_new_tokens > max_new_tokens``, quantization details with
quantization off — are validation errors, because a knob that is silently ignored is the
worst bug this project can have. Defaults are the LAM3 log's (preset ``lam3``); the presets
``harmbench`` and ``jailbreakbench`` are those benchmarks' fixed generation settings (docs/generation.md).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from lam3.config import StrictModel
from lam3.hf import AttnImplementation, HFOptions, Precision, QuantizationConfig
from lam3.pipeline.engines.ray_cluster import RayActorOptions, RayOptions

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


PresetName = Literal["lam3", "harmbench", "jailbreakbench"]

LAM3_DEFAULTS: dict[str, Any] = {"max_new_tokens": 256, "min_new_tokens": 64, "do_sample": True, "temperature": 0.2,
                                 "top_p": 0.95, "top_k": 0, "repetition_penalty": 1.0}
"""The LAM3 log's decoding settings: the field defaults, and preset ``lam3``."""

SAMPLING_KNOBS = ("temperature", "top_p", "top_k")


@dataclass(frozen=True)
class Preset:
    """Decoding settings fixed by a benchmark, so LAM3 numbers sit beside its published tables.

    ``settings`` are the fields the preset sets; a greedy preset leaves out the sampling knobs
    (they do not apply). Sources: docs/generation.md.
    """

    settings: dict[str, Any]
    summary: str


PRESETS: dict[str, Preset] = {
    "lam3": Preset(LAM3_DEFAULTS, "LAM3's defaults: sampled (temperature 0.2, top_p 0.95), 64 to 256 new tokens"),
    # HarmBench generate_completions.py: do_sample=False, num_beams=1; docs: max_new_tokens=512 for all experiments
    "harmbench": Preset({"max_new_tokens": 512, "min_new_tokens": 0, "do_sample": False, "repetition_penalty": 1.0},
                        "HarmBench's fixed setting: greedy, up to 512 new tokens"),
    # JailbreakBench config.py: TEMPERATURE = 0 (greedy; TOP_P is then unused), MAX_GENERATION_LENGTH = 150
    "jailbreakbench": Preset({"max_new_tokens": 150, "min_new_tokens": 0, "do_sample": False,
                              "repetition_penalty": 1.0},
                             "JailbreakBench's fixed setting: greedy, up to 150 new tokens"),
}
PRESET_FIELDS = tuple(LAM3_DEFAULTS)
"""The fields a preset decides (set, or for a greedy preset the sampling knobs it leaves out)."""


def _yaml(value: Any) -> str:
    return json.dumps(value)


def field_errors(model: type[Any], errors: list[tuple[str | tuple[str, ...], Any, str]]) -> ValidationError:
    """A ValidationError located at fields (``(field, value, message)``; a tuple for a nested field), so the
    YAML line of each is named."""
    return ValidationError.from_exception_data(model.__name__, [
        InitErrorDetails(type=PydanticCustomError("lam3_config", message),
                         loc=field if isinstance(field, tuple) else (field,), input=value)
        for field, value, message in errors])


class GenerationConfig(StrictModel):
    """Decoding settings; each reaches ``generate`` (HF) or ``SamplingParams`` (vLLM).

    With ``do_sample: false`` the sampling knobs (temperature, top_p, top_k) do not apply, so
    setting any of them explicitly is an error rather than a silent no-op. ``preset`` sets the
    decoding fields to a benchmark's fixed values (:data:`PRESETS`); a field written next to it
    must agree with it, never silently override it. ``num_samples`` draws that many responses per
    sample, draw ``j`` seeded with :func:`lam3.models.seeding.sample_seed` ``(seed, sample_id, j)``.
    """

    preset: PresetName | None = Field(None, description="lam3 | harmbench | jailbreakbench; null: no preset")
    max_new_tokens: int = Field(LAM3_DEFAULTS["max_new_tokens"], gt=0)
    min_new_tokens: int = Field(LAM3_DEFAULTS["min_new_tokens"], ge=0)
    do_sample: bool = LAM3_DEFAULTS["do_sample"]
    temperature: float = Field(LAM3_DEFAULTS["temperature"], gt=0.0)
    top_p: float = Field(LAM3_DEFAULTS["top_p"], gt=0.0, le=1.0)
    top_k: int = Field(LAM3_DEFAULTS["top_k"], ge=0, description="0 = no top-k filter")
    repetition_penalty: float = Field(LAM3_DEFAULTS["repetition_penalty"], gt=0.0)
    seed: int = Field(42, ge=0, description="global seed; draw j of a sample gets sample_seed(seed, sample_id, j)")
    num_samples: int = Field(1, ge=1, description="responses per sample (ids {sample_id}#{j} when > 1)")
    allow_identical_samples: bool = Field(False, description="accept num_samples > 1 with greedy decoding, whose "
                                                             "draws are identical")

    @model_validator(mode="after")
    def _consistent(self) -> GenerationConfig:
        explicit = set(self.model_fields_set)
        if self.preset is not None:
            self._apply_preset(explicit)
        if self.min_new_tokens > self.max_new_tokens:
            raise ValueError(f"min_new_tokens ({self.min_new_tokens}) > max_new_tokens ({self.max_new_tokens})")
        if not self.do_sample:
            sampling = sorted(explicit & set(SAMPLING_KNOBS))
            if sampling:
                raise ValueError(f"{', '.join(sampling)} set but do_sample is false (greedy decoding ignores them)")
        greedy_repeats = self.num_samples > 1 and not self.do_sample
        if greedy_repeats and not self.allow_identical_samples:
            raise field_errors(type(self), [("num_samples", self.num_samples, (
                f"{self.num_samples} samples with greedy decoding (do_sample: false) are {self.num_samples} identical "
                "answers; sample (do_sample: true), or set allow_identical_samples: true if that is what you want"))])
        if self.allow_identical_samples and not greedy_repeats:
            raise field_errors(type(self), [("allow_identical_samples", True, (
                "only applies with do_sample: false and num_samples > 1; remove it"))])
        return self

    def _apply_preset(self, explicit: set[str]) -> None:
        """Set the preset's fields; an explicit field that disagrees with it is an error naming both."""
        name = self.preset
        preset = PRESETS[name]  # type: ignore[index]
        errors = []
        for key in PRESET_FIELDS:
            if key not in explicit:
                continue
            value = getattr(self, key)
            if key not in preset.settings:
                errors.append((key, value, f"preset {name!r} decodes greedily (do_sample: false), so {key} does not "
                                           "apply; remove it"))
            elif value != preset.settings[key]:
                errors.append((key, value, f"{_yaml(value)} contradicts preset {name!r}, which sets {key}: "
                                           f"{_yaml(preset.settings[key])}; remove {key} or the preset"))
        if errors:
            raise field_errors(type(self), errors)
        for key, value in preset.settings.items():
            setattr(self, key, value)

    def used(self) -> dict[str, Any]:
        """The decoding settings that take effect (sampling knobs only when sampling) and the preset named."""
        out: dict[str, Any] = {"preset": self.preset, "max_new_tokens": self.max_new_tokens,
                               "min_new_tokens": self.min_new_tokens, "do_sample": self.do_sample,
                               "repetition_penalty": self.repetition_penalty}
        if self.do_sample:
            out.update(temperature=self.temperature, top_p=self.top_p, top_k=self.top_k)
        return out


def _names_cuda(device_map: Any) -> bool:
    values = device_map.values() if isinstance(device_map, dict) else [device_map]
    return any(isinstance(v, int) or (isinstance(v, str) and v.startswith("cuda")) for v in values)


def _all_cpu(device_map: Any) -> bool:
    values = list(device_map.values()) if isinstance(device_map, dict) else [device_map]
    return bool(values) and all(v == "cpu" for v in values)


class GenerateConfig(StrictModel):
    """``configs/generation_*.yaml``: the file model of ``lam3 generate``.

    ``engine``, ``ray`` and ``replicas`` decide where the model runs, not what it writes: they are
    left out of ``model_dump`` (the recorded config and the resume settings stay what they were).
    """

    backend: Literal["hf", "vllm"] = "hf"
    batch_size: int = Field(8, gt=0, description="responses (draws) per generate call (halved on out-of-memory)")
    model: ModelConfig
    generation: GenerationConfig = Field(default_factory=GenerationConfig)
    # -- where the model runs: no resume settings (the responses are the same)
    engine: Literal["local", "ray"] = Field("local", exclude=True, description=(
        "local: the model in this process; ray: data-parallel model replicas on a Ray cluster (lam3[ray])"))
    ray: RayOptions = Field(default_factory=RayOptions, exclude=True, description=(
        "ray engine: which cluster (address, or num_cpus/num_gpus of a local one)"))
    replicas: RayActorOptions = Field(default_factory=RayActorOptions, exclude=True, description=(
        "ray engine: the model's replicas (actors: how many, num_cpus / num_gpus: what each reserves)"))

    @model_validator(mode="after")
    def _replicas_can_run(self) -> GenerateConfig:
        if self.engine != "ray":
            return self
        gpus = self.replicas.num_gpus
        if self.backend == "vllm" and gpus != 1:
            raise field_errors(type(self), [(("replicas", "num_gpus"), gpus, (
                "backend: vllm runs one engine per GPU (it claims most of the GPU's memory, and lam3 sets no "
                "tensor parallelism): set replicas.num_gpus: 1"))])
        if self.backend == "hf" and gpus > 0 and _all_cpu(self.model.device_map):
            raise field_errors(type(self), [(("replicas", "num_gpus"), gpus, (
                f"each replica would reserve {gpus:g} GPU that model.device_map: cpu never uses; set "
                "replicas.num_gpus: 0, or device_map: auto / null to use it"))])
        if self.backend == "hf" and gpus == 0 and _names_cuda(self.model.device_map):
            raise field_errors(type(self), [(("replicas", "num_gpus"), gpus, (
                f"model.device_map {self.model.device_map!r} needs a GPU, and a replica that reserves none is "
                "given none: set replicas.num_gpus (1: a GPU each, 0.5: two replicas per GPU)"))])
        return self

    def unused(self) -> list[str]:
        """Options given that this engine does not use (reported, so none is silently ignored)."""
        if self.engine == "ray":
            return []
        return [k for k in ("ray", "replicas") if k in self.model_fields_set]

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
