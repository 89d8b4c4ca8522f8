"""Strategies: the judges' ballots for one metric of one response → the fused score.

A strategy is ``(ballots, reducer) -> score in [0, 1]``; the metric's ``threshold`` turns the
score into the fused verdict (score >= threshold → flagged). Each strategy declares what it
combines, because that decides which threshold makes each judge's vote:

- ``combines="votes"``: the fused verdict follows the judges' votes, so each judge votes with its
  own ``judges.KEY.threshold`` (or, for a label-type judge, its own verdict);
- ``combines="probabilities"``: the votes do not enter the score, so a judge's vote (shown, and
  used to detect a split) is its probability against the metric's ``threshold``, the one that
  also decides the fused verdict; per-judge thresholds and label-type judges' verdicts would
  have no effect and are refused.

Register one with ``@strategy("name", combines=...)``; the ensemble YAML names it (``strategy:``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple, TypeVar

from lam3.fusion.reducers import Reducer, weighted_mean
from lam3.fusion.registry import Registry

Combines = Literal["votes", "probabilities"]


class Ballot(NamedTuple):
    """One judge's view of one metric of one response."""

    judge: str
    """the judge's key in the ensemble config"""
    probability: float
    vote: bool
    weight: float


StrategyFn = Callable[[Sequence[Ballot], Reducer], float]
S = TypeVar("S", bound=StrategyFn)


@dataclass(frozen=True)
class Strategy:
    name: str
    combines: Combines
    fn: StrategyFn

    def __call__(self, ballots: Sequence[Ballot], reduce: Reducer) -> float:
        """``ballots``: at least one, sorted by judge key (so the config's order never changes a result)."""
        return self.fn(ballots, reduce)


STRATEGIES: Registry[Strategy] = Registry("strategy", "lam3.strategies")


def strategy(name: str, *, combines: Combines) -> Callable[[S], S]:
    """Function decorator: make ``fn(ballots, reducer) -> float`` available as ``strategy: name`` in YAML."""
    if combines not in ("votes", "probabilities"):
        raise ValueError(f"combines must be 'votes' or 'probabilities', got {combines!r}")

    def deco(fn: S) -> S:
        STRATEGIES.add(name, Strategy(name, combines, fn))
        return fn

    return deco


@strategy("vote", combines="votes")
def vote(ballots: Sequence[Ballot], reduce: Reducer) -> float:
    """Weighted share of the judges that vote 'flagged' (threshold 0.5: half the weight or more)."""
    return weighted_mean([1.0 if b.vote else 0.0 for b in ballots], [b.weight for b in ballots])


@strategy("soft_vote", combines="probabilities")
def soft_vote(ballots: Sequence[Ballot], reduce: Reducer) -> float:
    """Weighted mean of the judges' probabilities."""
    return weighted_mean([b.probability for b in ballots], [b.weight for b in ballots])


@strategy("merge", combines="probabilities")
def merge(ballots: Sequence[Ballot], reduce: Reducer) -> float:
    """The metric's reducer (max, mean, noisy_or, …) over the judges' probabilities."""
    return reduce([b.probability for b in ballots], [b.weight for b in ballots])
