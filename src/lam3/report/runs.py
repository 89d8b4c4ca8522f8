"""Read a run directory into what reports need, streaming every JSONL file once.

Reports are filled from the run's files and manifest only, never by hand. Large
runs stay cheap: response texts are not kept (only the few most disputed ones),
judges keep one float per record.
"""

from __future__ import annotations

import heapq
import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from lam3.config import dotted
from lam3.errors import UserError
from lam3.fusion.agreement import AgreementSummary, agreement_summary
from lam3.fusion.asr import asr_table, over_refusal_table, paired_table
from lam3.fusion.cards import Validity, annotate
from lam3.manifest import Manifest, StageEntry
from lam3.pipeline.cards import validity_of
from lam3.pipeline.fused_records import read_fused
from lam3.pipeline.rundir import RunDir
from lam3.records import GENERATION_KNOBS, METRICS, FusedResult, GenerationSettings, Metric, upgrade
from lam3.store import Quarantine, count_lines, iter_jsonl

GROUP_FIELDS = ("model_id", "attack", "category")
SNIPPET = 600


@dataclass
class JudgeStats:
    """One judge (a key in ``judgements``) across one scored file."""

    key: str
    file: str
    judge: str = ""
    version: str = ""
    metric: str = ""
    n: int = 0
    errors: int = 0
    flagged: int | None = None
    """responses on which its vote in the fused records flags its metric (None: no fused record has its vote)"""
    first_error: str | None = None
    max_scores: list[float] = field(default_factory=list)

    @property
    def status(self) -> str:
        if self.n and self.errors == self.n:
            return "failed"
        if self.errors:
            return f"errors on {self.errors}/{self.n}"
        return "ok"


@dataclass
class GroupRow:
    """Dual-metric figures for one (model, attack, category) group."""

    key: tuple[str, ...]
    n: int = 0
    judged: dict[str, int] = field(default_factory=lambda: Counter())
    flagged: dict[str, int] = field(default_factory=lambda: Counter())
    score_sum: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    scored: dict[str, int] = field(default_factory=lambda: Counter())
    disputed: int = 0
    review: int = 0

    def rate(self, metric: str) -> float | None:
        return self.flagged[metric] / self.judged[metric] if self.judged[metric] else None

    def mean(self, metric: str) -> float | None:
        return self.score_sum[metric] / self.scored[metric] if self.scored[metric] else None


