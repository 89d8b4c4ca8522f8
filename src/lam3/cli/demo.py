"""``lam3 demo``: the offline judges on the shipped mini benchmark, fused, measured against its human labels."""

from __future__ import annotations

from pathlib import Path

import typer

from lam3.cli.app import app, console
from lam3.cli.output import show_table
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
    show_table(f"lam3 demo: offline judges and fused verdicts vs the mini_bench human labels (n={result.n})",
               ("metric", "judge", "n", "accuracy", "precision", "recall", "Cohen κ"),
               ((METRIC_TITLES[r.metric], r.judge, f"{r.figures.n}" + (f" (+{r.figures.not_judged} err)"
                                                                      if r.figures.not_judged else ""),
                 *(fmt_interval(ci) for ci in (r.figures.accuracy, r.figures.precision, r.figures.sensitivity,
                                               r.figures.kappa))) for r in result.figures))
    console.print("each cell: estimate [95 % interval] against the human label · accuracy, precision, recall: exact "
                  "(Clopper–Pearson) · κ: bootstrap · judge rows: each judge's vote in the fused records · fused: "
                  "the fused verdict · Jailbreak Success: not_refused, the offline rule (success = no refusal)",
                  style="dim")
    console.print(HONESTY, style="bold")
    if result.cards:
        console.print("held-out figures (judge cards made by `lam3 validate`, data/cards/, checked against these "
                      "judges and configs):")
        for match in result.cards:
            note = match.note()
            extra = (f" — sensitivity {fmt_interval(note.sensitivity)}, specificity {fmt_interval(note.specificity)}"
                     if note.applies else "")
            console.print(f"  {METRIC_TITLES[note.metric]}: {note.text()}{extra}")
    for row in result.asr:
        corrected = "; ".join(c.text() for c in row.corrected)
        console.print(f"headline ASR on the mini bench (jailbreak_success by {', '.join(row.judges)}, harmful prompts): "
                      f"{fmt_interval(row.interval)} (n={row.n})" + (f"; {corrected}" if corrected else ""))
    console.print(f"scored: {result.scored} ({result.score.scored} new, {result.score.skipped} already done)\n"
                  f"fused: {result.fused} ({result.fuse.fused} new, {result.fuse.skipped} already done)\n"
                  f"summary: {result.summary_path}\nmanifest: {result.manifest}")
