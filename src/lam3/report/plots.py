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


def _figure(width: float, height: float, ncols: int = 1) -> tuple[Any, Any]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=96, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, ncols, squeeze=False)[0]
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
