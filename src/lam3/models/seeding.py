"""Per-sample seeds and a per-sample-seeded sampler, so results do not depend on batching.

Why a custom sampler: HF ``generate(do_sample=True)`` draws every row of a batch from the one
global torch RNG, so a sample's output would change with its batch size, its position in
the batch, the samples before it, and where a resumed run restarts. ``generate`` takes no
per-row ``torch.Generator``. The alternatives were (a) sampling one sample at a time under
``torch.manual_seed`` — correct but it throws away batching for the default (sampling)
config — or (b) doing the sampling step ourselves. We do (b):

:class:`PerSampleSampler` is a ``LogitsProcessor`` that runs last (HF appends custom
processors after its own, and ``generate`` is called with ``do_sample=False`` so no HF
warper or sampler runs after it). It applies HF's own temperature / top-k / top-p warpers,
draws one token per row from that row's own ``torch.Generator`` (seeded with the seed of that
row's draw, :func:`sample_seed`), and returns scores where only the drawn token is finite; greedy selection then
picks exactly that token. HF's processors that also apply to greedy decoding
(``min_new_tokens``, ``repetition_penalty``) run before it, as they would before sampling.
Each row consumes exactly one uniform draw per step from its own generator, so what a
sample gets is a function of (its inputs, its seed) only. ``num_samples: k`` puts the k draws of a
sample in the batch as k rows with the same inputs and k seeds. The generators live on the CPU
(the step's probabilities are copied there, B x vocab floats) so a seed means the same draws
on any device.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

SEED_BITS = 63


def sample_seed(global_seed: int, sample_id: str, index: int = 0) -> int:
    """The seed of draw ``index`` of one sample, 63 bits (fits torch and JSON ints).

    Draw 0 is sha256 of ``f"{global_seed}:{sample_id}"`` (the seed of the only draw before
    ``num_samples`` existed, so those outputs are unchanged); draw ``j > 0`` is sha256 of
    ``f"{global_seed}:{sample_id}:{j}"``. A seed depends on nothing else (not on batch size,
    order, ``num_samples`` or where a resumed run restarts).
    """
    if index < 0:
        raise ValueError(f"draw index must be >= 0, got {index}")
    key = f"{global_seed}:{sample_id}" if index == 0 else f"{global_seed}:{sample_id}:{index}"
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") >> (64 - SEED_BITS)


class PerSampleSampler:
    """Sample row ``i`` of every step from ``torch.Generator().manual_seed(seeds[i])`` (see module doc)."""

    def __init__(self, seeds: Sequence[int], *, temperature: float, top_p: float, top_k: int) -> None:
        import torch
        from transformers.generation.logits_process import (TemperatureLogitsWarper, TopKLogitsWarper,
                                                            TopPLogitsWarper)

        self.seeds = list(seeds)
        self.temperature, self.top_p, self.top_k = temperature, top_p, top_k
        self.generators = [torch.Generator(device="cpu").manual_seed(int(s)) for s in self.seeds]
        self.warpers: list[Any] = [TemperatureLogitsWarper(temperature)]
        if top_k:
            self.warpers.append(TopKLogitsWarper(top_k))
        if top_p < 1.0:
            self.warpers.append(TopPLogitsWarper(top_p))

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import torch

        if scores.shape[0] != len(self.generators):
            raise RuntimeError(f"PerSampleSampler built for {len(self.generators)} rows, got {scores.shape[0]} "
                               "(beam search / num_return_sequences are not supported)")
        for warper in self.warpers:
            scores = warper(input_ids, scores)
        probs = torch.softmax(scores.float(), dim=-1).cpu()
        # one uniform per row from that row's generator; inverse-CDF keeps it to exactly one draw per step
        draws = torch.stack([torch.rand((), generator=g) for g in self.generators])
        cdf = probs.cumsum(dim=-1)
        chosen = torch.searchsorted(cdf, (draws * cdf[:, -1]).unsqueeze(-1)).clamp_(max=probs.shape[-1] - 1)
        # never pick a token the warpers removed (guards against float ties at the cdf edge)
        blocked = probs.gather(-1, chosen) == 0
        if blocked.any():
            chosen = torch.where(blocked, probs.argmax(dim=-1, keepdim=True), chosen)
        out = torch.full_like(scores, float("-inf"))
        out.scatter_(-1, chosen.to(scores.device), 0.0)
        return out
