"""One progress bar style for every long loop (Rich)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Callable

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from lam3.cli.app import err_console


@contextmanager
def progress_bar(description: str, total: int | None = None) -> Iterator[Callable[[int, int | None], None]]:
    """Yield ``update(done, total)``; the bar draws on stderr and disappears when not a terminal."""
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), TimeRemainingColumn(), console=err_console,
                  disable=not err_console.is_terminal, transient=False) as bar:
        task = bar.add_task(description, total=total)

        def update(done: int, new_total: int | None = None) -> None:
            bar.update(task, completed=done, total=new_total if new_total is not None else total)

        yield update
