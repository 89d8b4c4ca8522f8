"""The base of the judges that run a local transformers model (Llama Guard, zero-shot, HF classifier, Detoxify).

What they share is the life cycle, not the inference: weights are loaded once through
:mod:`lam3.hf` when the judge is built to score (so a missing checkpoint, extra or GPU fails
before any record is read, with the config file and line), and not at all when it is built
without a config (``lam3 judges`` listing labels), so listing never imports torch.
"""

from __future__ import annotations

import gc
from abc import abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

from lam3 import hf
from lam3.judges.base import Judge, JudgeConfig


class LocalJudge(Judge):
    """A judge over local weights: ``load()`` once, ``self.loaded`` is the JSON-safe load record."""

    offline = False  # needs model weights (a local folder or local_files_only works on an offline server)
    needs: ClassVar[tuple[str, ...]] = ("torch", "transformers")
    """modules ``availability`` looks for (find_spec only: nothing heavy is imported)."""

    def __init__(self, config: JudgeConfig | None = None) -> None:
        super().__init__(config)
        self.loaded: dict[str, Any] | None = None
        self.offline = self.runs_offline()
        if config is not None:
            self.load()

    @classmethod
    def availability(cls) -> tuple[bool, str]:
        return hf.modules_available(*cls.needs)

    def runs_offline(self) -> bool:
        """Whether this configuration needs no download (an HF judge: a local folder or local_files_only)."""
        options = self.config
        return isinstance(options, hf.HFOptions) and options.offline

    def load(self) -> dict[str, Any]:
        """Load the weights now (once); return what was loaded."""
        if self.loaded is None:
            self.loaded = self.load_weights()
        return self.loaded

    @abstractmethod
    def load_weights(self) -> dict[str, Any]:
        """Load model and tokenizer onto ``self`` (imports torch/transformers); return the load record."""

    def identity(self) -> dict[str, Any]:
        """Which checkpoint judged: written into every judgement's details (the snapshot commit when known)."""
        record = self.loaded or {}
        revision = record.get("commit") or record.get("revision")
        return {"model_id": record.get("model_id"), **({"revision": revision} if revision else {})}

    def close(self) -> None:
        self.loaded = None
        for name in ("model", "processor", "tokenizer"):
            if hasattr(self, name):
                setattr(self, name, None)
        gc.collect()


# -- shared-prefix reuse ---------------------------------------------------------------------------
# A judge's prompts share a long fixed start (Llama Guard's task and category block is most of its
# prompt; HarmBench's system block): the batch computes that start's KV cache once, copies it to
# every row, and runs only each row's own tokens on top. The model sees the same tokens at the same
# positions under the same causal mask as in the plain left-padded forward, so the next-token
# distribution is the same up to float rounding (checked to 1e-5 on the tiny guard).

MIN_SHARED_TOKENS = 16
"""A shorter common start is not worth a second forward call: the plain forward runs instead."""


@dataclass
class LastStep:
    """The next-token logits after each prompt of a batch, and what a continuation needs."""

    logits: Any
    """[rows, vocab] float32 logits at each prompt's last position."""
    cache: Any
    """The KV cache (``keep_cache``), rows in batch order; None otherwise."""
    mask: Any
    """The attention mask that matches the cache (prefix ones, then each row's left-padded own tokens)."""
    shared: int
    """Prompt tokens computed once for the whole batch (0: the plain forward ran)."""


def cache_kwarg(model: Any) -> str:
    """transformers renamed ``past_key_values`` to ``cache`` in the 5.x series; use what this model takes."""
    import inspect

    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


def output_cache(out: Any) -> Any:
    return getattr(out, "cache", None) or getattr(out, "past_key_values", None)


def shared_prefix_length(rows: list[list[int]]) -> int:
    """Tokens every row starts with, leaving each row at least one token of its own (its logits come from it)."""
    if len(rows) < 2:
        return 0
    limit = min(len(r) for r in rows) - 1
    first = rows[0]
    n = 0
    while n < limit and all(r[n] == first[n] for r in rows):
        n += 1
    return n


def last_step(model: Any, enc: dict[str, Any], *, keep_cache: bool = False, prefix_cache: bool = True,
              pad_id: int = 0) -> LastStep:
    """One forward pass over a left-padded batch: the shared prefix once when it pays (see above), else plain.

    Position ids follow the attention mask in both paths, so a row's answer does not depend on its padding.
    """
    import torch

    mask = enc["attention_mask"]
    rows = [ids[m.bool()].tolist() for ids, m in zip(enc["input_ids"], mask)] if prefix_cache else []
    shared = shared_prefix_length(rows) if prefix_cache else 0
    with torch.inference_mode():
        if shared < MIN_SHARED_TOKENS:
            position_ids = (mask.long().cumsum(-1) - 1).clamp(min=0)
            out = model(**enc, position_ids=position_ids, logits_to_keep=1, use_cache=keep_cache)
            return LastStep(out.logits[:, -1, :].float(), output_cache(out) if keep_cache else None, mask, 0)
        device = mask.device
        prefix = torch.tensor([rows[0][:shared]], device=device)
        cache = output_cache(model(input_ids=prefix, use_cache=True, logits_to_keep=1))
        if not hasattr(cache, "batch_repeat_interleave"):  # a cache that cannot be copied per row: plain forward
            return last_step(model, enc, keep_cache=keep_cache, prefix_cache=False, pad_id=pad_id)
        cache.batch_repeat_interleave(len(rows))
        own = [r[shared:] for r in rows]
        width = max(len(r) for r in own)
        ids = torch.tensor([[pad_id] * (width - len(r)) + r for r in own], device=device)
        own_mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in own], device=device,
                                dtype=mask.dtype)
        full_mask = torch.cat([torch.ones(len(rows), shared, device=device, dtype=mask.dtype), own_mask], dim=-1)
        position_ids = shared + (own_mask.long().cumsum(-1) - 1).clamp(min=0)
        out = model(input_ids=ids, attention_mask=full_mask, position_ids=position_ids, logits_to_keep=1,
                    use_cache=True, **{cache_kwarg(model): cache})
        return LastStep(out.logits[:, -1, :].float(), output_cache(out) if keep_cache else None, full_mask, shared)
