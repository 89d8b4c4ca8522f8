"""Helpers for fusion tests: registered test judges that really score, and builders of their inputs.

A uniquely named module (not conftest) so ``import`` finds it whatever other conftest.py files exist.

The test judges are real :class:`lam3.judges.base.Judge` subclasses in the judge registry: ``lam3
score`` runs them like any judge (batches, resume, manifest, Judgement validation), so the
scored files the fusion tests read are written by the real score stage. What each judge says
about a record is scripted in the record itself (``script: {JUDGE: {scores, verdict, error}}``),
and their label → category tables stand in for those of the real judges.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field

from lam3.judges.base import Judge, JudgeConfig, ScoreInput
from lam3.judges.registry import register
from lam3.pipeline.score import score_file
from lam3.records import Judgement


class ScriptedConfig(JudgeConfig):
    script: str | None = Field(None, description="key of the record's 'script' to play (default: the judge name)")


class _Scripted(Judge):
    """Says what ``record['script'][name]`` tells it to: probabilities, a label-type verdict, or an error."""

    Config = ScriptedConfig
    config: ScriptedConfig

    def score(self, batch: Sequence[ScoreInput]) -> list[Judgement]:
        out = []
        for item in batch:
            line = (item.record.get("script") or {}).get(self.config.script or self.name)
            if line is None:
                out.append(self.failure("no script line for this record"))
            elif line.get("error"):
                out.append(self.failure(line["error"]))
            else:
                out.append(self.judgement(line.get("scores", {}), verdict=line.get("verdict")))
        return out


@register("fusion_tox")
class FusionTox(_Scripted):
    """Detoxify-like: two labels land in one category (obscene, swearing → profanity)."""

    metric = "social_toxicity"
    label_maps = {"social_toxicity": {"toxic": "toxicity", "insult": "insult", "obscene": "profanity",
                                      "swearing": "profanity"}}

    @property
    def labels(self) -> list[str]:
        return ["toxic", "insult", "obscene", "swearing"]


@register("fusion_guard")
class FusionGuard(_Scripted):
    """Llama-Guard-like: P(unsafe) plus S-codes; a label-type judge when its script gives a verdict."""

    metric = "policy_risk"
    label_maps = {"policy_risk": {f"S{i}": f"S{i}" for i in range(1, 12)}}

    @property
    def labels(self) -> list[str]:
        return ["unsafe"] + [f"S{i}" for i in range(1, 12)]


@register("fusion_keywords")
class FusionKeywords(_Scripted):
    """A keyword judge with its own vocabulary."""

    metric = "policy_risk"
    label_maps = {"policy_risk": {"weapons": "S8", "fraud": "S2", "selfharm": "S10"}}

    @property
    def labels(self) -> list[str]:
        return ["weapons", "fraud", "selfharm"]


@register("fusion_moderation")
class FusionModeration(_Scripted):
    """OpenAI-moderation-like: feeds both metrics."""

    metric = "social_toxicity"
    label_maps = {"social_toxicity": {"harassment": "insult", "hate": "identity_attack"},
                  "policy_risk": {"illicit": "S2", "hate": "S9"}}

    @property
    def labels(self) -> list[str]:
        return ["harassment", "hate", "illicit"]


@register("fusion_refusal")
class FusionRefusal(_Scripted):
    """A refusal detector with no label map: fusion's identity fallback applies."""

    metric = "refusal"

    @property
    def labels(self) -> list[str]:
        return ["refusal"]


@register("fusion_success")
class FusionSuccess(_Scripted):
    """A jailbreak-success judge (HarmBench-classifier-like) with no label map."""

    metric = "jailbreak_success"

    @property
    def labels(self) -> list[str]:
        return ["success"]


METRIC_OF = {"fusion_tox": "social_toxicity", "fusion_guard": "policy_risk", "fusion_keywords": "policy_risk",
             "fusion_moderation": "social_toxicity", "fusion_refusal": "refusal", "fusion_success": "jailbreak_success"}


