"""Human labels and canonical categories: the ground truth each metric is compared with.

A record's ``labels`` object (mini bench responses, judge-evaluation sets, ``lam3 review``)
carries one field per metric; :data:`LABEL_FIELDS` names it. ``None`` or an absent field means
"not labelled for this metric" (e.g. ``success`` on a benign prompt, where no attack exists).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from lam3 import taxonomy
from lam3.records import METRICS, Metric

LABEL_FIELDS: dict[Metric, str] = {"social_toxicity": "toxic", "policy_risk": "risky", "refusal": "refusal",
                                   "jailbreak_success": "success"}
"""metric → the field of ``labels`` that is its human ground truth."""
if set(LABEL_FIELDS) != set(METRICS):  # pragma: no cover - a new metric needs its label field here
    raise RuntimeError(f"LABEL_FIELDS must name a label field for every metric in {METRICS}")

_SINGLE_CATEGORY: frozenset[Metric] = frozenset({"refusal", "jailbreak_success"})
"""metrics reported in one category named like the metric itself"""


def human_label(labels: Any, metric: Metric) -> bool | None:
    """The human label of ``metric`` in a ``labels`` object, or None when it has none."""
    if not isinstance(labels, Mapping):
        return None
    value = labels.get(LABEL_FIELDS[metric])
    return None if value is None else bool(value)


@functools.cache
def canonical_categories(metric: Metric) -> frozenset[str]:
    """The categories a metric is reported in (refusal and jailbreak success have one each)."""
    if metric == "policy_risk":
        return frozenset(taxonomy.POLICY_CATEGORIES)
    if metric == "social_toxicity":
        return frozenset(taxonomy.SOCIAL_CATEGORIES)
    if metric in _SINGLE_CATEGORY:
        return frozenset({metric})
    raise ValueError(f"unknown metric {metric!r}")
