"""A local HTTP server that speaks the OpenAI chat-completions (and completions) contract.

It exists so the ``openai_compatible`` backend can be tested and benchmarked with no network
and no key, through the real ``openai`` SDK (HTTP/1.1 on 127.0.0.1), like
:mod:`lam3.testing.fake_apis` does for the moderation APIs.

* **Contract.** ``POST /v1/chat/completions`` (``messages``) and ``POST /v1/completions``
  (``prompt``) validate the body as OpenAI does (unknown fields, bad roles, ``top_logprobs``
  without ``logprobs``, ``n`` > 1 → 400; a model the server does not serve → 404
  ``model_not_found``; a missing or wrong Bearer key → 401, echoing the key so clients must
  redact it) and answer ``choices[0].message.content`` / ``choices[0].text`` with ``model``,
  ``finish_reason``, ``usage``, ``system_fingerprint`` and, when asked, ``logprobs`` in each
  API's own shape (chat: ``content[0].top_logprobs``; completions: ``top_logprobs[0]`` dict).
  ``GET /v1/models`` lists the served models.
* **A fake judge model** (:func:`fake_answer`): it finds the response inside the published
  judge prompts (HarmBench, StrongREJECT, JailbreakBench), calls it a refusal when it holds a
  refusal phrase, and answers in the format the prompt asks for, with a deterministic first-token
  distribution, so tests can assert exact scores. Any other prompt gets an unparseable answer.
* **Llama Guard.** A Llama Guard 2/3 prompt (its category block) gets 'safe' or 'unsafe' plus a
  category line, with the first token's candidates, as a guard served by ``vllm serve`` answers.
* **Wrong model names.** ``report_as`` makes the server report another model name than the one
  asked for (an alias, or a misconfigured server); ``logprobs=False`` plays a server that ignores
  ``logprobs``.
* **vLLM's extra parameters.** ``vllm=True`` plays ``vllm serve``: it also accepts vLLM's own
  request fields (``add_special_tokens``, ``top_k``, ...), which the OpenAI contract refuses (400).
* **Quota and faults.** At most ``quota`` accepted requests in any 1-s window (more get 429 with
  ``Retry-After`` and ``retry-after-ms``); seeded faults (:class:`lam3.testing.fake_apis.Faults`):
  5xx, extra 429s, dropped connections, slow replies, truncated JSON. Every arrival is logged
  (:attr:`FakeChatServer.hits`, :meth:`FakeChatServer.max_in_window`).

Run it by hand: ``python -m lam3.testing.fake_chat --model judge --quota 20 --server-error 0.05``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import re
import time
from dataclasses import dataclass, field, replace
from typing import Any

from lam3.testing.fake_apis import Faults
from lam3.testing.http_fake import FakeServer, QuotaWindow, Refusal, Reply, max_in_window

CHAT_PATH = "/v1/chat/completions"
COMPLETIONS_PATH = "/v1/completions"
MODELS_PATH = "/v1/models"
CHAT_FIELDS = frozenset({"model", "messages", "max_tokens", "max_completion_tokens", "temperature", "top_p", "seed",
                         "logprobs", "top_logprobs", "n", "stop", "stream", "user"})
COMPLETION_FIELDS = frozenset({"model", "prompt", "max_tokens", "temperature", "top_p", "seed", "logprobs", "n",
                               "stop", "stream", "user", "echo"})
VLLM_FIELDS = frozenset({"add_special_tokens", "skip_special_tokens", "top_k", "min_p", "repetition_penalty",
                         "include_stop_str_in_output"})
"""Request fields ``vllm serve`` takes beyond the OpenAI contract (its sampling and tokenizer extras)."""
ROLES = frozenset({"system", "user", "assistant"})
REFUSALS = ("sorry", "cannot", "can't", "won't", "unable to", "not able to")
RESPONSE_REGIONS = (
    re.compile(r"\n\nAgent: (.*?)\n\n<END CONVERSATION>", re.S),            # Llama Guard 2 / 3
    re.compile(r"\[GENERATION\]:\n(.*?)\n\n---\nRules:", re.S),             # HarmBench
    re.compile(r"AI model response: (.*?)\n\n(?:Evaluate|Pretend)", re.S),   # StrongREJECT
    re.compile(r"<BEGIN RESPONSE>(.*?)<END RESPONSE>", re.S),                # JailbreakBench jailbreak
    re.compile(r"<response>\n(.*?)\n</response>", re.S),                     # JailbreakBench refusal
)


# --- the fake judge model ----------------------------------------------------------------------------

@dataclass(frozen=True)
class FakeAnswer:
    """What the fake model says to a prompt: the text, and its first token's candidates (token, probability)."""

    text: str
    first: tuple[tuple[str, float], ...] = ()


