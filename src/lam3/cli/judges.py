"""``lam3 judges``: every registered judge, its labels, what it needs, and whether it works here."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from lam3.cli.app import app
from lam3.cli.output import show_table, write_summary

if TYPE_CHECKING:
    from lam3.cli.summaries.stages import JudgeListing
    from lam3.judges.base import Judge


def listing(name: str, cls: type[Judge]) -> JudgeListing:
    """One judge, found without loading any model: a judge whose labels cannot be listed says what is missing."""
    from lam3.cli.summaries.stages import JudgeListing

    usable, why = cls.availability()
    labels, unknown = None, None
    try:
        labels = list(cls().labels)
    except Exception as exc:  # noqa: BLE001 - a third-party judge may need what is not installed
        unknown = why if not usable else f"{type(exc).__name__}: {exc}"
    needs = "API key + network" if cls.remote else ("nothing (offline)" if cls.offline else "model weights")
    return JudgeListing(name=name, metric=cls.metric, labels=labels, labels_unknown=unknown, needs=needs,
                        remote=cls.remote, offline=cls.offline, usable=usable, why_not=None if usable else why)


@app.command()
def judges(
    json_out: Path = typer.Option(None, "--json", help="Also write the listing as JSON (docs/cli.md)."),
) -> None:
    """List the registered judges: metric, labels, what they need, and whether they work here."""
    from lam3.cli.summaries.stages import JudgesJson
    from lam3.judges.registry import all_judges

    found = [listing(name, cls) for name, cls in all_judges().items()]
    show_table("LAM3 judges", ("name", "metric", "labels (default config)", "needs", "usable here"),
               ((j.name, j.metric, ", ".join(j.labels) if j.labels is not None else f"unknown here: {j.labels_unknown}",
                 j.needs, "yes" if j.usable else f"no: {j.why_not}") for j in found))
    if json_out:
        write_summary(json_out, JudgesJson(judges=found))
