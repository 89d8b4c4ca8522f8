"""Tiny Llama / Mistral / Gemma judge checkpoints whose first answer token is one of a few labels, then </s>.

A random tiny model answers anything, which would make "one forward pass agrees with
generate-and-parse" meaningless. So the weights are set by hand:

* every prompt token's embedding carries a large *prompt* coordinate, so at the end of any
  prompt the lm_head rows of the answer labels (and nothing else) win by a wide margin;
* which label wins is decided by a small input-dependent direction ``v`` of the final hidden
  state (the attention layers mix the prompt in), calibrated on sample prompts so that the
  labels share the calibration set: label k's logit is ``-(z - m_k)^2 / 2w^2`` in the
  standardised projection ``z`` (an ordinal layout, so "1".."5" fall in order);
* an answer token's own embedding carries an *answer* coordinate, read only by </s>: the
  model stops right after its one-token answer.

``script`` instead makes the model write a fixed token sequence (each token predicts the next),
e.g. a StrongREJECT rubric answer, so generate-and-parse can succeed on a tiny model.
The tokenizer adds BOS like the real ones (so HarmBench's "512 tokens incl. BOS" can be tested).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tiny.tokenizer import build_tokenizer

LLAMA3_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<|start_header_id|>{{ m['role'] }}<|end_header_id|>\n\n"
    "{{ m['content'] }}<|eot_id|>{% endfor %}"
    "{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}")
MISTRAL_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}{% if m['role'] == 'user' %}[INST] {{ m['content'] }} [/INST]"
    "{% elif m['role'] == 'assistant' %}{{ m['content'] }}{{ eos_token }}"
    "{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}")
GEMMA_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}{% if m['role'] == 'system' %}"
    "{{ raise_exception('System role not supported') }}{% endif %}"
    "<start_of_turn>{{ 'model' if m['role'] == 'assistant' else m['role'] }}\n{{ m['content'] }}<end_of_turn>\n"
    "{% endfor %}{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}")
CHAT_SPECIAL = ["<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>", "<start_of_turn>", "<end_of_turn>"]
PROMPT_WORDS = ["[INST]", "[/INST]", "<<SYS>>", "<</SYS>>", "[BEHAVIOR]:", "[GENERATION]:", "[CONTEXT]:",
                "###", "REQUEST", "RESPONSE", "#scores"]


def judge_tokenizer(words: Sequence[str] = ()) -> Any:
    """A word-level tokenizer with BOS added to every encoding, chat specials and the judges' prompt words."""
    from tokenizers import processors

    tok = build_tokenizer(extra_words=["Yes", "No", "yes", "no", "safe", "unsafe", "1", "2", "3", "4", "5", "0",
                                       "model", "assistant", "user", "system", *words],
                          extra_special=CHAT_SPECIAL)
    tok.add_tokens([w for w in [*PROMPT_WORDS, *words] if not w.isalnum()])  # longest match wins
    bos = tok.bos_token
    tok._tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A", special_tokens=[(bos, tok.bos_token_id)])
    return tok


