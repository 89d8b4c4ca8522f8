"""The Typer application object, ``lam3 --version``, and the consoles commands print to.

Nothing the CLI prints is read as Rich markup: the consoles are created with ``markup=False`` and
``emoji=False`` (a model id ``org/[/]model`` or the hint ``pip install 'lam3[hf]'`` prints as it is;
styles go through ``style=``, see :mod:`lam3.cli.output`), and Typer's help is click's plain help
(``rich_markup_mode=None``). ``soft_wrap=True``: a line is never broken by Rich, so a piped or
logged line can be grepped whole.
"""

from __future__ import annotations

import typer
from rich.console import Console

app = typer.Typer(
    name="lam3",
    help="LAM3: generate, judge, fuse and report MLLM jailbreak / adversarial-image evaluations.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
    rich_markup_mode=None,
)
console = Console(markup=False, emoji=False, highlight=False, soft_wrap=True)
err_console = Console(stderr=True, markup=False, emoji=False, highlight=False, soft_wrap=True)


def version_lines() -> list[str]:
    """The package version, the commit of the checkout it runs from, and the versions of the files it writes."""
    from lam3 import __version__
    from lam3.manifest import MANIFEST_VERSION, git_info
    from lam3.records import SCHEMA_VERSION

    git = git_info()
    if git["commit"]:
        state = "uncommitted changes" if git["dirty"] else "clean"
        commit = f"{git['commit']} (branch {git['branch']}, {state})"
    else:
        commit = "– (not run from a git checkout of LAM3)"
    return [f"lam3 {__version__}", f"commit: {commit}", f"records schema version: {SCHEMA_VERSION}",
            f"manifest version: {MANIFEST_VERSION}"]


def _print_version(value: bool) -> None:
    if value:
        for line in version_lines():
            console.print(line)
        raise typer.Exit()


@app.callback()
def _options(
    version: bool = typer.Option(False, "--version", is_eager=True, callback=_print_version,
                                 help="Print the version, the git commit (from a checkout), the records schema "
                                      "version and the manifest version, then exit."),
) -> None:
    """LAM3: generate, judge, fuse and report MLLM jailbreak / adversarial-image evaluations."""
