"""The ``local`` backend: the judge model on transformers, batched with left padding.

Where every answer label is one token (Yes/No, safe/unsafe, 1–5) the label probabilities
come from one forward pass: the softmax over the whole vocabulary at the answer position,
summed over the tokens that spell each label (recorded). Otherwise the model generates
greedily and the judge parses the text. Records are sorted by prompt length before they
are cut into ``batch_size`` batches, so padding stays short; position ids follow the
attention mask, so a record's answer does not depend on its batch.
"""

from __future__ import annotations

from typing import Any

from lam3.errors import UserError
from lam3.judges.base import Stopwatch
from lam3.judges.local import last_step
from lam3 import hf
from lam3.hf import input_device
from lam3.judges.prompted.answers import Reader
from lam3.judges.prompted.backend import Mode, Query, Reply
from lam3.judges.prompted.config import PromptedConfig


def loader_options(config: PromptedConfig, model_id: str | None = None) -> hf.HFOptions:
    """The one loader's options from a prompted judge's YAML (the same keys as every local model)."""
    return hf.HFOptions(model_id=model_id or config.model_id, revision=config.revision,
                        local_files_only=config.local_files_only, cache_dir=config.cache_dir,
                        device_map=config.device_map, precision=config.precision,
                        quantization=config.quantization, attn_implementation=config.attn_implementation)


def load_judge_model(config: PromptedConfig) -> tuple[Any, Any, dict[str, Any]]:
    """(model, tokenizer, what was loaded): the one place a prompted judge loads weights, via :mod:`lam3.hf`."""
    opts = loader_options(config)
    loaded = hf.load_model("AutoModelForCausalLM", opts)
    return loaded.model, hf.load_processor(opts), loaded.record


def label_token_ids(tokenizer: Any, reader: Reader, *, exact: bool) -> dict[str, list[int]] | None:
    """The token ids that spell each label as one token; None when some label has none.

    ``exact``: only the vocabulary entry named like the label (StrongREJECT's ``tokenizer.vocab["1"]``).
    Otherwise also the label with a leading space and, for case-insensitive labels, its other
    casings: every single token whose decoded, stripped text is the label.
    """
    vocab = tokenizer.get_vocab()
    out: dict[str, list[int]] = {}
    for label in reader.labels:
        found = {vocab[label]} if label in vocab else set()
        if not exact:
            spellings = {label} if reader.case_sensitive else {label, label.lower(), label.upper(), label.capitalize()}
            for spelling in spellings:
                for variant in (spelling, " " + spelling):
                    ids = tokenizer.encode(variant, add_special_tokens=False)
                    if len(ids) == 1:
                        found.add(ids[0])
            found = {t for t in found if reader.same(tokenizer.decode([t]).strip(), label)}
        if not found:
            return None
        out[label] = sorted(found)
    return out


class TokenizerBackend:
    """What the backends that hold the judge model's tokenizer here share (``local``, ``vllm``)."""

    def __init__(self, config: PromptedConfig, *, exact_label_tokens: bool = False) -> None:
        self.config = config
        self.exact_label_tokens = exact_label_tokens
        self.tokenizer: Any = None
        self.loaded: dict[str, Any] = {}
        self.label_cache: dict[int, dict[str, list[int]] | None] = {}

    def load(self) -> dict[str, Any]:
        raise NotImplementedError

    def clip_tokenizer(self) -> Any:
        self.load()
        return self.tokenizer

    def label_ids(self, reader: Reader) -> dict[str, list[int]] | None:
        """Cached :func:`label_token_ids` for this reader."""
        self.load()
        if id(reader) not in self.label_cache:
            self.label_cache[id(reader)] = label_token_ids(self.tokenizer, reader, exact=self.exact_label_tokens)
        return self.label_cache[id(reader)]


