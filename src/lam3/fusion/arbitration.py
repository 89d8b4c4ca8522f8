"""Arbitration: when judges split on a response, who settles it (an arbiter judge or a person).

Why: a split is information, not noise; a guard model and a toxicity model that disagree on
a response are exactly the cases worth a second opinion, so the split is recorded on every
fused metric (``disagreement``) and, when configured, settled by someone other than the strategy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from lam3.fusion.config import Arbitration
from lam3.fusion.strategies import Ballot

HUMAN_PENDING = "human_pending"
"""resolution of a metric waiting in the human review queue (its verdict so far is provisional)"""


def disagree(ballots: Sequence[Ballot], arbitration: Arbitration) -> bool:
    """Judges split: their votes differ, and/or their probabilities spread beyond the margin."""
    if len(ballots) < 2 or arbitration.when == "never":
        return False
    split = len({b.vote for b in ballots}) > 1
    if arbitration.when == "vote_split":
        return split
    ps = [b.probability for b in ballots]
    spread = (max(ps) - min(ps)) > (arbitration.margin or 0.0)
    return spread if arbitration.when == "spread" else (split or spread)


@dataclass(frozen=True)
class Settlement:
    """How a split was settled: ``decided_by`` (the arbiter's ballot) replaces the strategy's verdict."""

    resolution: str
    decided_by: Ballot | None = None
    arbiter_missing: bool = False


def settle(arbitration: Arbitration, arbiter: Ballot | None, strategy: str) -> Settlement | None:
    """What happens to a split response; None when the strategy's verdict stands (method: none)."""
    if arbitration.method == "human":
        return Settlement(HUMAN_PENDING)
    if arbitration.method != "arbiter":
        return None
    if arbiter is not None:
        return Settlement(f"arbiter:{arbitration.arbiter}", decided_by=arbiter)
    if arbitration.fallback == "human":
        return Settlement(HUMAN_PENDING, arbiter_missing=True)
    return Settlement(f"{strategy} (arbiter missing)", arbiter_missing=True)
