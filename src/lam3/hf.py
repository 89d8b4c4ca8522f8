"""The generic Hugging Face loading helpers, one copy for every local model in LAM3.

The MLLMs under test (:mod:`lam3.models.loading`), the policy-risk judges
(:mod:`lam3.judges.hf_options`) and the toxicity classifiers
(:mod:`lam3.judges.hf_classifier`) each keep their own YAML shape, but the
checks and translations below are shared so they cannot drift apart: what is
importable, which torch dtype a precision name means, the 4-bit/8-bit
``BitsAndBytesConfig``, why a revision on a local folder is an error, which hub
snapshot a load resolved to, and where a loaded model's inputs go. torch and
transformers are imported inside the functions, so importing this module is cheap.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

DTYPE_NAMES: dict[str, str] = {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}


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


def bitsandbytes_installed() -> bool:
    return importlib.util.find_spec("bitsandbytes") is not None


def quantization_available() -> tuple[bool, str]:
    """Whether bitsandbytes quantization can run here, and if not, why (no model is loaded)."""
    missing = []
    if not bitsandbytes_installed():
        missing.append("bitsandbytes is not installed (the 'quant' extra of lam3)")
    try:
        if not cuda_available():
            missing.append("no CUDA GPU is visible")
    except ImportError:
        missing.append("torch is not installed (lam3's 'hf' extra)")
    return (not missing), "; ".join(missing)


def torch_dtype(precision: str) -> Any:
    """The torch dtype for ``bf16`` / ``fp16`` / ``fp32``; ``auto`` = bf16 on CUDA, fp32 on CPU."""
    import torch

    if precision == "auto":
        precision = "bf16" if cuda_available() else "fp32"
    return getattr(torch, DTYPE_NAMES[precision])


def bnb_config(bits: int = 4, *, quant_type: str = "nf4", use_double_quant: bool = True,
               compute_dtype: str = "bf16") -> Any:
    """The ``quantization_config`` for a bitsandbytes load (the 4-bit details apply to 4-bit only)."""
    from transformers import BitsAndBytesConfig

    if bits == 8:
        return BitsAndBytesConfig(load_in_8bit=True)
    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type=quant_type,
                              bnb_4bit_use_double_quant=use_double_quant,
                              bnb_4bit_compute_dtype=torch_dtype(compute_dtype))


def is_local_dir(model: str) -> bool:
    """A local checkpoint folder (as opposed to a hub id)."""
    return Path(model).expanduser().is_dir()


def local_revision_error(model: str, revision: str | None, field: str = "model") -> str | None:
    """Why ``revision`` cannot apply to ``model`` (named ``field`` in the YAML), or None when it can."""
    if revision is None or not is_local_dir(model):
        return None
    return (f"revision {revision!r} given, but {field} {model!r} is a local directory: a local folder, which has "
            "no revisions; drop revision, or name the hub id (resolved through the HF cache, e.g. with cache_dir)")


def cached_file(model: str, filename: str, revision: str | None = None, cache_dir: str | None = None) -> Path | None:
    """``filename`` of a local folder or of the HF cache's snapshot for a hub id; None when not there (no network)."""
    if is_local_dir(model):
        path = Path(model).expanduser() / filename
        return path if path.is_file() else None
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(model, filename, cache_dir=cache_dir, revision=revision)
    return Path(found) if isinstance(found, str) and Path(found).is_file() else None


def snapshot_commit(model: str, revision: str | None = None, cache_dir: str | None = None) -> str | None:
    """The commit of the HF-cache snapshot a hub id + revision resolved to (None for a local folder)."""
    if is_local_dir(model):
        return None
    try:
        found = cached_file(model, "config.json", revision, cache_dir)
    except Exception:  # an unusual cache layout must not fail a finished load
        return None
    if found is not None and "snapshots" in found.parts:
        return found.parts[found.parts.index("snapshots") + 1]
    return None


def input_device(model: Any) -> Any:
    """Where inputs must go: the device of the input embeddings (right under device_map='auto' too)."""
    return model.get_input_embeddings().weight.device
