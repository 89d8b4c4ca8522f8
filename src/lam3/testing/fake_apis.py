"""A local HTTP server that speaks the Perspective and OpenAI Moderation contracts.

It exists so the remote judges can be tested and benchmarked with no network
and no key: the real ``httpx`` client talks HTTP/1.1 to it on 127.0.0.1.

* **Contracts.** ``POST /v1alpha1/comments:analyze?key=…`` validates the body
  like Google does (unknown fields, missing comment, COMMENT_EMPTY,
  COMMENT_TOO_LONG, LANGUAGE_NOT_SUPPORTED_BY_ATTRIBUTE, a wrong key → 400
  API_KEY_INVALID, no key → 403) and answers ``attributeScores.<A>.summaryScore``.
  ``POST /v1/moderations`` (Bearer key; a wrong key → 401 that echoes the key,
  to prove clients redact it) accepts a string, a list of strings, or a list of
  ``text`` / ``image_url`` parts (data URLs are decoded) and answers ``results``
  with ``flagged``, ``categories``, ``category_scores`` and
  ``category_applied_input_types``. As the live API does on some models (the official
  SDK types these fields Optional), a category can be answered ``null``: the
  ``text-moderation-*`` models answer ``null`` for ``illicit`` / ``illicit/violent``,
  and ``null_categories=`` makes every model do so for the categories named.
* **Scores depend on the words** (:func:`perspective_scores`,
  :func:`openai_scores`): a small lexicon, so tests can assert exact values.
* **Quota.** At most ``quota`` accepted requests per API in any 1-s window;
  more get 429 with ``Retry-After`` (and ``retry-after-ms`` for OpenAI).
  Every arrival is logged with its time (:meth:`FakeModerationServer.max_in_window`).
* **Faults**, seeded and reproducible (decided from the request body and how
  often it was seen): 5xx, extra 429s, slow replies, dropped connections,
  malformed JSON (a body cut in half), and off-contract replies (valid JSON whose
  first score is the string ``"high"``: a client must not retry those).
* **Bounded.** The server stops itself after ``lifetime_s`` or ``max_requests``.

Run it by hand: ``python -m lam3.testing.fake_apis --quota 20 --server-error 0.05``.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import json
import math
import random
import re
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import parse_qs

from lam3.testing.http_fake import FakeServer, QuotaWindow, Refusal, Reply, max_in_window

PERSPECTIVE_PATH = "/v1alpha1/comments:analyze"
OPENAI_PATH = "/v1/moderations"
PERSPECTIVE_LIMIT_BYTES = 20_480
PERSPECTIVE_ATTRIBUTES: dict[str, frozenset[str]] = {
    # attribute → languages it supports (the experimental ones are English-only)
    **{a: frozenset({"en", "es", "fr", "de", "pt", "it", "ru", "ja", "ar", "zh", "nl", "pl", "sv"})
       for a in ("TOXICITY", "SEVERE_TOXICITY", "IDENTITY_ATTACK", "INSULT", "PROFANITY", "THREAT")},
    "SEXUALLY_EXPLICIT": frozenset({"en"}),
    "FLIRTATION": frozenset({"en"}),
}
PERSPECTIVE_FIELDS = frozenset({"comment", "context", "requestedAttributes", "spanAnnotations", "languages",
                                "doNotStore", "clientToken", "sessionId", "communityId"})
OPENAI_CATEGORIES: tuple[str, ...] = (
    "harassment", "harassment/threatening", "hate", "hate/threatening", "illicit", "illicit/violent",
    "self-harm", "self-harm/intent", "self-harm/instructions", "sexual", "sexual/minors", "violence",
    "violence/graphic",
)
OPENAI_IMAGE_CATEGORIES = frozenset({"self-harm", "self-harm/intent", "self-harm/instructions", "sexual",
                                     "violence", "violence/graphic"})
OPENAI_MODELS = frozenset({"omni-moderation-latest", "omni-moderation-2024-09-26", "text-moderation-latest",
                           "text-moderation-stable"})
OPENAI_UNSCORED_BY_TEXT_MODELS = ("illicit", "illicit/violent")
"""What the text-moderation models answer ``null`` for (they predate those categories)."""
OPENAI_FIELDS = frozenset({"input", "model"})
IMAGE_MIME = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})

# word prefix → contribution per category (both APIs' names). Mild words only: enough to move scores.
LEXICON: dict[str, dict[str, float]] = {
    "idiot": {"TOXICITY": 0.85, "INSULT": 0.8, "harassment": 0.7},
    "stupid": {"TOXICITY": 0.7, "INSULT": 0.6, "harassment": 0.5},
    "moron": {"TOXICITY": 0.8, "INSULT": 0.8, "SEVERE_TOXICITY": 0.3, "harassment": 0.7},
    "damn": {"TOXICITY": 0.4, "PROFANITY": 0.7},
    "crap": {"TOXICITY": 0.45, "PROFANITY": 0.6},
    "hate": {"TOXICITY": 0.5, "IDENTITY_ATTACK": 0.5, "hate": 0.6, "harassment": 0.4},
    "kill": {"TOXICITY": 0.6, "THREAT": 0.85, "SEVERE_TOXICITY": 0.4, "violence": 0.8,
             "harassment/threatening": 0.6},
    "hurt": {"TOXICITY": 0.3, "THREAT": 0.5, "violence": 0.5},
    "blood": {"violence": 0.4, "violence/graphic": 0.6},
    "sexy": {"SEXUALLY_EXPLICIT": 0.6, "FLIRTATION": 0.8, "sexual": 0.6},
    "explosive": {"illicit": 0.5, "illicit/violent": 0.7, "violence": 0.3},
    "steal": {"illicit": 0.6},
    "hack": {"illicit": 0.55},
    "suicide": {"self-harm": 0.75, "self-harm/intent": 0.4},
}
_WORD = re.compile(r"[a-z]+")


def _base(text: str, label: str) -> float:
    """A small text-dependent floor in [0.001, 0.05) so unrelated texts do not all score the same."""
    digest = hashlib.sha256(f"{label}\x00{text}".encode()).digest()
    return 0.001 + (int.from_bytes(digest[:4], "big") / 2**32) * 0.049


def _lexicon_scores(text: str, labels: tuple[str, ...] | list[str]) -> dict[str, float]:
    words = _WORD.findall(text.lower())
    out = {}
    for label in labels:
        keep = 1.0 - _base(text, label)
        for word in words:
            for prefix, weights in LEXICON.items():
                if word.startswith(prefix) and label in weights:
                    keep *= 1.0 - weights[label]
        out[label] = round(1.0 - keep, 6)
    return out


def perspective_scores(text: str, attributes: list[str] | tuple[str, ...]) -> dict[str, float]:
    """The summary score the fake Perspective returns for each attribute of ``text``."""
    return _lexicon_scores(text, tuple(attributes))


def image_score(digest: str, category: str) -> float:
    """Deterministic score in [0, 0.4) for an image (by sha256 hex) in an image-capable category."""
    return round((int(hashlib.sha256(f"{category}\x00{digest}".encode()).hexdigest()[:8], 16) / 2**32) * 0.4, 6)


def openai_scores(text: str | None, image_digests: list[str] | tuple[str, ...] = ()) -> dict[str, float]:
    """The ``category_scores`` the fake OpenAI returns for one input (text and/or images)."""
    scores = _lexicon_scores(text, OPENAI_CATEGORIES) if text is not None else dict.fromkeys(OPENAI_CATEGORIES, 0.0)
    for category in OPENAI_IMAGE_CATEGORIES:
        for digest in image_digests:
            scores[category] = max(scores[category], image_score(digest, category))
    return scores


def detect_language(text: str) -> str:
    """Crude script-based detection: enough to exercise LANGUAGE_NOT_SUPPORTED_BY_ATTRIBUTE."""
    if re.search(r"[\u3040-\u30ff]", text):
        return "ja"
    if re.search(r"[\u4e00-\u9fff]", text):
        return "zh"
    if re.search(r"[\u0400-\u04ff]", text):
        return "ru"
    return "en"


@dataclass
class Faults:
    """Fractions of requests that get each fault (drawn once per request, mutually exclusive)."""

    server_error: float = 0.0
    rate_limited: float = 0.0
    drop: float = 0.0
    slow: float = 0.0
    malformed: float = 0.0
    off_contract: float = 0.0
    slow_s: float = 2.0
    retry_after_s: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        total = self.server_error + self.rate_limited + self.drop + self.slow + self.malformed + self.off_contract
        if not 0.0 <= total <= 1.0:
            raise ValueError(f"fault fractions must sum to at most 1, got {total}")

    def pick(self, api: str, body: bytes, seen: int) -> str | None:
        """The fault for this body's ``seen``-th arrival: reproducible whatever the thread interleaving."""
        u = random.Random(f"{self.seed}|{api}|{hashlib.sha256(body).hexdigest()}|{seen}").random()
        for name in ("server_error", "rate_limited", "drop", "slow", "malformed", "off_contract"):
            u -= getattr(self, name)
            if u < 0:
                return name
        return None