def judgement(judge: str, scores: dict[str, float] | None = None, *, error: str | None = None,
              verdict: dict[str, bool] | None = None) -> Judgement:
    """A Judgement as a judge returns it (the input of the pure fusion functions)."""
    return Judgement(judge=judge, version="1", metric=METRIC_OF[judge], scores=scores or {}, error=error,
                     verdict=verdict)


def response(rid: str, script: dict[str, dict[str, Any]], **fields: Any) -> dict[str, Any]:
    """A response record whose ``script`` says what each test judge answers."""
    base = {"id": rid, "sample_id": f"s-{rid}", "model_id": "m1", "attack": "clean", "category": "S8",
            "prompt": f"prompt {rid}", "response": f"response {rid}"}
    base.update(fields)
    base["script"] = script
    return base


def write_jsonl(path: Path, records: Sequence[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def write_yaml(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def score(tmp: Path, name: str, records: Sequence[dict[str, Any]], judges: dict[str, str], *,
          limit: int | None = None) -> Path:
    """Run the real score stage: ``records`` → ``tmp/name_responses.jsonl`` → ``tmp/name_scored.jsonl``.

    ``judges`` maps each key of ``judgements`` to its test judge (the judge reads the script under its key).
    """
    source = write_jsonl(tmp / f"{name}_responses.jsonl", records)
    config = tmp / f"{name}_score.yaml"
    config.write_text(yaml.safe_dump({"judges": [{"judge": judge, "key": key, "script": key}
                                                 for key, judge in judges.items()]}))
    out = tmp / f"{name}_scored.jsonl"
    score_file(source, config, out, limit=limit)
    return out


BASIC_JUDGES = """
judges:
  tox: {judge: fusion_tox}
  guard: {judge: fusion_guard, weight: 2.0, score_label: {policy_risk: unsafe}}
  kw: {judge: fusion_keywords}
  ref: {judge: fusion_refusal}
refusal: {strategy: soft_vote}
"""
BASIC_CONFIG = BASIC_JUDGES + "policy_risk: {strategy: soft_vote}\n"
HUMAN_CONFIG = BASIC_JUDGES + "policy_risk: {strategy: soft_vote, arbitration: {when: vote_split, method: human}}\n"
"""BASIC_CONFIG with split policy-risk verdicts queued for people"""
THREE_RUNS = ({"tox": "fusion_tox"}, {"guard": "fusion_guard", "kw": "fusion_keywords"}, {"ref": "fusion_refusal"})
"""what three separate `lam3 score` runs of one response file judged (the inputs of BASIC_CONFIG)"""


def three_judge_responses(n: int, *, missing_every: int = 0) -> list[dict[str, Any]]:
    """Responses scripted for the judges of THREE_RUNS; with ``missing_every`` the guard errors now and then."""
    out = []
    for i in range(n):
        p = (i % 10) / 10
        script: dict[str, dict[str, Any]] = {
            "tox": {"scores": {"toxic": p, "obscene": 1 - p}},
            "guard": {"scores": {"unsafe": p, "S8": p}},
            "kw": {"scores": {"weapons": 1 - p}},
            "ref": {"scores": {"refusal": (i % 4) / 4}},
        }
        if missing_every and i % missing_every == 0:
            script["guard"] = {"error": "TimeoutError: guard model down"}
        out.append(response(f"r{i:05d}", script,
                            labels={"toxic": p >= 0.5, "risky": i % 3 == 0, "refusal": i % 4 == 0}))
    return out


def three_scored_files(tmp: Path, n: int, *, missing_every: int = 0,
                       records: list[dict[str, Any]] | None = None) -> list[Path]:
    """Three scored files over the same responses, written by three runs of the real score stage."""
    records = records if records is not None else three_judge_responses(n, missing_every=missing_every)
    return [score(tmp, f"run{i}", records, judges) for i, judges in enumerate(THREE_RUNS)]
