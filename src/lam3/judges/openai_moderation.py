"""``openai_moderation``: the OpenAI Moderation API (``/moderations``), text plus the record's image.

One request per record through :class:`lam3.judges.remote.RemoteJudge` (key, quota,
retries). Its 13 categories feed both metrics (``label_maps``). The reply is read into
pydantic models typed as the official ``openai`` SDK types it: a category score may be
``null`` — the live API answers ``null`` for ``illicit`` / ``illicit/violent`` on some
models — and a ``null`` means *not scored*: the category is left out of ``scores`` and
listed in ``details.not_scored``, never an error and never a silent 0. A reply that breaks
the contract otherwise (a score that is not a number in [0, 1], no result) is that record's
error at once: asking again would get the same answer, so it is not retried.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from lam3.judges.base import ScoreInput
from lam3.judges.registry import register
from lam3.judges.remote import (
    BadResponse,
    Probability,
    RecordError,
    RemoteConfig,
    RemoteJudge,
    ReplyModel,
    Request,
    http_url,
    parse_reply,
)
from lam3.paths import ImagePathError, ImageRootOption
from lam3.records import Judgement, Metric
from lam3.taxonomy import OPENAI_TO_POLICY, OPENAI_TO_SOCIAL

OPENAI_OMNI_CATEGORIES: tuple[str, ...] = (
    "harassment", "harassment/threatening", "hate", "hate/threatening", "illicit", "illicit/violent",
    "self-harm", "self-harm/intent", "self-harm/instructions", "sexual", "sexual/minors", "violence",
    "violence/graphic",
)
OPENAI_LEGACY_CATEGORIES: tuple[str, ...] = tuple(c for c in OPENAI_OMNI_CATEGORIES if not c.startswith("illicit"))


class OpenAIModerationConfig(RemoteConfig):
    """Options of the ``openai_moderation`` judge (YAML keys)."""

    base_url: str = Field("https://api.openai.com/v1", description="requests go to {base_url}/moderations")
    model: str = Field("omni-moderation-latest", min_length=1, description="the moderation model of the API")
    send_images: bool = Field(True, description="send the record's images as image_url items (omni models only)")
    max_images: int = Field(1, ge=1, description="images sent per record; extra ones are listed in details")
    image_root: ImageRootOption = Field(
        None, description="folder relative image paths start from, instead of the scored file's folder; an image "
                          "outside it (and outside --allow-image-root) is never sent")
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


class ModerationResult(ReplyModel):
    """One ``results[]`` entry; ``null`` scores and flags are allowed, as the SDK's Optional fields are."""

    flagged: bool
    categories: dict[str, bool | None]
    category_scores: dict[str, Probability | None]
    category_applied_input_types: dict[str, list[str] | None] | None = None


class ModerationReply(ReplyModel):
    """The ``/moderations`` reply: one result per input (LAM3 sends one input per request)."""

    model: str | None = None
    results: list[ModerationResult] = Field(min_length=1, max_length=1)


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
class ModerationItem:
    """What one request carries: the text and the images as data (or http) URLs."""

    text: str
    image_urls: list[str]


@register("openai_moderation")
class OpenAIModerationJudge(RemoteJudge):
    """OpenAI Moderation (remote, reference only: quota). Key: OPENAI_API_KEY. Text plus the record's image."""

    metric = "social_toxicity"
    version = "1"
    description = "OpenAI Moderation API /moderations, text + image (remote; feeds social toxicity and policy risk)"
    Config = OpenAIModerationConfig
    label_maps = {"social_toxicity": OPENAI_TO_SOCIAL, "policy_risk": OPENAI_TO_POLICY}
    KEY_ENV: ClassVar[str] = "OPENAI_API_KEY"

    config: OpenAIModerationConfig

    @property
    def labels(self) -> list[str]:
        legacy = self.config.model.startswith("text-moderation")
        return list(OPENAI_LEGACY_CATEGORIES if legacy else OPENAI_OMNI_CATEGORIES)

    def prepare(self, item: ScoreInput) -> tuple[ModerationItem, dict[str, Any]]:
        notes: dict[str, Any] = {}
        urls: list[str] = []
        if self.config.send_images and item.images:
            for index in range(min(len(item.images), self.config.max_images)):
                urls.append(self._image_url(item, index))
            notes["images_sent"] = len(urls)
            if len(item.images) > len(urls):
                notes["images_not_sent"] = len(item.images) - len(urls)
        elif item.images:
            notes["images_not_sent"] = len(item.images)
        if not item.text.strip() and not urls:
            raise RecordError("empty_input: no text and no image to moderate; not sent")
        return ModerationItem(item.text, urls), notes

    def _image_url(self, item: ScoreInput, index: int) -> str:
        """A data URL (base64 of the file), or the reference itself when it already is a URL.

        A file is read only inside the allowed folders (:meth:`ScoreInput.image_path`): this judge sends
        what it reads off the machine, so a crafted record must not pick any readable file.
        """
        ref = item.images[index]
        if ref.startswith(("data:", "http://", "https://")):
            return ref
        try:
            path = item.image_path(index, self.config.image_root)
        except ImagePathError as exc:
            kind = "image_unreadable" if exc.missing else "image_refused"
            raise RecordError(f"{kind}: {exc}; not sent") from None
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise RecordError(f"image_unreadable: {path}: {exc.strerror or exc}; not sent") from None
        mime = _sniff_image(data)
        if mime is None:
            raise RecordError(f"image_unsupported: {path} is not PNG, JPEG, GIF or WebP; not sent")
        return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"

    def request(self, item: ModerationItem) -> Request:
        parts: list[dict[str, Any]] = []
        if item.text.strip():
            parts.append({"type": "text", "text": item.text})
        parts.extend({"type": "image_url", "image_url": {"url": url}} for url in item.image_urls)
        return Request(url=f"{self.config.base_url}/moderations", json={"model": self.config.model, "input": parts},
                       headers={"authorization": f"Bearer {self.key}"})

    def parse(self, _item: ModerationItem, body: Any) -> ModerationReply:
        reply = parse_reply(ModerationReply, body)
        if not any(v is not None for v in reply.results[0].category_scores.values()):
            raise BadResponse("results[0].category_scores: no category was scored")
        return reply

    def describe_error(self, status: int, body: Any) -> str:
        return _openai_error(status, body)

    def judged(self, reply: ModerationReply, details: dict[str, Any], latency_ms: float | None) -> Judgement:
        result = reply.results[0]
        scores = {k: v for k, v in result.category_scores.items() if v is not None}
        flagged = [k for k, v in result.categories.items() if v is True]
        details.update(api_flagged=result.flagged, api_categories=flagged, model=reply.model)
        not_scored = [k for k, v in result.category_scores.items() if v is None]
        if not_scored:
            details["not_scored"] = not_scored  # the API answered null: not scored, not 0
        applied = {k: list(v) for k, v in (result.category_applied_input_types or {}).items() if v}
        if applied:
            details["applied_input_types"] = applied
        verdict = self._verdict(flagged) if self.config.flag_by == "api" else None
        return self.judgement(scores, verdict=verdict, latency_ms=latency_ms, details=details)

    def _verdict(self, flagged: list[str]) -> dict[Metric, bool]:
        """The API's decision per metric: a metric is flagged when a category the API flagged maps into it."""
        return {metric: any(c in table for c in flagged) for metric, table in self.label_maps.items()}
