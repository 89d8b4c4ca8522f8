"""What the attack minimises: target cross-entropy − λ · attention mass onto the image.

The target loss is Qi et al.'s: the mean negative log-likelihood of a corpus of target sentences as
the model's answer to ``prompt`` + image. All targets share the prompt prefix (built by the MLLM
wrapper, so it is exactly the format ``lam3 generate`` uses); a batch is ``prefix + target`` with
right padding, so the image tokens sit at the same positions in every row, and only the logits
that predict target tokens are computed (``logits_to_keep``).

The attention term reads the surfaces of :mod:`lam3.attacks.cross_attention`; each term is a mean
attention mass in [0, 1], weighted and summed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lam3.attacks.config import ObjectiveConfig
from lam3.attacks.cross_attention import AttentionCapture, SurfaceSpec
from lam3.errors import UserError


def read_targets(path: str | Path) -> list[str]:
    """Target corpus: one sentence per line; blank lines and ``#`` comments are skipped."""
    path = Path(path)
    if not path.is_file():
        raise UserError("target corpus not found", path=path, field="targets")
    targets = []
    for line in path.read_text(encoding="utf-8").splitlines():
        text = line.strip()
        if text and not text.startswith("#"):
            targets.append(text)
    if not targets:
        raise UserError("target corpus has no targets (one per line; # starts a comment)", path=path,
                        field="targets")
    return targets


@dataclass
class Evaluation:
    """One objective evaluation: the total (what PGD descends) and its parts, as 0-dim tensors."""

    total: Any
    target_loss: Any
    attention: dict[str, Any]
    attention_weight: float

    def floats(self) -> dict[str, float]:
        out = {"loss": float(self.total.detach()), "target_loss": float(self.target_loss.detach()),
               "attention_weight": self.attention_weight}
        out.update({f"attention.{k}": float(self.attention[k]) for k in sorted(self.attention)})
        return out


