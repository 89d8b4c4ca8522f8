"""``lam3 pack | unpack | push | pull | pipeline``: moving runs between machines, and the local pipeline."""

from __future__ import annotations

from pathlib import Path

import typer

from lam3.cli.app import app, console, err_console
from lam3.cli.output import styled
from lam3.cli.progress import progress_bar

_STYLE = {"done": "green", "skipped": "cyan", "running": "bold"}


@app.command()
def pack(
    run: Path = typer.Argument(..., help="Run directory, e.g. runs/NAME (must hold manifest.json)."),
    out: Path = typer.Option(None, "--out", "-o", help="Archive path (default: runs/NAME.tar.gz)."),
) -> None:
    """Pack a run into one .tar.gz with the sha256 of every file (+ a NAME.tar.gz.sha256 sidecar)."""
    from lam3.pipeline.transfer import pack as pack_run

    with progress_bar(f"packing {run.name}") as update:
        result = pack_run(run, out, progress=update)
    console.print(f"packed {result.files} files ({result.bytes} bytes) → {result.archive}\nsha256 {result.sha256}")


@app.command()
def unpack(
    archive: Path = typer.Argument(..., help="Archive made by `lam3 pack`."),
    to: Path = typer.Option(Path("runs"), "--to", help="Folder the run is unpacked into (as TO/NAME)."),
    force: bool = typer.Option(False, "--force", help="Replace an existing TO/NAME (kept as .NAME.prev-<time>)."),
) -> None:
    """Verify every checksum and unpack; refuses corrupted or tampered archives and unsafe members."""
    from lam3.pipeline.transfer import unpack as unpack_run

    result = unpack_run(archive, to, replace=force)
    side = "archive sha256 matched its sidecar; " if result.sidecar_verified else "no sidecar found; "
    console.print(f"unpacked {result.files} files → {result.run_dir} ({side}every file's sha256 verified)")
    if result.replaced:
        console.print(f"previous folder kept as {result.replaced}")


@app.command()
def push(
    source: Path = typer.Argument(..., help="Run directory (packed first) or an archive from `lam3 pack`."),
    url: str = typer.Argument(..., help="Destination folder: a path, memory://…, sftp://host/dir, s3://bucket/dir."),
) -> None:
    """Upload a run archive and its .sha256, verifying the upload by reading it back.

    Remote protocols need their fsspec backend: sftp:// needs paramiko (or sshfs), s3:// needs s3fs.
    Credentials come from the usual places (ssh agent/keys, AWS env vars), never from LAM3 options.
    """
    from lam3.pipeline.transfer import display_url
    from lam3.pipeline.transfer import push as push_run

    with progress_bar(f"uploading {source.name}") as update:
        result = push_run(source, url, progress=update)
    console.print(f"pushed {result.local} → {display_url(result.remote)} (sha256 verified after upload)")


@app.command()
def pull(
    url: str = typer.Argument(..., help="URL of an archive pushed with `lam3 push` (…/NAME.tar.gz)."),
    to: Path = typer.Option(Path("runs"), "--to", help="Folder to download and unpack into."),
    no_unpack: bool = typer.Option(False, "--no-unpack", help="Only download and verify the archive."),
    force: bool = typer.Option(False, "--force", help="Replace an existing run folder (kept as .NAME.prev-<time>)."),
) -> None:
    """Download an archive, verify it against its .sha256 sidecar, then unpack (verifying every file)."""
    from lam3.pipeline.transfer import display_url
    from lam3.pipeline.transfer import pull as pull_run

    with progress_bar("downloading") as update:
        result = pull_run(url, to, unpack_run=not no_unpack, replace=force, progress=update)
    console.print(f"pulled {display_url(url)} → {result.local} (sha256 verified after download)")
    if result.unpacked:
        console.print(f"unpacked {result.unpacked.files} files → {result.unpacked.run_dir}")
        if result.unpacked.replaced:
            console.print(f"previous folder kept as {result.unpacked.replaced}")


@app.command()
def pipeline(
    config: Path = typer.Option(Path("configs/pipeline.yaml"), "--config", "-c", help="Pipeline YAML."),
    run: Path = typer.Option(None, "--run", help="Use this run directory (replaces the config's source)."),
    archive: Path = typer.Option(None, "--archive", help="Unpack this archive first (replaces the config's source)."),
) -> None:
    """unpack or import → score (each judge config) → fuse → report → pack → push. Rerun to resume: finished
    steps whose inputs and config are unchanged are skipped."""
    from lam3.pipeline.run import Reporter, load_pipeline_config, run_pipeline

    class _Console(Reporter):
        def step(self, index: int, total: int, name: str, status: str, message: str = "") -> None:
            tail = f" — {message}" if message else ""
            err_console.print(f"[{index}/{total}] {name}: ", styled(status, _STYLE.get(status, ""), tail), sep="")

        def progress(self, name: str):  # noqa: ANN201 - a context giving a progress callback
            return progress_bar(name)

    cfg = load_pipeline_config(config, run=run, archive=archive)
    result = run_pipeline(cfg, reporter=_Console())
    console.print(f"run {result.run_dir}: {len(result.ran)} step(s) ran, {len(result.skipped)} skipped"
                  + (f"; results archive {result.archive}" if result.archive else "")
                  + (f"; pushed to {result.pushed}" if result.pushed else ""))
