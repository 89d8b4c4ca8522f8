"""Loading knobs shared by the local transformers judges, and the one loader that honours them.

Every knob here must reach ``from_pretrained`` (or the device the inputs go to):
:func:`from_pretrained_kwargs` is the single place that turns the YAML options
into keyword arguments, and :func:`load_pretrained` the single place that calls
``from_pretrained``, so a test can check both. Quantization needs CUDA and
bitsandbytes; without them the user gets a :class:`DependencyError` that says
how to turn it off, never a crash deep inside transformers. The generic parts
(availability, dtypes, the BitsAndBytesConfig, input device) live in :mod:`lam3.hf`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from lam3 import hf
from lam3.config import StrictModel
from lam3.errors import DependencyError, UserError
from lam3.hf import cuda_available, input_device, transformers_available

__all__ = ["HFModelOptions", "check_quantization", "cuda_available", "describe_load", "from_pretrained_kwargs",
           "input_device", "load_pretrained", "load_tokenizer", "torch_dtype", "transformers_available"]

Precision = Literal["auto", "bf16", "fp16", "fp32"]
_BNB_KEYS = ("bnb_4bit_quant_type", "bnb_4bit_use_double_quant", "bnb_4bit_compute_dtype")


class HFModelOptions(StrictModel):
    """How to load a transformers checkpoint: where from, which version, on what, in which precision."""

    model: str = Field(description="hub id or local directory")
    revision: str | None = Field(None, description="branch, tag or commit of the checkpoint (pin it for reproducibility)")
    local_files_only: bool = Field(False, description="never touch the network; load from the local cache/dir only")
    cache_dir: str | None = Field(None, description="Hugging Face cache folder (default: the HF_HOME cache)")
    device_map: str | dict[str, Any] | None = Field(
        None, description="passed to from_pretrained (e.g. 'auto', 'cuda:0'); unset: one device, CUDA when present")
    precision: Precision = Field("auto", description="weights dtype; auto = bf16 on CUDA, fp32 on CPU")
    load_in_4bit: bool = Field(False, description="bitsandbytes 4-bit quantization (needs CUDA + the quant extra)")
    bnb_4bit_quant_type: Literal["nf4", "fp4"] = "nf4"
    bnb_4bit_use_double_quant: bool = True
    bnb_4bit_compute_dtype: Literal["bf16", "fp16", "fp32"] = "bf16"
    max_length: int = Field(4096, gt=0, description="longest tokenized input; longer records get a per-record error")

    @model_validator(mode="after")
    def _bnb_needs_4bit(self) -> HFModelOptions:
        stray = [k for k in _BNB_KEYS if k in self.model_fields_set]
        if stray and not self.load_in_4bit:
            raise ValueError(f"{', '.join(stray)} has no effect without load_in_4bit: true")
        return self

    @model_validator(mode="after")
    def _revision_needs_hub_id(self) -> HFModelOptions:
        why = hf.local_revision_error(self.model, self.revision)
        if why:  # transformers would load the folder and silently ignore the revision
            raise ValueError(why)
        return self


def check_quantization(opts: HFModelOptions) -> None:
    """Raise a DependencyError naming the fix when 4-bit loading cannot work here."""
    if not opts.load_in_4bit:
        return
    if not hf.bitsandbytes_installed():
        raise DependencyError(
            "load_in_4bit: true needs bitsandbytes, which is not installed: install the 'quant' extra "
            "(pip install 'lam3[quant]') on a CUDA machine, or set load_in_4bit: false to load unquantized")
    if not cuda_available():
        raise DependencyError(
            "load_in_4bit: true needs a CUDA GPU (bitsandbytes 4-bit kernels), and none is visible here: "
            "set load_in_4bit: false (and e.g. precision: bf16) to run unquantized")


def torch_dtype(opts: HFModelOptions) -> Any:
    """The torch dtype the weights are loaded in."""
    return hf.torch_dtype(opts.precision)


def from_pretrained_kwargs(opts: HFModelOptions) -> dict[str, Any]:
    """Every loading knob as a ``from_pretrained`` keyword (the only translation of the YAML options)."""
    kwargs: dict[str, Any] = {"revision": opts.revision or "main", "local_files_only": opts.local_files_only,
                              "dtype": torch_dtype(opts)}
    if opts.cache_dir is not None:
        kwargs["cache_dir"] = opts.cache_dir
    if opts.device_map is not None:
        kwargs["device_map"] = opts.device_map
    if opts.load_in_4bit:
        kwargs["quantization_config"] = hf.bnb_config(
            4, quant_type=opts.bnb_4bit_quant_type, use_double_quant=opts.bnb_4bit_use_double_quant,
            compute_dtype=opts.bnb_4bit_compute_dtype)
        kwargs.setdefault("device_map", {"": 0})
    return kwargs


def _load(cls: Any, opts: HFModelOptions, what: str, **kwargs: Any) -> Any:
    try:
        return cls.from_pretrained(opts.model, **kwargs)
    except (OSError, ValueError) as exc:
        where = " (local_files_only: true)" if opts.local_files_only else ""
        raise UserError(f"cannot load {what} {opts.model!r}{where}: {exc}", field="model") from exc


def load_pretrained(auto_class: str, opts: HFModelOptions) -> tuple[Any, dict[str, Any]]:
    """Load ``transformers.<auto_class>`` with every knob; return (model in eval mode, the kwargs used)."""
    import transformers

    check_quantization(opts)
    kwargs = from_pretrained_kwargs(opts)
    model = _load(getattr(transformers, auto_class), opts, "model", **kwargs)
    if opts.device_map is None and not opts.load_in_4bit:
        model.to("cuda" if cuda_available() else "cpu")
    model.eval()
    return model, kwargs


def load_tokenizer(opts: HFModelOptions, auto_class: str = "AutoTokenizer") -> Any:
    """The checkpoint's tokenizer (or processor), same revision and offline setting as the model."""
    import transformers

    extra = {"cache_dir": opts.cache_dir} if opts.cache_dir is not None else {}
    return _load(getattr(transformers, auto_class), opts, "tokenizer", revision=opts.revision or "main",
                 local_files_only=opts.local_files_only, **extra)


def describe_load(opts: HFModelOptions, kwargs: dict[str, Any], model: Any) -> dict[str, Any]:
    """What was actually loaded, for judgement details and manifests (JSON-safe)."""
    return {"model": opts.model, "revision": opts.revision, "dtype": str(model.dtype).replace("torch.", ""),
            "device": str(input_device(model)), "device_map": opts.device_map, "load_in_4bit": opts.load_in_4bit,
            "local_files_only": opts.local_files_only}
