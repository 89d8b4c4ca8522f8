"""The two remote social-toxicity judges: Google Perspective API and OpenAI Moderation.

Both send one request per record through :class:`lam3.judges.remote.RemoteRunner`
(quota, retries, key handling live there). Anything that goes wrong with one
record (too long, empty, unsupported language, retries exhausted) becomes that
record's ``Judgement.error``; ``lam3 score --retry-errors`` redoes only those.

Perspective API shuts down at the end of 2026 (docs/perspective-shutdown.md):
its config names a ``sunset_date`` after which the endpoint is not called and a
``fallback`` judge that scores instead, also used when the endpoint answers
404/410 mid-run. The fallback's judgements keep the fallback's own judge
name, labels and version, and say in ``details`` whom they stand in for.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from lam3.config import dotted
from lam3.errors import ConfigError, UserError
from lam3.judges.base import Judge, ScoreInput
from lam3.judges.registry import register
from lam3.judges.remote import (
    BadResponse,
    RecordError,
    RemoteConfig,
    RemoteRunner,
    Request,
    ensure_float_score,
    http_url,
    remote_availability,
    require_key,
)
from lam3.taxonomy import OPENAI_TO_POLICY, OPENAI_TO_SOCIAL, PERSPECTIVE_TO_SOCIAL
from lam3.records import Judgement, Metric

log = logging.getLogger(__name__)

# ------------------------------------------------------------------------------------------------
# Perspective API
# ------------------------------------------------------------------------------------------------

PERSPECTIVE_DEFAULT_ATTRIBUTES: tuple[str, ...] = (
    "TOXICITY", "SEVERE_TOXICITY", "IDENTITY_ATTACK", "INSULT", "PROFANITY", "THREAT",
)
PERSPECTIVE_MAX_COMMENT_BYTES = 20_480
PERSPECTIVE_SUNSET = date(2026, 12, 31)
"""Google's announced last day of Perspective API (see docs/perspective-shutdown.md)."""


class PerspectiveConfig(RemoteConfig):
    """Options of the ``perspective`` judge (YAML keys)."""

    endpoint: str = Field("https://commentanalyzer.googleapis.com",
                          description="API root; requests go to {endpoint}/v1alpha1/comments:analyze")
    attributes: list[str] = Field(default_factory=lambda: list(PERSPECTIVE_DEFAULT_ATTRIBUTES), min_length=1,
                                  description="requestedAttributes, e.g. add SEXUALLY_EXPLICIT, FLIRTATION")
    languages: list[str] | None = Field(None, description="ISO 639-1 codes sent as 'languages'; null = auto-detect")
    do_not_store: bool = Field(True, description="ask Google not to store the text")
    max_comment_bytes: int = Field(PERSPECTIVE_MAX_COMMENT_BYTES, gt=0,
                                   description="UTF-8 size above which a text is not sent (API limit: 20 KB)")
    too_long: Literal["error", "truncate"] = Field(
        "error", description="error: the record gets COMMENT_TOO_LONG; truncate: score the first max_comment_bytes")
    sunset_date: date | None = Field(PERSPECTIVE_SUNSET, description=(
        "after this date the endpoint is not called: the fallback scores, or the build fails; null = no date"))
    fallback: dict[str, Any] | None = Field(None, description=(
        "a judge entry used instead of Perspective, e.g. {judge: detoxify, model: original}"))
    fallback_on: list[Literal["sunset", "gone"]] = Field(
        default_factory=lambda: ["sunset", "gone"],
        description="when the fallback takes over: after sunset_date, and/or when the endpoint answers 404/410")

    @field_validator("endpoint")
    @classmethod
    def _endpoint_url(cls, value: str) -> str:
        return http_url(value)

    @field_validator("attributes")
    @classmethod
    def _attribute_names(cls, names: list[str]) -> list[str]:
        for name in names:
            if not name or not name.replace("_", "").isalpha() or name.upper() != name:
                raise ValueError(f"{name!r} is not a Perspective attribute name (UPPER_CASE, e.g. TOXICITY)")
        if len(set(names)) != len(names):
            raise ValueError("attributes are listed twice")
        return names

    @field_validator("fallback")
    @classmethod
    def _fallback_spec(cls, spec: dict[str, Any] | None) -> dict[str, Any] | None:
        if spec is None:
            return None
        if "judge" not in spec:
            raise ValueError("needs a 'judge:' key, e.g. {judge: detoxify}")
        if "key" in spec:
            raise ValueError("'key' is not allowed in a fallback: its judgements stay under this judge's key")
        name = spec["judge"]
        if name == "perspective":
            raise ValueError("perspective cannot fall back to itself")
        from lam3.judges import registry

        try:
            fallback_cls = registry.get(name)
        except UserError as exc:
            raise ValueError(f"judge: {exc}") from None
        if fallback_cls.metric != "social_toxicity":
            raise ValueError(f"judge {name!r} judges {fallback_cls.metric}, not social_toxicity")
        ok, why = fallback_cls.availability()
        if not ok:
            raise ValueError(f"judge {name!r} is not usable here: {why}")
        try:
            fallback_cls.Config.model_validate({k: v for k, v in spec.items() if k != "judge"})
        except ValidationError as exc:
            err = exc.errors()[0]
            msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
            raise ValueError(f"{dotted(tuple(err['loc']))}: {msg}") from None
        return spec

    @model_validator(mode="after")
    def _consistent(self) -> PerspectiveConfig:
        if "fallback_on" in self.model_fields_set and self.fallback is None:
            raise ValueError("fallback_on is set but no fallback judge is configured")
        if self.too_long == "truncate" and self.max_comment_bytes > PERSPECTIVE_MAX_COMMENT_BYTES:
            raise ValueError(f"too_long: truncate needs max_comment_bytes <= {PERSPECTIVE_MAX_COMMENT_BYTES} "
                             "(the API rejects longer texts)")
        return self


