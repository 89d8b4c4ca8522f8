"""The one Hugging Face loader: one options model, one YAML vocabulary, one call to ``from_pretrained``.

Every local model in LAM3 — the MLLMs under test (:class:`lam3.models.config.ModelConfig`) and
every local judge (Llama Guard, zero-shot NLI, the HF classifier; Detoxify takes the device part)
— is described by :class:`HFOptions` and loaded by :func:`load_model` / :func:`load_processor`,
so ``model_id``, ``revision``, ``local_files_only``, ``cache_dir``, ``device_map``, ``precision``,
``quantization`` and ``attn_implementation`` mean the same everywhere. :func:`from_pretrained_kwargs`
is the only translation of those options into keyword arguments, so a test can check each knob
arrives. A knob that cannot work here fails with a one-line error that says how to turn it off
(4-bit without CUDA or bitsandbytes, a CUDA device_map without a GPU, a revision on a local folder),
and the old wave-1 keys (``model``, ``load_in_4bit``, ``device``, ``bnb_4bit_*``) name their
replacement. torch and transformers are imported inside the functions: importing this is cheap.
"""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from lam3.config import StrictModel
from lam3.errors import DependencyError, UserError

DTYPE_NAMES: dict[str, str] = {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}
Precision = Literal["auto", "bf16", "fp16", "fp32"]
ComputeDtype = Literal["bf16", "fp16", "fp32"]
AttnImplementation = Literal["eager", "sdpa", "flash_attention_2"]
_DEVICE_MAP = re.compile(r"^(auto|balanced|balanced_low_0|sequential|cpu|mps|cuda(:\d+)?)$")

RENAMED_KEYS: dict[str, str] = {
    "model": "model_id",
    "device": "device_map",
    "load_in_4bit": "quantization",
    "bnb_4bit_quant_type": "quantization.quant_type",
    "bnb_4bit_use_double_quant": "quantization.use_double_quant",
    "bnb_4bit_compute_dtype": "quantization.compute_dtype",
}
"""Wave-1 keys → the one vocabulary. An old key is an error that names the new one, never ignored."""


def _renamed(key: str) -> Any:
    return Field(None, exclude=True, description=f"renamed: use {RENAMED_KEYS[key]}")


def _reject_renamed(value: Any, info: Any) -> None:
    if value is not None:
        new = RENAMED_KEYS[info.field_name]
        hint = " (true / false / auto, or a mapping with bits, quant_type, ...)" if new == "quantization" else ""
        raise PydanticCustomError("renamed", "renamed: use {new}{hint}", {"new": new, "hint": hint})


# -- availability ------------------------------------------------------------------------------

def modules_available(*modules: str) -> tuple[bool, str]:
    """(usable, why not) for code that needs ``modules`` (all in the 'hf' extra); find_spec only, imports nothing."""
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        return False, f"needs {' and '.join(missing)}: install the 'hf' extra (pip install 'lam3[hf]')"
    return True, ""


def transformers_available() -> tuple[bool, str]:
    """(usable, why not) for code that needs torch + transformers."""
    return modules_available("torch", "transformers")


def cuda_available() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def quantization_available() -> tuple[bool, str]:
    """Whether bitsandbytes quantization can run here, and if not, why (no model is loaded)."""
    missing = []
    if importlib.util.find_spec("bitsandbytes") is None:
        missing.append("bitsandbytes is not installed (the 'quant' extra of lam3)")
    try:
        if not cuda_available():
            missing.append("no CUDA GPU is visible")
    except ImportError:
        missing.append("torch is not installed (lam3's 'hf' extra)")
    return (not missing), "; ".join(missing)


# -- the options ---------------------------------------------------------------------------------

class QuantizationConfig(StrictModel):
    """bitsandbytes quantization. ``enabled: auto`` quantizes only where bitsandbytes + CUDA exist.

    The YAML shorthands ``quantization: false`` / ``true`` / ``auto`` set ``enabled`` alone; a mapping
    without ``enabled`` asks for quantization (``{bits: 8}``).
    """

    enabled: bool | Literal["auto"] = True
    bits: Literal[4, 8] = 4
    quant_type: Literal["nf4", "fp4"] = "nf4"
    use_double_quant: bool = True
    compute_dtype: ComputeDtype = "bf16"

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        if isinstance(data, (bool, str)):
            if isinstance(data, str) and data != "auto":
                raise ValueError("use true, false, auto or a mapping with 'enabled'")
            return {"enabled": data}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> QuantizationConfig:
        details = self.model_fields_set - {"enabled"}
        if self.enabled is False and details:
            raise ValueError(f"{', '.join(sorted(details))} set but quantization is disabled (enabled: false)")
        if self.bits == 8 and details & {"quant_type", "use_double_quant", "compute_dtype"}:
            raise ValueError("quant_type / use_double_quant / compute_dtype only apply to 4-bit quantization")
        return self


