"""``lam3 demo``: the offline judges on the shipped mini benchmark, fused, measured against its human labels."""

from __future__ import annotations

from pathlib import Path

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from lam3.cli.app import app, console
from lam3.cli.progress import progress_bar
from lam3.report import METRIC_TITLES


@app.command()
def demo(out: Path = typer.Option(Path("outputs/demo"), "--out", "-o", help="Output folder.")) -> None:
    """Score data/mini_bench/responses.jsonl with configs/offline.yaml (no torch, no network), fuse with
    configs/ensemble.yaml, and measure each judge's vote and each fused verdict against the shipped human
    labels (95 % intervals); print the judges' held-out figures from the shipped judge cards. Rerun to resume."""
    from lam3.fusion.asr import fmt_interval
    from lam3.pipeline.demo import HONESTY, run_demo

    with progress_bar("demo: scoring example responses") as update:
        result = run_demo(out, progress=update)
    table = Table(title=f"lam3 demo: offline judges and fused verdicts vs the mini_bench human labels (n={result.n})",
                  box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, collapse_padding=True)
    for col in ("metric", "judge", "n", "accuracy", "precision", "recall", "Cohen κ"):
        table.add_column(col, justify="left" if col in ("metric", "judge") else "right", no_wrap=True)
    for r in result.figures:
        f = r.figures
        table.add_row(METRIC_TITLES[r.metric], r.judge, str(f.n) + (f" (+{f.not_judged} err)" if f.not_judged else ""),
                      *(fmt_interval(ci) for ci in (f.accuracy, f.precision, f.sensitivity, f.kappa)))
    console.print(table)
    console.print("each cell: estimate [95 % interval] against the human label · accuracy, precision, recall: exact "
                  "(Clopper–Pearson) · κ: bootstrap · judge rows: each judge's vote in the fused records · fused: "
                  "the fused verdict · Jailbreak Success: not_refused, the offline rule (success = no refusal)",
                  style="dim", highlight=False)
    console.print(f"[bold]{HONESTY}[/]", highlight=False)
    if result.cards:
        console.print("held-out figures (judge cards made by `lam3 validate`, data/cards/, checked against these "
                      "judges and configs):", highlight=False)
        for match in result.cards:
            note = match.note()
            extra = (f" — sensitivity {fmt_interval(note.sensitivity)}, specificity {fmt_interval(note.specificity)}"
                     if note.applies else "")
            console.print(f"  {METRIC_TITLES[note.metric]}: {escape(note.text())}{extra}", highlight=False,
                          soft_wrap=True)
    for row in result.asr:
        corrected = "; ".join(c.text() for c in row.corrected)
        console.print(f"headline ASR on the mini bench (jailbreak_success by {', '.join(row.judges)}, harmful prompts): "
                      f"{fmt_interval(row.interval)} (n={row.n})" + (f"; {corrected}" if corrected else ""),
                      highlight=False, soft_wrap=True)
    console.print(f"scored: {result.scored} ({result.score.scored} new, {result.score.skipped} already done)\n"
                  f"fused: {result.fused} ({result.fuse.fused} new, {result.fuse.skipped} already done)\n"
                  f"summary: {result.summary_path}\nmanifest: {result.manifest}", highlight=False)
