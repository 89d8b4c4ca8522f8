"""Capture attention onto image tokens without breaking gradients — and without eager attention everywhere.

The attack surface differs per model family:

* **LLaVA-1.5** has no cross-attention module: text positions reach the 576 image tokens through the
  language model's *self*-attention (surface ``lm``).
* **IDEFICS2** has that too, plus real cross-attention in its perceiver resampler, where a few learned
  latents attend to the image patches (surface ``perceiver``).

Why not ``output_attentions=True``: it needs eager attention in every layer of every tower, which at 7B
scale costs memory and time for layers the objective never reads. Instead, :class:`AttentionCapture`
registers one transformers attention implementation (:data:`CAPTURE_IMPL`) on the sub-models that hold
a selected layer: selected modules run an eager (differentiable, weight-materialising) attention and hand
the *reduced* attention mass to the capture; every other module runs SDPA as before. The result is the
same output as the model's own attention (checked in the tests) with gradients flowing back to the pixels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

Surface = Literal["lm", "perceiver"]
CAPTURE_IMPL = "lam3_capture"
"""Name of the attention implementation registered with transformers (process-wide, idempotent)."""

_ACTIVE: dict[int, _Site] = {}  # id(attention module) -> site, filled while a capture is active
_REGISTERED = False


@dataclass
class _Site:
    """One attention module whose weights feed the objective."""

    surface: Surface
    layer: int
    heads: list[int] | None  # None = all heads
    capture: AttentionCapture
    passthrough: str = "sdpa"


@dataclass
class SurfaceSpec:
    """Which layers/heads of one surface to read; ``None`` means all of them."""

    surface: Surface
    layers: list[int] | None = None
    heads: list[int] | None = None


def language_layers(model: Any) -> Sequence[Any]:
    """The decoder layers of an MLLM's language model (LLaVA: ``model.language_model``; IDEFICS2: ``model.text_model``)."""
    inner = getattr(model, "model", model)
    for name in ("language_model", "text_model"):
        lm = getattr(inner, name, None)
        if lm is not None and hasattr(lm, "layers"):
            return lm.layers
    raise TypeError(f"{type(model).__name__}: cannot find the language model's decoder layers")


def perceiver_layers(model: Any) -> Sequence[Any] | None:
    """IDEFICS2's perceiver-resampler layers, or None for models without a perceiver."""
    inner = getattr(model, "model", model)
    connector = getattr(inner, "connector", None)
    resampler = getattr(connector, "perceiver_resampler", None)
    return getattr(resampler, "layers", None)


def surface_layers(model: Any, surface: Surface) -> Sequence[Any]:
    if surface == "lm":
        return language_layers(model)
    layers = perceiver_layers(model)
    if layers is None:
        raise ValueError(f"{type(model).__name__} has no perceiver resampler: surface 'perceiver' needs IDEFICS2")
    return layers


def _num_heads(attn: Any) -> int:
    for name in ("num_heads", "num_attention_heads"):
        if isinstance(getattr(attn, name, None), int):
            return getattr(attn, name)
    config = getattr(attn, "config", None)
    for name in ("num_attention_heads", "resampler_n_heads"):
        if isinstance(getattr(config, name, None), int):
            return getattr(config, name)
    raise TypeError(f"cannot tell the number of heads of {type(attn).__name__}")


def describe_surfaces(model: Any) -> dict[str, dict[str, int]]:
    """``{surface: {"layers": n, "heads": h}}`` — used to validate a config against the model."""
    out = {}
    for surface in ("lm", "perceiver"):
        try:
            layers = surface_layers(model, surface)  # type: ignore[arg-type]
        except ValueError:
            continue
        out[surface] = {"layers": len(layers), "heads": _num_heads(layers[0].self_attn)}
    return out


def _causal_keep(q_len: int, kv_len: int, device: Any) -> Any:
    """Boolean (q, kv) mask of allowed positions for a causal query block ending at the last key."""
    import torch

    return torch.ones(q_len, kv_len, dtype=torch.bool, device=device).tril(diagonal=kv_len - q_len)


