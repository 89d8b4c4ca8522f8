"""``zero_shot_risk``: a zero-shot NLI model scores each policy category's description as a hypothesis.

It speaks the canonical policy vocabulary (S1–S11) directly, so its ``label_maps`` are the
identity table whatever labels a YAML file chooses. Loading goes through :mod:`lam3.hf`
(the one vocabulary: ``model_id``, ``revision``, ``device_map``, ``precision``, ...).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import Field, field_validator

from lam3 import hf
from lam3.errors import UserError
from lam3.judges.base import JudgeConfig, ScoreInput, Stopwatch
from lam3.judges.local import LocalJudge
from lam3.judges.registry import register
from lam3.taxonomy import POLICY_CATEGORIES, POLICY_IDENTITY, ZERO_SHOT_POLICY_LABELS
from lam3.records import Judgement


def _policy_codes(mapping: dict[str, str], what: str) -> None:
    bad = sorted(set(mapping) - set(POLICY_CATEGORIES))
    if bad:
        raise ValueError(f"{what} must be policy categories {', '.join(POLICY_CATEGORIES)}; got {', '.join(bad)}")


class ZeroShotConfig(hf.HFOptions, JudgeConfig):
    model_id: str = Field("facebook/roberta-large-mnli", min_length=1, description="an NLI checkpoint (hub id, folder)")
    labels: dict[str, str] = Field(default_factory=lambda: dict(ZERO_SHOT_POLICY_LABELS),
                                   description="policy category → natural-language description (the NLI hypothesis)")
    hypothesis_template: str = Field("This example is {}.", description="'{}' is replaced by each description")
    pair_batch_size: int = Field(64, gt=0, description="(text, label) pairs per forward pass")
    max_length: int = Field(512, gt=0, description="tokens per (text, hypothesis) pair; longer texts are truncated")

    @field_validator("labels")
    @classmethod
    def _codes(cls, labels: dict[str, str]) -> dict[str, str]:
        if not labels:
            raise ValueError("needs at least one label")
        _policy_codes(labels, "label keys")
        return labels

    @field_validator("hypothesis_template")
    @classmethod
    def _slot(cls, template: str) -> str:
        if template.count("{}") != 1:
            raise ValueError("must contain exactly one '{}' (where the label description goes)")
        return template


def nli_indices(id2label: dict[int, str], model_id: str) -> tuple[int, int]:
    """(entailment, contradiction) class indices, read from the checkpoint's id2label."""
    found: dict[str, int] = {}
    for idx, name in id2label.items():
        low = str(name).lower()
        for key in ("entail", "contradict"):
            if low.startswith(key):
                found[key] = int(idx)
    if len(found) != 2:
        raise UserError(f"{model_id!r} is not an NLI model: its id2label {dict(id2label)} does not name both "
                        "'entailment' and 'contradiction'", field="model_id")
    return found["entail"], found["contradict"]


@register("zero_shot_risk")
class ZeroShotRiskClassifier(LocalJudge):
    """Zero-shot NLI: each policy category's description scored independently as an entailment hypothesis.

    Multi-label: P(category) = softmax([contradiction, entailment])[entailment] for
    each (response, hypothesis) pair, all pairs of a batch going through the model
    together (no per-text pipeline calls).
    """
    metric = "policy_risk"
    version = "1"
    description = "NLI zero-shot (roberta-large-mnli by default): entailment of each policy-category description"
    Config = ZeroShotConfig
    label_maps = {"policy_risk": dict(POLICY_IDENTITY)}

    config: ZeroShotConfig

    def __init__(self, config: ZeroShotConfig | None = None) -> None:
        """Loads the checkpoint now; without a config (label listing) nothing is loaded."""
        options = config or self.Config()
        self.hypotheses = [options.hypothesis_template.format(d) for d in options.labels.values()]
        super().__init__(config)

    def load_weights(self) -> dict[str, Any]:
        loaded = hf.load_model("AutoModelForSequenceClassification", self.config)
        self.model = loaded.model
        self.tokenizer = hf.load_processor(self.config)
        self.entail, self.contra = nli_indices(self.model.config.id2label, self.config.model_id)
        return loaded.record

    @property
    def labels(self) -> list[str]:
        return list(self.config.labels)

    def entailment_probs(self, texts: list[str]) -> list[list[float]]:
        """P(entailment vs contradiction) for every (text, label) pair: rows = texts, columns = labels."""
        import torch

        pairs = [(t, h) for t in texts for h in self.hypotheses]
        device = hf.input_device(self.model)
        probs: list[float] = []
        for start in range(0, len(pairs), self.config.pair_batch_size):
            part = pairs[start:start + self.config.pair_batch_size]
            enc = self.tokenizer([p for p, _ in part], [h for _, h in part], return_tensors="pt", padding=True,
                                 truncation="only_first", max_length=self.config.max_length)
            with torch.inference_mode():
                logits = self.model(**{k: v.to(device) for k, v in enc.items()}).logits.float()
            two = logits[:, [self.contra, self.entail]]
            probs.extend(torch.softmax(two, dim=-1)[:, 1].tolist())
        n = len(self.hypotheses)
        return [probs[i * n:(i + 1) * n] for i in range(len(texts))]

    def score(self, batch: Sequence[ScoreInput]) -> list[Judgement]:
        self.load()
        good = [i for i, item in enumerate(batch) if item.text and item.text.strip()]
        with Stopwatch() as sw:
            rows = self.entailment_probs([batch[i].text for i in good]) if good else []
        per = sw.ms / max(1, len(good))
        by_index = dict(zip(good, rows))
        out = []
        for i in range(len(batch)):
            if i not in by_index:
                out.append(self.failure("empty response: nothing to classify"))
                continue
            scores = dict(zip(self.config.labels, by_index[i]))
            out.append(self.judgement(scores, latency_ms=per, details=self.identity()))
        return out