class AttackObjective:
    """Target loss (+ attention term) of an image for a subset of the target corpus.

    ``mllm`` is a loaded :class:`lam3.models.base.MLLM` wrapper; ``pipeline`` the differentiable
    preprocessing; ``clean`` the clean image (used only to build the text prefix once).
    """

    def __init__(self, mllm: Any, pipeline: Any, prompt: str, targets: Sequence[str], objective: ObjectiveConfig,
                 clean_pil: Any) -> None:
        import torch

        self.mllm, self.model, self.objective = mllm, mllm.model, objective
        self.device = mllm.device
        self.pipeline = pipeline.to(self.device)
        self.dtype = self.model.dtype
        prefix = mllm.prepare_inputs([prompt], [[clean_pil]])
        self.prefix_ids = prefix["input_ids"][0].to(self.device)
        if prefix["attention_mask"][0].min() == 0:
            raise RuntimeError("a single-prompt prefix should have no padding")
        tok = mllm.tokenizer
        self.target_ids = []
        for i, text in enumerate(targets):
            ids = tok(text, add_special_tokens=False)["input_ids"]
            if not ids:
                raise UserError(f"target {i + 1} tokenises to nothing: {text!r}", field="targets")
            self.target_ids.append(torch.tensor(ids, dtype=torch.long))
        self.pad_id = mllm.pad_token_id
        self.image_token_id = mllm.image_token_id
        self.image_positions = self.prefix_ids == self.image_token_id
        if not bool(self.image_positions.any()):
            raise RuntimeError("the prompt prefix holds no image tokens")
        self.weights = {t.surface: t.weight for t in objective.terms}
        self.queries = {t.surface: t.query_set for t in objective.terms}
        specs = [SurfaceSpec(t.surface, None if t.layers == "all" else list(t.layers),
                             None if t.heads == "all" else list(t.heads)) for t in objective.terms]
        try:
            self.capture = AttentionCapture(self.model, specs) if specs else None
        except ValueError as exc:
            raise UserError(str(exc), field="objective.terms") from None

    def capturing(self) -> Any:
        """Hold the attention capture open across many steps (saves switching the model at every step)."""
        import contextlib

        return self.capture if self.capture is not None else contextlib.nullcontext()

    @property
    def n_targets(self) -> int:
        return len(self.target_ids)

    def batch(self, indices: Sequence[int]) -> dict[str, Any]:
        """Token tensors for ``prefix + target[i]`` rows (right padded) and the position masks."""
        import torch

        p = self.prefix_ids.shape[0]
        lengths = [int(self.target_ids[i].shape[0]) for i in indices]
        t_max = max(lengths)
        n = len(indices)
        input_ids = torch.full((n, p + t_max), self.pad_id, dtype=torch.long)
        attention_mask = torch.zeros((n, p + t_max), dtype=torch.long)
        labels = torch.full((n, p + t_max), -100, dtype=torch.long)
        for row, (i, length) in enumerate(zip(indices, lengths)):
            input_ids[row, :p] = self.prefix_ids.cpu()
            input_ids[row, p:p + length] = self.target_ids[i]
            attention_mask[row, :p + length] = 1
            labels[row, p:p + length] = self.target_ids[i]
        image_keys = input_ids == self.image_token_id
        image_keys[:, p:] = False
        # the position that *predicts* label j is j - 1
        predicts_target = torch.zeros_like(attention_mask, dtype=torch.bool)
        predicts_target[:, :-1] = labels[:, 1:] != -100
        text = attention_mask.bool() & ~image_keys
        prompt = text.clone()
        prompt[:, p:] = False
        return {"input_ids": input_ids.to(self.device), "attention_mask": attention_mask.to(self.device),
                "labels": labels.to(self.device), "image_keys": image_keys.to(self.device),
                "queries": {"target": predicts_target.to(self.device), "prompt": prompt.to(self.device),
                            "text": text.to(self.device)},
                "keep": t_max + 1}

    def model_inputs(self, x: Any, batch: dict[str, Any]) -> dict[str, Any]:
        """Forward kwargs: the batch's tokens + the differentiable pixel values of ``x``, repeated per row."""
        n = batch["input_ids"].shape[0]
        pv = self.pipeline(x.to(self.device)).to(self.dtype)
        inputs = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"],
                  "pixel_values": pv.expand(n, *pv.shape[1:]).contiguous()}  # IDEFICS2 .view()s it
        mask = self.pipeline.pixel_attention_mask
        if mask is not None:
            inputs["pixel_attention_mask"] = mask.expand(n, *mask.shape[1:]).contiguous()
        return inputs

    def target_loss(self, logits: Any, batch: dict[str, Any]) -> Any:
        """Token-mean cross-entropy of the targets from the last ``keep`` positions' logits."""
        import torch

        keep = batch["keep"]
        labels = batch["labels"][:, -keep + 1:]
        logits = logits[:, -keep:-1].float()
        return torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1),
                                                 ignore_index=-100)

    def __call__(self, x: Any, indices: Sequence[int], step: int, *, attention_weight: float | None = None
                 ) -> Evaluation:
        """Evaluate at image ``x`` (3, H, W) for targets ``indices``; differentiable when grads are enabled."""
        batch = self.batch(indices)
        inputs = self.model_inputs(x, batch)
        lam = self.objective.weight_at(step) if attention_weight is None else attention_weight
        if self.capture is None:
            logits = self.model(**inputs, use_cache=False, logits_to_keep=batch["keep"]).logits
            loss = self.target_loss(logits, batch)
            return Evaluation(loss, loss, {}, lam)
        with self.capture:
            lm_queries = batch["queries"][self.queries["lm"]] if "lm" in self.queries else None
            self.capture.start(lm_image_keys=batch["image_keys"], lm_queries=lm_queries)
            try:
                logits = self.model(**inputs, use_cache=False, logits_to_keep=batch["keep"]).logits
            except BaseException:
                self.capture.recording = False  # disarm without masking the real error
                raise
            masses = self.capture.stop()
        loss = self.target_loss(logits, batch)
        attention = sum(self.weights[s] * m for s, m in masses.items())
        total = loss - lam * attention
        return Evaluation(total, loss, {k: v.detach() for k, v in masses.items()}, lam)

    def evaluate(self, x: Any, batch_size: int) -> dict[str, float]:
        """Target loss over the whole corpus (token-weighted) and mean attention masses; no gradients."""
        import torch

        totals: dict[str, float] = {}
        tokens = 0
        with torch.no_grad():
            for start in range(0, self.n_targets, batch_size):
                idx = list(range(start, min(start + batch_size, self.n_targets)))
                n_tok = sum(int(self.target_ids[i].shape[0]) for i in idx)
                ev = self(x, idx, step=0, attention_weight=self.objective.attention_weight)
                totals["target_loss"] = totals.get("target_loss", 0.0) + float(ev.target_loss) * n_tok
                for k, v in ev.attention.items():
                    totals[f"attention.{k}"] = totals.get(f"attention.{k}", 0.0) + float(v) * n_tok
                tokens += n_tok
        return {k: v / tokens for k, v in totals.items()}