def _unit(*parts: str) -> float:
    """A reproducible number in [0, 1) from the parts."""
    return int(hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:8], 16) / 2**32


def refuses(response: str) -> bool:
    """The fake model's reading of a response: a refusal when it holds a refusal phrase."""
    low = response.lower()
    return any(phrase in low for phrase in REFUSALS)


def find_response(prompt: str) -> str | None:
    """The response a published judge prompt asks about (None when the prompt is none of them)."""
    for region in RESPONSE_REGIONS:
        found = region.search(prompt)
        if found:
            return found.group(1)
    return None


def _pair(yes: str, no: str, decided_yes: bool, key: str) -> FakeAnswer:
    p = 0.6 + 0.39 * _unit("p", key)  # the chosen word's probability
    chosen, other = (yes, no) if decided_yes else (no, yes)
    return FakeAnswer(chosen, ((chosen, p), (" " + other, 1.0 - p - 0.004), ("I", 0.003), ("\n", 0.001)))


def fake_answer(prompt: str) -> FakeAnswer:
    """The fake judge's answer to ``prompt`` (the full text of a raw prompt, or the chat messages joined)."""
    response = find_response(prompt)
    if response is None:
        return FakeAnswer("I am not able to grade this.", (("I", 0.9), (" am", 0.1)))
    refused = refuses(response)
    if "<BEGIN UNSAFE CONTENT CATEGORIES>" in prompt:  # Llama Guard (before JailbreakBench: both ask 'safe'/'unsafe')
        verdict = _pair("unsafe", "safe", not refused, prompt)
        if refused:
            return verdict
        codes = ("S1", "S2", "S9", "S1,S10")[int(4 * _unit("cats", prompt))]
        return FakeAnswer(f"unsafe\n{codes}", verdict.first)
    if '"yes" or "no"' in prompt:  # HarmBench classifier
        return _pair("Yes", "No", not refused, prompt)
    if "'safe' or 'unsafe'" in prompt:  # JailbreakBench jailbreak judge
        return _pair("unsafe", "safe", not refused, prompt)
    if 'Answer either "Yes" or "No"' in prompt:  # JailbreakBench refusal judge
        return _pair("Yes", "No", refused, prompt)
    if "#scores" in prompt:  # StrongREJECT rubric
        convincing, specific = (1, 1) if refused else (2 + int(3 * _unit("c", prompt)), 3 + int(3 * _unit("s", prompt)))
        text = (f"#overall_reasoning fake judge.\n#scores\n1.a reads the reply\n1.b {int(refused)}\n"
                f"2.a how convincing\n2.b {min(convincing, 5)}\n3.a how specific\n3.b {min(specific, 5)}")
        return FakeAnswer(text, (("#", 1.0),))
    if "### Answer:" in prompt:  # StrongREJECT fine-tuned judge
        top = 1 if refused else 4 + int(2 * _unit("d", prompt))
        weights = {str(k): math.exp(-abs(k - top) * 1.5) for k in range(1, 6)}
        total = sum(weights.values())
        first = tuple(sorted(((k, w / total) for k, w in weights.items()), key=lambda kv: -kv[1]))
        return FakeAnswer(str(top), first)
    return FakeAnswer("I am not able to grade this.", (("I", 0.9), (" am", 0.1)))


def prompt_text(body: dict[str, Any]) -> str:
    """What the fake model reads: the raw prompt, or the chat messages' contents joined."""
    if "messages" in body:
        return "\n\n".join(str(m.get("content", "")) for m in body["messages"])
    return str(body.get("prompt", ""))


# --- the server --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ChatHit:
    """One request as the server saw it (never the key: only whether it was right)."""

    t: float
    path: str
    status: int
    fault: str | None = None
    model: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    text: str | None = None
    key_ok: bool = False


def refusal(status: int, message: str, kind: str = "invalid_request_error", code: str | None = None,
            param: str | None = None, headers: dict[str, str] | None = None) -> Refusal:
    """An OpenAI-shaped error reply."""
    body = {"error": {"message": message, "type": kind, "param": param, "code": code}}
    return Refusal(Reply(status, body, headers or {}))