@dataclass(slots=True)
class _PerspectiveReply:
    scores: dict[str, float]
    languages: list[str] = field(default_factory=list)


def _google_error(status: int, body: Any) -> str:
    """``ERROR_TYPE: message`` from a Google API error body (``error.details[].errorType`` or ``.reason``)."""
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        err = body["error"]
        details = [d for d in err.get("details") or [] if isinstance(d, dict)]
        kinds = [d.get("errorType") or d.get("reason") for d in details if d.get("errorType") or d.get("reason")]
        code = kinds[0] if kinds else err.get("status") or ""
        return f"{code}: {err.get('message', '')}".strip(": ")
    return str(body)[:300]


def _google_fatal(status: int, body: Any) -> Literal["auth"] | None:
    """Google reports a wrong key as HTTP 400 with reason API_KEY_INVALID: stop the run, not just the record."""
    err = body.get("error") if isinstance(body, dict) else None
    details = err.get("details") if isinstance(err, dict) else None
    if isinstance(details, list) and any(isinstance(d, dict) and d.get("reason") == "API_KEY_INVALID"
                                         for d in details):
        return "auth"
    return None


@register("perspective")
class PerspectiveJudge(Judge):
    """Google Perspective API (remote). Keys: PERSPECTIVE_API_KEY. Shuts down end of 2026 → ``fallback``."""

    metric = "social_toxicity"
    version = "v1alpha1"
    offline = False
    remote = True
    description = "Google Perspective API comments:analyze (remote; shuts down end of 2026, see fallback)"
    Config = PerspectiveConfig
    label_maps = {"social_toxicity": PERSPECTIVE_TO_SOCIAL}
    KEY_ENV: ClassVar[str] = "PERSPECTIVE_API_KEY"

    config: PerspectiveConfig

    def __init__(self, config: PerspectiveConfig | None = None) -> None:
        super().__init__(config)
        self._runner: RemoteRunner | None = None
        self._key: str | None = None
        self._fallback: Judge | None = None
        self._fallback_reason: str | None = None
        if config is not None:  # built to score: fail now, not after the first batch (no config = introspection)
            self._activate()

    @classmethod
    def availability(cls) -> tuple[bool, str]:
        return remote_availability()

    @property
    def labels(self) -> list[str]:
        return list(self.config.attributes)

    # -- set-up ----------------------------------------------------------------------------------
    def _activate(self) -> None:
        """Decide once per run: talk to the API (needs the key) or, after the sunset date, to the fallback."""
        if self._runner is not None or self._fallback is not None:
            return
        cfg = self.config
        if cfg.sunset_date is not None and date.today() > cfg.sunset_date:
            if cfg.fallback is not None and "sunset" in cfg.fallback_on:
                self._switch_to_fallback(f"Perspective API sunset_date {cfg.sunset_date} has passed")
                return
            fix = ("add 'sunset' to fallback_on" if cfg.fallback is not None
                   else "configure 'fallback: {judge: detoxify}'")
            raise ConfigError(
                f"Perspective API was shut down on {cfg.sunset_date} (sunset_date): {fix} (see "
                "docs/perspective-shutdown.md), or set sunset_date to a later date or null if your endpoint "
                "still answers")
        self._key = require_key(self.KEY_ENV, self.name)
        self._runner = RemoteRunner(cfg, name=self.name, secrets=(self._key,))

    def _switch_to_fallback(self, reason: str) -> None:
        from lam3.judges import registry

        if self._fallback is None:
            assert self.config.fallback is not None
            self._fallback = registry.build(dict(self.config.fallback), loc=("fallback",))
            self._fallback_reason = reason
            log.warning("perspective: %s; scoring with fallback judge %r instead", reason, self._fallback.name)

    # -- scoring ---------------------------------------------------------------------------------
    def score(self, batch: Sequence[ScoreInput]) -> list[Judgement]:
        self._activate()
        if self._fallback is not None and self._runner is None:
            return self._fallback_score(batch)
        assert self._runner is not None
        results: list[Judgement | None] = [None] * len(batch)
        todo: list[tuple[int, str, dict[str, Any]]] = []
        for i, item in enumerate(batch):
            try:
                text, notes = self._prepare(item.text)
            except RecordError as exc:
                results[i] = self.failure(str(exc))
                continue
            todo.append((i, text, notes))
        outcomes = self._runner.map([text for _, text, _ in todo], build=self._request, parse=self._parse,
                                    describe=_google_error, fatal_hint=_google_fatal)
        gone: list[int] = []
        use_fallback = self.config.fallback is not None and "gone" in self.config.fallback_on
        for (i, _, notes), out in zip(todo, outcomes):
            if out.fatal == "gone" and use_fallback:
                gone.append(i)
            elif out.error is not None or out.value is None:
                results[i] = self.failure(out.error or "no reply", latency_ms=out.latency_ms)
            else:
                details = {**notes, "attempts": out.attempts}
                if out.value.languages:
                    details["languages"] = out.value.languages
                results[i] = self.judgement(out.value.scores, latency_ms=out.latency_ms, details=details)
        if gone:
            assert self._runner.fatal is not None
            self._switch_to_fallback(f"endpoint gone ({self._runner.fatal[1]})")
            for i, judged in zip(gone, self._fallback_score([batch[i] for i in gone])):
                results[i] = judged
        if self._fallback is not None:  # the endpoint is gone: later batches go straight to the fallback
            self._runner.close()
            self._runner = None
        return _complete(results)

    def _prepare(self, text: str) -> tuple[str, dict[str, Any]]:
        """Apply the client-side checks that would only waste quota: empty and too-long texts."""
        if not text.strip():
            raise RecordError("COMMENT_EMPTY: the text is empty; not sent")
        data = text.encode("utf-8")
        limit = self.config.max_comment_bytes
        if len(data) <= limit:
            return text, {}
        if self.config.too_long == "error":
            raise RecordError(f"COMMENT_TOO_LONG: {len(data)} bytes > max_comment_bytes={limit}; not sent "
                              "(too_long: truncate would score the first part)")
        cut = data[:limit].decode("utf-8", errors="ignore")  # never split a character
        return cut, {"truncated_from_bytes": len(data), "truncated_to_bytes": len(cut.encode("utf-8"))}

    def _request(self, text: str) -> Request:
        cfg = self.config
        body: dict[str, Any] = {
            "comment": {"text": text},
            "requestedAttributes": {name: {} for name in cfg.attributes},
            "doNotStore": cfg.do_not_store,
        }
        if cfg.languages:
            body["languages"] = list(cfg.languages)
        assert self._key is not None
        return Request(url=f"{cfg.endpoint}/v1alpha1/comments:analyze", json=body, params={"key": self._key})

    def _parse(self, _text: str, body: Any) -> _PerspectiveReply:
        attribute_scores = body.get("attributeScores") if isinstance(body, dict) else None
        if not isinstance(attribute_scores, dict):
            raise BadResponse("reply has no attributeScores")
        scores = {}
        for name in self.config.attributes:
            entry = attribute_scores.get(name)
            summary = entry.get("summaryScore") if isinstance(entry, dict) else None
            value = summary.get("value") if isinstance(summary, dict) else None
            scores[name] = ensure_float_score(value, f"attributeScores.{name}.summaryScore.value")
        languages = body.get("detectedLanguages") or body.get("languages") or []
        return _PerspectiveReply(scores, [str(x) for x in languages] if isinstance(languages, list) else [])

    def _fallback_score(self, batch: Sequence[ScoreInput]) -> list[Judgement]:
        assert self._fallback is not None
        judged = self._fallback.score(batch)
        note = {"fallback_for": self.name, "fallback_reason": self._fallback_reason}
        return [j.model_copy(update={"details": {**j.details, **note}}) for j in judged]

    def close(self) -> None:
        if self._runner is not None:
            self._runner.close()
        if self._fallback is not None:
            self._fallback.close()