@dataclass
class RunData:
    run: RunDir
    manifest: Manifest
    responses: int = 0
    response_errors: int = 0
    first_response_error: str | None = None
    models: Counter = field(default_factory=Counter)
    revisions: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    attacks: Counter = field(default_factory=Counter)
    generation_used: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    """GenerationSettings field → Counter of the JSON values the responses record (``null``: not applied;
    a field a wave-1 file left out is not counted)."""
    generation_unrecorded: int = 0
    """Responses without an error that record no generation settings."""
    judges: list[JudgeStats] = field(default_factory=list)
    fused: list[FusedResult] = field(default_factory=list)
    """fused records without prompt, response and images (reports keep only the few disputed texts)"""
    metric_judges: dict[Metric, list[str]] = field(default_factory=dict)
    """the judges whose votes each fused metric has (the judges behind every rate)"""
    groups: dict[tuple[str, ...], GroupRow] = field(default_factory=dict)
    disputed: list[dict[str, Any]] = field(default_factory=list)
    quarantined: dict[str, int] = field(default_factory=dict)
    quarantine_reasons: dict[str, list[str]] = field(default_factory=dict)
    bad_lines: int = 0
    validity: Validity = field(default_factory=Validity)
    """the judge cards ``lam3 fuse`` saved beside fused.jsonl, checked against the judges it fused"""

    @property
    def name(self) -> str:
        return self.run.name

    @property
    def has_fused(self) -> bool:
        return bool(self.fused)

    def generate_stage(self) -> StageEntry | None:
        """The stage that wrote response.jsonl (``generate:response.jsonl``; any ``generate…`` otherwise)."""
        stages = self.manifest.stages
        if "generate:response.jsonl" in stages:
            return stages["generate:response.jsonl"]
        return next((v for k, v in sorted(stages.items()) if k.startswith("generate")), None)

    def by(self, index: int) -> dict[str, GroupRow]:
        """Merge the group rows on one group field (0 model, 1 attack, 2 category)."""
        out: dict[str, GroupRow] = {}
        for key, row in self.groups.items():
            agg = out.setdefault(key[index], GroupRow((key[index],)))
            _merge(agg, row)
        return out

    def by_pair(self, i: int, j: int) -> dict[tuple[str, str], GroupRow]:
        out: dict[tuple[str, str], GroupRow] = {}
        for key, row in self.groups.items():
            k = (key[i], key[j])
            _merge(out.setdefault(k, GroupRow(k)), row)
        return out

    def requested_generation(self) -> GenerationSettings | None:
        """The generation settings the generate stage's config asked for (None: no generate stage)."""
        stage = self.generate_stage()
        return stage.generation if stage else None

    def generation_table(self) -> list[dict[str, Any]]:
        """Requested (manifest) vs applied (each Response.generation), field by field.

        A knob is flagged when some response applied another value than the one requested, or none.
        Rows neither side fills (the sampling knobs of a greedy run) are left out.
        """
        requested = self.requested_generation()
        wanted = requested.model_dump(mode="json") if requested else {}
        rows = []
        for key in GenerationSettings.model_fields:
            used = self.generation_used.get(key, Counter())
            values = [json.loads(v) for v in used]
            want = wanted.get(key)
            knob = key in GENERATION_KNOBS
            if all(v is None for v in values) and (want is None or not knob):
                continue
            flag = ""
            if knob and want is not None:
                if not used:
                    flag = "requested but not recorded in any response"
                elif any(not _same(v, want) for v in values):
                    flag = f"NOT HONOURED: requested {_fmt_value(want)}"
                if used and self.generation_unrecorded:
                    flag += ("; " if flag else "") + (f"not recorded in {self.generation_unrecorded} of "
                                                      f"{self.responses - self.response_errors} responses")
            if not knob:
                shown_want = "—"
            elif requested is None:
                shown_want = "(no generate stage)"
            else:
                shown_want = "(not set)" if want is None else _fmt_value(want)
            shown = ", ".join(f"{_fmt_value(json.loads(v))} ×{c}" if len(used) > 1 else _fmt_value(json.loads(v))
                              for v, c in used.most_common())
            rows.append({"setting": key, "requested": shown_want, "used": shown or "—", "flag": flag})
        return rows

    def dataset(self) -> str | None:
        """The benchmark the generate stage read (its ``bench``)."""
        stage = self.generate_stage()
        bench = (stage.config or {}).get("bench") if stage else None
        return str(bench) if bench else None


def _generation(path: Path, lineno: int, rec: dict[str, Any]) -> GenerationSettings | None:
    """A response's recorded generation settings (wave-1 files upgraded); a malformed one names file and line."""
    value = upgrade(rec).get("generation")
    try:
        return None if value is None else GenerationSettings.model_validate(value)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise UserError(f"{err['msg']} (rerun `lam3 generate` into a new run, or fix the line)", path=path,
                        line=lineno, field="generation." + dotted(tuple(err["loc"]))) from None


def _same(used: Any, want: Any) -> bool:
    if isinstance(used, (int, float)) and isinstance(want, (int, float)) and not isinstance(used, bool):
        return abs(float(used) - float(want)) <= 1e-9 * max(1.0, abs(float(want)))
    return used == want


def _fmt_value(v: Any) -> str:
    if v is None:
        return "not applied"
    return json.dumps(v, ensure_ascii=False) if not isinstance(v, str) else v


def _merge(agg: GroupRow, row: GroupRow) -> None:
    agg.n += row.n
    agg.disputed += row.disputed
    agg.review += row.review
    for m in METRICS:
        agg.judged[m] += row.judged[m]
        agg.flagged[m] += row.flagged[m]
        agg.score_sum[m] += row.score_sum[m]
        agg.scored[m] += row.scored[m]


def _group_key(rec: FusedResult) -> tuple[str, ...]:
    return tuple(str(v if (v := getattr(rec, f, None)) is not None else "—") for f in GROUP_FIELDS)


def _snippet(text: Any) -> str:
    text = "" if text is None else str(text)
    return text if len(text) <= SNIPPET else text[:SNIPPET] + " …"