@dataclass(frozen=True)
class Hit:
    """One request as the server saw it (never the key: only whether it was right)."""

    t: float
    api: str
    status: int
    fault: str | None = None
    text: str | None = None
    images: tuple[str, ...] = ()
    key_ok: bool = False


def _google_error(status: int, message: str, code: str, error_type: str | None = None,
                  reason: str | None = None) -> Refusal:
    details: list[dict[str, Any]] = []
    if error_type:
        details.append({"@type": "type.googleapis.com/google.commentanalyzer.v1alpha1.Error",
                        "errorType": error_type})
    if reason:
        details.append({"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason,
                        "domain": "googleapis.com"})
    error: dict[str, Any] = {"code": status, "message": message, "status": code}
    if details:
        error["details"] = details
    return Refusal(Reply(status, {"error": error}))


def _openai_error(status: int, message: str, kind: str = "invalid_request_error", code: str | None = None,
                  param: str | None = None) -> Refusal:
    return Refusal(Reply(status, {"error": {"message": message, "type": kind, "param": param, "code": code}}))


def _peek_text(api: str, raw: bytes) -> str | None:
    """The text a request carries, for the log only (before any validation; None if unreadable)."""
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(body, dict):
        return None
    if api == "perspective":
        comment = body.get("comment")
        text = comment.get("text") if isinstance(comment, dict) else None
        return text if isinstance(text, str) else None
    inputs = body.get("input")
    if isinstance(inputs, str):
        return inputs
    if isinstance(inputs, list):
        texts = [x if isinstance(x, str) else x.get("text") for x in inputs if isinstance(x, (str, dict))]
        texts = [t for t in texts if isinstance(t, str)]
        return "\n".join(texts) if texts else None
    return None