def _complete(results: list[Judgement | None]) -> list[Judgement]:
    """The batch's judgements, checked to be one per input (a gap is a bug, not a silent drop)."""
    missing = [i for i, r in enumerate(results) if r is None]
    if missing:
        raise RuntimeError(f"internal error: no judgement for batch positions {missing}")
    return [r for r in results if r is not None]


# ------------------------------------------------------------------------------------------------
# OpenAI Moderation
# ------------------------------------------------------------------------------------------------

OPENAI_OMNI_CATEGORIES: tuple[str, ...] = (
    "harassment", "harassment/threatening", "hate", "hate/threatening", "illicit", "illicit/violent",
    "self-harm", "self-harm/intent", "self-harm/instructions", "sexual", "sexual/minors", "violence",
    "violence/graphic",
)
OPENAI_LEGACY_CATEGORIES: tuple[str, ...] = tuple(c for c in OPENAI_OMNI_CATEGORIES if not c.startswith("illicit"))
IMAGE_MIME_TYPES: tuple[str, ...] = ("image/png", "image/jpeg", "image/gif", "image/webp")


class OpenAIModerationConfig(RemoteConfig):
    """Options of the ``openai_moderation`` judge (YAML keys)."""

    base_url: str = Field("https://api.openai.com/v1", description="requests go to {base_url}/moderations")
    model: str = Field("omni-moderation-latest", min_length=1)
    send_images: bool = Field(True, description="send the record's images as image_url items (omni models only)")
    max_images: int = Field(1, ge=1, description="images sent per record; extra ones are listed in details")
    image_root: str | None = Field(None, description="directory that relative image paths start from (default: cwd)")
    flag_by: Literal["api", "ensemble"] = Field(
        "api", description=("api: the API's own category booleans are this judge's verdict (its vote in fusion); "
                            "ensemble: only the scores are kept and the ensemble config's threshold decides"))

    @field_validator("base_url")
    @classmethod
    def _base_url_valid(cls, value: str) -> str:
        return http_url(value)

    @model_validator(mode="after")
    def _consistent(self) -> OpenAIModerationConfig:
        if self.send_images and self.model.startswith("text-moderation"):
            raise ValueError(f"model {self.model!r} takes text only; use an omni-moderation model or "
                             "send_images: false")
        if not self.send_images and self.image_root is not None:
            raise ValueError("image_root is set but send_images is false")
        return self


