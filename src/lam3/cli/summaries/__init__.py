"""The ``--json PATH`` summaries: one pydantic model per command, so a lab can script LAM3 without
scraping tables. docs/cli.md lists them (generated from these models: ``python -m lam3.cli.summaries docs/cli.md``).

Every file starts with ``command``, ``summary_version`` (bumped when a key changes meaning or goes
away; new keys may appear without a bump) and ``lam3_version``. A file holds the numbers its table
shows, unrounded.

The models live in two modules, so that a stage's command does not import the statistics a fusion
summary needs: :mod:`lam3.cli.summaries.stages` (score, judges) and :mod:`lam3.cli.summaries.fusion`
(fuse, validate, agreement, asr); :mod:`lam3.cli.summaries.reference` lists them all.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from lam3 import __version__


class CommandSummary(BaseModel):
    """What every ``--json`` file starts with."""

    model_config = ConfigDict(extra="forbid")

    command: str = Field(description="the lam3 command that wrote the file")
    summary_version: int = Field(1, description="bumped when a key changes meaning or is removed")
    lam3_version: str = Field(default_factory=lambda: __version__)
