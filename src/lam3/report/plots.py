"""Report figures as base64 PNG strings (matplotlib, Agg canvas, no pyplot global state).

Each function returns ``None`` when there is nothing to draw, so the report can
say why instead of showing an empty axis.
"""

from __future__ import annotations

import base64
import io
from typing import Any

from lam3.records import Metric
from lam3.report import METRIC_TITLES
from lam3.report.runs import GroupRow, JudgeStats


def _figure(width: float, height: float, ncols: int = 1, nrows: int = 1, sharey: bool = False) -> tuple[Any, Any]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=96, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False, sharey=sharey).ravel()
    return fig, axes


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _bars(ax: Any, xs: list[str], series: dict[str, list[float | None]]) -> None:
    width = 0.8 / max(1, len(series))
    for i, (label, values) in enumerate(series.items()):
        pos = [x + (i - (len(series) - 1) / 2) * width for x in range(len(xs))]
        ax.bar(pos, [100 * (v or 0.0) for v in values], width, label=label)
    ax.set_xticks(range(len(xs)), xs, rotation=30, ha="right", fontsize=8)
    ax.set_ylim(0, 100)
    ax.set_ylabel("% flagged")


def rate_bars(series: dict[str, dict[str, GroupRow]], metrics: list[Metric], order: list[str] | None = None
              ) -> str | None:
    """Flagged rate of each metric per key (category or attack), one panel per metric, one bar per series."""
    keys = order or sorted({k for rows in series.values() for k in rows})
    if not keys or not metrics:
        return None
    width = max(6.0, 1.0 + 0.6 * len(keys) * max(1, len(series)) / 2) * 0.8 * len(metrics)
    fig, axes = _figure(width, 3.6, ncols=len(metrics))
    for ax, metric in zip(axes, metrics):
        _bars(ax, keys, {label: [rows[k].rate(metric) if k in rows else None for k in keys]
                         for label, rows in series.items()})
        ax.set_title(METRIC_TITLES[metric])
    axes[0].legend(fontsize=8)
    return _png(fig)


def score_distributions(series: dict[str, list[JudgeStats]]) -> str | None:
    """Histogram of each judge's highest label score per record, one colour per series."""
    keys = sorted({j.key for judges in series.values() for j in judges if j.max_scores})
    if not keys:
        return None
    fig, axes = _figure(3.0 * len(keys) + 0.5, 3.0, ncols=len(keys))
    bins = [i / 20 for i in range(21)]
    for ax, key in zip(axes, keys):
        for label, judges in series.items():
            for j in judges:
                if j.key == key and j.max_scores:
                    ax.hist(j.max_scores, bins=bins, alpha=0.6, label=label)
        ax.set_title(key, fontsize=9)
        ax.set_xlabel("max label score")
    axes[0].set_ylabel("records")
    axes[0].legend(fontsize=8)
    return _png(fig)


def heatmap(names: list[str], matrix: list[list[float | None]], title: str) -> str | None:
    """Judge × judge agreement (Cohen's κ); blank cells where it cannot be computed."""
    if len(names) < 2:
        return None
    import numpy as np

    values = np.array([[np.nan if v is None else v for v in row] for row in matrix], dtype=float)
    fig, axes = _figure(1.2 * len(names) + 2.5, 1.0 * len(names) + 1.5)
    ax = axes[0]
    im = ax.imshow(values, vmin=-1, vmax=1, cmap="RdYlGn")
    ax.set_xticks(range(len(names)), names, rotation=30, ha="right", fontsize=8)
    ax.set_yticks(range(len(names)), names, fontsize=8)
    for i in range(len(names)):
        for j in range(len(names)):
            ax.text(j, i, "—" if np.isnan(values[i, j]) else f"{values[i, j]:.2f}", ha="center", va="center",
                    fontsize=8)
    ax.set_title(title, fontsize=9)
    ax.figure.colorbar(im, ax=ax, shrink=0.8, label="Cohen's κ")
    return _png(fig)


