"""The ``openai_compatible`` backend: any chat-completions server through the official ``openai`` SDK.

``vllm serve``, Ollama, Together and OpenAI all speak the contract. Chat prompts go to
``/chat/completions``; raw prompts that already carry their own format (the HarmBench
classifier's ``[INST] ...``, the fine-tuned StrongREJECT judge) go to ``/completions`` so
no chat template is wrapped around them. Every request is sent at temperature 0 with the
configured ``seed``; when the answer labels are one token it asks for ``logprobs`` and reads
each label's probability from the first token's candidates (the judge falls back to parsing
the text when the server returns none, unless ``scoring: probability``).

The SDK's own retries are off (``max_retries=0``): LAM3's quota machinery decides, the one the
other remote judges use (:meth:`lam3.judges.remote.RemoteRunner.map_calls`): an ``aiolimiter``
bucket that spaces requests evenly, a window guard that holds each request's slot until a window
after its reply (so the server never sees more than the quota), bounded concurrency, and
``tenacity`` backoff that never comes sooner than ``Retry-After``. A wrong key or a model the
server does not serve stops the run at once; every error string is redacted.
"""

from __future__ import annotations

import math
from typing import Any

from lam3.judges.prompted.answers import Reader
from lam3.judges.prompted.backend import Mode, Query, Reply
from lam3.judges.prompted.config import PromptedConfig
from lam3.judges.remote import (
    BadResponse,
    Fatal,
    RecordError,
    RemoteRunner,
    Retryable,
    parse_retry_after,
    require_key,
)

NO_KEY = "EMPTY"
"""What is sent as the key to a server configured with ``api_key_env: null`` (vLLM's convention)."""


def endpoint_availability() -> tuple[bool, str]:
    """(usable, why not): the openai SDK and the remote extra's limiter and retry libraries are importable."""
    import importlib.util

    missing = [m for m in ("openai", "tenacity", "aiolimiter") if importlib.util.find_spec(m) is None]
    if missing:
        return False, f"missing {', '.join(missing)}; install the judges-remote extra: pip install 'lam3[judges-remote]'"
    return True, ""


def sdk_failure(exc: Exception) -> Exception:
    """The runner's failure kind for an ``openai`` SDK exception (its own retries are off)."""
    import json

    import openai

    if isinstance(exc, json.JSONDecodeError):  # a 2xx whose body is not JSON (cut off mid-reply)
        return BadResponse(f"malformed JSON in the reply: {exc}")
    if isinstance(exc, openai.APITimeoutError):
        return Retryable(f"timeout: {exc}")
    if isinstance(exc, openai.APIConnectionError):
        return Retryable(f"connection: {exc}")
    if isinstance(exc, openai.APIResponseValidationError):
        return BadResponse(f"malformed reply: {exc}")
    if isinstance(exc, openai.APIStatusError):
        body = exc.body.get("message") if isinstance(exc.body, dict) else None
        status, message = exc.status_code, f"HTTP {exc.status_code}: {body or exc.message}"
        if status in (408, 409, 425, 429) or status >= 500:
            return Retryable(message, retry_after=parse_retry_after(exc.response.headers))
        if status in (401, 403):
            return Fatal("auth", message)
        if status in (404, 410):
            return Fatal("gone", f"{message} (is model_id one the server serves? is base_url right?)")
        return RecordError(message)
    return exc


def top_candidates(choice: Any, chat: bool) -> list[tuple[str, float]] | None:
    """(token text, logprob) of the first generated token's candidates, or None when the server sent none."""
    logprobs = getattr(choice, "logprobs", None)
    if logprobs is None:
        return None
    if chat:
        content = getattr(logprobs, "content", None)
        if not content:
            return None
        first = content[0]
        pairs = [(c.token, c.logprob) for c in (first.top_logprobs or [])]
        return pairs or [(first.token, first.logprob)]
    tops = getattr(logprobs, "top_logprobs", None)
    if not tops or not isinstance(tops[0], dict):
        return None
    return list(tops[0].items())


