"""``lam3 view``: browse fused runs in a local web app and label disputed responses."""

from __future__ import annotations

import getpass
import secrets
from contextlib import ExitStack
from pathlib import Path

import typer

from lam3.cli.app import app, console, err_console
from lam3.cli.output import styled
from lam3.cli.progress import progress_bar


@app.command()
def view(
    runs: list[Path] = typer.Argument(..., help="Run directories, each with a fused.jsonl (from 'lam3 fuse')."),
    host: str = typer.Option("127.0.0.1", "--host", help=(
        "Address to listen on. WARNING: anything but 127.0.0.1 / localhost / ::1 lets every machine that can "
        "reach this one read every response (writes still need the token); prefer an SSH tunnel.")),
    port: int = typer.Option(0, "--port", help="Port to listen on (0: any free port; the URL is printed)."),
    reviews: Path = typer.Option(None, "--reviews", help=(
        "reviews.jsonl that labels given in the browser are added to (default: RUN/reviews.jsonl; one run only). "
        "Apply them with 'lam3 fuse … --reviews FILE'.")),
    images: Path = typer.Option(None, "--images", help=(
        "Folder that the records' relative image paths are resolved in (default: each run directory); "
        "images outside it are refused.")),
    reviewer: str = typer.Option(None, "--reviewer", help="Reviewer name the page starts with (default: login name)."),
    rebuild: bool = typer.Option(False, "--rebuild", help="Rebuild the index even if fused.jsonl is unchanged."),
) -> None:
    """Browse every response with its judges, verdicts and human labels; label disputed ones in the browser."""
    from lam3.errors import DependencyError

    try:
        from lam3.report.viewer.server import Viewer, bind, create_app, is_loopback, make_server, url_of
    except ImportError as exc:
        raise DependencyError(f"lam3 view needs the 'view' extra: pip install 'lam3[view]' ({exc})") from None

    if not is_loopback(host):
        err_console.print(styled("warning", "bold yellow", f": listening on {host}: anyone who can reach this port "
                                 "can read every response in these runs (writes still need the token)."))
    with ExitStack() as bars:
        viewer = Viewer.open(runs, token=secrets.token_urlsafe(24), reviews=reviews, images=images,
                             reviewer=reviewer if reviewer is not None else _login(), rebuild=rebuild,
                             progress=lambda name: bars.enter_context(progress_bar(f"indexing {name}")))
    token = viewer.token
    for idx in viewer.runs.values():
        meta = idx.meta
        how = f"indexed in {meta['build_seconds']:.1f}s" if idx.built_now else "index reused"
        errors = f", {meta['errors']} unreadable line(s)" if meta["errors"] else ""
        console.print(f"{idx.key}: {meta['records']} responses{errors} ({how}); labels → {idx.reviews.path}")
    sock = bind(host, port)
    url = url_of(sock)
    app_ = create_app(viewer, allowed_hosts=None if is_loopback(host) else ["*"])
    console.print(f"lam3 view: open {url}/#token={token}")
    console.print(f"write token: {token} (the link carries it; labels without it are refused). Ctrl-C stops.")
    console.file.flush()
    try:
        make_server(app_).run(sockets=[sock])
    finally:
        sock.close()
        for idx in viewer.runs.values():
            idx.close()


def _login() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return ""
