"""The Typer application object and the consoles commands print to."""

from __future__ import annotations

import typer
from rich.console import Console

app = typer.Typer(
    name="lam3",
    help="LAM3: generate, judge, fuse and report MLLM jailbreak / adversarial-image evaluations.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
)
console = Console()
err_console = Console(stderr=True)