def asr_errorbars(rows: list[dict[str, Any]], group_fields: tuple[str, ...]) -> str | None:
    """ASR per group with its confidence interval, one marker per ASR definition."""
    if not rows:
        return None
    groups = sorted({" / ".join(str(r.get(f)) for f in group_fields) for r in rows})
    definitions = sorted({str(r.get("definition")) for r in rows})
    fig, axes = _figure(max(6.0, 0.7 * len(groups) + 2), 3.8)
    ax = axes[0]
    step = 0.7 / max(1, len(definitions))
    for d_i, definition in enumerate(definitions):
        xs, ys, lo, hi = [], [], [], []
        for g_i, group in enumerate(groups):
            for r in rows:
                if str(r.get("definition")) == definition and " / ".join(str(r.get(f)) for f in group_fields) == group:
                    rate = float(r["rate"])
                    low = rate if r["ci_low"] is None else float(r["ci_low"])  # None: no interval to draw
                    high = rate if r["ci_high"] is None else float(r["ci_high"])
                    xs.append(g_i + (d_i - (len(definitions) - 1) / 2) * step)
                    ys.append(100 * rate)
                    lo.append(100 * max(0.0, rate - low))
                    hi.append(100 * max(0.0, high - rate))
        ax.errorbar(xs, ys, yerr=[lo, hi], fmt="o", capsize=3, label=definition)
    ax.set_xticks(range(len(groups)), groups, rotation=30, ha="right", fontsize=8)
    ax.set_ylim(-2, 102)
    ax.set_ylabel("ASR %")
    ax.legend(fontsize=8)
    return _png(fig)


# --- interval plots: one row per estimate ------------------------------------------------------------
MARKERS = ("o", "s", "D", "^", "v", "P", "X", "h")


def _style(i: int) -> tuple[str, str]:
    """Colour and marker of series ``i`` (the matplotlib cycle; markers too, so print in grey still reads)."""
    return f"C{i % 10}", MARKERS[i % len(MARKERS)]


def _point(ax: Any, y: float, estimate: float | None, low: float | None, high: float | None, *, scale: float,
           colour: str, marker: str, hollow: bool = False, label: str | None = None) -> None:
    """One estimate with its interval as a horizontal error bar (no bar where a bound is unknown)."""
    if estimate is None:
        return
    lo = estimate if low is None else low
    hi = estimate if high is None else high
    bars = ax.errorbar([scale * estimate], [y],
                       xerr=[[scale * max(0.0, estimate - lo)], [scale * max(0.0, hi - estimate)]], fmt=marker,
                       color=colour, mfc="white" if hollow else colour, capsize=3, markersize=5, elinewidth=1.0,
                       label=label)
    if hollow:
        bars[2][0].set_linestyle("--")


def _rows_axis(ax: Any, labels: list[str], bands: list[tuple[int, int]] | None = None) -> None:
    """Row labels top to bottom; light bands mark groups of rows (e.g. one category)."""
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.set_ylim(len(labels) - 0.5, -0.5)
    for k, (first, last) in enumerate(bands or []):
        if k % 2 == 0:
            ax.axhspan(first - 0.5, last + 0.5, color="0.93", zorder=0)
    ax.grid(axis="x", color="0.85", linewidth=0.6)


def _bands(keys: list[str]) -> list[tuple[int, int]]:
    """(first, last) row index of each run of equal consecutive keys."""
    out: list[tuple[int, int]] = []
    for i, key in enumerate(keys):
        if out and keys[out[-1][0]] == key:
            out[-1] = (out[-1][0], i)
        else:
            out.append((i, i))
    return out


def forest(rows: list[dict[str, Any]], cells: list[tuple[str, ...]], labels: dict[tuple[str, ...], str],
           definitions: list[str], attacks: list[str], title: str) -> str | None:
    """ASR per cell with its 95 % interval and n, one row per cell, one colour and marker per attack.

    ``cells[i]`` is the cell of ``rows[i]`` (category first: rows of one category share a band);
    ``labels`` gives each cell's row label, in display order. Each definition gets a panel. A
    Rogan–Gladen corrected rate, where a card gives one, is drawn beside the raw rate as a hollow
    marker with a dashed interval, never in its place.
    """
    if not rows:
        return None
    keys = list(labels)
    index = {key: i for i, key in enumerate(keys)}
    fig, axes = _figure(3.6 + 3.6 * len(definitions), 1.5 + 0.26 * len(keys), ncols=len(definitions), sharey=True)
    legend: dict[str, Any] = {}
    for ax, definition in zip(axes, definitions):
        headline = False
        for row, cell in zip(rows, cells):
            if row["definition"] != definition:
                continue
            headline = row["headline"]
            colour, marker = _style(attacks.index(row["attack"]) if row["attack"] in attacks else len(attacks))
            y = index[cell]
            _point(ax, y - 0.12, row["rate"], row["ci_low"], row["ci_high"], scale=100, colour=colour, marker=marker,
                   label=str(row["attack"]))
            ax.text(117, y, f"n={row['n']}", ha="right", va="center", fontsize=7, color="0.3")
            if row["ci_low"] is None or row["ci_high"] is None:
                ax.text(100 * row["rate"] + 2, y - 0.12, "no interval", va="center", fontsize=6, color="0.3")
            for c in row.get("corrected") or []:
                ci = c.get("interval")
                if ci:
                    _point(ax, y + 0.22, ci["estimate"], ci["low"], ci["high"], scale=100, colour=colour,
                           marker=marker, hollow=True, label="Rogan–Gladen corrected (judge card)")
                    break
        _rows_axis(ax, [labels[k] for k in keys], _bands([k[0] for k in keys]))
        ax.set_xlim(-2, 118)
        ax.set_xticks(range(0, 101, 20))
        ax.set_xlabel(f"ASR % ({definition}, 95 % CI)", fontsize=8)
        ax.set_title(definition + ("" if headline else " (older definition)"), fontsize=9)
        for handle, lab in zip(*ax.get_legend_handles_labels()):
            legend.setdefault(lab, handle)
    fig.suptitle(title, fontsize=9)
    fig.legend(list(legend.values()), list(legend), loc="outside lower center", ncols=min(6, len(legend)), fontsize=8)
    return _png(fig)


