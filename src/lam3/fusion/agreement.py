"""How far the judges agree with each other and with people: Cohen's κ, Fleiss' κ, confusion, P/R/F1.

Why: a fused metric is only as credible as the judges behind it; κ shows whether two
judges measure the same thing (toxicity judges vs guard models often do not), and
precision/recall against the human labels shows which judge to trust for which metric.
Everything is computed in one streaming pass over fused records (memory grows with the
number of judges and categories, not responses). Fleiss' κ is implemented here
(statsmodels is not a dependency) and checked against a published example in the tests.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

from lam3.fusion.ensemble import LABEL_FIELDS, METRICS


def kappa_from_counts(n11: int, n10: int, n01: int, n00: int) -> float | None:
    """Cohen's κ of two binary raters from their 2×2 table (None when chance agreement is 1: undefined)."""
    n = n11 + n10 + n01 + n00
    if n == 0:
        return None
    po = (n11 + n00) / n
    a1, b1 = (n11 + n10) / n, (n11 + n01) / n
    pe = a1 * b1 + (1 - a1) * (1 - b1)
    if pe >= 1.0:
        return None
    return (po - pe) / (1 - pe)


def cohen_kappa(a: Sequence[bool | int], b: Sequence[bool | int]) -> float | None:
    """Cohen's κ of two binary label sequences of equal length."""
    if len(a) != len(b):
        raise ValueError("sequences differ in length")
    n11 = sum(1 for x, y in zip(a, b) if x and y)
    n10 = sum(1 for x, y in zip(a, b) if x and not y)
    n01 = sum(1 for x, y in zip(a, b) if not x and y)
    return kappa_from_counts(n11, n10, n01, len(a) - n11 - n10 - n01)


def fleiss_kappa(table: Sequence[Sequence[int]]) -> float | None:
    """Fleiss' κ from a subjects × categories table of rater counts (same number of raters per subject)."""
    rows = [list(r) for r in table]
    if not rows:
        return None
    n = sum(rows[0])
    if n < 2 or any(sum(r) != n for r in rows):
        raise ValueError("every subject needs the same number (>= 2) of ratings")
    big_n = len(rows)
    p_bar = sum((sum(c * c for c in r) - n) / (n * (n - 1)) for r in rows) / big_n
    k = len(rows[0])
    p_j = [sum(r[j] for r in rows) / (big_n * n) for j in range(k)]
    pe = sum(p * p for p in p_j)
    if pe >= 1.0:
        return None
    return (p_bar - pe) / (1 - pe)


@dataclass
class Confusion:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    def add(self, pred: bool, truth: bool) -> None:
        if pred and truth:
            self.tp += 1
        elif pred:
            self.fp += 1
        elif truth:
            self.fn += 1
        else:
            self.tn += 1

    def summary(self) -> dict[str, Any]:
        p = self.tp / (self.tp + self.fp) if self.tp + self.fp else None
        r = self.tp / (self.tp + self.fn) if self.tp + self.fn else None
        f1 = 2 * self.tp / (2 * self.tp + self.fp + self.fn) if self.tp + self.fp + self.fn else None
        return {"n": self.tp + self.fp + self.fn + self.tn, "tp": self.tp, "fp": self.fp, "fn": self.fn,
                "tn": self.tn, "precision": p, "recall": r, "f1": f1}


@dataclass
class _Fleiss:
    subjects: int = 0
    p_sum: float = 0.0
    yes: int = 0


