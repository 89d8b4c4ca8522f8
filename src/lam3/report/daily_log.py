"""``lam3 report daily``: the LAM3 daily log, filled from run manifests and run files.

The structure follows the team's log (Overview, Parameters, Observations/Results,
Issues, Commit & Sync). Nothing in it is typed by hand except the optional notes
file (focus, goals, observations, next steps), so a log cannot claim settings or
figures that the runs do not show.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date as Date
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import Field

from lam3.config import StrictModel, load_config
from lam3.errors import UserError
from lam3.manifest import Manifest, now
from lam3.models.config import PRESETS
from lam3.pipeline.rundir import find_runs
from lam3.records import GenerationSettings
from lam3.report import render_template
from lam3.report.runs import (
    RunData,
    agreement_rows,
    fused_agreement,
    fused_asr,
    fused_over_refusal,
    fused_paired,
    kappa_matrices,
    load_run,
)
from lam3.store import atomic_write

DEFAULT_OUT_DIR = Path("outputs/daily_logs")


class DailyNotes(StrictModel):
    """The human parts of a daily log (``configs/daily_notes.example.yaml``)."""

    focus: str | None = None
    goals: list[str] = Field(default_factory=list)
    observations: list[str] = Field(default_factory=list)
    next_steps: list[str] = Field(default_factory=list)


@dataclass
class DailyLogResult:
    path: Path
    runs: list[str]
    issues: int


def _dates(manifest: Manifest) -> set[Date]:
    stamps = [manifest.created, manifest.updated]
    stamps += [t for s in manifest.stages.values() for t in (s.started, s.finished)]
    out = set()
    for s in stamps:
        if s is None:
            continue
        try:
            out.add(datetime.fromisoformat(s).date())
        except ValueError:
            continue
    return out


def _pct(row: Any, metric: str) -> str:
    rate = row.rate(metric)
    return "—" if rate is None else f"{100 * rate:.1f}% ({row.flagged[metric]}/{row.judged[metric]})"


def _mean(row: Any, metric: str) -> str:
    m = row.mean(metric)
    return "—" if m is None else f"{m:.3f}"


def _preset(data: RunData) -> str | None:
    """The generation preset the generate stage asked for, with what it means (None: no generate stage)."""
    requested = data.requested_generation()
    if requested is None:
        return None
    if requested.preset is None:
        return "none (the decoding settings are the generate config's own)"
    known = PRESETS.get(requested.preset)
    return f"`{requested.preset}`" + (f" ({known.summary})" if known else "")


def _run_context(data: RunData) -> dict[str, Any]:
    m = data.manifest
    eval_stages = []
    for name, st in sorted(m.stages.items()):
        if not (name.startswith("score") or name.startswith("fuse")):
            continue
        judges = (st.config or {}).get("judges") or []
        judges = ", ".join(str(p.get("key", p.get("judge"))) + (f" ({p['judge']})" if p.get("key") else "")
                           for p in judges if isinstance(p, dict))
        state = f"finished {st.finished}" if st.status == "finished" else "**not finished** (interrupted?)"
        eval_stages.append({"stage": name, "config_hash": (st.config_hash or "—")[:12], "judges": judges,
                            "state": state})
    groups = [{"model": k[0], "attack": k[1], "category": k[2], "n": row.n,
               "st": _pct(row, "social_toxicity"), "st_mean": _mean(row, "social_toxicity"),
               "pr": _pct(row, "policy_risk"), "pr_mean": _mean(row, "policy_risk"),
               "refusal": _pct(row, "refusal"), "disputed": row.disputed}
              for k, row in sorted(data.groups.items())]
    asr, asr_note = fused_asr(data, ("model_id", "attack", "category"))
    over, over_note = fused_over_refusal(data)
    agreement, agreement_note = fused_agreement(data)
    kappas = [{"title": title, "names": names,
               "rows": [{"name": n, "cells": ["—" if v is None else f"{v:.2f}" for v in row]}
                        for n, row in zip(names, matrix)]}
              for title, names, matrix in kappa_matrices(agreement)]
    return {"name": data.name, "responses": data.responses, "judges": data.judges,
            "generation": data.generation_table(), "preset": _preset(data),
            "num_samples": (data.requested_generation() or GenerationSettings()).num_samples,
            "eval_stages": eval_stages, "groups": groups,
            "kappas": kappas, "asr_note": asr_note, "asr_headline": [a for a in asr if a["headline"]],
            "asr_older": [a for a in asr if not a["headline"] and a["per"] == "response"],
            "asr_judges": _judges_behind(asr + over), "over_refusal": over, "over_refusal_note": over_note,
            "paired": fused_paired(data),
            "agreement_rows": agreement_rows(agreement), "agreement_note": agreement_note,
            "git": m.git.model_dump(), "updated": m.updated or "—"}


def _judges_behind(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Once per rate definition: the judges behind it and each judge card's figures (or why it does not apply)."""
    seen: dict[str, dict[str, Any]] = {}
    for r in rows:
        seen.setdefault(r["definition"], {"definition": r["definition"], "judges": r["judges"],
                                          "validity": r["validity_text"]})
    return list(seen.values())


