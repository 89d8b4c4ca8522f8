"""A tiny, randomly initialised IDEFICS2 (SigLIP-style vision + perceiver + Mistral) saved like a hub checkpoint.

The processor carries a chat template of the same shape as IDEFICS2's
(``User:<image>text<end_of_utterance>\\nAssistant:``) so the wrapper's real
``apply_chat_template`` path runs. ``eos_bias`` favours ``<end_of_utterance>``
(IDEFICS2's end of turn), so tests can see ``min_new_tokens`` being honoured.
"""

from __future__ import annotations

from pathlib import Path

from tiny.llava import _bias_towards
from tiny.tokenizer import build_tokenizer

SPECIAL = ["<image>", "<fake_token_around_image>", "<end_of_utterance>"]

CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ message['role'] | capitalize }}:"
    "{% for part in message['content'] %}"
    "{% if part['type'] == 'image' %}{{ '<image>' }}{% else %}{{ ' ' + part['text'] }}{% endif %}"
    "{% endfor %}<end_of_utterance>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}"
)


def build_tiny_idefics2(out_dir: str | Path, *, eos_bias: float = 0.0, seed: int = 0) -> Path:
    """Save a tiny Idefics2ForConditionalGeneration + Idefics2Processor into ``out_dir``; return it."""
    import torch
    from transformers import Idefics2ForConditionalGeneration, Idefics2ImageProcessor, Idefics2Processor
    from transformers.models.idefics2.configuration_idefics2 import (Idefics2Config, Idefics2PerceiverConfig,
                                                                     Idefics2VisionConfig)
    from transformers.models.mistral.configuration_mistral import MistralConfig

    out_dir = Path(out_dir)
    tok = build_tokenizer(extra_special=SPECIAL)
    end_of_utterance = tok.convert_tokens_to_ids("<end_of_utterance>")
    vision = Idefics2VisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                                  image_size=32, patch_size=8)
    perceiver = Idefics2PerceiverConfig(hidden_act="silu", resampler_n_latents=8, resampler_depth=1,
                                        resampler_n_heads=2, resampler_head_dim=8, num_key_value_heads=1,
                                        hidden_size=32, rms_norm_eps=1e-6)
    text = MistralConfig(vocab_size=len(tok) + 8, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=512,
                         pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id,
                         eos_token_id=tok.eos_token_id)
    config = Idefics2Config(vision_config=vision.to_dict(), perceiver_config=perceiver.to_dict(),
                            text_config=text.to_dict(), image_token_id=tok.convert_tokens_to_ids("<image>"))
    torch.manual_seed(seed)
    model = Idefics2ForConditionalGeneration(config).eval()
    if eos_bias:
        _bias_towards(model, end_of_utterance, eos_bias)
    model.generation_config.pad_token_id = tok.pad_token_id
    model.generation_config.eos_token_id = [tok.eos_token_id, end_of_utterance]
    model.generation_config.bos_token_id = tok.bos_token_id
    image_processor = Idefics2ImageProcessor(do_image_splitting=False, size={"longest_edge": 32, "shortest_edge": 32})
    processor = Idefics2Processor(image_processor=image_processor, tokenizer=tok, image_seq_len=8,
                                  chat_template=CHAT_TEMPLATE)
    model.save_pretrained(out_dir)
    processor.save_pretrained(out_dir)
    return out_dir