@dataclass(slots=True)
class _ModerationReply:
    scores: dict[str, float]
    flagged: bool
    categories: list[str]
    applied_input_types: dict[str, list[str]]
    model: str | None


def _openai_error(status: int, body: Any) -> str:
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        err = body["error"]
        code = err.get("code") or err.get("type") or ""
        return f"{code}: {err.get('message', '')}".strip(": ")
    return str(body)[:300]


def _sniff_image(data: bytes) -> str | None:
    """MIME type from the file's magic bytes (extensions lie)."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


@dataclass(slots=True)
class _ModerationItem:
    text: str
    image_urls: list[str]


@register("openai_moderation")
class OpenAIModerationJudge(Judge):
    """OpenAI Moderation (remote, reference only: quota). Key: OPENAI_API_KEY. Text plus the record's image."""

    metric = "social_toxicity"
    version = "1"
    offline = False
    remote = True
    description = "OpenAI Moderation API /moderations, text + image (remote; feeds social toxicity and policy risk)"
    Config = OpenAIModerationConfig
    label_maps = {"social_toxicity": OPENAI_TO_SOCIAL, "policy_risk": OPENAI_TO_POLICY}
    KEY_ENV: ClassVar[str] = "OPENAI_API_KEY"

    config: OpenAIModerationConfig

    def __init__(self, config: OpenAIModerationConfig | None = None) -> None:
        super().__init__(config)
        self._runner: RemoteRunner | None = None
        self._key: str | None = None
        if config is not None:  # built to score: a missing key fails now (no config = introspection)
            self._activate()

    @classmethod
    def availability(cls) -> tuple[bool, str]:
        return remote_availability()

    @property
    def labels(self) -> list[str]:
        legacy = self.config.model.startswith("text-moderation")
        return list(OPENAI_LEGACY_CATEGORIES if legacy else OPENAI_OMNI_CATEGORIES)

    def _activate(self) -> None:
        if self._runner is None:
            self._key = require_key(self.KEY_ENV, self.name)
            self._runner = RemoteRunner(self.config, name=self.name, secrets=(self._key,))

    def score(self, batch: Sequence[ScoreInput]) -> list[Judgement]:
        self._activate()
        assert self._runner is not None
        results: list[Judgement | None] = [None] * len(batch)
        todo: list[tuple[int, _ModerationItem, dict[str, Any]]] = []
        for i, item in enumerate(batch):
            try:
                prepared, notes = self._prepare(item)
            except RecordError as exc:
                results[i] = self.failure(str(exc))
                continue
            todo.append((i, prepared, notes))
        outcomes = self._runner.map([p for _, p, _ in todo], build=self._request, parse=self._parse,
                                    describe=_openai_error)
        for (i, _, notes), out in zip(todo, outcomes):
            if out.error is not None or out.value is None:
                results[i] = self.failure(out.error or "no reply", latency_ms=out.latency_ms)
                continue
            reply = out.value
            details = {**notes, "attempts": out.attempts, "api_flagged": reply.flagged,
                       "api_categories": reply.categories, "model": reply.model}
            if reply.applied_input_types:
                details["applied_input_types"] = reply.applied_input_types
            verdict = self._verdict(reply.categories) if self.config.flag_by == "api" else None
            results[i] = self.judgement(reply.scores, verdict=verdict, latency_ms=out.latency_ms, details=details)
        return _complete(results)

    def _verdict(self, flagged: list[str]) -> dict[Metric, bool]:
        """The API's decision per metric: a metric is flagged when a category the API flagged maps into it."""
        return {metric: any(c in table for c in flagged) for metric, table in self.label_maps.items()}

    # -- request/response ------------------------------------------------------------------------
    def _prepare(self, item: ScoreInput) -> tuple[_ModerationItem, dict[str, Any]]:
        notes: dict[str, Any] = {}
        urls: list[str] = []
        if self.config.send_images and item.images:
            for ref in item.images[: self.config.max_images]:
                urls.append(self._image_url(ref))
            notes["images_sent"] = len(urls)
            if len(item.images) > len(urls):
                notes["images_not_sent"] = len(item.images) - len(urls)
        elif item.images:
            notes["images_not_sent"] = len(item.images)
        if not item.text.strip() and not urls:
            raise RecordError("empty_input: no text and no image to moderate; not sent")
        return _ModerationItem(item.text, urls), notes

    def _image_url(self, ref: str) -> str:
        """A data URL (base64 of the file), or the reference itself when it already is a URL."""
        if ref.startswith(("data:", "http://", "https://")):
            return ref
        path = Path(ref)
        if not path.is_absolute():
            path = Path(self.config.image_root or ".") / path
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise RecordError(f"image_unreadable: {path}: {exc.strerror or exc}; not sent") from None
        mime = _sniff_image(data)
        if mime is None:
            raise RecordError(f"image_unsupported: {path} is not PNG, JPEG, GIF or WebP; not sent")
        return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"

    def _request(self, item: _ModerationItem) -> Request:
        parts: list[dict[str, Any]] = []
        if item.text.strip():
            parts.append({"type": "text", "text": item.text})
        parts.extend({"type": "image_url", "image_url": {"url": url}} for url in item.image_urls)
        assert self._key is not None
        return Request(url=f"{self.config.base_url}/moderations", json={"model": self.config.model, "input": parts},
                       headers={"authorization": f"Bearer {self._key}"})

    def _parse(self, _item: _ModerationItem, body: Any) -> _ModerationReply:
        results = body.get("results") if isinstance(body, dict) else None
        if not isinstance(results, list) or len(results) != 1 or not isinstance(results[0], dict):
            raise BadResponse("reply does not hold exactly one result")
        result = results[0]
        raw = result.get("category_scores")
        if not isinstance(raw, dict) or not raw:
            raise BadResponse("reply has no category_scores")
        scores = {str(k): ensure_float_score(v, f"category_scores.{k}") for k, v in raw.items()}
        categories = result.get("categories") if isinstance(result.get("categories"), dict) else {}
        applied = result.get("category_applied_input_types")
        return _ModerationReply(
            scores=scores, flagged=bool(result.get("flagged")),
            categories=[str(k) for k, v in categories.items() if v is True],
            applied_input_types={str(k): list(v) for k, v in applied.items() if v} if isinstance(applied, dict) else {},
            model=body.get("model") if isinstance(body.get("model"), str) else None,
        )

    def close(self) -> None:
        if self._runner is not None:
            self._runner.close()
            self._runner = None
