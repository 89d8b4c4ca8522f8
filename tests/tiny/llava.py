"""A tiny, randomly initialised LLaVA-1.5 (CLIP vision tower + Llama) saved like a hub checkpoint.

Built in a few seconds on CPU so tests exercise the real ``from_pretrained`` / ``generate``
code path offline. ``eos_bias`` makes end-of-sequence the model's favourite next token, so a
test can tell whether ``min_new_tokens`` was honoured.
"""

from __future__ import annotations

from pathlib import Path

from tiny.tokenizer import build_tokenizer

IMAGE_TOKEN = "<image>"


def _bias_towards(model, token_id: int, strength: float) -> None:
    """Make ``token_id`` the argmax everywhere: a constant residual direction read out by its lm_head row."""
    import torch

    with torch.no_grad():
        embed = model.get_input_embeddings().weight
        embed[:, 0] += strength
        head = model.get_output_embeddings().weight
        head[token_id].zero_()
        head[token_id, 0] = strength


def build_tiny_llava(out_dir: str | Path, *, eos_bias: float = 0.0, seed: int = 0) -> Path:
    """Save a tiny LlavaForConditionalGeneration + LlavaProcessor into ``out_dir``; return it."""
    import torch
    from transformers import (CLIPImageProcessor, CLIPVisionConfig, LlamaConfig, LlavaConfig,
                              LlavaForConditionalGeneration, LlavaProcessor)

    out_dir = Path(out_dir)
    tok = build_tokenizer(extra_special=[IMAGE_TOKEN])
    vision = CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                              image_size=32, patch_size=8)
    text = LlamaConfig(vocab_size=len(tok) + 8, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                       num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=512,
                       pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
    config = LlavaConfig(vision_config=vision, text_config=text,
                         image_token_index=tok.convert_tokens_to_ids(IMAGE_TOKEN),
                         vision_feature_layer=-1, vision_feature_select_strategy="default", image_seq_length=16)
    torch.manual_seed(seed)
    model = LlavaForConditionalGeneration(config).eval()
    if eos_bias:
        _bias_towards(model, tok.eos_token_id, eos_bias)
    model.generation_config.pad_token_id = tok.pad_token_id
    model.generation_config.eos_token_id = tok.eos_token_id
    model.generation_config.bos_token_id = tok.bos_token_id
    image_processor = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    processor = LlavaProcessor(image_processor=image_processor, tokenizer=tok, patch_size=8,
                               vision_feature_select_strategy="default", image_token=IMAGE_TOKEN,
                               num_additional_image_tokens=1)
    model.save_pretrained(out_dir)
    processor.save_pretrained(out_dir)
    return out_dir
