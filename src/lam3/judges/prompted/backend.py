"""What a prompted judge asks its backend, and what comes back: one :class:`Reply` per :class:`Query`.

The backends (:mod:`.local`, :mod:`.endpoint`, :mod:`.vllm_backend`) answer a list of queries with the
generated text, or with each answer label's next-token probability, plus what they
know about the call (model, tokens, latency); a query that cannot be answered gets
an error string, never a silent blank.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from lam3.judges.prompted.answers import Reader

Mode = Literal["probability", "parse", "auto"]


@dataclass(slots=True)
class Query:
    """One question for the judge model: a raw prompt (sent as is) or chat messages.

    ``bos``: whether the tokenizer adds its special tokens (BOS) to a raw prompt, as HarmBench's and
    StrongREJECT's code do; a prompt that writes its own (Llama Guard's text, as its chat template
    renders it) sets False. Chat prompts never get them twice: the chat template writes them.
    """

    text: str | None = None
    messages: list[dict[str, str]] | None = None
    bos: bool = True

    @property
    def is_chat(self) -> bool:
        return self.messages is not None

    @property
    def add_special_tokens(self) -> bool:
        """What to pass the tokenizer for this prompt's text."""
        return self.bos and not self.is_chat


@dataclass(slots=True)
class Reply:
    """The judge model's answer: text to parse, and/or each label's raw next-token probability.

    ``mass[label]`` sums the probability of every token that spells ``label`` (listed in
    ``tokens``); the judge renormalises over the labels.
    """

    text: str | None = None
    mass: dict[str, float] | None = None
    tokens: dict[str, list[str]] | None = None
    model: str | None = None
    error: str | None = None
    latency_ms: float | None = None
    details: dict[str, Any] = field(default_factory=dict)


class Backend(Protocol):
    """Where a prompted judge's model runs."""

    kind: str

    def load(self) -> dict[str, Any]:
        """Load weights / check the key now (before any record is read); return what was loaded."""

    def run(self, queries: list[Query], reader: Reader, mode: Mode, max_new_tokens: int) -> list[Reply]:
        """One reply per query, in order. ``mode`` probability/auto asks for label probabilities."""

    def clip_tokenizer(self) -> Any:
        """The tokenizer that clips responses (the judge model's own)."""

    def close(self) -> None:
        """Release the model or the HTTP client."""
