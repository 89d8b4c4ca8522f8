"""Secrets come from environment variables only and are scrubbed from everything LAM3 writes."""

from __future__ import annotations

import os
import re
from typing import Any

SECRET_ENV_VARS: tuple[str, ...] = (
    "PERSPECTIVE_API_KEY", "OPENAI_API_KEY", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN",
    "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
)
_QUERY_KEY = re.compile(r"(?i)((?:api[_-]?)?key|token|secret)=([^&\s\"']+)")
_BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._\-]+")
REDACTED = "***"


def env_secret(name: str) -> str | None:
    """Read a secret from the environment (the only place LAM3 takes secrets from)."""
    value = os.environ.get(name)
    return value or None


def redact(text: str, extra: tuple[str, ...] = ()) -> str:
    """Remove known secret values, ``key=…`` query parameters and bearer tokens from ``text``."""
    for name in SECRET_ENV_VARS:
        value = os.environ.get(name)
        if value and len(value) >= 4:
            text = text.replace(value, REDACTED)
    for value in extra:
        if value:
            text = text.replace(value, REDACTED)
    text = _QUERY_KEY.sub(lambda m: f"{m.group(1)}={REDACTED}", text)
    return _BEARER.sub(lambda m: m.group(1) + REDACTED, text)


def redact_obj(obj: Any) -> Any:
    """:func:`redact` applied to every string in a JSON-like structure."""
    if isinstance(obj, str):
        return redact(obj)
    if isinstance(obj, dict):
        return {k: redact_obj(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [redact_obj(v) for v in obj]
    return obj
