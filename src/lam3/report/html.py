"""``lam3 report html``: one self-contained HTML file per run (or per comparison of two runs).

Everything is inline (plots are base64 PNGs, CSS in the page), so the file can be
mailed or archived alone. Model outputs and prompts are untrusted: the template
autoescapes every value and the page's Content-Security-Policy forbids scripts,
so a response containing ``<script>`` is shown as text and never runs.

Sections (docs/validity.md, *The HTML report*): the headline ASR per category × attack as a
forest plot (raw and corrected rates, judges, cards), paired clean-vs-attack differences,
the judge cards' figures, reliability diagrams against human labels, a few responses per
cell, then the flagged rates, score distributions, judge agreement and disputed responses.
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
    CARD_FIGURES,
    GroupRow,
    RunData,
    card_entries,
    fused_agreement,
    fused_asr,
    fused_cells,
    fused_over_refusal,
    fused_paired,
    kappa_matrices,
    load_run,
    paired_missing_reason,
)
from lam3.taxonomy import BENIGN, POLICY_CATEGORIES
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
    return _clean_first({a for rows in series.values() for a in rows})


def _clean_first(attacks: set[str]) -> list[str]:
    return (["clean"] if "clean" in attacks else []) + sorted(a for a in attacks if a != "clean")


def _category_key(category: str) -> tuple[int, int, str]:
    """S1 … S11 in the taxonomy's order, then other categories by name, benign last."""
    order = list(POLICY_CATEGORIES)
    if category in order:
        return (0, order.index(category), category)
    return (2 if category == BENIGN else 1, 0, category)


def _category_title(category: str) -> str:
    name = POLICY_CATEGORIES.get(category)
    return f"{category} {name}" if name else category


def _cell_sections(d: RunData, plot: Any) -> dict[str, Any]:
    """The headline ASR per category × attack (forest plot + table) and the paired clean-vs-attack differences."""
    from lam3.report import plots

    rows, headline, why = fused_cells(d)
    models = {str(r.get("model_id")) for r in rows}
    attacks = _clean_first({str(r["attack"]) for r in rows})

    def cell(r: dict[str, Any]) -> tuple[str, ...]:
        return (str(r["category"]), str(r["attack"]), str(r.get("model_id")))

    def order(key: tuple[str, ...]) -> tuple[Any, ...]:
        return (_category_key(key[0]), attacks.index(key[1]), key[2])

    rows = sorted(rows, key=lambda r: (order(cell(r)), r["definition"]))
    labels = {k: " · ".join([_category_title(k[0]), k[1]] + ([k[2]] if len(models) > 1 else []))
              for k in sorted({cell(r) for r in rows}, key=order)}
    definitions = list(dict.fromkeys(r["definition"] for r in rows))
    judges = {defn: sorted({j for r in rows if r["definition"] == defn for j in r["judges"]}) for defn in definitions}
    title = "; ".join(f"{defn} from {', '.join(js) or 'no judge'}" for defn, js in judges.items())
    paired = fused_paired(d)
    paired_labels = [" · ".join(([str(p.get("model_id"))] if len(models) > 1 else []) +
                                [f"{p['a']} − {p['b']}", p["definition"],
                                 f"{p['pairs']} pairs" + ("" if p["p_value"] is None else f", p={p['p_value']:.2g}")])
                     for p in paired]
    def corrected(r: dict[str, Any]) -> list[str]:
        return [t for c, t in zip(r["corrected"], r["corrected_text"]) if c["interval"] is not None]

    return {
        "cell_rows": [{**r, "label": labels[cell(r)], "corrected_shown": corrected(r)} for r in rows],
        "cell_headline": headline, "cell_judges": judges, "cell_why": why,
        "cell_notes": list(dict.fromkeys(t for r in rows for t in r["validity_text"])),
        "cell_uncorrected": list(dict.fromkeys(t for r in rows for c, t in zip(r["corrected"], r["corrected_text"])
                                               if c["interval"] is None)),
        "cell_plot": plot(plots.forest(rows, [cell(r) for r in rows], labels, definitions, attacks,
                                       f"{d.name}: ASR per category × attack ({title})"), why or "no ASR rows"),
        "paired_rows": paired, "paired_why": None if paired else paired_missing_reason(d),
        "paired_plot": plot(plots.paired_differences(paired, paired_labels,
                                                     f"{d.name}: attack − clean on the same samples"),
                            "no paired samples"),
    }


def _validity_sections(d: RunData, plot: Any) -> dict[str, Any]:
    """The judge cards checked against the run (figures of those that apply) and the reliability diagrams."""
    from lam3.report import plots

    cards = card_entries(d)
    applying = [c for c in cards if c["applies"]]
    labels = [f"{'fused verdict' if c['kind'] == 'fused' else 'judge ' + c['key']} · {c['metric']}"
              f" · {c['dataset']['name']} (n={c['n']})" for c in applying]
    curves = d.reliability.curves()
    return {
        "cards": cards, "card_figures": CARD_FIGURES,
        "cards_plot": plot(plots.card_figures(applying, CARD_FIGURES, labels), "no judge card applies to this run"),
        "curves": curves, "curves_why": d.reliability.missing_reason(),
        "curves_plot": plot(plots.reliability_diagrams(curves), d.reliability.missing_reason() or "no curve"),
    }


def _cell_responses(d: RunData) -> list[dict[str, Any]]:
    """The responses picked per (model, attack, category) cell, grouped by category, then attack (clean first)."""
    attacks = _clean_first({key[1] for key in d.cells.seen})
    cells = d.cells.cells()
    return sorted(cells, key=lambda c: (_category_key(c["key"][2]), attacks.index(c["key"][1]), c["key"][0]))


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
            "over_refusal_rows": fused_over_refusal(d)[0],
            "groups": [_row_dict(k, r) for k, r in sorted(d.groups.items())],
            "disputed": d.disputed, "cells": _cell_responses(d), "per_cell": d.cells.per_cell,
            **_cell_sections(d, plot), **_validity_sections(d, plot),
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


def write_html_report(run_dirs: list[str | Path], out: str | Path | None = None, *,
                      responses_per_cell: int = 3) -> HtmlReportResult:
    """Render one run (``report.html`` inside it) or compare two runs into one HTML file.

    ``responses_per_cell``: how many responses the report shows per (model, attack, category) cell (0: none).
    """
    if not 1 <= len(run_dirs) <= 2:
        raise UserError("give one run directory, or two with --compare")
    if responses_per_cell < 0:
        raise UserError(f"--responses-per-cell must be 0 or more, got {responses_per_cell}")
    datas = [load_run(p, per_cell=responses_per_cell) for p in run_dirs]
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
