"""Tiny randomly initialised BERT classifiers, saved the way real ones ship.

* :func:`build_bert_classifier` - a ``save_pretrained`` folder (config, weights, WordPiece
  tokenizer) with the labels in ``id2label``, like ``unitary/toxic-bert``.
* :func:`tiny.hub_cache.build_hub_cache` - the same folder laid out as a Hugging Face hub cache
  (``models--org--name/refs/main`` → ``snapshots/<commit>``), so ``revision`` and
  ``local_files_only`` are exercised through the real hub-resolution code.
* :func:`build_detoxify_checkpoint` - a Detoxify checkpoint (``{"config", "state_dict"}``)
  plus the base-model folder that ``huggingface_config_path`` points at.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tiny.tokenizer import BASE_CORPUS

TOXIC_BERT_LABELS = ("toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate")
# Class names as Detoxify's training configs list them, and how many logits each release has
# (unbiased/multilingual also predict 9 identity subgroups that Detoxify does not report).
DETOXIFY_CLASSES: dict[str, tuple[tuple[str, ...], int]] = {
    "original": (TOXIC_BERT_LABELS, 6),
    "unbiased": (("toxicity", "severe_toxicity", "obscene", "identity_attack", "insult", "threat",
                  "sexual_explicit"), 16),
    "multilingual": (("toxicity", "severe_toxicity", "obscene", "identity_attack", "insult", "threat",
                      "sexual_explicit"), 16),
}
DETOXIFY_BASE_MODEL = {"original": "bert-base-uncased", "unbiased": "roberta-base",
                       "multilingual": "xlm-roberta-base"}


def bert_tokenizer(folder: Path, model_max_length: int):
    """A WordPiece ``BertTokenizerFast`` over the shared test vocabulary, saved in ``folder``."""
    from transformers import BertTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    words = sorted({w.lower() for w in BASE_CORPUS if w.strip()})
    vocab = folder / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]) + "\n", encoding="utf-8")
    tok = BertTokenizerFast(vocab_file=str(vocab), do_lower_case=True, model_max_length=model_max_length)
    tok.save_pretrained(folder)
    return tok


def bert_config(vocab_size: int, num_labels: int, *, hidden: int = 32, layers: int = 2, heads: int = 2,
                intermediate: int = 64, positions: int = 64, labels: Sequence[str] | None = None):
    from transformers import BertConfig

    kw: dict[str, Any] = {}
    if labels is not None:
        kw = {"id2label": dict(enumerate(labels)), "label2id": {name: i for i, name in enumerate(labels)},
              "problem_type": "multi_label_classification"}
    # initializer_range 0.2 (BERT's is 0.02): a random BERT then gives scores that differ between
    # texts instead of ~0.5 for everything, so order and batching mistakes show in the scores
    return BertConfig(vocab_size=vocab_size, hidden_size=hidden, num_hidden_layers=layers,
                      num_attention_heads=heads, intermediate_size=intermediate,
                      max_position_embeddings=positions, num_labels=num_labels, initializer_range=0.2, **kw)


def build_bert_classifier(folder: Path, labels: Sequence[str] = TOXIC_BERT_LABELS, *, seed: int = 0,
                          hidden: int = 32, layers: int = 2, heads: int = 2, intermediate: int = 64,
                          positions: int = 64) -> Path:
    """Save a random ``BertForSequenceClassification`` + tokenizer in ``folder``; return it."""
    import torch
    from transformers import BertForSequenceClassification

    tok = bert_tokenizer(folder, model_max_length=positions)
    torch.manual_seed(seed)
    model = BertForSequenceClassification(
        bert_config(len(tok), len(labels), hidden=hidden, layers=layers, heads=heads,
                    intermediate=intermediate, positions=positions, labels=labels))
    model.save_pretrained(folder)
    return folder


def build_detoxify_checkpoint(folder: Path, variant: str = "original", *, seed: int = 0,
                              hidden: int = 32, layers: int = 2, heads: int = 2, intermediate: int = 64,
                              positions: int = 64) -> tuple[Path, Path]:
    """A Detoxify-format checkpoint for ``variant`` and its base-model folder: ``(ckpt, hf_dir)``.

    ``model_type`` names the hub model, as in the real releases, so loading works offline only
    when the loader honours ``huggingface_config_path``.
    """
    import torch
    from transformers import BertForSequenceClassification

    classes, num_classes = DETOXIFY_CLASSES[variant]
    hf_dir = folder / f"{variant}-base"
    tok = bert_tokenizer(hf_dir, model_max_length=positions)
    # the base config is the plain pre-trained one (2 labels), as downloaded for bert-base-uncased
    bert_config(len(tok), 2, hidden=hidden, layers=layers, heads=heads, intermediate=intermediate,
                positions=positions).save_pretrained(hf_dir)
    torch.manual_seed(seed)
    model = BertForSequenceClassification(bert_config(len(tok), num_classes, hidden=hidden, layers=layers,
                                                      heads=heads, intermediate=intermediate,
                                                      positions=positions))
    checkpoint = {
        "config": {"arch": {"args": {"model_type": DETOXIFY_BASE_MODEL[variant],
                                     "model_name": "BertForSequenceClassification",
                                     "tokenizer_name": "BertTokenizerFast", "num_classes": num_classes}},
                   "dataset": {"args": {"classes": list(classes)}}},
        "state_dict": model.state_dict(),
    }
    path = folder / f"detoxify-{variant}.ckpt"
    torch.save(checkpoint, path)
    return path, hf_dir
