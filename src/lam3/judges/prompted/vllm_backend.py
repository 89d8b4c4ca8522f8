"""The ``vllm`` backend: the judge model in vLLM's offline engine (``vllm.LLM``) on this machine's GPU.

Why beside ``local``: vLLM batches continuously and, with automatic prefix caching, computes a
published template's fixed text once for every record that shares it; on a GPU that is the fast way
to run a 7–13B judge over a few hundred thousand responses without a server.

What it asks: every prompt is tokenized here with the engine's own tokenizer (a raw prompt with or
without BOS as the judge says, a chat prompt through the checkpoint's chat template) and sent as
token ids, so vLLM reads exactly the tokens the ``local`` backend would. Each request is greedy
(``SamplingParams(temperature=0, seed=seed)``); when the answer labels are one token it also asks for
``logprobs=top_logprobs`` and reads each label's probability from the first generated position:
the sum of exp(logprob) over the label's token ids (``label_token_ids``, the local backend's rule)
among the candidates vLLM returned. vLLM's logprobs are the full-vocabulary log-softmax of the raw
logits, so these are the probabilities one forward pass gives, as long as the labels are among the
top ``top_logprobs`` (``answer_mass`` in the judgement's details shows how much they hold).

Not run in this repository's CI (no GPU there): :func:`replies_from_outputs` is unit-tested on
output objects shaped like vLLM's; ``tests/scale/test_vllm_judges.py`` runs the real engine where vLLM
and CUDA exist.
"""

from __future__ import annotations

import math
import os
from typing import Any

from lam3.errors import DependencyError
from lam3.hf import dtype_name
from lam3.judges.base import Stopwatch
from lam3.judges.prompted.answers import Reader
from lam3.judges.prompted.backend import Mode, Query, Reply
from lam3.judges.prompted.config import PromptedConfig
from lam3.judges.prompted.local import TokenizerBackend


def engine_kwargs(config: PromptedConfig) -> dict[str, Any]:
    """What ``vllm.LLM`` receives: every ``VLLM_KEYS`` option, nothing else."""
    return {"model": config.model_id, "revision": config.revision, "tokenizer_revision": config.revision,
            "download_dir": config.cache_dir, "dtype": dtype_name(config.precision), "seed": config.seed or 0,
            "max_model_len": config.max_length, "enable_prefix_caching": config.prefix_cache,
            "tensor_parallel_size": config.tensor_parallel_size,
            "gpu_memory_utilization": config.gpu_memory_utilization, "max_logprobs": config.top_logprobs}


def sampling_kwargs(config: PromptedConfig, *, want_probs: bool, budget: int) -> dict[str, Any]:
    """What each request's ``SamplingParams`` receives: greedy, seeded, logprobs when labels are read."""
    return {"temperature": 0.0, "max_tokens": budget, "seed": config.seed,
            "logprobs": config.top_logprobs if want_probs else None}


def first_candidates(output: Any) -> dict[int, float] | None:
    """token id → logprob at the first generated position (None when vLLM returned no logprobs)."""
    logprobs = getattr(output, "logprobs", None)
    if not logprobs:
        return None
    return {int(token): float(getattr(lp, "logprob", lp)) for token, lp in dict(logprobs[0]).items()}


def replies_from_outputs(outputs: list[Any], label_ids: dict[str, list[int]] | None, tokenizer: Any,
                         want_probs: bool) -> list[Reply]:
    """One :class:`Reply` per ``RequestOutput``: the greedy text, and each label's probability mass."""
    replies = []
    for out in outputs:
        first = out.outputs[0]
        reply = Reply(text=first.text, details={"finish_reason": getattr(first, "finish_reason", None),
                                                "prompt_tokens": len(getattr(out, "prompt_token_ids", None) or []),
                                                "cached_prompt_tokens": getattr(out, "num_cached_tokens", None)})
        if want_probs and label_ids is not None:
            candidates = first_candidates(first)
            if candidates is None:
                reply.details["logprobs"] = "not returned by the engine"
            else:
                reply.mass = {label: sum(math.exp(candidates[t]) for t in ids if t in candidates)
                              for label, ids in label_ids.items()}
                reply.tokens = {label: tokenizer.convert_ids_to_tokens([t for t in ids if t in candidates])
                                for label, ids in label_ids.items()}
        replies.append(reply)
    return replies


class VllmBackend(TokenizerBackend):
    """A judge model in vLLM's offline engine (see the module docstring)."""

    kind = "vllm"

    def __init__(self, config: PromptedConfig, *, exact_label_tokens: bool = False) -> None:
        super().__init__(config, exact_label_tokens=exact_label_tokens)
        self.llm: Any = None

    def load(self) -> dict[str, Any]:
        if self.llm is None:
            from lam3.models.vllm_backend import vllm_available

            ok, why = vllm_available()
            if not ok:
                raise DependencyError(f"backend: vllm unavailable: {why}; use backend: local or openai_compatible",
                                      field="backend")
            if self.config.local_files_only:  # vLLM reads the HF offline switch from the environment
                os.environ["HF_HUB_OFFLINE"] = "1"
            import vllm

            self.llm = vllm.LLM(**engine_kwargs(self.config))
            self.tokenizer = self.llm.get_tokenizer()
            self.loaded = {"model_id": self.config.model_id, "revision": self.config.revision,
                           "vllm": vllm.__version__, "prefix_caching": self.config.prefix_cache}
        return self.loaded

    def close(self) -> None:
        self.llm = None

    def token_ids(self, query: Query) -> list[int]:
        """The prompt as the engine reads it: a raw prompt (BOS as the judge says) or the chat template's text."""
        if query.is_chat:
            text = self.tokenizer.apply_chat_template(query.messages, tokenize=False, add_generation_prompt=True)
        else:
            assert query.text is not None
            text = query.text
        return list(self.tokenizer(text, add_special_tokens=query.add_special_tokens)["input_ids"])

    def run(self, queries: list[Query], reader: Reader, mode: Mode, max_new_tokens: int) -> list[Reply]:
        from vllm import SamplingParams

        self.load()
        label_ids = self.label_ids(reader) if mode != "parse" and reader.labels else None
        want_probs = label_ids is not None
        budget = 1 if mode == "probability" else max_new_tokens
        prompts: list[dict[str, Any]] = []
        replies: list[Reply | None] = [None] * len(queries)
        slots = []
        for i, query in enumerate(queries):
            try:
                ids = self.token_ids(query)
            except Exception as exc:  # e.g. a chat template that refuses a role: this record only
                replies[i] = Reply(error=f"chat template: {type(exc).__name__}: {exc}")
                continue
            if len(ids) > self.config.max_length:
                replies[i] = Reply(error=f"judge prompt is {len(ids)} tokens, over max_length {self.config.max_length}")
                continue
            prompts.append({"prompt_token_ids": ids})
            slots.append(i)
        if prompts:
            params = SamplingParams(**sampling_kwargs(self.config, want_probs=want_probs, budget=budget))
            with Stopwatch() as sw:
                outputs = self.llm.generate(prompts, sampling_params=params, use_tqdm=False)
            for i, reply in zip(slots, replies_from_outputs(outputs, label_ids, self.tokenizer, want_probs)):
                reply.model, reply.latency_ms = self.config.model_id, sw.ms / len(prompts)
                replies[i] = reply
        return [r if r is not None else Reply(error="internal error: no reply") for r in replies]