def paired_differences(rows: list[dict[str, Any]], labels: list[str], title: str) -> str | None:
    """Attack − baseline ASR differences (percentage points) with their paired 95 % intervals, one row each."""
    if not rows:
        return None
    fig, axes = _figure(7.5, 1.3 + 0.3 * len(rows))
    ax = axes[0]
    definitions = list(dict.fromkeys(r["definition"] for r in rows))
    seen: set[str] = set()
    for y, row in enumerate(rows):
        colour, marker = _style(definitions.index(row["definition"]))
        lab = row["definition"] + (" (headline)" if row["headline"] else "")
        _point(ax, y, row["difference"], row["ci_low"], row["ci_high"], scale=100, colour=colour, marker=marker,
               label=None if lab in seen else lab)
        seen.add(lab)
    _rows_axis(ax, labels)
    ax.axvline(0, color="0.3", linewidth=0.8)
    ax.set_xlim(-102, 102)
    ax.set_xlabel("ASR difference, percentage points (95 % CI, bootstrap over pairs)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8, loc="best")
    return _png(fig)


def card_figures(entries: list[dict[str, Any]], figures: tuple[str, ...], labels: list[str]) -> str | None:
    """A judge card's validity figures with their intervals: one panel per figure, one row per card entry."""
    if not entries:
        return None
    fig, axes = _figure(2.4 * len(figures) + 3.2, 1.4 + 0.32 * len(entries), ncols=len(figures), sharey=True)
    for ax, name in zip(axes, figures):
        for y, entry in enumerate(entries):
            ci = entry["figures"][name]
            colour, marker = _style(y)
            _point(ax, y, ci["estimate"], ci["low"], ci["high"], scale=1, colour=colour, marker=marker)
        _rows_axis(ax, labels)
        ax.set_xlim(-1.05 if name == "kappa" else -0.02, 1.02)
        ax.set_title("Cohen's κ" if name == "kappa" else name, fontsize=9)
    return _png(fig)


def reliability_diagrams(curves: list[dict[str, Any]]) -> str | None:
    """Observed frequency of the human label per probability bin, against the diagonal; bin counts below."""
    if not curves:
        return None
    ncols = min(4, len(curves))
    nrows = -(-len(curves) // ncols)
    fig, axes = _figure(3.2 * ncols, 3.3 * nrows, ncols=ncols, nrows=nrows)
    for ax, curve in zip(axes, curves):
        full = [b for b in curve["bins"] if b["n"]]
        ax.plot([0, 1], [0, 1], color="0.6", linestyle="--", linewidth=0.8, label="perfectly calibrated")
        ax.plot([b["mean_p"] for b in full], [b["observed"] for b in full], marker="o", color="C0",
                label="observed")
        for b in full:
            ax.annotate(str(b["n"]), (b["mean_p"], b["observed"]), textcoords="offset points", xytext=(3, 4),
                        fontsize=7, color="C0")
        counts = ax.twinx()
        counts.bar([(b["low"] + b["high"]) / 2 for b in curve["bins"]], [b["n"] for b in curve["bins"]],
                   width=0.9 / len(curve["bins"]), color="0.8", alpha=0.6, zorder=0)
        counts.set_ylim(0, 4 * max(1, max(b["n"] for b in curve["bins"])))
        counts.tick_params(labelsize=7)
        counts.set_ylabel("responses per bin", fontsize=7)
        ax.set_zorder(counts.get_zorder() + 1)
        ax.patch.set_visible(False)
        ax.set_xlim(0, 1)
        ax.set_ylim(-0.03, 1.03)
        ax.set_xlabel("judge probability (bin mean)", fontsize=8)
        ax.set_ylabel(f"share with human label {curve['label']}", fontsize=8)
        ax.set_title(f"{curve['judge']} · {curve['metric']}\nECE {curve['ece']:.3f}, n = {curve['n']}", fontsize=8)
    for ax in axes[len(curves):]:
        ax.set_visible(False)
    axes[0].legend(fontsize=7, loc="upper left")
    return _png(fig)