def _issues(data: RunData) -> list[str]:
    out = []
    if data.response_errors:
        out.append(f"{data.name}: {data.response_errors}/{data.responses} responses have an error "
                   f"(first: {data.first_response_error})")
    for j in data.judges:
        if j.errors:
            what = "FAILED on every record" if j.status == "failed" else f"errored on {j.errors}/{j.n} records"
            out.append(f"{data.name}: judge {j.key} ({j.judge}) in {j.file} {what} (first: {j.first_error})")
    for name, n in data.quarantined.items():
        reasons = "; ".join(data.quarantine_reasons.get(name, []))
        out.append(f"{data.name}: {n} quarantined line(s) in {name}" + (f" — {reasons}" if reasons else ""))
    if data.bad_lines:
        out.append(f"{data.name}: {data.bad_lines} unreadable line(s) skipped while reading the run's files")
    for g in data.generation_table():
        if g["flag"]:
            out.append(f"{data.name}: generation setting {g['setting']}: {g['flag']} (used: {g['used']})")
    for step, st in data.manifest.pipeline.steps.items():
        if st.status != "done":
            out.append(f"{data.name}: pipeline step {step} is {st.status}" + (f": {st.message}" if st.message else
                                                                               " (rerun `lam3 pipeline`)"))
    for match in data.validity.matches:
        if not match.applies:
            out.append(f"{data.name}: judge card {match.source} ({match.card.dataset.name}) does not apply to "
                       f"{match.key} / {match.metric}: {'; '.join(match.reasons)}")
    for name, st in data.manifest.stages.items():
        if st.status == "running":
            out.append(f"{data.name}: stage {name} did not finish (interrupted?); rerun the same command to "
                       "resume it")
        errors = st.summary.get("errors")
        if isinstance(errors, dict) and any(errors.values()) and not name.startswith("score"):
            out.append(f"{data.name}: stage {name} reported errors {errors}")
    return out


def write_daily_log(day: Date | str | None = None, runs_root: str | Path = "runs", notes: str | Path | None = None,
                    out_dir: str | Path = DEFAULT_OUT_DIR) -> DailyLogResult:
    """Write ``out_dir/YYYYMMDD.md`` for the runs in ``runs_root`` touched on ``day`` (default today)."""
    if isinstance(day, str):
        try:
            day = Date.fromisoformat(day)
        except ValueError:
            raise UserError(f"--date must be YYYY-MM-DD, got {day!r}") from None
    day = day or datetime.now().astimezone().date()
    note = load_config(notes, DailyNotes) if notes else DailyNotes()
    all_runs = find_runs(runs_root)
    chosen = [r for r in all_runs if day in _dates(r.manifest())]
    if not chosen:
        seen = sorted({d for r in all_runs for d in _dates(r.manifest())})
        hint = f"; runs exist for {', '.join(map(str, seen[-5:]))}" if seen else ""
        raise UserError(f"no run in {runs_root} was created or updated on {day}{hint}", path=runs_root)
    datas = [load_run(r.path) for r in chosen]
    newest = max(datas, key=lambda d: d.manifest.updated or "")
    git = newest.manifest.git.model_dump()
    git["commit_short"] = (git["commit"] or "unknown")[:12]
    issues = [i for d in datas for i in _issues(d)]
    commits = {d.manifest.git.commit for d in datas}
    if len(commits) > 1:
        issues.append("runs of this day come from different commits: " + ", ".join(sorted(map(str, commits))))
    models: dict[str, dict[str, Any]] = {}
    for d in datas:
        for model, n in d.models.items():
            entry = models.setdefault(model, {"model": model, "n": 0, "revisions": set()})
            entry["n"] += n
            entry["revisions"] |= d.revisions.get(model, set())
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{day:%Y%m%d}.md"
    text = render_template("daily_log.md.j2", markdown=True, date=day.isoformat(), notes=note, git=git,
                           runs=[_run_context(d) for d in datas], issues=issues,
                           models=[{**m, "revisions": sorted(m["revisions"])} for m in models.values()],
                           datasets=sorted({ds for d in datas if (ds := d.dataset())}),
                           log_path=str(path), written=now())
    atomic_write(path, text)
    return DailyLogResult(path, [d.name for d in datas], len(issues))
