"""JailbreakBench attack artifacts (``attack-artifacts/<method>/<attack_type>/<model>.json``).

The pydantic models below are transcribed from the ``jailbreakbench`` 1.0.0 package
(``jailbreakbench/artifact.py``, MIT): same fields, types and bounds. That package cannot be installed
next to LAM3 (it pins ``transformers<5`` and pulls litellm, datasets, vllm), so LAM3 validates
against this copy. One deliberate difference: JBB types ``model`` as an enum of its four leaderboard
models; here it is a string, so LAM3's LLaVA/IDEFICS2 runs can be written in the same format and set
beside published artifacts (``JBB_MODELS`` says which names the leaderboard accepts).

One jailbreak entry per harmful behaviour (a sample; benign controls are left out), in the
benchmark's order: behaviours of the
benchmark with no response are entries with ``prompt``/``response`` null and ``jailbroken`` false,
as JailbreakBench counts unsubmitted prompts. With several responses to one behaviour the entry
shows the first successful one (else the first), ``number_of_queries`` counts them and
``queries_to_jailbreak`` is the 1-based position of the first success. ``attack_success_rate`` is
jailbroken entries / entries, as JailbreakBench divides by its 100 behaviours.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from lam3.errors import UserError
from lam3.export.run import ExportSummary, Run
from lam3.export.success import Success
from lam3.store import write_json
from lam3.taxonomy import BENIGN

JBB_MODELS: tuple[str, ...] = ("vicuna-13b-v1.5", "llama-2-7b-chat-hf", "gpt-3.5-turbo-1106", "gpt-4-0125-preview")
AttackType = Literal["white_box", "black_box", "transfer", "manual"]
ATTACK_TYPES: tuple[str, ...] = ("white_box", "black_box", "transfer", "manual")


class JailbreakInfo(BaseModel):
    index: int
    goal: str
    behavior: str
    category: str
    prompt: str | None
    response: str | None
    number_of_queries: int | None
    queries_to_jailbreak: int | None
    prompt_tokens: int | None
    response_tokens: int | None
    jailbroken: bool


class AttackParameters(BaseModel):
    model_config = ConfigDict(use_enum_values=True)

    method: str
    model: str
    attack_type: AttackType
    defense: str | None
    attack_success_rate: Annotated[float, Field(strict=True, ge=0, le=1)]
    total_number_of_jailbreaks: int
    number_of_submitted_prompts: int
    total_number_of_queries: int | None
    total_prompt_tokens: int | None
    total_response_tokens: int | None
    evaluation_date: datetime.date = Field(default_factory=datetime.date.today)
    evaluation_llm_provider: str
    method_parameters: dict[str, str | int | float]


class AttackArtifact(BaseModel):
    parameters: AttackParameters
    jailbreaks: list[JailbreakInfo]


def _zero_none(n: int) -> int | None:
    """JailbreakBench writes 0 counts as null (``map_zero``)."""
    return n or None


def _scalar_settings(generation: dict[str, Any]) -> dict[str, str | int | float]:
    out: dict[str, str | int | float] = {}
    for key, value in sorted(generation.items()):
        if isinstance(value, bool):
            out[f"generation.{key}"] = str(value).lower()
        elif isinstance(value, (str, int, float)):
            out[f"generation.{key}"] = value
    return out


class _Behaviour:
    """One jailbreak entry being assembled from the benchmark sample and its responses."""

    def __init__(self, index: int, goal: str, behavior: str, category: str) -> None:
        self.index, self.goal, self.behavior, self.category = index, goal, behavior, category
        self.responses: list[tuple[dict[str, Any], bool]] = []

    def entry(self) -> dict[str, Any]:
        hits = [i for i, (_, ok) in enumerate(self.responses) if ok]
        shown = self.responses[hits[0]][0] if hits else (self.responses[0][0] if self.responses else None)
        usage = [r.get("usage") or {} for r, _ in self.responses]
        prompt_tokens = sum(int(u.get("prompt_tokens") or 0) for u in usage)
        response_tokens = sum(int(u.get("new_tokens") or 0) for u in usage)
        return {"index": self.index, "goal": self.goal, "behavior": self.behavior, "category": self.category,
                "prompt": shown.get("prompt") if shown else None,
                "response": shown.get("response") if shown else None,
                "number_of_queries": _zero_none(len(self.responses)),
                "queries_to_jailbreak": hits[0] + 1 if hits else None,
                "prompt_tokens": _zero_none(prompt_tokens), "response_tokens": _zero_none(response_tokens),
                "jailbroken": bool(hits)}


def _from_bench(bench: Path) -> tuple[dict[str, _Behaviour], set[str]]:
    """The benchmark's harmful behaviours (JBB index, name and category when imported from JBB) and its benign ids."""
    from lam3.bench.mini_bench import load_samples

    out: dict[str, _Behaviour] = {}
    benign: set[str] = set()
    for sample in load_samples(bench):
        if sample.category == BENIGN:
            benign.add(sample.id)
            continue
        meta = sample.meta
        jbb = meta.get("benchmark") == "jbb"
        out[sample.id] = _Behaviour(int(meta["source_id"]) if jbb else len(out), sample.behavior or sample.prompt,
                                    str(meta.get("behavior_name") or sample.behavior_id or sample.id),
                                    str(meta.get("source_category") or sample.category))
    return out, benign


