"""How every command prints: literal text, tables readable at any width, ``--json`` summaries.

Literal text: the consoles (:mod:`lam3.cli.app`) are created with ``markup=False`` and ``emoji=False``,
so a string from code, data or an error (``lam3[hf]``, a model id holding ``[/]``, a path) is printed
as it is; styles are given only through ``style=`` or :func:`styled`, never inside the string.

Tables: :func:`show_table` prints a table when its natural width fits the console (the terminal's
width, or ``COLUMNS``, else 80), and otherwise one ``key: value`` block per row. A header or value is
never cut (no ``positiv…``), and a value is never folded over two lines, so piped output and CI
logs can be read and grepped.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from pydantic import BaseModel
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from lam3.cli.app import console, err_console

NONE = "–"
"""What an empty cell shows."""


def styled(label: str, style: str, rest: str = "") -> Text:
    """``label`` in ``style`` followed by plain ``rest``: ``styled("warning", "yellow", ": " + message)``."""
    return Text.assemble((label, style), rest)


def cell(value: object) -> str:
    return NONE if value is None or value == "" else str(value)


def fits(table: Table, to: Console) -> bool:
    """Whether ``table`` printed at its natural width (no wrapping, no cut) fits ``to``'s width."""
    natural = to.measure(table, options=to.options.update(width=1_000_000)).maximum
    return natural <= to.width


def show_table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[object]], *,
               to: Console = console) -> None:
    """The one way a command prints a table: a table when it fits, else ``key: value`` per row."""
    body = [[cell(v) for v in row] for row in rows]
    if title:
        to.print(Text(title, style="bold"))
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, collapse_padding=True, header_style="bold")
    for name in columns:
        table.add_column(name, no_wrap=True)
    for row in body:
        table.add_row(*row)
    if fits(table, to):
        to.print(table)
        return
    for row in body:
        for i, (name, value) in enumerate(zip(columns, row)):
            to.print(f"{'- ' if i == 0 else '  '}{name}: {value}")


def warn_unused_engine_keys(engine: dict[str, object]) -> None:
    """Say which engine keys of the config this run did not use (``score`` and ``generate`` summaries' ``engine``)."""
    unused = engine.get("unused")
    if unused:
        err_console.print(styled(f"engine {engine['engine']}", "yellow",
                                 f": {', '.join(map(str, unused))} only apply to --engine ray (not used by this run)"))


def write_summary(path: Path, summary: BaseModel) -> None:
    """Write a command's ``--json`` summary (its model in :mod:`lam3.cli.summaries`) atomically."""
    from lam3.store import write_json

    write_json(path, summary.model_dump(mode="json"))
    console.print(f"written {path}")
