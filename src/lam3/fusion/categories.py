"""Multi-label merge: each judge's own labels → the metric's canonical categories, then across judges.

Why: judges speak different vocabularies (Detoxify's ``obscene``, OpenAI's ``harassment``,
Llama Guard's ``S8``); a category can only be compared or combined once every judge's label
is mapped onto the same table (:mod:`lam3.taxonomy`).
"""

from __future__ import annotations

from collections.abc import Mapping

from lam3.fusion.labels import canonical_categories
from lam3.fusion.reducers import Reducer
from lam3.records import Metric


def clip(x: float) -> float:
    """A probability as fused records store it: within [0, 1], six decimals."""
    return min(1.0, max(0.0, round(x, 6)))


def map_labels(scores: Mapping[str, float], table: Mapping[str, str] | None, metric: Metric) -> dict[str, float]:
    """One judge's scores per canonical category (the highest of the labels mapped onto it).

    ``table`` None: the judge has no label map for this metric, so labels that already are
    canonical categories are kept (a single-category metric takes every label).
    """
    cats: dict[str, float] = {}
    if table is None:
        canon = canonical_categories(metric)
        only = next(iter(canon)) if len(canon) == 1 else None
        for label, value in scores.items():
            cat = only if only is not None else (label if label in canon else None)
            if cat is not None and value > cats.get(cat, -1.0):
                cats[cat] = float(value)
        return cats
    for label, value in scores.items():
        cat = table.get(label)
        if cat is not None and value > cats.get(cat, -1.0):
            cats[cat] = float(value)
    return cats


def merge_categories(per_judge: Mapping[str, Mapping[str, float]], weights: Mapping[str, float],
                     default: Reducer, reducers: Mapping[str, Reducer]) -> dict[str, float]:
    """Per category, reduce the judges that score it (a judge without the category does not dilute it)."""
    if len(per_judge) == 1:
        (only,) = per_judge.values()
        return {cat: clip(v) for cat, v in sorted(only.items())}
    cats: dict[str, tuple[list[float], list[float]]] = {}
    for key in sorted(per_judge):
        for cat, value in per_judge[key].items():
            vals, ws = cats.setdefault(cat, ([], []))
            vals.append(value)
            ws.append(weights[key])
    return {cat: clip(vals[0] if len(vals) == 1 else reducers.get(cat, default)(vals, ws))
            for cat, (vals, ws) in sorted(cats.items())}