def _dispute(rec: FusedResult) -> float:
    """0 = judges agree, 0.5 = an even split (the most disputed), over every fused metric."""
    best = 0.0
    for m in METRICS:
        result = getattr(rec, m)
        votes = [v for v in result.votes.values() if v is not None]
        if votes and result.disagreement:
            yes = sum(votes)
            best = max(best, min(yes, len(votes) - yes) / len(votes))
    return best


class _Counting(Quarantine):
    """A quarantine that only counts (reports must not write next to the run's files)."""

    def add(self, bad: Any) -> None:  # noqa: D102 - see class docstring
        self.count += 1
        if self.on_bad is not None:
            self.on_bad(bad)


def load_run(path: str | Path, *, top_disputed: int = 15) -> RunData:
    """Stream the run's response, scored and fused files into a :class:`RunData`."""
    run = RunDir.open(path)
    data = RunData(run=run, manifest=run.manifest())
    skipped = _Counting(Path("/dev/null"))
    if run.responses.is_file():
        for lineno, rec in iter_jsonl(run.responses, quarantine=skipped):
            data.responses += 1
            if rec.get("error"):
                data.response_errors += 1
                data.first_response_error = data.first_response_error or str(rec["error"])[:300]
            data.models[str(rec.get("model_id", "—"))] += 1
            if rec.get("model_revision"):
                data.revisions[str(rec.get("model_id"))].add(str(rec["model_revision"]))
            data.attacks[str(rec.get("attack", "clean"))] += 1
            settings = _generation(run.responses, lineno, rec)
            if settings is None:
                data.generation_unrecorded += not rec.get("error")
            else:
                for k, v in settings.model_dump(mode="json", exclude_unset=True).items():
                    data.generation_used[k][json.dumps(v, sort_keys=True)] += 1
    for scored in run.scored_files():
        stats: dict[str, JudgeStats] = {}
        for _, rec in iter_jsonl(scored, quarantine=skipped):
            for key, j in (rec.get("judgements") or {}).items():
                if not isinstance(j, dict):
                    continue
                st = stats.get(key)
                if st is None:
                    st = stats[key] = JudgeStats(key=key, file=scored.name,
                                                 judge=str(j.get("judge", j.get("provider", ""))),
                                                 version=str(j.get("version", "")),
                                                 metric=str(j.get("metric", j.get("family", ""))))
                st.n += 1
                if j.get("error"):
                    st.errors += 1
                    st.first_error = st.first_error or str(j["error"])[:300]
                    continue
                scores = j.get("scores") or {}
                st.max_scores.append(max(scores.values()) if scores else 0.0)
        data.judges.extend(stats.values())
    heap: list[tuple[float, int, dict[str, Any]]] = []
    votes: dict[Metric, dict[str, int]] = {m: {} for m in METRICS}
    if run.fused.is_file():
        for i, (_, rec) in enumerate(read_fused(run.fused, quarantine=skipped)):
            key = _group_key(rec)
            row = data.groups.setdefault(key, GroupRow(key))
            row.n += 1
            row.review += rec.review
            for m in METRICS:
                res = getattr(rec, m)
                for judge, vote in res.votes.items():
                    votes[m][judge] = votes[m].get(judge, 0) + bool(vote)
                if res.flagged is not None:
                    row.judged[m] += 1
                    row.flagged[m] += res.flagged
                if res.score is not None:
                    row.score_sum[m] += res.score
                    row.scored[m] += 1
            dispute = _dispute(rec)
            row.disputed += dispute > 0
            if dispute > 0:
                item = {k: getattr(rec, k, None) for k in ("id", "model_id", "attack", "category")}
                item.update(prompt=_snippet(getattr(rec, "prompt", None)),
                            response=_snippet(getattr(rec, "response", None)), dispute=dispute,
                            **{m: getattr(rec, m) for m in METRICS})
                entry = (dispute, -i, item)
                if len(heap) < top_disputed:
                    heapq.heappush(heap, entry)
                else:
                    heapq.heappushpop(heap, entry)
            for text in ("prompt", "response", "images"):  # carried for the disputed list only
                (rec.model_extra or {}).pop(text, None)
            data.fused.append(rec)
    data.metric_judges = {m: sorted(v) for m, v in votes.items() if v}
    if run.fused.is_file():
        data.validity = validity_of(run.fused)
    for st in data.judges:
        st.flagged = votes.get(st.metric, {}).get(st.key)  # type: ignore[call-overload]
    data.disputed = [item for _, _, item in sorted(heap, key=lambda e: (-e[0], -e[1]))]
    data.bad_lines = skipped.count
    for q in run.quarantine_files():
        data.quarantined[q.name] = count_lines(q)
        reasons = []
        for _, obj in iter_jsonl(q, quarantine=_Counting(Path("/dev/null")), id_field=None):
            reasons.append(f"{obj.get('file', '?')}:{obj.get('line', '?')}: {obj.get('reason', '?')}")
            if len(reasons) >= 5:
                break
        data.quarantine_reasons[q.name] = reasons
    return data


