"""``lam3 score`` and ``lam3 judges``."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from lam3.cli.app import app, console, err_console
from lam3.cli.progress import progress_bar, report_bad_line


@app.command()
def score(
    input: Path = typer.Argument(..., help="JSONL with an id and a text field per line (e.g. response.jsonl), an "
                                                "Inspect AI log (.eval/.json) or HarmBench completions (.json)."),
    config: Path = typer.Option(..., "--config", "-c", help="YAML naming the judges, e.g. configs/offline.yaml."),
    out: Path = typer.Option(..., "--out", "-o", help="Output JSONL (input record + judgements)."),
    text_field: str = typer.Option(None, "--text-field", help="Field holding the text to judge (overrides config)."),
    retry_errors: bool = typer.Option(False, "--retry-errors", help="Redo records whose judgement errored."),
    limit: int = typer.Option(None, "--limit", help="Score at most this many new records."),
    allow_image_root: list[Path] = typer.Option(
        [], "--allow-image-root", help="Also let judges read (and send) images inside this folder (repeatable); by "
                                       "default only inside INPUT's folder or the judge's image_root."),
    engine: str = typer.Option(None, "--engine", help="local (this process, judges concurrently) or ray (one actor "
                                                        "pool per judge on a Ray cluster; overrides the config's)."),
) -> None:
    """Score INPUT with the judges in CONFIG. Rerun the same command to resume after a crash."""
    from lam3.pipeline.score import score_file

    with progress_bar(f"scoring {input.name}") as update:
        summary = score_file(input, config, out, text_field=text_field, retry_errors=retry_errors, limit=limit,
                             engine=engine, progress=update, on_bad=report_bad_line,
                             allow_image_roots=allow_image_root)
    table = Table(title=f"lam3 score → {out}", show_header=True)
    for col in ("scored", "skipped (done)", "quarantined", "retried", "errors", "s"):
        table.add_column(col)
    table.add_row(str(summary.scored), str(summary.skipped), str(summary.quarantined), str(summary.retried),
                  ", ".join(f"{k}:{v}" for k, v in summary.errors.items()) or "0", f"{summary.seconds:.1f}")
    console.print(table)
    if summary.engine.get("unused"):
        err_console.print(f"[yellow]engine {summary.engine['engine']}[/]: {', '.join(summary.engine['unused'])} "
                          "only apply to --engine ray (not used by this run)")
    if summary.errors:
        err_console.print("[yellow]some records have judge errors[/]: rerun with --retry-errors to redo only those.")


@app.command()
def judges() -> None:
    """List the registered judges: metric, labels, and whether they work offline here."""
    from lam3.judges.registry import all_judges

    table = Table(title="LAM3 judges")
    table.add_column("name", no_wrap=True)
    table.add_column("metric", no_wrap=True)
    table.add_column("labels (default config)", ratio=2)
    table.add_column("needs", ratio=1)
    table.add_column("usable here", ratio=1)
    for name, cls in all_judges().items():
        ok, why = cls.availability()
        try:
            labels = _compact(cls().labels)
        except Exception as exc:  # a judge whose labels come from a model it has not loaded
            labels = f"(from the model: {type(exc).__name__})"
        needs = "API key + network" if cls.remote else ("nothing (offline)" if cls.offline else "model weights")
        table.add_row(name, cls.metric, labels, needs, "yes" if ok else f"no: {why}")
    console.print(table)


def _compact(labels: list[str]) -> str:
    """``S1, S2, … S11`` rather than a column of eleven codes."""
    return ", ".join(labels) if len(labels) <= 7 else f"{', '.join(labels[:3])}, … {labels[-1]} ({len(labels)})"
