"""A tiny random RoBERTa sequence classifier (NLI heads by default), saved like a hub checkpoint."""

from __future__ import annotations

from pathlib import Path

from tiny.tokenizer import build_tokenizer

MNLI_LABELS = {0: "CONTRADICTION", 1: "NEUTRAL", 2: "ENTAILMENT"}  # roberta-large-mnli's order


def build_pair_tokenizer():
    """Word-level tokenizer with RoBERTa's pair template: <s> A </s></s> B </s>."""
    from tokenizers.processors import TemplateProcessing

    tok = build_tokenizer(padding_side="right")
    bos, eos = tok.bos_token_id, tok.eos_token_id
    tok.backend_tokenizer.post_processor = TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", bos), ("</s>", eos)])
    return tok


def build_tiny_classifier(out_dir: str | Path, id2label: dict[int, str] | None = None, *, seed: int = 0,
                          problem_type: str | None = None) -> Path:
    """Save a tiny RobertaForSequenceClassification + tokenizer in ``out_dir``."""
    import torch
    from transformers import RobertaConfig, RobertaForSequenceClassification

    out_dir = Path(out_dir)
    id2label = id2label or MNLI_LABELS
    tok = build_pair_tokenizer()
    torch.manual_seed(seed)
    cfg = RobertaConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=300, type_vocab_size=1,
                        pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                        id2label=id2label, label2id={v: k for k, v in id2label.items()}, problem_type=problem_type)
    model = RobertaForSequenceClassification(cfg).eval()
    with torch.no_grad():  # a random head is near-uniform; widen it so scores differ visibly between inputs
        model.classifier.out_proj.weight.mul_(20.0)
    model.save_pretrained(out_dir)
    tok.save_pretrained(out_dir)
    return out_dir