QUANTIZATION_OFF = QuantizationConfig(enabled=False)


class DeviceOptions(StrictModel):
    """Where a loaded model runs and in which precision (Detoxify takes only these two)."""

    device_map: str | dict[str, Any] | None = Field(
        None, description="passed to from_pretrained ('auto', 'cpu', 'cuda:0', a mapping); "
                          "null: one device, CUDA when present")
    precision: Precision = Field("auto", description="weights dtype; auto = bf16 on CUDA, fp32 on CPU")
    device: None = _renamed("device")

    @field_validator("device", mode="before")
    @classmethod
    def _old_device_key(cls, value: Any, info: Any) -> None:
        _reject_renamed(value, info)
        return None

    @field_validator("device_map")
    @classmethod
    def _known_device_map(cls, value: Any) -> Any:
        if isinstance(value, str) and not _DEVICE_MAP.match(value):
            raise ValueError("device_map must be auto, balanced, sequential, cpu, mps, cuda, cuda:N or a mapping")
        return value


class HFOptions(DeviceOptions):
    """How to load a transformers checkpoint: which files, which version, on what, in which precision.

    One vocabulary for every local model; judges default to one device and no quantization,
    the MLLM config (:class:`lam3.models.config.ModelConfig`) to ``device_map: auto``, bf16 and 4-bit nf4.
    """

    model_id: str = Field(min_length=1, description="hub id (org/name) or a local directory")
    revision: str | None = Field(None, description="branch, tag or commit on the hub; pin a commit for a paper")
    local_files_only: bool = Field(False, description="never touch the network; the local HF cache/folder only")
    cache_dir: str | None = Field(None, description="HF cache folder (default: HF_HOME's)")
    quantization: QuantizationConfig = Field(QUANTIZATION_OFF, description=(
        "bitsandbytes: true / false / auto or {bits, quant_type, use_double_quant, compute_dtype} (CUDA + lam3[quant])"))
    attn_implementation: AttnImplementation | None = Field(
        None, description="eager (needed for attention weights) | sdpa | flash_attention_2; null: transformers' choice")
    model: None = _renamed("model")
    load_in_4bit: None = _renamed("load_in_4bit")
    bnb_4bit_quant_type: None = _renamed("bnb_4bit_quant_type")
    bnb_4bit_use_double_quant: None = _renamed("bnb_4bit_use_double_quant")
    bnb_4bit_compute_dtype: None = _renamed("bnb_4bit_compute_dtype")

    @field_validator("model", "load_in_4bit", "bnb_4bit_quant_type", "bnb_4bit_use_double_quant",
                     "bnb_4bit_compute_dtype", mode="before")
    @classmethod
    def _old_keys(cls, value: Any, info: Any) -> None:
        _reject_renamed(value, info)
        return None

    @model_validator(mode="after")
    def _revision_needs_hub_id(self) -> HFOptions:
        if self.revision is not None and is_local_dir(self.model_id):
            # transformers would load the folder and silently ignore the revision
            raise ValueError(f"revision {self.revision!r} given, but model_id {self.model_id!r} is a local directory: "
                             "a local folder, which has no revisions; drop revision, or name the hub id (resolved "
                             "through the HF cache, e.g. with cache_dir)")
        return self

    @property
    def offline(self) -> bool:
        """True when loading needs no network (a local folder, or local_files_only)."""
        return self.local_files_only or is_local_dir(self.model_id)


# -- translation -------------------------------------------------------------------------------

def torch_dtype(precision: str) -> Any:
    """The torch dtype for ``bf16`` / ``fp16`` / ``fp32``; ``auto`` = bf16 on CUDA, fp32 on CPU."""
    import torch

    return getattr(torch, dtype_name(precision))


def dtype_name(precision: str) -> str:
    """``bfloat16`` / ``float16`` / ``float32`` for a precision (``auto`` resolved for this machine)."""
    if precision == "auto":
        precision = "bf16" if cuda_available() else "fp32"
    return DTYPE_NAMES[precision]


