"""``lam3 score``."""

from __future__ import annotations

from pathlib import Path

import typer

from lam3.cli.app import app, err_console
from lam3.cli.output import show_table, styled, warn_unused_engine_keys, write_summary
from lam3.cli.progress import progress_bar, report_bad_line


@app.command()
def score(
    input: Path = typer.Argument(..., help="JSONL with an id and a text field per line (e.g. response.jsonl), an "
                                                "Inspect AI log (.eval/.json) or HarmBench completions (.json)."),
    config: Path = typer.Option(..., "--config", "-c", help="YAML naming the judges, e.g. configs/offline.yaml."),
    out: Path = typer.Option(..., "--out", "-o", help="Output JSONL (input record + judgements)."),
    json_out: Path = typer.Option(None, "--json", help="Also write the summary as JSON (docs/cli.md)."),
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
    from lam3.cli.summaries.stages import ScoreJson

    result = ScoreJson.of(summary)
    show_table(f"lam3 score → {out}", ("scored", "skipped (already done)", "quarantined", "retried errors", "errors",
                                       "seconds"),
               [(result.scored, result.skipped_already_done, result.quarantined, result.retried_errors,
                 ", ".join(f"{k}: {v}" for k, v in result.errors.items()) or 0, f"{result.seconds:.1f}")])
    warn_unused_engine_keys(summary.engine)
    if result.errors:
        err_console.print(styled("some records have judge errors", "yellow",
                                 ": rerun with --retry-errors to redo only those."))
    if json_out:
        write_summary(json_out, result)
