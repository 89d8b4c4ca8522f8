"""Reducers: several judges' probabilities for one thing (a category, or a metric under ``merge``) → one.

A reducer is ``(values, weights) -> value``, all in [0, 1]; the weights are the judges' weights,
for the judges present only (a judge that errored is absent, so the others are renormalised).
Register one with ``@reducer("name")``; the ensemble YAML names it (``reducer:``,
``category_reducers:``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TypeVar

from lam3.fusion.registry import Registry

Reducer = Callable[[Sequence[float], Sequence[float]], float]
"""(values, weights) → value; ``values`` is never empty."""
R = TypeVar("R", bound=Reducer)

REDUCERS: Registry[Reducer] = Registry("reducer", "lam3.reducers")


def reducer(name: str) -> Callable[[R], R]:
    """Function decorator: make ``fn(values, weights) -> float`` available as ``reducer: name`` in YAML."""

    def deco(fn: R) -> R:
        REDUCERS.add(name, fn)
        return fn

    return deco


@reducer("max")
def maximum(values: Sequence[float], weights: Sequence[float]) -> float:
    """The most alarmed judge decides (weights have no effect)."""
    return max(values)


@reducer("mean")
def weighted_mean(values: Sequence[float], weights: Sequence[float]) -> float:
    return sum(w * v for w, v in zip(weights, values)) / sum(weights)


@reducer("noisy_or")
def noisy_or(values: Sequence[float], weights: Sequence[float]) -> float:
    """1 − Π (1 − p)^w: the chance that at least one judge is right to flag, judges taken as independent.

    Weights are scaled to average 1 over the judges present, so equal weights give the textbook
    noisy-or and one judge gives its own probability.
    """
    if len(values) == 1:
        return values[0]
    scale = len(values) / sum(weights)
    log_keep = 0.0
    for w, v in zip(weights, values):
        if v >= 1.0:
            return 1.0
        log_keep += w * scale * math.log1p(-v)
    return 1.0 - math.exp(log_keep)