def resolve_quantization(opts: HFOptions, source: str | Path | None = None, field: str = "quantization"
                         ) -> dict[str, Any]:
    """What quantization this load applies: ``{"applied": bool, "requested": ..., settings or reason}``.

    ``enabled: true`` without bitsandbytes + CUDA raises :class:`DependencyError` (never a silent
    fallback); ``enabled: auto`` falls back to unquantized weights and records why.
    """
    q = opts.quantization
    if q.enabled is False:
        return {"applied": False, "requested": False}
    ok, why = quantization_available()
    if not ok:
        if q.enabled == "auto":
            return {"applied": False, "requested": "auto", "reason": why}
        raise DependencyError(
            f"{q.bits}-bit quantization needs bitsandbytes and a CUDA GPU, but {why}. Either run on a GPU "
            "machine with bitsandbytes installed (lam3's 'quant' extra), or turn it off in the config: "
            f"`quantization: false` (loads {opts.precision} weights), or `quantization: auto` (quantize only "
            "where possible, recorded with each result).", path=source, field=field)
    settings: dict[str, Any] = {"applied": True, "requested": q.enabled, "bits": q.bits}
    if q.bits == 4:
        settings.update(quant_type=q.quant_type, use_double_quant=q.use_double_quant, compute_dtype=q.compute_dtype)
    return settings


def check_device(opts: DeviceOptions, source: str | Path | None = None, field: str = "device_map") -> None:
    """A device_map that names CUDA on a machine without a GPU: a clear error, not a crash inside torch."""
    values = opts.device_map.values() if isinstance(opts.device_map, dict) else [opts.device_map]
    wants_cuda = any(isinstance(v, int) or (isinstance(v, str) and v.startswith("cuda")) for v in values)
    if wants_cuda and not cuda_available():
        raise DependencyError(f"device_map {opts.device_map!r} asks for a CUDA GPU but torch sees none: use "
                              "device_map: null (one device, CUDA when present) or cpu, or install a CUDA build "
                              "of torch", path=source, field=field)


def device_kwargs(opts: DeviceOptions, quantized: bool = False) -> dict[str, Any]:
    """``dtype`` and ``device_map`` for ``from_pretrained``; ``device_map: null`` = one device, CUDA when present."""
    device_map = opts.device_map
    if device_map is None:
        device_map = {"": 0} if (quantized or cuda_available()) else {"": "cpu"}
    return {"dtype": torch_dtype(opts.precision), "device_map": device_map}


def source_kwargs(opts: HFOptions) -> dict[str, Any]:
    """Which files: the tokenizer, processor and config come from the same revision and cache as the weights."""
    return {"revision": opts.revision, "local_files_only": opts.local_files_only, "cache_dir": opts.cache_dir}


def bnb_config(quantization: dict[str, Any]) -> Any:
    """The ``BitsAndBytesConfig`` of a resolved quantization (see :func:`resolve_quantization`)."""
    from transformers import BitsAndBytesConfig

    if quantization["bits"] == 8:
        return BitsAndBytesConfig(load_in_8bit=True)
    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type=quantization["quant_type"],
                              bnb_4bit_use_double_quant=quantization["use_double_quant"],
                              bnb_4bit_compute_dtype=torch_dtype(quantization["compute_dtype"]))


def from_pretrained_kwargs(opts: HFOptions, quantization: dict[str, Any] | None = None,
                           source: str | Path | None = None, prefix: str = "") -> dict[str, Any]:
    """Every loading knob as a ``from_pretrained`` keyword: the only translation of the YAML options.

    ``quantization`` is :func:`resolve_quantization`'s answer (resolved here when not given);
    ``source`` (the config file) and ``prefix`` (e.g. ``model.``) are named in errors.
    """
    if quantization is None:
        quantization = resolve_quantization(opts, source, f"{prefix}quantization")
    kwargs = {**source_kwargs(opts), **device_kwargs(opts, quantized=quantization["applied"])}
    if opts.attn_implementation is not None:
        kwargs["attn_implementation"] = opts.attn_implementation
    if quantization["applied"]:
        kwargs["quantization_config"] = bnb_config(quantization)
    return kwargs


# -- loading -------------------------------------------------------------------------------------

@dataclass
class LoadedModel:
    """A model loaded with every knob, the exact kwargs ``from_pretrained`` got, and the JSON-safe record."""

    model: Any
    kwargs: dict[str, Any]
    record: dict[str, Any]


