"""``from_pretrained`` arguments from a :class:`ModelConfig` — every knob reaches the loader.

Kept apart from the wrappers so the exact kwargs can be inspected (and recorded) without
loading anything, and so a missing extra or GPU fails here with a clear
:class:`DependencyError` instead of deep inside transformers. The generic checks (dtype,
bitsandbytes + CUDA, local folders, the resolved snapshot) are :mod:`lam3.hf`'s.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lam3 import hf
from lam3.errors import ConfigError, DependencyError
from lam3.hf import is_local_dir, quantization_available
from lam3.models.config import ModelConfig

__all__ = ["from_pretrained_kwargs", "is_local_dir", "load_failure", "processor_kwargs", "quantization_available",
           "resolve_quantization", "resolved_commit"]


def resolve_quantization(config: ModelConfig, source: str | Path | None = None) -> dict[str, Any]:
    """What quantization this load will apply: ``{"applied": bool, ...settings or reason}``.

    ``source`` (the config file) is named in errors.

    ``enabled: true`` without bitsandbytes + CUDA raises :class:`DependencyError` (never a silent
    fallback); ``enabled: auto`` falls back to unquantized weights and records why.
    """
    q = config.quantization
    if q.enabled is False:
        return {"applied": False, "requested": False}
    ok, why = quantization_available()
    if not ok:
        if q.enabled == "auto":
            return {"applied": False, "requested": "auto", "reason": why}
        raise DependencyError(
            f"{q.bits}-bit quantization needs bitsandbytes and a CUDA GPU, but {why}. Either run on a GPU "
            "machine with bitsandbytes installed (lam3's 'quant' extra), or turn it off in the config: "
            f"`quantization: false` (loads {config.precision} weights), or `quantization: auto` (quantize only "
            "where possible, recorded per response).", path=source, field="model.quantization")
    settings: dict[str, Any] = {"applied": True, "requested": q.enabled, "bits": q.bits}
    if q.bits == 4:
        settings.update(quant_type=q.quant_type, use_double_quant=q.use_double_quant, compute_dtype=q.compute_dtype)
    return settings


def from_pretrained_kwargs(config: ModelConfig, quantization: dict[str, Any] | None = None,
                           source: str | Path | None = None) -> dict[str, Any]:
    """The keyword arguments the model's ``from_pretrained`` receives (processor: :func:`processor_kwargs`)."""
    why = hf.local_revision_error(config.model_id, config.revision, field="model_id")
    if why is not None:
        raise ConfigError(why, path=source, field="model.revision")
    quantization = quantization if quantization is not None else resolve_quantization(config, source)
    kwargs: dict[str, Any] = {
        "revision": config.revision,
        "local_files_only": config.local_files_only,
        "cache_dir": config.cache_dir,
        "device_map": config.device_map,
        "dtype": hf.torch_dtype(config.precision),
        "attn_implementation": config.attn_implementation,
    }
    if quantization["applied"]:
        if quantization["bits"] == 4:
            kwargs["quantization_config"] = hf.bnb_config(
                4, quant_type=quantization["quant_type"], use_double_quant=quantization["use_double_quant"],
                compute_dtype=quantization["compute_dtype"])
        else:
            kwargs["quantization_config"] = hf.bnb_config(8)
    return kwargs


def processor_kwargs(config: ModelConfig) -> dict[str, Any]:
    """The processor comes from the same revision and cache as the weights."""
    return {"revision": config.revision, "local_files_only": config.local_files_only, "cache_dir": config.cache_dir}


def resolved_commit(config: ModelConfig) -> str | None:
    """The commit hash the HF cache resolved ``revision`` to (None for a local directory)."""
    return hf.snapshot_commit(config.model_id, config.revision, config.cache_dir)


def load_failure(config: ModelConfig, exc: Exception, source: str | Path | None = None) -> Exception:
    """Turn a hub/cache miss into a one-line UserError that says what was looked for."""
    from lam3.errors import UserError

    where = "the local HF cache" if config.local_files_only else "the hub and the local HF cache"
    rev = f" at revision {config.revision!r}" if config.revision else ""
    return UserError(f"could not load {config.model_id!r}{rev} from {where}: {type(exc).__name__}: "
                     f"{str(exc).splitlines()[0] if str(exc) else ''}", path=source, field="model.model_id")
