"""One progress bar style for every long loop, and one way to echo quarantined lines (Rich)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Callable

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from lam3.cli.app import err_console
from lam3.cli.output import styled


@contextmanager
def progress_bar(description: str, total: int | None = None) -> Iterator[Callable[[int, int | None], None]]:
    """Yield ``update(done, total)``; the bar draws on stderr and disappears when not a terminal."""
    with Progress(TextColumn("{task.description}", style="bold", markup=False), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), TimeRemainingColumn(), console=err_console,
                  disable=not err_console.is_terminal, transient=False) as bar:
        task = bar.add_task(description, total=total)

        def update(done: int, new_total: int | None = None) -> None:
            bar.update(task, completed=done, total=new_total if new_total is not None else total)

        yield update


_bad_shown = 0


def report_bad_line(bad: object) -> None:
    """Echo a quarantined input line (``file:line: field: reason``); after 20, only the quarantine file has them."""
    global _bad_shown
    _bad_shown += 1
    if _bad_shown <= 20:
        err_console.print(styled("quarantined", "yellow", f" {bad}"))
    elif _bad_shown == 21:
        err_console.print("further bad lines only go to the quarantine file", style="yellow")
