"""Helpers for fusion tests: test-only judges (for their label maps) and scored-file builders.

A uniquely named module (not conftest) so ``import`` finds it whatever other conftest.py files exist.

Fusion reads judgements, not models, so these judges never score anything here; they
exist so the registry knows their metric and label → category tables, exactly as it does
for the real judges whose outputs fusion reads.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lam3.judges.base import Judge, ScoreInput
from lam3.judges.registry import register
from lam3.records import Judgement


class _NoScoring(Judge):
    def score(self, batch: Sequence[ScoreInput]) -> list[Judgement]:  # pragma: no cover - never scored here
        raise NotImplementedError("fusion tests build judgements by hand")


@register("fusion_tox")
class FusionTox(_NoScoring):
    """Detoxify-like: two labels land in one category (obscene, swearing → profanity)."""

    metric = "social_toxicity"
    label_maps = {"social_toxicity": {"toxic": "toxicity", "insult": "insult", "obscene": "profanity",
                                      "swearing": "profanity"}}

    @property
    def labels(self) -> list[str]:
        return ["toxic", "insult", "obscene", "swearing"]


@register("fusion_guard")
class FusionGuard(_NoScoring):
    """Llama-Guard-like: P(unsafe) plus S-codes."""

    metric = "policy_risk"
    label_maps = {"policy_risk": {f"S{i}": f"S{i}" for i in range(1, 12)}}

    @property
    def labels(self) -> list[str]:
        return ["unsafe"] + [f"S{i}" for i in range(1, 12)]


@register("fusion_keywords")
class FusionKeywords(_NoScoring):
    """A keyword judge with its own vocabulary."""

    metric = "policy_risk"
    label_maps = {"policy_risk": {"weapons": "S8", "fraud": "S2", "selfharm": "S10"}}

    @property
    def labels(self) -> list[str]:
        return ["weapons", "fraud", "selfharm"]


@register("fusion_moderation")
class FusionModeration(_NoScoring):
    """OpenAI-moderation-like: feeds both metrics."""

    metric = "social_toxicity"
    label_maps = {"social_toxicity": {"harassment": "insult", "hate": "identity_attack"},
                  "policy_risk": {"illicit": "S2", "hate": "S9"}}

    @property
    def labels(self) -> list[str]:
        return ["harassment", "hate", "illicit"]


@register("fusion_refusal")
class FusionRefusal(_NoScoring):
    """A refusal detector with no label map: fusion's identity fallback applies."""

    metric = "refusal"

    @property
    def labels(self) -> list[str]:
        return ["refusal"]


FAMILIES = {"fusion_tox": "social_toxicity", "fusion_guard": "policy_risk", "fusion_keywords": "policy_risk",
            "fusion_moderation": "social_toxicity", "fusion_refusal": "refusal"}


def judgement(judge: str, scores: dict[str, float] | None = None, *, error: str | None = None) -> dict[str, Any]:
    """A Judgement as `lam3 score` writes it (validated by the real model)."""
    j = Judgement(judge=judge, version="1", metric=FAMILIES[judge], scores=scores or {}, error=error)
    return j.model_dump(mode="json")


def scored(rid: str, judgements: dict[str, dict[str, Any]], **fields: Any) -> dict[str, Any]:
    base = {"id": rid, "sample_id": f"s-{rid}", "model_id": "m1", "attack": "clean", "category": "S8",
            "prompt": f"prompt {rid}", "response": f"response {rid}"}
    base.update(fields)
    base["judgements"] = judgements
    return base


def write_jsonl(path: Path, records: Sequence[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def write_yaml(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


BASIC_CONFIG = """
judges:
  tox: {judge: fusion_tox}
  guard: {judge: fusion_guard, weight: 2.0, score_label: {policy_risk: unsafe}}
  kw: {judge: fusion_keywords}
  ref: {judge: fusion_refusal}
"""


def three_judge_records(n: int, *, missing_every: int = 0) -> tuple[list[dict], list[dict], list[dict]]:
    """Three scored files (tox, guard+kw, ref) over the same ids, as three separate score runs write them."""
    a, b, c = [], [], []
    for i in range(n):
        rid = f"r{i:05d}"
        p = (i % 10) / 10
        a.append(scored(rid, {"tox": judgement("fusion_tox", {"toxic": p, "obscene": 1 - p})},
                        labels={"toxic": p >= 0.5, "risky": i % 3 == 0, "refusal": i % 4 == 0}))
        guard = judgement("fusion_guard", {"unsafe": p, "S8": p}) if not (missing_every and i % missing_every == 0) \
            else None
        jb = {"kw": judgement("fusion_keywords", {"weapons": 1 - p})}
        if guard is not None:
            jb["guard"] = guard
        b.append(scored(rid, jb))
        c.append(scored(rid, {"ref": judgement("fusion_refusal", {"refusal": (i % 4) / 4})}))
    return a, b, c
