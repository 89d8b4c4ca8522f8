"""``lam3 bench import`` and ``lam3 bench formats``: public benchmarks as LAM3 samples."""

from __future__ import annotations

from pathlib import Path

import typer

from lam3.cli.app import app, err_console
from lam3.cli.output import show_table, styled
from lam3.cli.progress import progress_bar, report_bad_line

bench_app = typer.Typer(help="Public benchmarks, from files you downloaded, as LAM3 samples.", no_args_is_help=True)
app.add_typer(bench_app, name="bench")


@bench_app.command("import")
def import_(
    fmt: str = typer.Argument(..., metavar="FORMAT", help="Benchmark format; 'lam3 bench formats' lists them."),
    source: Path = typer.Argument(..., help="The downloaded benchmark file (or folder, where the format says so)."),
    out: Path = typer.Option(..., "--out", "-o", help="Benchmark folder to write: samples.jsonl, images/, manifest."),
    images: Path = typer.Option(None, "--images", help="Folder the image paths are relative to (default: per format)."),
    limit: int = typer.Option(None, "--limit", help="Import at most this many new samples."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Start again when OUT holds another import."),
) -> None:
    """Import a public benchmark into OUT (for 'lam3 generate --bench OUT'). Rerun the same command to resume."""
    from lam3.bench.importers.stage import import_benchmark

    with progress_bar(f"importing {fmt}") as update:
        s = import_benchmark(fmt, source, out, images=images, limit=limit, overwrite=overwrite, progress=update,
                             on_bad=report_bad_line)
    show_table(f"lam3 bench import {fmt} → {s.output}",
               ("imported", "skipped (already done)", "quarantined", "images", "categories", "approximate", "seconds"),
               [(s.imported, s.skipped, s.quarantined, ", ".join(f"{k}: {v}" for k, v in s.images.items()) or 0,
                 ", ".join(f"{k}: {v}" for k, v in sorted(s.categories.items())), s.approximate, f"{s.seconds:.1f}")])
    if s.quarantined:
        err_console.print(styled(f"{s.quarantined} rows could not be imported", "yellow",
                                 f": see {s.output.with_name('samples.quarantine.jsonl')}"))


@bench_app.command("formats")
def formats() -> None:
    """List the benchmark formats, what to download for each, and their category tables."""
    from lam3.bench.importers import FORMATS, get_importer

    show_table("lam3 bench import FORMAT", ("format", "benchmark", "download", "images", "category table"),
               ((name, cls.title, cls.download, "yes" if cls.has_images else "no",
                 f"lam3/bench/importers/taxonomy/{name}.yaml") for name, cls in ((n, get_importer(n)) for n in FORMATS)))
