"""``lam3 report html``: one self-contained HTML file per run (or per comparison of two runs).

Everything is inline (plots are base64 PNGs, CSS in the page), so the file can be
mailed or archived alone. Model outputs and prompts are untrusted: the template
autoescapes every value and the page's Content-Security-Policy forbids scripts,
so a response containing ``<script>`` is shown as text and never runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lam3.errors import UserError
from lam3.manifest import now
from lam3.records import METRICS, Metric
from lam3.report import METRIC_TITLES, render_template
from lam3.report.runs import (
    GroupRow,
    RunData,
    fused_agreement,
    fused_asr,
    fused_over_refusal,
    fused_paired,
    kappa_matrices,
    load_run,
)
from lam3.store import atomic_write


@dataclass
class HtmlReportResult:
    path: Path
    runs: list[str]
    plots: int
    notes: list[str]


def _rate(row: GroupRow | None, metric: str) -> float | None:
    return None if row is None else row.rate(metric)


def _row_dict(key: tuple[str, ...], row: GroupRow) -> dict[str, Any]:
    return {"key": key, "n": row.n, "disputed": row.disputed, "review": row.review,
            "metrics": {m: {"rate": row.rate(m), "judged": row.judged[m], "flagged": row.flagged[m],
                            "mean": row.mean(m)} for m in METRICS}}


def _series(datas: list[RunData], index: int) -> dict[str, dict[str, GroupRow]]:
    """Rows keyed by group field ``index``: per model for one run, per run when comparing."""
    if len(datas) == 1:
        d = datas[0]
        out: dict[str, dict[str, GroupRow]] = {}
        for (model, key), row in d.by_pair(0, index).items():
            out.setdefault(model, {})[key] = row
        return out
    return {d.name: d.by(index) for d in datas}


def _attack_order(series: dict[str, dict[str, GroupRow]]) -> list[str]:
    attacks = sorted({a for rows in series.values() for a in rows})
    return (["clean"] if "clean" in attacks else []) + [a for a in attacks if a != "clean"]


def _metrics(datas: list[RunData]) -> list[Metric]:
    """The metrics fused in any of the runs, in the order of :data:`lam3.records.METRICS`."""
    return [m for m in METRICS if any(m in d.metric_judges for d in datas)]


def build_context(datas: list[RunData]) -> tuple[dict[str, Any], int, list[str]]:
    from lam3.report import plots

    notes: list[str] = []
    n_plots = 0

    def plot(img: str | None, why: str) -> dict[str, Any]:
        nonlocal n_plots
        n_plots += img is not None
        return {"img": img, "why": why}

    metrics = _metrics(datas)
    by_cat = _series(datas, 2)
    by_attack = _series(datas, 1)
    runs = []
    for d in datas:
        agreement, _ = fused_agreement(d)
        heatmaps = [plot(plots.heatmap(names, matrix, f"{d.name}: {title}"), "fewer than two judges")
                    for title, names, matrix in kappa_matrices(agreement)]
        asr_rows, asr_note = fused_asr(d, ("model_id", "attack"))
        if not d.has_fused:
            notes.append(f"{d.name}: no fused.jsonl — the metric sections are empty (run `lam3 fuse`).")
        git = d.manifest.git
        runs.append({
            "name": d.name, "path": str(d.run.path), "responses": d.responses, "errors": d.response_errors,
            "models": dict(d.models), "attacks": dict(d.attacks), "judges": d.judges,
            "metric_judges": d.metric_judges,
            "git": git.model_dump(), "updated": d.manifest.updated, "quarantined": d.quarantined,
            "heatmaps": heatmaps or [plot(None, "no fused metric with two judges or more")],
            "asr_plot": plot(plots.asr_errorbars([a for a in asr_rows if a["per"] == "response"], ("model_id", "attack")),
                             asr_note or "no ASR rows"),
            "asr_rows": asr_rows,
            "over_refusal_rows": fused_over_refusal(d)[0], "paired_rows": fused_paired(d),
            "groups": [_row_dict(k, r) for k, r in sorted(d.groups.items())],
            "disputed": d.disputed,
        })
    delta = []
    if len(datas) == 2:
        a, b = datas[0].by(2), datas[1].by(2)
        for cat in sorted(set(a) | set(b)):
            row: dict[str, Any] = {"category": cat}
            for m in metrics:
                ra, rb = _rate(a.get(cat), m), _rate(b.get(cat), m)
                row[m] = (ra, rb, None if ra is None or rb is None else rb - ra)
            delta.append(row)
    ctx = {
        "title": "LAM3 report — " + " vs ".join(d.name for d in datas),
        "compare": len(datas) > 1, "runs": runs, "delta": delta, "generated": now(),
        "metrics": metrics, "titles": METRIC_TITLES,
        "category_plot": plot(plots.rate_bars(by_cat, metrics), "no fused records"),
        "attack_plot": plot(plots.rate_bars(by_attack, metrics, _attack_order(by_attack)), "no fused records"),
        "score_plot": plot(plots.score_distributions({d.name: d.judges for d in datas}), "no scored files"),
        "notes": notes,
    }
    return ctx, n_plots, notes


def write_html_report(run_dirs: list[str | Path], out: str | Path | None = None) -> HtmlReportResult:
    """Render one run (``report.html`` inside it) or compare two runs into one HTML file."""
    if not 1 <= len(run_dirs) <= 2:
        raise UserError("give one run directory, or two with --compare")
    datas = [load_run(p) for p in run_dirs]
    if len(datas) == 2 and datas[0].run.path.resolve() == datas[1].run.path.resolve():
        raise UserError("--compare needs two different runs", path=run_dirs[0])
    if out is None:
        first = datas[0].run.path
        out = first / "report.html" if len(datas) == 1 else \
            first.parent / f"compare_{datas[0].name}_vs_{datas[1].name}.html"
    out = Path(out)
    ctx, n_plots, notes = build_context(datas)
    html = render_template("report.html.j2", **ctx)
    atomic_write(out, html)
    return HtmlReportResult(out, [d.name for d in datas], n_plots, notes)