@dataclass
class _Scope:
    """Streaming accumulators for one metric (overall or within one category)."""

    n: int = 0
    disagreements: int = 0
    judges: set[str] = field(default_factory=set)
    pairs: dict[tuple[str, str], list[int]] = field(default_factory=dict)
    fleiss: dict[frozenset[str], _Fleiss] = field(default_factory=dict)
    human: dict[str, Confusion] = field(default_factory=dict)

    def add(self, result: Mapping[str, Any], truth: bool | None) -> None:
        votes = {k: bool(v) for k, v in (result.get("votes") or {}).items() if v is not None}
        if not votes and result.get("flagged") is None:
            return
        self.n += 1
        self.disagreements += bool(result.get("disagreement"))
        self.judges.update(result.get("votes") or {})
        for a, b in combinations(sorted(votes), 2):
            cell = self.pairs.setdefault((a, b), [0, 0, 0, 0])
            cell[(0 if votes[a] else 2) + (0 if votes[b] else 1)] += 1
        if len(votes) >= 2:
            acc = self.fleiss.setdefault(frozenset(votes), _Fleiss())
            yes = sum(votes.values())
            m = len(votes)
            acc.subjects += 1
            acc.p_sum += (yes * yes + (m - yes) ** 2 - m) / (m * (m - 1))
            acc.yes += yes
        if truth is not None:
            if result.get("flagged") is not None:
                self.human.setdefault("fused", Confusion()).add(bool(result["flagged"]), truth)
            for k, v in votes.items():
                self.human.setdefault(k, Confusion()).add(v, truth)

    def summary(self) -> dict[str, Any]:
        judges = sorted(self.judges)
        pairwise = {}
        for (a, b), (n11, n10, n01, n00) in sorted(self.pairs.items()):
            n = n11 + n10 + n01 + n00
            pairwise[f"{a}~{b}"] = {"a": a, "b": b, "n": n, "agreement": (n11 + n00) / n,
                                    "kappa": kappa_from_counts(n11, n10, n01, n00),
                                    "confusion": {"both": n11, "only_a": n10, "only_b": n01, "neither": n00}}
        fleiss = None
        complete = self.fleiss.get(frozenset(judges))
        if complete is not None and len(judges) >= 2:
            m, subj = len(judges), complete.subjects
            p_yes = complete.yes / (subj * m)
            pe = p_yes ** 2 + (1 - p_yes) ** 2
            kappa = None if pe >= 1.0 else (complete.p_sum / subj - pe) / (1 - pe)
            fleiss = {"kappa": kappa, "n": subj, "raters": judges}
        return {"n": self.n, "judges": judges,
                "disagreement_rate": self.disagreements / self.n if self.n else None,
                "cohen_kappa": pairwise, "fleiss_kappa": fleiss,
                "vs_human": {k: c.summary() for k, c in sorted(self.human.items(), key=lambda kv: kv[0] != "fused")}}


def _truth(labels: Any, metric: str) -> bool | None:
    if not isinstance(labels, Mapping):
        return None
    v = labels.get(LABEL_FIELDS[metric])
    return None if v is None else bool(v)


def agreement_summary(records: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Judge-judge and judge-human agreement per metric, overall and per response category.

    ``records`` are fused.jsonl lines. Pairwise Cohen's κ uses the responses both judges
    voted on; Fleiss' κ the responses every judge of that metric voted on; P/R/F1 and the
    confusion counts (``vs_human``) use responses with a human label (``labels.toxic/risky/refusal``)
    — for the fused verdict (``fused``) and each judge. κ is None where it is undefined.
    """
    overall: dict[str, _Scope] = {m: _Scope() for m in METRICS}
    per_cat: dict[str, dict[str, _Scope]] = {m: {} for m in METRICS}
    n_records = n_labelled = 0
    for rec in records:
        n_records += 1
        labels = rec.get("labels")
        n_labelled += isinstance(labels, Mapping)
        cat = str(rec.get("category") or "(none)")
        for metric in METRICS:
            result = rec.get(metric)
            if not isinstance(result, Mapping):
                continue
            truth = _truth(labels, metric)
            overall[metric].add(result, truth)
            per_cat[metric].setdefault(cat, _Scope()).add(result, truth)
    metrics = {}
    for metric in METRICS:
        if overall[metric].n == 0:
            continue
        metrics[metric] = {**overall[metric].summary(),
                           "per_category": {c: s.summary() for c, s in sorted(per_cat[metric].items()) if s.n}}
    return {"n_records": n_records, "n_labelled": n_labelled, "has_labels": n_labelled > 0, "metrics": metrics}
