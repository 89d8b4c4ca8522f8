"""``hf_classifier``: any Hugging Face sequence classifier as a social-toxicity or policy-risk judge.

One judge for both metrics (wave 1 had ``hf_text_classification`` for toxicity and
``safety_classifier`` for policy risk, with two loaders and two loops): ``metric`` says which
metric it feeds, ``label_map`` maps the model's labels (its ``id2label``) onto that metric's
canonical categories, and ``scores`` are reported per category (a category fed by several
labels takes their maximum); every label's raw probability is kept in ``details.raw``. The
default is ``unitary/toxic-bert`` with its social-toxicity table.

The inference loop (:func:`classify`, shared with :mod:`lam3.judges.detoxify`) tokenises a
whole batch in one call, orders it by token length so each forward pass pads little, runs
sub-batches of ``batch_size`` under ``torch.inference_mode``, applies a sigmoid (multi-label)
or softmax (one-of-N), and puts the rows back in input order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from lam3 import hf
from lam3.errors import ConfigError, UserError
from lam3.judges.base import JudgeConfig, ScoreInput, Stopwatch
from lam3.judges.local import LocalJudge
from lam3.judges.registry import register
from lam3.records import Judgement
from lam3.taxonomy import POLICY_CATEGORIES, SOCIAL_CATEGORIES, TOXIC_BERT_TO_SOCIAL

DEFAULT_MODEL = "unitary/toxic-bert"
METRIC_CATEGORIES: dict[str, tuple[str, ...]] = {"social_toxicity": SOCIAL_CATEGORIES,
                                                 "policy_risk": tuple(POLICY_CATEGORIES)}

# Models whose position ids start after the padding index (RoBERTa family): usable positions
# are max_position_embeddings - (pad_token_id + 1).
_OFFSET_POSITION_MODELS = frozenset({"roberta", "xlm-roberta", "xlm-roberta-xl", "camembert", "data2vec-text",
                                     "xmod", "longformer"})
Activation = Literal["sigmoid", "softmax"]


# -- the shared inference loop ------------------------------------------------------------------

@dataclass
class SequenceClassifier:
    """A loaded classifier: what :func:`classify` needs."""

    model: Any
    tokenizer: Any
    labels: list[str]
    max_tokens: int


def classify(clf: SequenceClassifier, texts: list[str], batch_size: int, activation: Activation = "sigmoid"
             ) -> tuple[list[list[float]], list[int], list[bool]]:
    """Probabilities per text (input order), tokens kept per text, and whether each text was truncated."""
    import torch

    tok = clf.tokenizer
    enc = tok(texts, truncation=True, max_length=clf.max_tokens)  # one call: the Rust tokenizer batches
    lengths = [len(x) for x in enc["input_ids"]]
    truncated = _truncated(tok, texts, enc, clf.max_tokens)
    fills = _pad_values(tok, enc)
    order = sorted(range(len(texts)), key=lambda i: -lengths[i])  # longest first: an OOM shows at once
    n_labels = len(clf.labels)
    device = hf.input_device(clf.model)
    results: list[list[float]] = [[] for _ in texts]
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            width = lengths[idx[0]]
            # right padding: with absolute position embeddings, left padding would shift every position
            features = {key: torch.tensor([enc[key][i] + [fill] * (width - lengths[i]) for i in idx], device=device)
                        for key, fill in fills.items()}
            logits = clf.model(**features).logits[:, :n_labels].float()
            probs = torch.sigmoid(logits) if activation == "sigmoid" else torch.softmax(logits, dim=-1)
            for i, row in zip(idx, probs.cpu().tolist()):
                results[i] = row
    return results, lengths, truncated


def _pad_values(tok: Any, enc: Any) -> dict[str, int]:
    """What each model input is padded with (what ``tokenizer.pad`` uses, without its per-row Python cost)."""
    fills = {"input_ids": tok.pad_token_id if tok.pad_token_id is not None else 0, "attention_mask": 0,
             "token_type_ids": getattr(tok, "pad_token_type_id", 0)}
    return {key: fill for key, fill in fills.items() if key in enc}


def _truncated(tok: Any, texts: list[str], enc: Any, max_tokens: int) -> list[bool]:
    """Which texts lost tokens to truncation (fast tokenizers record the overflow; others are re-counted)."""
    encodings = getattr(enc, "encodings", None)
    if encodings:
        return [len(e.overflowing) > 0 for e in encodings]
    full = tok(texts, add_special_tokens=True, truncation=False)["input_ids"]
    return [len(x) > max_tokens for x in full]


def max_tokens(tokenizer: Any, model_config: Any, requested: int | None) -> int:
    """The model's usable length (tokenizer limit and position table), or ``requested`` if it fits."""
    limits = []
    if 0 < getattr(tokenizer, "model_max_length", 0) < 1_000_000:
        limits.append(int(tokenizer.model_max_length))
    positions = getattr(model_config, "max_position_embeddings", None)
    if positions:
        if getattr(model_config, "model_type", "") in _OFFSET_POSITION_MODELS:
            positions -= (getattr(model_config, "pad_token_id", None) or 0) + 1
        limits.append(int(positions))
    limit = min(limits) if limits else 512
    if requested is None:
        return limit
    if requested > limit:
        raise ConfigError(f"max_length {requested} exceeds the model's limit of {limit} tokens", field="max_length")
    return requested