NO_FUSED = "no fused.jsonl in this run (run `lam3 fuse`)"


def fused_agreement(data: RunData) -> tuple[AgreementSummary | None, str | None]:
    """Judge agreement (Cohen's/Fleiss κ, P/R/F1 vs human labels) from the run's fused votes, or why there is none."""
    if not data.fused:
        return None, NO_FUSED
    return agreement_summary(data.fused), None


def fused_asr(data: RunData, group_by: tuple[str, ...]) -> tuple[list[dict[str, Any]], str | None]:
    """ASR rows (flat) from the run's fused verdicts, or why there are none.

    Every row names the judges behind it (``judges``), carries each judge card's figures or why a
    card does not apply (``validity``, ``validity_text``) and, for per-response rows with a matching
    card of the fused verdict, the Rogan–Gladen corrected rate beside the raw one (``corrected``).
    ``headline`` marks judge-based jailbreak success; ``per`` says the unit (response, behavior,
    sample_mean, sample_any = ASR@k). Benign prompts are in :func:`fused_over_refusal` instead.
    """
    if not data.fused:
        return [], NO_FUSED
    return [row.flat() for row in annotate(asr_table(data.fused, group_by=group_by), data.validity)], None


def fused_over_refusal(data: RunData, group_by: tuple[str, ...] = ("model_id", "attack")
                       ) -> tuple[list[dict[str, Any]], str | None]:
    """The refusal rate on benign prompts per model × attack (flat rows as :func:`fused_asr`), or why none."""
    if not data.fused:
        return [], NO_FUSED
    rows = annotate(over_refusal_table(data.fused, group_by=group_by), data.validity)
    return [row.flat() for row in rows], None if rows else "no benign prompts (category benign) in this run"


def fused_paired(data: RunData, baseline: str = "clean") -> list[dict[str, Any]]:
    """Adversarial − clean: ASR(attack) − ASR(baseline) per model on the samples judged under both, each attack."""
    attacks = sorted({str(a) for rec in data.fused if (a := getattr(rec, "attack", None)) not in (None, baseline)})
    return [row.flat() for attack in attacks for row in paired_table(data.fused, attack, baseline, ("model_id",))]


def kappa_matrices(agreement: AgreementSummary | None) -> list[tuple[str, list[str], list[list[float | None]]]]:
    """(title, judges, Cohen's κ matrix) per fused metric with two judges or more, from the fused votes."""
    out = []
    for metric, summary in (agreement.metrics if agreement else {}).items():
        names = summary.judges
        if len(names) < 2:
            continue
        matrix: list[list[float | None]] = [[1.0 if a == b else None for b in names] for a in names]
        for pair in summary.cohen_kappa.values():
            i, j = names.index(pair.a), names.index(pair.b)
            matrix[i][j] = matrix[j][i] = pair.kappa
        out.append((f"{metric} (fused votes)", names, matrix))
    return out


def agreement_rows(agreement: AgreementSummary | None) -> list[tuple[str, Any]]:
    """The overall agreement figures per metric as (dotted key, value) rows (pairwise κ is in the matrices)."""
    if agreement is None:
        return []
    return _flatten({m: s.model_dump(mode="json", exclude={"per_category", "cohen_kappa"})
                    for m, s in agreement.metrics.items()})


def _flatten(obj: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """A nested summary as (dotted key, leaf value) rows, for generic tables."""
    if isinstance(obj, dict):
        rows: list[tuple[str, Any]] = []
        for k, v in obj.items():
            rows.extend(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return rows
    if isinstance(obj, (list, tuple)) and obj and all(isinstance(v, (dict, list, tuple)) for v in obj):
        rows = []
        for i, v in enumerate(obj):
            rows.extend(_flatten(v, f"{prefix}[{i}]"))
        return rows
    return [(prefix, obj)]