def _eager(module: Any, query: Any, key: Any, value: Any, attention_mask: Any, scaling: float | None,
           is_causal: bool | None) -> tuple[Any, Any]:
    """Plain softmax attention that returns its weights (fp32 softmax, like transformers' eager code)."""
    import torch

    groups = getattr(module, "num_key_value_groups", 1) or 1
    if groups > 1:
        key = key.repeat_interleave(groups, dim=1)
        value = value.repeat_interleave(groups, dim=1)
    scaling = scaling if scaling is not None else 1.0 / math.sqrt(query.shape[-1])
    scores = torch.matmul(query, key.transpose(2, 3)) * scaling
    if attention_mask is not None:
        mask = attention_mask[..., : key.shape[-2]]
        if mask.dtype == torch.bool:
            scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
        else:
            scores = scores + mask
    else:
        causal = is_causal if is_causal is not None else getattr(module, "is_causal", False)
        if causal and query.shape[2] > 1:
            keep = _causal_keep(query.shape[2], key.shape[2], scores.device)
            scores = scores.masked_fill(~keep, torch.finfo(scores.dtype).min)
    weights = torch.softmax(scores, dim=-1, dtype=torch.float32).to(query.dtype)
    out = torch.matmul(weights, value).transpose(1, 2).contiguous()
    return out, weights


def _capture_attention(module: Any, query: Any, key: Any, value: Any, attention_mask: Any, dropout: float = 0.0,
                       scaling: float | None = None, is_causal: bool | None = None, **kwargs: Any) -> tuple[Any, Any]:
    """The registered implementation: eager + record for selected modules, the model's usual kernel otherwise."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    site = _ACTIVE.get(id(module))
    if site is not None and site.layer >= 0 and site.capture.recording:
        if dropout and module.training:
            raise RuntimeError("attention capture expects the model in eval mode (no attention dropout)")
        out, weights = _eager(module, query, key, value, attention_mask, scaling, is_causal)
        site.capture._record(site, weights)
        return out, None
    if site is not None and site.passthrough == "eager":  # the model was loaded with eager attention
        return _eager(module, query, key, value, attention_mask, scaling, is_causal)
    return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling,
                                  is_causal=is_causal, **kwargs)


def register_capture_impl() -> None:
    """Register :data:`CAPTURE_IMPL` with transformers' attention and mask interfaces (once per process)."""
    global _REGISTERED
    if _REGISTERED:
        return
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    AttentionInterface.register(CAPTURE_IMPL, _capture_attention)
    AttentionMaskInterface.register(CAPTURE_IMPL, sdpa_mask)
    _REGISTERED = True


