"""The ``lam3`` command line: thin Typer commands, each calling one function of the library.

Command modules attach themselves to :data:`app`; this package imports them.
User errors (:class:`lam3.errors.UserError`) print one line and exit non-zero
without a traceback; Ctrl-C says how to resume.
"""

from __future__ import annotations

import importlib
import sys

from lam3.cli.app import app, err_console

COMMAND_MODULES: tuple[str, ...] = (
    "lam3.cli.score",
    "lam3.cli.demo",
    "lam3.cli.generate",
    "lam3.cli.fuse",
    "lam3.cli.transfer",
    "lam3.cli.report",
    "lam3.cli.attack",
    "lam3.cli.bench",
    "lam3.cli.export",
    "lam3.cli.view",
    "lam3.cli.validate",
)

for _module in COMMAND_MODULES:
    importlib.import_module(_module)


def main() -> None:
    from rich.markup import escape

    from lam3.errors import UserError

    try:
        app()
    except UserError as exc:
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        err_console.print("[yellow]interrupted[/]: outputs written so far are complete; "
                          "rerun the same command to finish.")
        sys.exit(130)


__all__ = ["app", "main"]