def _config(arch: str, tok: Any, d: int) -> Any:
    from transformers import GemmaConfig, LlamaConfig, MistralConfig

    common = dict(vocab_size=len(tok), hidden_size=d, intermediate_size=2 * d, num_hidden_layers=1,
                  num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096,
                  bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
                  tie_word_embeddings=False)
    if arch == "gemma":
        return GemmaConfig(head_dim=d // 4, **common)
    return {"llama": LlamaConfig, "mistral": MistralConfig}[arch](**common)


def _encode(tok: Any, prompts: Sequence[str | list[dict[str, str]]]) -> dict[str, Any]:
    texts = [p if isinstance(p, str) else tok.apply_chat_template(p, tokenize=False, add_generation_prompt=True)
             for p in prompts]
    raw = all(isinstance(p, str) for p in prompts)
    return tok(texts, return_tensors="pt", padding=True, add_special_tokens=raw)


def build_tiny_judge(out_dir: str | Path, *, arch: str, answers: Sequence[str] = (),
                     calibration: Sequence[str | list[dict[str, str]]] = (), script: Sequence[str] = (),
                     chat_template: str | None = None, seed: int = 0, width: float = 0.75) -> Path:
    """Build, calibrate and save a tiny judge (model + tokenizer) in ``out_dir``; return it.

    ``answers``: the competing one-token labels (decided per prompt); ``calibration``: prompts
    like the ones the tests judge (raw strings or chat messages), over which the labels spread;
    ``script``: instead of ``answers``, the token sequence the model always writes.
    """
    import torch
    from transformers import AutoModelForCausalLM

    out_dir = Path(out_dir)
    labels = list(script[:1]) if script else list(answers)
    tok = judge_tokenizer([*labels, *script])
    if chat_template is not None:
        tok.chat_template = chat_template
    ids = [tok.convert_tokens_to_ids(w) for w in labels]
    chain = [tok.convert_tokens_to_ids(w) for w in script]
    assert tok.unk_token_id not in ids + chain, "every label must be one token"
    torch.manual_seed(seed)
    d = 64
    model = AutoModelForCausalLM.from_config(_config(arch, tok, d)).eval()
    prompt_axis, answer_axis = 0, 1
    step_axes = list(range(2, 2 + len(chain)))
    keys = 2 + len(chain)
    with torch.no_grad():
        emb = model.get_input_embeddings().weight
        emb[:, :keys] = 0.0
        emb[:, keys:] *= 10.0  # the input-dependent part: attention mixes the prompt's tokens into the last one
        for layer in model.model.layers:  # … and nothing writes into the key axes: they stay each token's own
            for proj in (layer.self_attn.o_proj, layer.mlp.down_proj):
                proj.weight.mul_(5.0)
                proj.weight[:keys] = 0.0
        emb[:, prompt_axis] = 1.0
        for t in ids + chain:
            emb[t, prompt_axis] = 0.0
        for t in ([] if script else ids):  # a script's first token leads on to the next, not to </s>
            emb[t, answer_axis] = 1.0
        for t, axis in zip(chain, step_axes):
            emb[t, axis] = 1.0
        head = model.lm_head.weight
        head.mul_(0.1)
        c = 4.0
        head[tok.eos_token_id].zero_()
        head[tok.eos_token_id, answer_axis] = 10 * c
        if script:
            head[tok.eos_token_id, step_axes[-1]] = 2 * c
            for prev, nxt in zip(step_axes, chain[1:]):
                head[nxt].zero_()
                head[nxt, prev] = 2 * c
        for t in ids:
            head[t].zero_()
            head[t, prompt_axis] = c
        if len(ids) > 1:
            assert len(calibration) >= 4, "calibrate on a few prompts"
            ends = set(_encode(tok, calibration)["input_ids"][:, -1].tolist())
            assert len(ends) == 1, "calibration prompts must end with the same token"
            end = ends.pop()
            for t in ids:  # an answer looks like a prompt end, with the answer axis for the prompt axis
                emb[t, keys:] = emb[end, keys:]
            _calibrate(model, tok, head, ids, calibration, keys, prompt_axis, width)
    model.save_pretrained(out_dir)
    tok.save_pretrained(out_dir)
    return out_dir


def _calibrate(model: Any, tok: Any, head: Any, ids: list[int], calibration: Sequence[Any], keys: int,
               prompt_axis: int, width: float) -> None:
    """Label k's logit = c·h[prompt] − (z − m_k)² / 2w², z the standardised input-dependent projection.

    ``z`` is read along the direction in which prompt ends differ most, made orthogonal to the mean
    state at a prompt end and right after each answer: right after an answer z stays near 0, the
    label rows stay small and </s> wins.
    """
    import torch

    enc = _encode(tok, calibration)
    h_end = _last_states(model, enc)
    means = torch.stack([h_end.mean(0)] + [_last_states(model, _append(enc, t)).mean(0) for t in ids])
    centred = h_end - h_end.mean(0)
    means[:, :keys] = 0.0
    centred[:, :keys] = 0.0
    q = torch.linalg.qr(means.T).Q.T  # the mean states at a prompt end and right after each answer …
    centred = centred - centred @ q.T @ q  # … read 0 along v: there the label rows are small
    v = torch.linalg.svd(centred, full_matrices=False).Vh[0]
    t = h_end @ v
    mu, sigma = float(t.mean()), float(t.std()) + 1e-6
    h0 = float(h_end[:, prompt_axis].mean())
    marks = torch.linspace(-1.0, 1.0, len(ids)) * (1.0 if len(ids) == 2 else 1.5)
    for t_id, m in zip(ids, marks.tolist()):
        slope = m / (width ** 2 * sigma)
        const = -(m ** 2) / (2 * width ** 2) - slope * mu
        head[t_id] += slope * v
        head[t_id, prompt_axis] += const / h0


def _last_states(model: Any, enc: dict[str, Any]) -> Any:
    pos = (enc["attention_mask"].cumsum(-1) - 1).clamp(min=0)
    return model.model(**enc, position_ids=pos).last_hidden_state[:, -1, :]  # after the final norm


def _append(enc: dict[str, Any], token: int) -> dict[str, Any]:
    import torch

    ids, mask = enc["input_ids"], enc["attention_mask"]
    return {"input_ids": torch.cat([ids, torch.full_like(ids[:, :1], token)], -1),
            "attention_mask": torch.cat([mask, torch.ones_like(mask[:, :1])], -1)}
