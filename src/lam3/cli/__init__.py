"""The ``lam3`` command line: thin Typer commands, each calling one function of the library.

Command modules attach themselves to :data:`app`; this package imports them.
User errors (:class:`lam3.errors.UserError`) print one line and exit non-zero
without a traceback (exit codes: :mod:`lam3.errors`); a storage error (disk full,
permission denied, read-only file system, a file vanished) also prints the command
that resumes; Ctrl-C says how to resume.
"""

from __future__ import annotations

import importlib
import sys

from lam3.cli.app import app, err_console

COMMAND_MODULES: tuple[str, ...] = (
    "lam3.cli.score",
    "lam3.cli.judges",
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


def rerun_command(argv: list[str] | None = None) -> str:
    """The command that resumes this run, shell-quoted: the same arguments, less ``--overwrite``
    (which would throw away what is already safely written)."""
    import shlex

    args = [a for a in (sys.argv[1:] if argv is None else argv) if a != "--overwrite"]
    return shlex.join(["lam3", *args])


def main() -> None:
    from lam3.cli.output import styled
    from lam3.errors import StorageError, UserError, is_storage_error, storage_error

    try:
        try:
            app()
        except OSError as exc:  # a storage error outside a stage: the file and the fix, no traceback
            if not is_storage_error(exc):
                raise
            raise storage_error(exc) from exc
    except UserError as exc:
        line = f"{exc}: {rerun_command()}" if isinstance(exc, StorageError) else str(exc)
        err_console.print(styled("error:", "bold red", f" {line}"))
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        err_console.print(styled("interrupted", "yellow", ": outputs written so far are complete; "
                                 "rerun the same command to finish."))
        sys.exit(130)


__all__ = ["app", "main"]
