"""The ``--json`` models of the stage commands (``lam3 score``, ``lam3 judges``): no statistics imported."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, Field

from lam3.cli.summaries import CommandSummary

if TYPE_CHECKING:
    from lam3.pipeline.score import ScoreSummary


# --- lam3 score ----------------------------------------------------------------------------------
class ScoreJson(CommandSummary):
    """``lam3 score --json``: what this run of the stage did."""

    command: Literal["score"] = "score"
    output: str = Field(description="the scored JSONL")
    scored: int = Field(description="records scored by this run")
    skipped_already_done: int = Field(description="records already in the output (a resumed run)")
    quarantined: int = Field(description="bad input lines, in OUTPUT's .quarantine.jsonl")
    retried_errors: int = Field(description="errored records redone (--retry-errors)")
    errors: dict[str, int] = Field(description="judge key → records whose judgement errored")
    seconds: float

    @classmethod
    def of(cls, s: ScoreSummary) -> ScoreJson:
        return cls(output=str(s.output), scored=s.scored, skipped_already_done=s.skipped, quarantined=s.quarantined,
                   retried_errors=s.retried, errors=dict(s.errors), seconds=s.seconds)


# --- lam3 judges ---------------------------------------------------------------------------------
class JudgeListing(BaseModel):
    """One registered judge."""

    name: str
    metric: str
    labels: list[str] | None = Field(description="the labels it scores under its default config; None: see "
                                                 "labels_unknown")
    labels_unknown: str | None = Field(None, description="why the labels cannot be listed here")
    needs: str
    remote: bool = Field(description="sends records to an API")
    offline: bool = Field(description="needs neither weights nor network")
    usable: bool = Field(description="its dependencies are installed here")
    why_not: str | None = Field(None, description="what is missing, with the install command")


class JudgesJson(CommandSummary):
    """``lam3 judges --json``: every registered judge (built-in and entry points)."""

    command: Literal["judges"] = "judges"
    judges: list[JudgeListing]