def _transformers_class(auto_class: str | type) -> Any:
    if isinstance(auto_class, str):
        import transformers

        return getattr(transformers, auto_class)
    return auto_class


def load_failure(opts: HFOptions, exc: Exception, what: str = "model", source: str | Path | None = None,
                 prefix: str = "") -> UserError:
    """A hub/cache/folder miss as one line that says what was looked for and where."""
    if is_local_dir(opts.model_id):
        where = "the local folder"
    else:
        where = "the local HF cache" if opts.local_files_only else "the hub and the local HF cache"
    rev = f" at revision {opts.revision!r}" if opts.revision else ""
    first = str(exc).splitlines()[0] if str(exc) else ""
    return UserError(f"cannot load {what} {opts.model_id!r}{rev} from {where}: {type(exc).__name__}: {first}",
                     path=source, field=f"{prefix}model_id")


def load_model(auto_class: str | type, opts: HFOptions, *, source: str | Path | None = None,
               prefix: str = "") -> LoadedModel:
    """Load ``transformers.<auto_class>`` (or a class) with every knob, in eval mode, and record what loaded."""
    check_device(opts, source, f"{prefix}device_map")
    quantization = resolve_quantization(opts, source, f"{prefix}quantization")
    kwargs = from_pretrained_kwargs(opts, quantization, source, prefix)
    try:
        model = _transformers_class(auto_class).from_pretrained(opts.model_id, **kwargs)
    except (OSError, ValueError) as exc:
        raise load_failure(opts, exc, "model", source, prefix) from exc
    model.eval()
    return LoadedModel(model, kwargs, load_record(opts, model, quantization))


def load_processor(opts: HFOptions, auto_class: str | type = "AutoTokenizer", *, source: str | Path | None = None,
                   prefix: str = "") -> Any:
    """The checkpoint's tokenizer, processor or config: same files, revision and offline setting as the weights."""
    cls = _transformers_class(auto_class)
    try:
        return cls.from_pretrained(opts.model_id, **source_kwargs(opts))
    except (OSError, ValueError) as exc:
        what = cls.__name__.removeprefix("Auto").lower()  # config, tokenizer, processor
        raise load_failure(opts, exc, what, source, prefix) from exc


def load_record(opts: HFOptions, model: Any, quantization: dict[str, Any]) -> dict[str, Any]:
    """What was actually loaded, for manifests, responses and judgements (JSON-safe)."""
    import transformers

    hf_map = getattr(model, "hf_device_map", None) or {}
    return {
        "model_id": opts.model_id,
        "revision": opts.revision,
        "commit": snapshot_commit(opts.model_id, opts.revision, opts.cache_dir),
        "local_files_only": opts.local_files_only,
        "device_map": opts.device_map,
        "device": str(input_device(model)),
        "hf_device_map": {k: str(v) for k, v in hf_map.items()} or None,
        "precision": opts.precision,
        "dtype": str(model.dtype).replace("torch.", ""),
        "attn_implementation": getattr(model.config, "_attn_implementation", opts.attn_implementation),
        "quantization": quantization,
        "transformers": transformers.__version__,
    }


# -- files and devices ---------------------------------------------------------------------------

def is_local_dir(model_id: str) -> bool:
    """A local checkpoint folder (as opposed to a hub id)."""
    return bool(model_id) and Path(model_id).expanduser().is_dir()


def cached_file(model_id: str, filename: str, revision: str | None = None, cache_dir: str | None = None
                ) -> Path | None:
    """``filename`` of a local folder or of the HF cache's snapshot for a hub id; None when not there (no network)."""
    if is_local_dir(model_id):
        path = Path(model_id).expanduser() / filename
        return path if path.is_file() else None
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(model_id, filename, cache_dir=cache_dir, revision=revision)
    return Path(found) if isinstance(found, str) and Path(found).is_file() else None


def snapshot_commit(model_id: str, revision: str | None = None, cache_dir: str | None = None) -> str | None:
    """The commit of the HF-cache snapshot a hub id + revision resolved to (None for a local folder)."""
    if is_local_dir(model_id):
        return None
    try:
        found = cached_file(model_id, "config.json", revision, cache_dir)
    except Exception:  # an unusual cache layout must not fail a finished load
        return None
    if found is not None and "snapshots" in found.parts:
        return found.parts[found.parts.index("snapshots") + 1]
    return None


def input_device(model: Any) -> Any:
    """Where inputs must go: the device of the input embeddings (right under device_map='auto' too)."""
    return model.get_input_embeddings().weight.device
