"""Read a run directory into what reports need, streaming every JSONL file once.

Reports are filled from the run's files and manifest only, never by hand. Large
runs stay cheap: fused records are not kept but read again for each table
(:class:`FusedRecords`), response texts only for the few most disputed ones and a
bounded pick per cell (:mod:`lam3.report.cell_responses`), calibration as bin counts
(:mod:`lam3.report.reliability`); judges keep one float per record.
"""

from __future__ import annotations

import heapq
import json
from collections import Counter, defaultdict
from collections.abc import Iterator
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
from lam3.report.cell_responses import CellResponses, dispute_of, excerpt
from lam3.report.reliability import Reliability
from lam3.store import Quarantine, count_lines, iter_jsonl

GROUP_FIELDS = ("model_id", "attack", "category")


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


class FusedRecords:
    """The run's fused records, read again from fused.jsonl on every iteration (memory stays flat).

    Lines that are not fused records are skipped here; :func:`load_run` counts them once.
    """

    def __init__(self, path: Path | None = None, count: int = 0) -> None:
        self.path = path
        self.count = count

    def __iter__(self) -> Iterator[FusedResult]:
        if self.path is None or not self.count:
            return
        for _, rec in read_fused(self.path, quarantine=_Counting(Path("/dev/null"))):
            yield rec

    def __bool__(self) -> bool:
        return self.count > 0

    def __len__(self) -> int:
        return self.count


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
    fused: FusedRecords = field(default_factory=FusedRecords)
    """the fused records, streamed again from the file for each table"""
    metric_judges: dict[Metric, list[str]] = field(default_factory=dict)
    """the judges whose votes each fused metric has (the judges behind every rate)"""
    groups: dict[tuple[str, ...], GroupRow] = field(default_factory=dict)
    disputed: list[dict[str, Any]] = field(default_factory=list)
    quarantined: dict[str, int] = field(default_factory=dict)
    quarantine_reasons: dict[str, list[str]] = field(default_factory=dict)
    bad_lines: int = 0
    validity: Validity = field(default_factory=Validity)
    """the judge cards ``lam3 fuse`` saved beside fused.jsonl, checked against the judges it fused"""
    cells: CellResponses = field(default_factory=CellResponses)
    """a few responses per (model, attack, category) cell, the most disputed first"""
    reliability: Reliability = field(default_factory=Reliability)
    """each judge's probabilities against the human labels carried in fused.jsonl, as bin counts"""

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


class _Counting(Quarantine):
    """A quarantine that only counts (reports must not write next to the run's files)."""

    def add(self, bad: Any) -> None:  # noqa: D102 - see class docstring
        self.count += 1
        if self.on_bad is not None:
            self.on_bad(bad)


def load_run(path: str | Path, *, top_disputed: int = 15, per_cell: int = 3) -> RunData:
    """Stream the run's response, scored and fused files into a :class:`RunData`.

    ``per_cell``: responses kept per (model, attack, category) cell for the report (0: none).
    """
    run = RunDir.open(path)
    data = RunData(run=run, manifest=run.manifest(), cells=CellResponses(per_cell))
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
    fused_count = 0
    if run.fused.is_file():
        for i, (lineno, rec) in enumerate(read_fused(run.fused, quarantine=skipped)):
            fused_count += 1
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
            dispute = dispute_of(rec)
            row.disputed += dispute > 0
            if dispute > 0:
                item = {k: getattr(rec, k, None) for k in ("id", "model_id", "attack", "category")}
                item.update(prompt=excerpt(getattr(rec, "prompt", None)),
                            response=excerpt(getattr(rec, "response", None)), dispute=dispute,
                            **{m: getattr(rec, m) for m in METRICS})
                entry = (dispute, -i, item)
                if len(heap) < top_disputed:
                    heapq.heappush(heap, entry)
                else:
                    heapq.heappushpop(heap, entry)
            data.cells.add(key, rec, lineno, dispute)
            data.reliability.add(rec)
    data.metric_judges = {m: sorted(v) for m, v in votes.items() if v}
    if run.fused.is_file():
        data.fused = FusedRecords(run.fused, fused_count)
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
    attacks = sorted({a for _, a, _ in data.groups if a not in ("—", baseline)})
    return [row.flat() for attack in attacks for row in paired_table(data.fused, attack, baseline, ("model_id",))]


def paired_missing_reason(data: RunData, baseline: str = "clean") -> str:
    """Why :func:`fused_paired` has no row, in one line."""
    if not data.fused:
        return NO_FUSED
    attacks = {a for _, a, _ in data.groups}
    if baseline not in attacks:
        return f"no {baseline} responses in this run: nothing to pair the attacks with"
    if not attacks - {baseline, "—"}:
        return f"only {baseline} responses in this run: no attack to compare"
    return (f"no sample (sample_id) was judged both under {baseline} and under an attack; pairs need the same "
            "samples answered under both (one run generated with and without the attack)")


CELL_FIELDS = ("model_id", "category", "attack")
"""The grouping of the per-cell ASR (the report's forest plot)."""


def fused_cells(data: RunData) -> tuple[list[dict[str, Any]], bool, str | None]:
    """Per-response ASR rows per model × category × attack: (rows, headline, why none).

    The rows are judge-based jailbreak success (``headline`` True); a run without that metric
    gets the older definitions instead (``headline`` False), which the report labels as such.
    Each row carries its judges, card notes and corrected rates as :func:`fused_asr` gives them.
    """
    rows, note = fused_asr(data, CELL_FIELDS)
    per_response = [r for r in rows if r["per"] == "response"]
    headline = [r for r in per_response if r["headline"]]
    if not per_response:
        return [], False, note or "no ASR rows (only benign prompts, or no verdicts)"
    return headline or per_response, bool(headline), None


def card_entries(data: RunData) -> list[dict[str, Any]]:
    """Every judge-card entry checked against this run: what it measured, on which set, and whether it applies."""
    out = []
    for m in data.validity.matches:
        f = m.figures
        ds = m.card.dataset
        out.append({"source": m.source, "kind": m.kind, "key": m.key, "metric": m.metric,
                    "judge": m.judge_entry.judge if m.judge_entry is not None else "fused",
                    "applies": m.applies, "reasons": list(m.reasons),
                    "dataset": {"name": ds.name, "format": ds.format, "records": ds.records,
                                "sha256": ds.sha256, "files": len(ds.files)},
                    "card_n": m.card.n, "created": m.card.created, "commit": m.card.commit,
                    "n": f.n, "not_judged": f.not_judged, "positives": f.positives, "negatives": f.negatives,
                    "figures": {name: getattr(f, name).model_dump(mode="json")
                                for name in CARD_FIGURES}})
    return out


CARD_FIGURES = ("accuracy", "sensitivity", "specificity", "kappa")
"""The validity figures of a card the report draws, each with its interval."""


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
