"""``lam3 report daily`` and ``lam3 report html``."""

from __future__ import annotations

from pathlib import Path

import typer

from lam3.cli.app import app, console, err_console
from lam3.cli.output import styled

report_app = typer.Typer(help="Reports filled from run manifests: the daily log (Markdown) and the HTML report.",
                         no_args_is_help=True)
app.add_typer(report_app, name="report")


@report_app.command()
def daily(
    date: str = typer.Option(None, "--date", help="YYYY-MM-DD (default: today, local time)."),
    runs: Path = typer.Option(Path("runs"), "--runs", help="Folder holding run directories."),
    notes: Path = typer.Option(None, "--notes", help="YAML with the human parts (focus, goals, …)."),
    out_dir: Path = typer.Option(Path("outputs/daily_logs"), "--out-dir", help="Where YYYYMMDD.md is written."),
) -> None:
    """Write outputs/daily_logs/YYYYMMDD.md from the runs touched that day."""
    from lam3.report.daily_log import write_daily_log

    result = write_daily_log(date, runs, notes, out_dir)
    console.print(f"daily log → {result.path} (runs: {', '.join(result.runs)}; issues: {result.issues})")


@report_app.command()
def html(
    run: Path = typer.Argument(None, help="Run directory (report.html is written inside it)."),
    compare: list[Path] = typer.Option(None, "--compare", help="Two run directories to compare: --compare A --compare B"
                                       " or --compare A B.", show_default=False),
    out: Path = typer.Option(None, "--out", "-o", help="Output HTML (default: RUN/report.html)."),
    responses_per_cell: int = typer.Option(3, "--responses-per-cell", min=0,
                                           help="Responses shown per model × category × attack (0: none)."),
) -> None:
    """One self-contained HTML report for a run, or a comparison of two runs."""
    from lam3.errors import UserError
    from lam3.report.html import write_html_report

    runs = list(compare or []) + ([run] if run else [])  # `--compare A B` parses as compare=[A], run=B
    if compare and len(runs) != 2:
        raise UserError("--compare needs exactly two runs: `lam3 report html --compare runs/A runs/B`")
    if not runs:
        raise UserError("give a run directory, e.g. `lam3 report html runs/NAME`")
    result = write_html_report(runs, out, responses_per_cell=responses_per_cell)
    console.print(f"HTML report → {result.path} ({result.plots} plots)")
    for note in result.notes:
        err_console.print(styled("note", "yellow", f": {note}"))