class LocalBackend(TokenizerBackend):
    """A causal LM judge on this machine (see the module docstring)."""

    kind = "local"

    def __init__(self, config: PromptedConfig, *, exact_label_tokens: bool = False) -> None:
        super().__init__(config, exact_label_tokens=exact_label_tokens)
        self.model: Any = None

    def load(self) -> dict[str, Any]:
        if self.model is None:
            self.model, self.tokenizer, self.loaded = load_judge_model(self.config)
            self.tokenizer.padding_side = "left"
            if self.tokenizer.pad_token is None:  # Llama tokenizers ship without one; padding is masked anyway
                self.tokenizer.pad_token = self.tokenizer.eos_token
        return self.loaded

    def close(self) -> None:
        self.model = None

    # -- prompts ---------------------------------------------------------------------------------
    def prompt_text(self, query: Query) -> str:
        """The exact text the model reads: a raw prompt as is, chat messages through the checkpoint's template."""
        self.load()
        if not query.is_chat:
            assert query.text is not None
            return query.text
        if not getattr(self.tokenizer, "chat_template", None):
            raise UserError(f"{self.config.model_id!r} has no chat template, and this judge's prompt is a chat; "
                            "use a chat (instruct) model", field="model_id")
        return self.tokenizer.apply_chat_template(query.messages, tokenize=False, add_generation_prompt=True)

    # -- running ---------------------------------------------------------------------------------
    def run(self, queries: list[Query], reader: Reader, mode: Mode, max_new_tokens: int) -> list[Reply]:
        self.load()
        label_ids = self.label_ids(reader) if mode != "parse" and reader.labels else None
        if mode == "probability" and label_ids is None:
            raise UserError(f"scoring: probability needs every answer label to be one token of "
                            f"{self.config.model_id!r}", field="scoring")
        replies: list[Reply | None] = [None] * len(queries)
        rows: list[tuple[int, list[int]]] = []
        for i, query in enumerate(queries):
            try:
                text = self.prompt_text(query)
            except UserError:
                raise
            except Exception as exc:  # e.g. a chat template that refuses a role: this record only
                replies[i] = Reply(error=f"chat template: {type(exc).__name__}: {exc}")
                continue
            ids = self.tokenizer(text, add_special_tokens=query.add_special_tokens)["input_ids"]
            if len(ids) > self.config.max_length:
                replies[i] = Reply(error=f"judge prompt is {len(ids)} tokens, over max_length {self.config.max_length}")
                continue
            rows.append((i, ids))
        rows.sort(key=lambda row: len(row[1]))
        size = self.config.batch_size
        for start in range(0, len(rows), size):
            chunk = rows[start:start + size]
            with Stopwatch() as sw:
                if label_ids is not None:
                    answers = self._probabilities([ids for _, ids in chunk], label_ids)
                else:
                    answers = self._generate([ids for _, ids in chunk], max_new_tokens)
            for (i, ids), reply in zip(chunk, answers):
                reply.latency_ms = sw.ms / len(chunk)
                reply.model = self.config.model_id
                reply.details["prompt_tokens"] = len(ids)
                replies[i] = reply
        return [r if r is not None else Reply(error="internal error: no reply") for r in replies]

    def _batch(self, rows: list[list[int]]) -> dict[str, Any]:
        enc = self.tokenizer.pad({"input_ids": rows}, padding=True, return_tensors="pt")
        device = input_device(self.model)
        return {k: v.to(device) for k, v in enc.items()}

    def _probabilities(self, rows: list[list[int]], label_ids: dict[str, list[int]]) -> list[Reply]:
        """One forward pass (the prompt start the batch shares computed once: ``prefix_cache``)."""
        import torch

        step = last_step(self.model, self._batch(rows), prefix_cache=self.config.prefix_cache,
                         pad_id=self.tokenizer.pad_token_id)
        probs = torch.softmax(step.logits, dim=-1)
        tokens = {label: self.tokenizer.convert_ids_to_tokens(ids) for label, ids in label_ids.items()}
        replies = []
        for row in probs:
            mass = {label: float(row[ids].sum()) for label, ids in label_ids.items()}
            replies.append(Reply(mass=mass, tokens=tokens, details={"prefix_cache": step.shared > 0,
                                                                    "shared_prefix_tokens": step.shared}))
        return replies

    def _generate(self, rows: list[list[int]], max_new_tokens: int) -> list[Reply]:
        import torch

        enc = self._batch(rows)
        with torch.inference_mode():
            out = self.model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False, temperature=None,
                                      top_p=None, top_k=None, pad_token_id=self.tokenizer.pad_token_id)
        new = out[:, enc["input_ids"].shape[1]:]
        return [Reply(text=text) for text in self.tokenizer.batch_decode(new, skip_special_tokens=True)]
