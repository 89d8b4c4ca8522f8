"""``lam3 demo``: the offline judges on the shipped mini benchmark, fused, checked against its human labels."""

from __future__ import annotations

from pathlib import Path

import typer
from rich import box
from rich.table import Table

from lam3.cli.app import app, console
from lam3.cli.progress import progress_bar
from lam3.report import METRIC_TITLES


def _fmt(x: float | None, pct: bool = False) -> str:
    if x is None:
        return "–"
    return f"{100 * x:.1f}%" if pct else f"{x:.2f}"


@app.command()
def demo(out: Path = typer.Option(Path("outputs/demo"), "--out", "-o", help="Output folder.")) -> None:
    """Score data/mini_bench/responses.jsonl with configs/offline.yaml (no torch, no network), fuse with
    configs/ensemble.yaml, and compare each judge's vote and each fused verdict with the shipped human
    labels. Rerun to resume."""
    from lam3.pipeline.demo import run_demo

    with progress_bar("demo: scoring example responses") as update:
        result = run_demo(out, progress=update)
    table = Table(title=f"lam3 demo: offline judges and fused verdicts vs human labels (n={result.n})",
                  box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, collapse_padding=True)
    for col in ("metric", "judge", "n", "rate", "human", "acc", "P", "R", "F1", "κ"):
        table.add_column(col, justify="left" if col in ("metric", "judge") else "right", no_wrap=True)
    for a in result.agreements:
        f = a.figures
        table.add_row(METRIC_TITLES[a.metric], a.judge, str(f.n) + (f" (+{f.not_judged} err)" if f.not_judged else ""),
                      _fmt(f.rate, True), _fmt(f.human_rate, True), _fmt(f.accuracy), _fmt(f.precision),
                      _fmt(f.recall), _fmt(f.f1), _fmt(f.kappa))
    console.print(table)
    console.print("rate: share flagged · human: share labelled so · acc/P/R/F1/κ: agreement with the human label "
                  "(κ = Cohen's kappa) · judge rows: each judge's vote in the fused records · fused: the fused verdict",
                  style="dim", highlight=False)
    console.print(f"scored: {result.scored} ({result.score.scored} new, {result.score.skipped} already done)\n"
                  f"fused: {result.fused} ({result.fuse.fused} new, {result.fuse.skipped} already done)\n"
                  f"summary: {result.summary_path}\nmanifest: {result.manifest}", highlight=False)
