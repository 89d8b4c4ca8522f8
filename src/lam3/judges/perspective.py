"""``perspective``: Google Perspective API (comments:analyze), a remote social-toxicity judge.

It sends one request per record through :class:`lam3.judges.remote.RemoteJudge` (key,
quota, retries and the fallback switch live there). Anything that goes wrong with one
record (too long, empty, unsupported language, retries exhausted, a reply that breaks the
contract) becomes that record's ``Judgement.error``; ``lam3 score --retry-errors`` redoes only those.

Perspective API shuts down at the end of 2026 (docs/perspective-shutdown.md):
its config names a ``sunset_date`` after which the endpoint is not called and a
``fallback`` judge that scores instead, also used when the endpoint answers
404/410 mid-run. The fallback's judgements keep the fallback's own judge
name, labels and version, and say in ``details`` whom they stand in for.
"""

from __future__ import annotations

from datetime import date
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from lam3.errors import ConfigError
from lam3.judges.base import ScoreInput
from lam3.judges.registry import register
from lam3.judges.remote import (
    BadResponse,
    FallbackEvent,
    Probability,
    RecordError,
    RemoteConfig,
    RemoteJudge,
    ReplyModel,
    Request,
    check_fallback,
    http_url,
    parse_reply,
)
from lam3.records import Judgement
from lam3.taxonomy import PERSPECTIVE_TO_SOCIAL

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
        "a judge entry used instead of Perspective, e.g. {judge: detoxify, variant: original}"))
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
        return check_fallback(spec, judge="perspective", metric="social_toxicity")

    @model_validator(mode="after")
    def _consistent(self) -> PerspectiveConfig:
        if "fallback_on" in self.model_fields_set and self.fallback is None:
            raise ValueError("fallback_on is set but no fallback judge is configured")
        if self.too_long == "truncate" and self.max_comment_bytes > PERSPECTIVE_MAX_COMMENT_BYTES:
            raise ValueError(f"too_long: truncate needs max_comment_bytes <= {PERSPECTIVE_MAX_COMMENT_BYTES} "
                             "(the API rejects longer texts)")
        return self


class SummaryScore(ReplyModel):
    value: Probability


class AttributeScore(ReplyModel):
    summaryScore: SummaryScore  # noqa: N815 - the API's field name


class AnalyzeReply(ReplyModel):
    """The parts of an AnalyzeComment reply LAM3 reads."""

    attributeScores: dict[str, AttributeScore]  # noqa: N815
    languages: list[str] = Field(default_factory=list)
    detectedLanguages: list[str] = Field(default_factory=list)  # noqa: N815


def _google_error(status: int, body: Any) -> str:
    """``ERROR_TYPE: message`` from a Google API error body (``error.details[].errorType`` or ``.reason``)."""
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        err = body["error"]
        details = [d for d in err.get("details") or [] if isinstance(d, dict)]
        kinds = [d.get("errorType") or d.get("reason") for d in details if d.get("errorType") or d.get("reason")]
        code = kinds[0] if kinds else err.get("status") or ""
        return f"{code}: {err.get('message', '')}".strip(": ")
    return str(body)[:300]


@register("perspective")
class PerspectiveJudge(RemoteJudge):
    """Google Perspective API (remote). Keys: PERSPECTIVE_API_KEY. Shuts down end of 2026 → ``fallback``."""

    metric = "social_toxicity"
    version = "v1alpha1"
    description = "Google Perspective API comments:analyze (remote; shuts down end of 2026, see fallback)"
    Config = PerspectiveConfig
    label_maps = {"social_toxicity": PERSPECTIVE_TO_SOCIAL}
    KEY_ENV: ClassVar[str] = "PERSPECTIVE_API_KEY"

    config: PerspectiveConfig

    @property
    def labels(self) -> list[str]:
        return list(self.config.attributes)

    def activate(self) -> None:
        """After the sunset date the endpoint is not called: the fallback scores, or the build fails."""
        cfg = self.config
        if self.runner is None and self.fallback is None and cfg.sunset_date is not None \
                and date.today() > cfg.sunset_date:
            if self.fallback_spec("sunset") is not None:
                self.switch_to_fallback("sunset", f"Perspective API sunset_date {cfg.sunset_date} has passed")
                return
            fix = ("add 'sunset' to fallback_on" if cfg.fallback is not None
                   else "configure 'fallback: {judge: detoxify}'")
            raise ConfigError(
                f"Perspective API was shut down on {cfg.sunset_date} (sunset_date): {fix} (see "
                "docs/perspective-shutdown.md), or set sunset_date to a later date or null if your endpoint "
                "still answers")
        super().activate()

    def fallback_spec(self, event: FallbackEvent) -> dict[str, Any] | None:
        return self.config.fallback if event in self.config.fallback_on else None

    def prepare(self, item: ScoreInput) -> tuple[str, dict[str, Any]]:
        """The client-side checks that would only waste quota: empty and too-long texts."""
        text = item.text
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

    def request(self, text: str) -> Request:
        cfg = self.config
        body: dict[str, Any] = {
            "comment": {"text": text},
            "requestedAttributes": {name: {} for name in cfg.attributes},
            "doNotStore": cfg.do_not_store,
        }
        if cfg.languages:
            body["languages"] = list(cfg.languages)
        return Request(url=f"{cfg.endpoint}/v1alpha1/comments:analyze", json=body, params={"key": self.key})

    def parse(self, _text: str, body: Any) -> AnalyzeReply:
        reply = parse_reply(AnalyzeReply, body)
        absent = [name for name in self.config.attributes if name not in reply.attributeScores]
        if absent:
            raise BadResponse(f"attributeScores: no score for {', '.join(absent)}")
        return reply

    def describe_error(self, status: int, body: Any) -> str:
        return _google_error(status, body)

    def fatal_hint(self, status: int, body: Any) -> Literal["auth"] | None:
        """Google reports a wrong key as HTTP 400 with reason API_KEY_INVALID: stop the run, not just the record."""
        err = body.get("error") if isinstance(body, dict) else None
        details = err.get("details") if isinstance(err, dict) else None
        if isinstance(details, list) and any(isinstance(d, dict) and d.get("reason") == "API_KEY_INVALID"
                                             for d in details):
            return "auth"
        return None

    def judged(self, reply: AnalyzeReply, details: dict[str, Any], latency_ms: float | None) -> Judgement:
        languages = reply.detectedLanguages or reply.languages
        if languages:
            details["languages"] = languages
        scores = {name: reply.attributeScores[name].summaryScore.value for name in self.config.attributes}
        return self.judgement(scores, latency_ms=latency_ms, details=details)