class FakeChatServer(FakeServer):
    """The chat-completions contract on ``http://127.0.0.1:<port>/v1``; a context manager, or start()/stop()."""

    thread_name = "fake-chat-api"

    def __init__(self, *, key: str | None = "fake-chat-key", models: tuple[str, ...] = ("judge",),
                 report_as: dict[str, str] | None = None, logprobs: bool = True, quota: float | None = None,
                 faults: Faults | None = None, lifetime_s: float = 600.0, max_requests: int = 100_000,
                 vllm: bool = False) -> None:
        super().__init__(lifetime_s=lifetime_s, max_requests=max_requests)
        self.vllm = vllm
        self.key = key
        self.models = tuple(models)
        self.report_as = dict(report_as or {})
        self.logprobs = logprobs
        self.faults = faults or Faults()
        self._seen: dict[str, int] = {}
        self._window = QuotaWindow(quota) if quota else None

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    def max_in_window(self, window_s: float = 1.0) -> int:
        """Most arrivals (accepted or not) inside any window of ``window_s`` seconds."""
        return max_in_window([h.t for h in self.hits], window_s)

    # -- handling (server threads) ---------------------------------------------------------------
    def handle(self, method: str, path: str, query: str, headers: Any, raw: bytes, arrived: float) -> Reply:
        hit = ChatHit(t=arrived, path=path, status=0)
        try:
            if method == "GET" and path == MODELS_PATH:
                hit = replace(hit, key_ok=self._check_key(headers))
                return self.log(hit, Reply(200, {"object": "list", "data": [
                    {"id": m, "object": "model", "owned_by": "lam3-fake"} for m in self.models]}))
            if method != "POST" or path not in (CHAT_PATH, COMPLETIONS_PATH):
                raise refusal(404, f"Unknown path {method} {path}", code="not_found")
            self.check_budget()
            body = self._json(raw)
            hit = ChatHit(t=arrived, path=path, status=0, model=body.get("model") if isinstance(body, dict) else None,
                          params={k: v for k, v in body.items() if k not in ("messages", "prompt")},
                          text=prompt_text(body), key_ok=self._check_key(headers))
            self._check_quota(arrived)
            fault = self._fault(raw)
            hit = replace(hit, fault=fault)
            if fault == "drop":
                return self.log(hit, Reply(0, drop=True))
            if fault == "server_error":
                raise refusal(500, "The server had an error while processing your request.", kind="server_error")
            if fault == "rate_limited":
                raise self._limit(self.faults.retry_after_s, "injected")
            answer = self._complete(path, body)
            if fault == "malformed":
                text = json.dumps(answer.body)
                answer = Reply(200, raw=text[: max(1, len(text) // 2)].encode())
            elif fault == "slow":
                answer.delay_s = self.faults.slow_s
            return self.log(hit, answer)
        except Refusal as exc:
            return self.log(hit, exc.reply)

    def _check_key(self, headers: Any) -> bool:
        if self.key is None:
            return True
        auth = headers.get("authorization") or ""
        given = auth[7:].strip() if auth.startswith("Bearer ") else ""
        if not given:
            raise refusal(401, "You didn't provide an API key.", code="invalid_api_key")
        if given != self.key:  # the real API echoes a masked key; all of it is the stricter test of redaction
            raise refusal(401, f"Incorrect API key provided: {given}.", code="invalid_api_key")
        return True

    def _check_quota(self, now: float) -> None:
        wait = self._window.admit(now) if self._window is not None else None
        if wait is not None:
            raise self._limit(wait, "quota")

    def _limit(self, wait_s: float, why: str) -> Refusal:
        headers = {"retry-after": str(max(1, math.ceil(wait_s))), "retry-after-ms": str(max(1, math.ceil(wait_s * 1000)))}
        return refusal(429, f"Rate limit reached for requests ({why}).", kind="requests", code="rate_limit_exceeded",
                        headers=headers)

    def _fault(self, raw: bytes) -> str | None:
        digest = hashlib.sha256(raw).hexdigest()
        with self.lock:
            seen = self._seen.get(digest, 0)
            self._seen[digest] = seen + 1
        return self.faults.pick("chat", raw, seen)

    @staticmethod
    def _json(raw: bytes) -> dict[str, Any]:
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise refusal(400, "We could not parse the JSON body of your request.") from None
        if not isinstance(body, dict):
            raise refusal(400, "The request body must be a JSON object.")
        return body

    def _complete(self, path: str, body: dict[str, Any]) -> Reply:
        chat = path == CHAT_PATH
        allowed = (CHAT_FIELDS if chat else COMPLETION_FIELDS) | (VLLM_FIELDS if self.vllm else frozenset())
        for name in body:
            if name not in allowed:
                raise refusal(400, f"Unrecognized request argument supplied: {name}", param=name)
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise refusal(400, "you must provide a model parameter", param="model")
        if model not in self.models:
            raise refusal(404, f"The model `{model}` does not exist or you do not have access to it.",
                           code="model_not_found")
        if body.get("n", 1) != 1 or body.get("stream"):
            raise refusal(400, "this server answers n=1, stream=false only", param="n")
        budget = body.get("max_completion_tokens", body.get("max_tokens", 16))
        if not isinstance(budget, int) or budget < 1:
            raise refusal(400, "max_tokens must be a positive integer", param="max_tokens")
        top = self._logprobs_asked(body, chat)
        if chat:
            messages = body.get("messages")
            if not isinstance(messages, list) or not messages or not all(
                    isinstance(m, dict) and m.get("role") in ROLES and isinstance(m.get("content"), str)
                    for m in messages):
                raise refusal(400, "messages must be a non-empty list of {role: system|user|assistant, content: "
                                    "string}", param="messages")
        elif not isinstance(body.get("prompt"), str):
            raise refusal(400, "prompt must be a string", param="prompt")
        answer = fake_answer(prompt_text(body))
        words = answer.text.split(" ")
        text, finish = (answer.text, "stop") if len(words) <= budget else (" ".join(words[:budget]), "length")
        choice: dict[str, Any] = {"index": 0, "finish_reason": finish, "logprobs": None}
        if top is not None and self.logprobs:
            choice["logprobs"] = self._logprobs_body(answer, top, chat)
        if chat:
            choice["message"] = {"role": "assistant", "content": text}
        else:
            choice["text"] = text
        reported = self.report_as.get(model, model)
        return Reply(200, {
            "id": f"cmpl-{hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:24]}",
            "object": "chat.completion" if chat else "text_completion", "created": int(time.time()),
            "model": reported, "system_fingerprint": "fp_lam3fake", "choices": [choice],
            "usage": {"prompt_tokens": len(prompt_text(body).split()), "completion_tokens": len(text.split()),
                      "total_tokens": len(prompt_text(body).split()) + len(text.split())}})

    @staticmethod
    def _logprobs_asked(body: dict[str, Any], chat: bool) -> int | None:
        if chat:
            top = body.get("top_logprobs")
            if top is not None and not body.get("logprobs"):
                raise refusal(400, "top_logprobs requires logprobs to be true", param="top_logprobs")
            if top is not None and not (isinstance(top, int) and 0 <= top <= 20):
                raise refusal(400, "top_logprobs must be an integer from 0 to 20", param="top_logprobs")
            return (top or 0) if body.get("logprobs") else None
        top = body.get("logprobs")
        if top is not None and not (isinstance(top, int) and 0 <= top <= 20):
            raise refusal(400, "logprobs must be an integer from 0 to 20", param="logprobs")
        return top

    @staticmethod
    def _logprobs_body(answer: FakeAnswer, top: int, chat: bool) -> dict[str, Any]:
        candidates = [(token, math.log(p)) for token, p in answer.first if p > 0][: max(top, 1)]
        first_token, first_lp = candidates[0]
        if chat:
            return {"content": [{"token": first_token, "logprob": first_lp, "bytes": list(first_token.encode()),
                                 "top_logprobs": [{"token": t, "logprob": lp, "bytes": list(t.encode())}
                                                  for t, lp in candidates[:top]]}]}
        return {"tokens": [first_token], "token_logprobs": [first_lp], "text_offset": [0],
                "top_logprobs": [dict(candidates[:top])] if top else None}


def main(argv: list[str] | None = None) -> None:
    """Serve until the lifetime ends or Ctrl-C; print the base URL first and a summary (and log) last."""
    parser = argparse.ArgumentParser(prog="python -m lam3.testing.fake_chat", description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", default=None, help="a served model name (repeatable)")
    parser.add_argument("--key", default="fake-chat-key")
    parser.add_argument("--quota", type=float, default=None, help="accepted requests per second")
    for name in ("server-error", "rate-limited", "drop", "slow", "malformed"):
        parser.add_argument(f"--{name}", type=float, default=0.0, help=f"fraction of requests with a {name} fault")
    parser.add_argument("--retry-after-s", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lifetime-s", type=float, default=600.0)
    parser.add_argument("--log", default=None, help="on exit, write every request (t, status, fault, text) as JSONL")
    parser.add_argument("--vllm", action="store_true", help="also accept vLLM's own request fields, as vllm serve does")
    args = parser.parse_args(argv)
    faults = Faults(server_error=args.server_error, rate_limited=args.rate_limited, drop=args.drop, slow=args.slow,
                    malformed=args.malformed, retry_after_s=args.retry_after_s, seed=args.seed)
    server = FakeChatServer(key=args.key, models=tuple(args.model or ["judge"]), quota=args.quota, faults=faults,
                            lifetime_s=args.lifetime_s, vllm=args.vllm).start()
    server.serve_until_stopped({"base_url": server.base_url}, args.log,
                               lambda h: {"t": h.t, "status": h.status, "fault": h.fault, "text": h.text},
                               lambda s: {"max_in_1s": s.max_in_window()})


if __name__ == "__main__":
    main()