class EndpointBackend:
    """A judge model behind an OpenAI-compatible endpoint (see the module docstring)."""

    kind = "openai_compatible"

    def __init__(self, config: PromptedConfig, *, name: str) -> None:
        self.config = config
        self.name = name
        key = require_key(config.api_key_env, name) if config.api_key_env else NO_KEY
        self._key = key
        self.runner = RemoteRunner(config, name=name, secrets=(key,) if key != NO_KEY else ())
        self._client: Any = None
        self._tokenizer: Any = None

    def load(self) -> dict[str, Any]:
        return {"base_url": self.config.base_url, "model": self.config.model_id}

    def clip_tokenizer(self) -> Any:
        if self._tokenizer is None:
            from lam3.hf import load_processor
            from lam3.judges.prompted.local import loader_options

            assert self.config.clip_tokenizer is not None
            self._tokenizer = load_processor(loader_options(self.config, self.config.clip_tokenizer))
        return self._tokenizer

    def close(self) -> None:
        if self._client is not None:
            try:
                self.runner.run(self._client.close())
            except Exception:  # closing is best-effort; sockets close with the process anyway
                pass
            self._client = None
        self.runner.close()

    def _sdk(self) -> Any:
        if self._client is None:  # made on the runner's loop, where it is used
            from openai import AsyncOpenAI

            self._client = AsyncOpenAI(api_key=self._key, base_url=self.config.base_url,
                                       timeout=self.config.timeout_s, max_retries=0)
        return self._client

    def run(self, queries: list[Query], reader: Reader, mode: Mode, max_new_tokens: int) -> list[Reply]:
        want_probs = mode != "parse" and bool(reader.labels)
        budget = 1 if mode == "probability" else max_new_tokens

        async def call(query: Query) -> Reply:
            try:
                return await self._ask(query, reader, want_probs, budget)
            except (Retryable, RecordError, Fatal):
                raise
            except Exception as exc:
                raise sdk_failure(exc) from None

        outcomes = self.runner.map_calls(queries, call)
        replies = []
        for out in outcomes:
            reply = out.value if out.value is not None and out.error is None else Reply(error=out.error or "no reply")
            reply.latency_ms = out.latency_ms
            reply.details["attempts"] = out.attempts
            replies.append(reply)
        return replies

    async def _ask(self, query: Query, reader: Reader, want_probs: bool, budget: int) -> Reply:
        cfg = self.config
        common: dict[str, Any] = {"model": cfg.model_id, "temperature": 0, "max_tokens": budget}
        if cfg.seed is not None:
            common["seed"] = cfg.seed
        sdk = self._sdk()
        if query.is_chat:
            extra = {"logprobs": True, "top_logprobs": cfg.top_logprobs} if want_probs else {}
            completion = await sdk.chat.completions.create(messages=query.messages, **common, **extra)
        else:
            extra = {"logprobs": cfg.top_logprobs} if want_probs else {}
            if not query.add_special_tokens:  # vLLM's completions parameter; a server without it answers 400
                extra["extra_body"] = {"add_special_tokens": False}
            completion = await sdk.completions.create(prompt=query.text, **common, **extra)
        choices = getattr(completion, "choices", None)
        if not choices:
            raise BadResponse("reply has no choices")
        choice = choices[0]
        text = choice.message.content if query.is_chat else choice.text
        if not isinstance(text, str):
            raise BadResponse("reply has no answer text")
        served = getattr(completion, "model", None)
        if cfg.expect_served_model is not None and served != cfg.expect_served_model:
            raise Fatal("gone", f"the server reports model {served!r}, not expect_served_model "
                                f"{cfg.expect_served_model!r}")
        reply = Reply(text=text, model=served if isinstance(served, str) else None,
                      details={"finish_reason": getattr(choice, "finish_reason", None)})
        fingerprint = getattr(completion, "system_fingerprint", None)
        if fingerprint:
            reply.details["system_fingerprint"] = fingerprint
        if want_probs:
            candidates = top_candidates(choice, query.is_chat)
            if candidates is None:
                reply.details["logprobs"] = "not returned by the server"
            else:
                reply.mass, reply.tokens = label_mass(candidates, reader)
        return reply


def label_mass(candidates: list[tuple[str, float]], reader: Reader) -> tuple[dict[str, float], dict[str, list[str]]]:
    """Each label's probability among the first token's candidates (token text stripped, the label's case rule)."""
    mass: dict[str, float] = {}
    tokens: dict[str, list[str]] = {}
    for token, logprob in candidates:
        if not isinstance(logprob, (int, float)) or not math.isfinite(logprob):
            continue
        for label in reader.labels:
            if reader.same(str(token).strip(), label):
                mass[label] = mass.get(label, 0.0) + math.exp(logprob)
                tokens.setdefault(label, []).append(str(token))
                break
    return mass, tokens