class ClassifierJudge(LocalJudge):
    """A local sequence classifier scored with :func:`classify`; subclasses load it and name the scores."""

    version = "1"
    batches_internally = True  # sorts the whole stage batch by length, then runs batch_size chunks
    activation: Activation = "sigmoid"
    classifier: SequenceClassifier

    def to_scores(self, probs: dict[str, float]) -> dict[str, float]:
        """The judgement's scores from the model's label → probability (default: as they are)."""
        return probs

    def check(self, item: ScoreInput) -> str | None:
        """Why this record cannot be classified (None when it can)."""
        return None

    def score(self, batch: Sequence[ScoreInput]) -> list[Judgement]:
        self.load()
        problems = [self.check(item) for item in batch]
        good = [i for i, problem in enumerate(problems) if problem is None]
        with Stopwatch() as sw:
            probs, tokens, truncated = (classify(self.classifier, [batch[i].text for i in good],
                                                 self.config.batch_size, self.activation) if good else ([], [], []))
        share = sw.ms / max(1, len(good))  # batched inference: each record gets its share of the batch time
        rows = dict(zip(good, zip(probs, tokens, truncated)))
        out = []
        for i, problem in enumerate(problems):
            if problem is not None:
                out.append(self.failure(problem))
                continue
            row, n, cut = rows[i]
            raw = dict(zip(self.classifier.labels, row))
            details = {"tokens": n, "truncated": cut, **self.identity()}
            scores = self.to_scores(raw)
            if scores is not raw:
                details["raw"] = raw
            out.append(self.judgement(scores, latency_ms=share, details=details))
        return out


# -- the judge ------------------------------------------------------------------------------------

class HFClassifierConfig(hf.HFOptions, JudgeConfig):
    """``{judge: hf_classifier, model_id: ..., metric: ..., label_map: {model label: category}}``."""

    model_id: str = Field(DEFAULT_MODEL, min_length=1, description="hub id or local folder")
    precision: hf.Precision = Field("fp32", description="weights dtype (fp32: small classifiers gain nothing from "
                                                        "bf16); auto = bf16 on CUDA, fp32 on CPU")
    metric: Literal["social_toxicity", "policy_risk"] = Field(
        "social_toxicity", description="which metric the scores feed (policy_risk: give label_map S1–S11 values)")
    label_map: dict[str, str] = Field(
        default_factory=lambda: dict(TOXIC_BERT_TO_SOCIAL),
        description="model label (as in its id2label) → category of the metric; labels left out stay in details.raw "
                    "(default: unitary/toxic-bert's social-toxicity table)")
    activation: Activation = Field(
        "sigmoid", description="sigmoid: multi-label, every label scored alone; softmax: one-of-N classes")
    max_length: int | None = Field(None, ge=2, description="truncate texts to this many tokens "
                                   "(default: the model's own limit; larger than that is an error)")

    @model_validator(mode="after")
    def _categories_of_the_metric(self) -> HFClassifierConfig:
        if not self.label_map:
            raise ValueError("label_map needs at least one 'model label: category' entry")
        known = METRIC_CATEGORIES[self.metric]
        bad = sorted({v for v in self.label_map.values() if v not in known})
        if bad:
            default = " (the default label_map is toxic-bert's social-toxicity table)" if (
                self.metric == "policy_risk" and "label_map" not in self.model_fields_set) else ""
            raise ValueError(f"label_map values must be {self.metric} categories ({', '.join(known)}); "
                             f"got {', '.join(bad)}{default}")
        return self


@register("hf_classifier")
class HFClassifierJudge(ClassifierJudge):
    """Any Hugging Face sequence-classification model, its labels mapped onto one metric's categories."""

    metric = "social_toxicity"
    description = ("Hugging Face sequence classifier (default unitary/toxic-bert), local and batched; `metric` + "
                   "`label_map` choose social toxicity or policy risk. Offline with a local folder or "
                   "local_files_only: true.")
    Config = HFClassifierConfig
    label_maps: ClassVar[dict[str, dict[str, str]]] = {}  # scores are already canonical categories
    config: HFClassifierConfig

    def __init__(self, config: HFClassifierConfig | None = None) -> None:
        self.metric = (config or self.Config()).metric  # per instance: the configured metric
        super().__init__(config)

    @property
    def activation(self) -> Activation:  # type: ignore[override]
        return self.config.activation

    @property
    def labels(self) -> list[str]:
        return list(dict.fromkeys(self.config.label_map.values()))

    def load_weights(self) -> dict[str, Any]:
        c = self.config
        loaded = hf.load_model("AutoModelForSequenceClassification", c)
        self.model = loaded.model
        self.tokenizer = hf.load_processor(c)
        config = self.model.config
        names = [str(config.id2label[i]) for i in range(config.num_labels)]
        missing = sorted(set(c.label_map) - set(names))
        if missing:
            raise UserError(f"label_map names {', '.join(missing)}, which {c.model_id!r} does not have "
                            f"(its labels: {', '.join(names)})", field="label_map")
        self.classifier = SequenceClassifier(self.model, self.tokenizer, names,
                                             max_tokens(self.tokenizer, config, c.max_length))
        return loaded.record

    def check(self, item: ScoreInput) -> str | None:
        return None if item.text and item.text.strip() else "empty response: nothing to classify"

    def to_scores(self, probs: dict[str, float]) -> dict[str, float]:
        scores: dict[str, float] = {}
        for label, category in self.config.label_map.items():
            scores[category] = max(scores.get(category, 0.0), probs[label])
        return scores