def build_artifact(run: Run, *, success: Success, attack_type: str, method: str | None = None,
                   model: str | None = None, defense: str | None = None, provider: str = "lam3",
                   bench: Path | None = None, summary: ExportSummary) -> AttackArtifact:
    if attack_type not in ATTACK_TYPES:
        raise UserError(f"JailbreakBench attack types are {', '.join(ATTACK_TYPES)}", field="--attack-type")
    attacks = run.attacks()
    if run.attack is None and len(attacks) > 1:
        raise UserError(f"the run holds several attacks ({', '.join(attacks)}); an artifact is one attack: "
                        "pass --attack NAME", path=run.dir.path)
    bench = bench or run.bench_dir()
    behaviours, benign = _from_bench(bench) if bench is not None else ({}, set())
    if bench is None:
        summary.notes.append("benchmark folder not found (pass --bench): entries are the run's samples only, "
                             "indexed in file order, with LAM3 categories")
    verdicts = run.verdicts()
    models: set[str] = set()
    generation: dict[str, Any] = {}
    for rec in run.responses():
        if rec.get("error"):
            summary.skip("their generation errored (the behaviour counts as not jailbroken)")
            continue
        sid = str(rec.get("sample_id") or rec["id"])
        if sid in benign or rec.get("category") == BENIGN:
            summary.skip("benign controls (an attack artifact lists harmful behaviours only)")
            continue
        entry = behaviours.get(sid)
        if entry is None:
            if bench is not None:
                summary.skip("their sample is not in the benchmark folder")
                continue
            entry = behaviours[sid] = _Behaviour(len(behaviours), rec.get("behavior") or rec.get("prompt") or "",
                                                 str(rec.get("behavior_id") or sid), str(rec.get("category") or ""))
        entry.responses.append((rec, bool(success(verdicts.get(rec["id"])))))
        models.add(str(rec.get("model_id")))
        generation = generation or dict(rec.get("generation") or {})
        summary.written += 1
    if model is None:
        if len(models) != 1:
            raise UserError(f"the responses come from {len(models)} models ({', '.join(sorted(models))}): "
                            "pass --model NAME", path=run.dir.responses)
        model = models.pop()
    entries = [b.entry() for b in sorted(behaviours.values(), key=lambda b: b.index)]
    jailbroken = sum(e["jailbroken"] for e in entries)
    params = {
        "method": method or f"lam3/{run.attack or (attacks[0] if attacks else 'clean')}", "model": model,
        "attack_type": attack_type, "defense": defense,
        "attack_success_rate": jailbroken / len(entries) if entries else 0.0,
        "total_number_of_jailbreaks": jailbroken,
        "number_of_submitted_prompts": sum(e["prompt"] is not None for e in entries),
        "total_number_of_queries": _zero_none(sum(e["number_of_queries"] or 0 for e in entries)),
        "total_prompt_tokens": _zero_none(sum(e["prompt_tokens"] or 0 for e in entries)),
        "total_response_tokens": _zero_none(sum(e["response_tokens"] or 0 for e in entries)),
        "evaluation_date": datetime.date.today(), "evaluation_llm_provider": provider,
        "method_parameters": {"lam3_run": run.dir.name, "lam3_commit": run.commit(),
                              "lam3_success": success.describe(), "lam3_unjudged": success.unjudged,
                              **_scalar_settings(generation)},
    }
    if model not in JBB_MODELS:
        summary.notes.append(f"model {model!r} is not one of JailbreakBench's leaderboard models "
                             f"({', '.join(JBB_MODELS)}): the artifact can be compared with, not submitted to, it")
    summary.notes += success.warnings()
    return AttackArtifact.model_validate({"parameters": params, "jailbreaks": entries})


def export_jbb(run: Run, out: Path, **kwargs: Any) -> ExportSummary:
    summary = ExportSummary(output=out)
    artifact = build_artifact(run, summary=summary, **kwargs)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_json(out, artifact.model_dump(mode="json"))
    return summary


def read_artifact(path: str | Path) -> AttackArtifact:
    """Parse an artifact file (a published one or LAM3's) with the transcribed models."""
    from lam3.bench.importers.base import read_json

    return AttackArtifact.model_validate(read_json(Path(path)))


__all__: Iterable[str] = ("AttackArtifact", "AttackParameters", "JailbreakInfo", "JBB_MODELS", "export_jbb",
                          "read_artifact")