@dataclass
class AttentionCapture:
    """Context manager routing the selected attention modules of ``model`` through a recording eager path.

    Inside ``with capture:``, call :meth:`start` before each forward with the key positions that count as
    "image" (LM surface) and the query positions to average over; after the forward, :meth:`stop` gives the
    differentiable mean attention mass per surface. Outside the ``with`` block the model is unchanged.
    """

    model: Any
    specs: list[SurfaceSpec]
    recording: bool = False
    _sites: list[_Site] = field(default_factory=list)
    _saved: dict[int, tuple[Any, str]] = field(default_factory=dict)
    _members: dict[int, list[Any]] = field(default_factory=dict)
    _depth: int = 0
    _values: dict[str, list[Any]] = field(default_factory=dict)
    _lm_keys: Any = None
    _lm_queries: Any = None

    def __post_init__(self) -> None:
        for spec in self.specs:
            layers = surface_layers(self.model, spec.surface)
            indices = spec.layers if spec.layers is not None else list(range(len(layers)))
            for index in indices:
                if not -len(layers) <= index < len(layers):
                    raise ValueError(f"surface {spec.surface!r}: layer {index} out of range (model has {len(layers)})")
            if len({i % len(layers) for i in indices}) != len(indices):
                raise ValueError(f"surface {spec.surface!r}: layers {indices} name the same layer twice")
            for index in indices:
                attn = layers[index].self_attn
                heads = _num_heads(attn)
                if spec.heads is not None and any(not 0 <= h < heads for h in spec.heads):
                    raise ValueError(f"surface {spec.surface!r}: heads {spec.heads} out of range (layer has {heads})")
                self._sites.append(_Site(spec.surface, index % len(layers), spec.heads, self))

    @property
    def surfaces(self) -> list[str]:
        return sorted({s.surface for s in self._sites})

    def __enter__(self) -> AttentionCapture:
        """Switch the sub-models holding a site to :data:`CAPTURE_IMPL` (re-entrant: a run can hold it open)."""
        self._depth += 1
        if self._depth > 1:
            return self
        register_capture_impl()
        for site in self._sites:
            attn = surface_layers(self.model, site.surface)[site.layer].self_attn
            config = attn.config
            if id(config) not in self._saved:
                self._saved[id(config)] = (config, config._attn_implementation)
            if id(config) not in self._members:  # found once, reused at every step
                self._members[id(config)] = [m for m in self.model.modules()
                                             if getattr(m, "config", None) is config and hasattr(m, "q_proj")]
            original = self._saved[id(config)][1]
            site.passthrough = "eager" if original == "eager" else "sdpa"
            _ACTIVE[id(attn)] = site
            # Every module sharing this sub-config now dispatches through CAPTURE_IMPL; only sites record.
            for module in self._members[id(config)]:
                if id(module) not in _ACTIVE:
                    _ACTIVE[id(module)] = _Site(site.surface, -1, None, self, passthrough=site.passthrough)
        for config, _ in self._saved.values():
            config._attn_implementation_internal = CAPTURE_IMPL
        return self

    def __exit__(self, *exc: Any) -> None:
        self._depth -= 1
        if self._depth > 0:
            return
        for key, (config, original) in self._saved.items():
            config._attn_implementation_internal = original
            for module in self._members.get(key, []):
                _ACTIVE.pop(id(module), None)
        self._saved.clear()
        self.recording = False

    def start(self, *, lm_image_keys: Any = None, lm_queries: Any = None) -> None:
        """Arm recording for the next forward.

        ``lm_image_keys``: bool (batch, seq) — key positions holding image tokens.
        ``lm_queries``: bool (batch, seq) — query positions whose attention is averaged (e.g. the positions
        that predict the target tokens). Required when the ``lm`` surface is selected.
        """
        if "lm" in self.surfaces and (lm_image_keys is None or lm_queries is None):
            raise ValueError("the 'lm' surface needs lm_image_keys and lm_queries")
        self._lm_keys, self._lm_queries = lm_image_keys, lm_queries
        self._values = {}
        self.recording = True

    def stop(self) -> dict[str, Any]:
        """Disarm and return ``{surface: mean attention mass}`` (0-dim tensors, differentiable)."""
        import torch

        self.recording = False
        missing = [s for s in self.surfaces if s not in self._values]
        if missing:
            raise RuntimeError(f"no attention recorded for surface(s) {missing}: the selected modules did not run "
                               "through the capture implementation")
        return {s: torch.stack(v).mean() for s, v in self._values.items()}

    def _record(self, site: _Site, weights: Any) -> None:
        """Reduce (batch, heads, q, kv) weights to one scalar right away (keeps only what the objective needs)."""
        if site.layer < 0:
            return
        w = weights if site.heads is None else weights[:, site.heads]
        w = w.float().mean(dim=1)  # (batch, q, kv): mean over selected heads
        if site.surface == "perceiver":
            # keys are [image patches ; latents]: the mass each latent puts on the image patches
            n_context = w.shape[-1] - w.shape[-2]
            value = w[..., :n_context].sum(-1).mean()
        else:
            keys = self._lm_keys.to(w.device)
            queries = self._lm_queries.to(w.device)
            if keys.shape[-1] != w.shape[-1] or queries.shape[-1] != w.shape[-2]:
                raise RuntimeError(f"attention shape {tuple(w.shape)} does not match the position masks "
                                   f"{tuple(queries.shape)} / {tuple(keys.shape)}")
            per_query = (w * keys[:, None, :].to(w.dtype)).sum(-1)  # (batch, q)
            q = queries.to(w.dtype)
            value = (per_query * q).sum() / q.sum().clamp_min(1.0)
        self._values.setdefault(site.surface, []).append(value)