class FakeModerationServer(FakeServer):
    """Both APIs on one ``http://127.0.0.1:<port>``; use as a context manager or start()/stop()."""

    thread_name = "fake-moderation-api"

    def __init__(self, *, perspective_key: str = "fake-perspective-key", openai_key: str = "fake-openai-key",
                 quota: float | None = None, faults: Faults | None = None, perspective_gone: bool = False,
                 max_comment_bytes: int = PERSPECTIVE_LIMIT_BYTES, lifetime_s: float = 600.0,
                 max_requests: int = 100_000, null_categories: tuple[str, ...] = ()) -> None:
        super().__init__(lifetime_s=lifetime_s, max_requests=max_requests)
        self.perspective_key = perspective_key
        self.openai_key = openai_key
        self.quota = quota
        self.faults = faults or Faults()
        self.perspective_gone = perspective_gone
        self.max_comment_bytes = max_comment_bytes
        self.null_categories = tuple(null_categories)
        self._seen: dict[tuple[str, str], int] = {}
        self._windows = {api: QuotaWindow(quota) for api in ("perspective", "openai")} if quota else {}

    def max_in_window(self, api: str | None = None, window_s: float = 1.0) -> int:
        """Most arrivals (accepted or not) inside any half-open window of ``window_s`` seconds."""
        return max_in_window([h.t for h in self.hits if api is None or h.api == api], window_s)

    # -- request handling (called on server threads) ---------------------------------------------
    def handle(self, method: str, path: str, query: str, headers: Any, raw: bytes, arrived: float) -> Reply:
        if method != "POST":
            return Reply(404, {"error": {"code": 404, "message": "Not Found"}})
        api = {PERSPECTIVE_PATH: "perspective", OPENAI_PATH: "openai"}.get(path, "other")
        hit = Hit(t=arrived, api=api, status=0, text=_peek_text(api, raw))
        try:
            if api == "other" or (api == "perspective" and self.perspective_gone):
                raise Refusal(Reply(404, {"error": {"code": 404, "message": f"Not Found: {path}",
                                                       "status": "NOT_FOUND"}}))
            self.check_budget()
            hit = replace(hit, key_ok=self._check_key(api, query, headers))
            self._check_quota(api, arrived)
            fault = self._fault(api, raw)
            hit = replace(hit, fault=fault)
            if fault == "drop":
                return self.log(hit, Reply(0, drop=True))
            if fault in ("server_error", "rate_limited"):
                raise self._fault_error(api, fault)
            if api == "perspective":
                reply, images = self._perspective(raw)
            else:
                reply, images = self._openai(raw)
            hit = replace(hit, images=images)
            if fault == "malformed":
                reply = Reply(200, raw=json.dumps(reply.body)[: max(1, len(json.dumps(reply.body)) // 2)].encode())
            elif fault == "off_contract":
                reply = Reply(200, _off_contract(api, reply.body))
            elif fault == "slow":
                reply.delay_s = self.faults.slow_s
            return self.log(hit, reply)
        except Refusal as exc:
            return self.log(hit, exc.reply)

    def _check_key(self, api: str, query: str, headers: Any) -> bool:
        if api == "perspective":
            key = (parse_qs(query).get("key") or [None])[0] or headers.get("x-goog-api-key")
            if not key:
                raise _google_error(403, "The request is missing a valid API key.", "PERMISSION_DENIED")
            if key != self.perspective_key:
                raise _google_error(400, "API key not valid. Please pass a valid API key.", "INVALID_ARGUMENT",
                                    reason="API_KEY_INVALID")
            return True
        auth = headers.get("authorization") or ""
        if not auth.startswith("Bearer ") or not auth[7:].strip():
            raise _openai_error(401, "You didn't provide an API key. You need to provide your API key in an "
                                     "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).")
        given = auth[7:].strip()
        if given != self.openai_key:
            # the real API echoes a masked key; echoing all of it is the stricter test of client redaction
            raise _openai_error(401, f"Incorrect API key provided: {given}.", code="invalid_api_key")
        return True

    def _check_quota(self, api: str, now: float) -> None:
        wait = self._windows[api].admit(now) if self._windows else None
        if wait is not None:
            raise self._limit_error(api, wait, "quota")

    def _fault(self, api: str, raw: bytes) -> str | None:
        digest = hashlib.sha256(raw).hexdigest()
        with self.lock:
            seen = self._seen.get((api, digest), 0)
            self._seen[(api, digest)] = seen + 1
        return self.faults.pick(api, raw, seen)

    def _limit_error(self, api: str, wait_s: float, why: str) -> Refusal:
        headers = {"retry-after": str(max(1, math.ceil(wait_s)))}
        if api == "perspective":
            error = _google_error(429, f"Quota exceeded for quota metric 'Analysis requests' ({why}).",
                                  "RESOURCE_EXHAUSTED")
        else:
            headers["retry-after-ms"] = str(max(1, math.ceil(wait_s * 1000)))
            error = _openai_error(429, f"Rate limit reached for requests ({why}).", kind="requests",
                                  code="rate_limit_exceeded")
        error.reply.headers.update(headers)
        return error

    def _fault_error(self, api: str, fault: str) -> Refusal:
        if fault == "rate_limited":
            return self._limit_error(api, self.faults.retry_after_s, "injected")
        if api == "perspective":
            return _google_error(503, "The service is currently unavailable.", "UNAVAILABLE")
        return _openai_error(500, "The server had an error while processing your request.", kind="server_error")

    # -- Perspective -----------------------------------------------------------------------------
    def _perspective(self, raw: bytes) -> tuple[Reply, tuple[str, ...]]:
        def bad(message: str, error_type: str | None = None) -> Refusal:
            return _google_error(400, message, "INVALID_ARGUMENT", error_type)

        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise bad("Invalid JSON payload received.") from None
        if not isinstance(body, dict):
            raise bad("Invalid JSON payload received. Expected an object.")
        for name in body:
            if name not in PERSPECTIVE_FIELDS:
                raise bad(f'Invalid JSON payload received. Unknown name "{name}": Cannot find field.')
        comment = body.get("comment")
        if not isinstance(comment, dict):
            raise bad("comment is required.")
        text = comment.get("text")
        if not isinstance(text, str) or not text.strip():
            raise bad("Comment must be non-empty.", "COMMENT_EMPTY")
        if len(text.encode("utf-8")) > self.max_comment_bytes:
            raise bad(f"Comment text too long: {len(text.encode('utf-8'))} bytes > {self.max_comment_bytes}.",
                      "COMMENT_TOO_LONG")
        requested = body.get("requestedAttributes")
        if not isinstance(requested, dict) or not requested:
            raise bad("requestedAttributes must be a non-empty map.")
        for name, options in requested.items():
            if name not in PERSPECTIVE_ATTRIBUTES:
                raise bad(f"Unknown attribute: {name}.")
            if not isinstance(options, dict):
                raise bad(f"requestedAttributes.{name} must be an object.")
        if "doNotStore" in body and not isinstance(body["doNotStore"], bool):
            raise bad("doNotStore must be a boolean.")
        languages = body.get("languages")
        if languages is not None and (not isinstance(languages, list)
                                      or not all(isinstance(x, str) and x for x in languages)):
            raise bad("languages must be a list of language codes.")
        used = languages or [detect_language(text)]
        for name in requested:
            if not any(lang in PERSPECTIVE_ATTRIBUTES[name] for lang in used):
                raise bad(f"Attribute {name} does not support request languages: {','.join(used)}",
                          "LANGUAGE_NOT_SUPPORTED_BY_ATTRIBUTE")
        scores = perspective_scores(text, list(requested))
        result = {
            "attributeScores": {
                name: {"spanScores": [{"begin": 0, "end": len(text), "score": {"value": v, "type": "PROBABILITY"}}],
                       "summaryScore": {"value": v, "type": "PROBABILITY"}}
                for name, v in scores.items()
            },
            "languages": used,
        }
        if languages is None:
            result["detectedLanguages"] = used
        return Reply(200, result), ()

    # -- OpenAI ----------------------------------------------------------------------------------
    def _openai(self, raw: bytes) -> tuple[Reply, tuple[str, ...]]:
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise _openai_error(400, "We could not parse the JSON body of your request.") from None
        if not isinstance(body, dict):
            raise _openai_error(400, "The request body must be a JSON object.")
        for name in body:
            if name not in OPENAI_FIELDS:
                raise _openai_error(400, f"Unrecognized request argument supplied: {name}")
        model = body.get("model", "omni-moderation-latest")
        if model not in OPENAI_MODELS:
            raise _openai_error(404, f"The model `{model}` does not exist or you do not have access to it.",
                                code="model_not_found")
        if "input" not in body:
            raise _openai_error(400, "'input' is a required property", param="input")
        inputs = body["input"]
        units: list[tuple[str | None, list[str]]]  # one (text, image digests) per result
        if isinstance(inputs, str):
            units = [(inputs, [])]
        elif isinstance(inputs, list) and inputs and all(isinstance(x, str) for x in inputs):
            units = [(x, []) for x in inputs]
        elif isinstance(inputs, list) and inputs and all(isinstance(x, dict) for x in inputs):
            units = [self._multimodal(inputs, model)]
        else:
            raise _openai_error(400, "Invalid 'input': expected a string, an array of strings, or an array of "
                                     "multi-modal input objects.", param="input")
        unscored = set(self.null_categories)
        if model.startswith("text-moderation"):
            unscored |= set(OPENAI_UNSCORED_BY_TEXT_MODELS)
        results = []
        for text, digests in units:
            scores: dict[str, float | None] = dict(openai_scores(text, digests))
            applied = {}
            for category in OPENAI_CATEGORIES:
                kinds = []
                if text is not None:
                    kinds.append("text")
                if digests and category in OPENAI_IMAGE_CATEGORIES:
                    kinds.append("image")
                applied[category] = kinds
            categories: dict[str, bool | None] = {c: v >= 0.5 for c, v in scores.items() if v is not None}
            for category in unscored:
                scores[category], categories[category], applied[category] = None, None, []
            results.append({"flagged": any(categories.values()), "categories": categories,
                            "category_scores": scores, "category_applied_input_types": applied})
        resolved = "omni-moderation-2024-09-26" if model == "omni-moderation-latest" else model
        reply = Reply(200, {"id": f"modr-{hashlib.sha256(raw).hexdigest()[:24]}", "model": resolved,
                             "results": results})
        return reply, tuple(d for _, ds in units for d in ds)

    def _multimodal(self, parts: list[dict[str, Any]], model: str) -> tuple[str | None, list[str]]:
        texts: list[str] = []
        digests: list[str] = []
        for i, part in enumerate(parts):
            kind = part.get("type")
            if kind == "text":
                if not isinstance(part.get("text"), str) or set(part) - {"type", "text"}:
                    raise _openai_error(400, f"Invalid 'input[{i}]': a text part is {{type, text: string}}.",
                                        param=f"input[{i}]")
                texts.append(part["text"])
            elif kind == "image_url":
                if model.startswith("text-moderation"):
                    raise _openai_error(400, f"Model {model} does not support image inputs.", param=f"input[{i}]")
                url = part.get("image_url", {}).get("url") if isinstance(part.get("image_url"), dict) else None
                if not isinstance(url, str):
                    raise _openai_error(400, f"Invalid 'input[{i}].image_url': expected {{url: string}}.",
                                        param=f"input[{i}].image_url")
                digests.append(self._image_digest(url, i))
            else:
                raise _openai_error(400, f"Invalid 'input[{i}].type': expected 'text' or 'image_url'.",
                                    param=f"input[{i}].type")
        return ("\n".join(texts) if texts else None), digests

    @staticmethod
    def _image_digest(url: str, i: int) -> str:
        if url.startswith(("http://", "https://")):
            return hashlib.sha256(url.encode()).hexdigest()
        match = re.fullmatch(r"data:([\w/+.-]+);base64,([A-Za-z0-9+/=\s]+)", url)
        if not match or match.group(1) not in IMAGE_MIME:
            raise _openai_error(400, f"Invalid image URL in input[{i}]: expected a data:image/(png|jpeg|gif|webp)"
                                     ";base64 URL or an http(s) URL.", param=f"input[{i}].image_url.url")
        try:
            data = base64.b64decode(match.group(2), validate=False)
        except (binascii.Error, ValueError):
            raise _openai_error(400, f"Invalid base64 image data in input[{i}].") from None
        if not data:
            raise _openai_error(400, f"Empty image in input[{i}].")
        return hashlib.sha256(data).hexdigest()


def _off_contract(api: str, body: Any) -> Any:
    """The same reply with its first score replaced by the string "high": valid JSON, broken contract."""
    body = json.loads(json.dumps(body))
    if api == "perspective":
        first = next(iter(body["attributeScores"].values()))
        first["summaryScore"]["value"] = "high"
    else:
        scores = body["results"][0]["category_scores"]
        scores[next(iter(scores))] = "high"
    return body


def main(argv: list[str] | None = None) -> None:
    """Serve both fake APIs until the lifetime ends or Ctrl-C; print the URL first and a summary last."""
    parser = argparse.ArgumentParser(prog="python -m lam3.testing.fake_apis", description=__doc__.splitlines()[0])
    parser.add_argument("--quota", type=float, default=None, help="accepted requests per second per API")
    parser.add_argument("--perspective-key", default="fake-perspective-key")
    parser.add_argument("--openai-key", default="fake-openai-key")
    for name in ("server-error", "rate-limited", "drop", "slow", "malformed", "off-contract"):
        parser.add_argument(f"--{name}", type=float, default=0.0, help=f"fraction of requests with a {name} fault")
    parser.add_argument("--slow-s", type=float, default=2.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--perspective-gone", action="store_true", help="answer 404 on the Perspective path")
    parser.add_argument("--null-category", action="append", default=[], metavar="NAME",
                        help="answer null for this OpenAI category (repeatable), as the live API does on some models")
    parser.add_argument("--lifetime-s", type=float, default=600.0)
    parser.add_argument("--log", default=None, help="on exit, write every request (time, api, status, fault, text) "
                                                    "as JSON lines here")
    args = parser.parse_args(argv)
    faults = Faults(server_error=args.server_error, rate_limited=args.rate_limited, drop=args.drop, slow=args.slow,
                    malformed=args.malformed, off_contract=args.off_contract, slow_s=args.slow_s, seed=args.seed)
    server = FakeModerationServer(perspective_key=args.perspective_key, openai_key=args.openai_key,
                                  quota=args.quota, faults=faults, perspective_gone=args.perspective_gone,
                                  lifetime_s=args.lifetime_s, null_categories=tuple(args.null_category)).start()
    server.serve_until_stopped(
        {"url": server.url, "perspective_endpoint": server.url, "openai_base_url": server.url + "/v1"}, args.log,
        lambda h: {"t": h.t, "api": h.api, "status": h.status, "fault": h.fault, "text": h.text},
        lambda s: {"max_in_1s": {a: s.max_in_window(a) for a in ("perspective", "openai")}})


if __name__ == "__main__":
    main()
