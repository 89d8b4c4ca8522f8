"""Reliability diagrams of each judge × metric against the human labels a fused file carries.

Why: a judge's probability is only a probability if, among the responses it gives 0.8, about
80 % carry the human label. The fused records hold each judge's probability for the metric
(``MetricResult.probabilities``, after calibration when the ensemble calibrates) and, where
``lam3 fuse`` carried ``labels``, the human label (:data:`lam3.fusion.labels.LABEL_FIELDS`).
Streaming: per judge × metric only the bins' counts are kept
(:class:`lam3.fusion.calibration.ReliabilityBins`, which also gives the ECE), so memory does
not grow with the run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lam3.fusion.calibration import ReliabilityBins
from lam3.fusion.labels import LABEL_FIELDS, human_label
from lam3.records import METRICS, FusedResult, Metric

BINS = 10
_FLUSH = 4096


@dataclass
class Reliability:
    """``add`` every fused record once, then ``curves()``."""

    bins: int = BINS
    counts: dict[tuple[Metric, str], ReliabilityBins] = field(default_factory=dict)
    pending: dict[tuple[Metric, str], tuple[list[float], list[int]]] = field(default_factory=dict)
    labelled: dict[Metric, int] = field(default_factory=dict)
    """responses with a human label for each metric"""
    records_with_labels: int = 0

    def add(self, rec: FusedResult) -> None:
        labels = (rec.model_extra or {}).get("labels")
        if not isinstance(labels, dict):
            return
        self.records_with_labels += 1
        for metric in METRICS:
            truth = human_label(labels, metric)
            if truth is None:
                continue
            self.labelled[metric] = self.labelled.get(metric, 0) + 1
            for judge, p in getattr(rec, metric).probabilities.items():
                if p is None:
                    continue
                ps, ys = self.pending.setdefault((metric, judge), ([], []))
                ps.append(p)
                ys.append(int(truth))
                if len(ps) >= _FLUSH:
                    self._flush((metric, judge))

    def _flush(self, key: tuple[Metric, str]) -> None:
        ps, ys = self.pending.pop(key, ([], []))
        if ps:
            self.counts.setdefault(key, ReliabilityBins(self.bins)).add(ps, ys)

    def curves(self) -> list[dict[str, Any]]:
        """One curve per metric × judge with labelled probabilities: bins (range, n, mean p, observed), ECE, n."""
        for key in list(self.pending):
            self._flush(key)
        out = []
        for (metric, judge), rb in sorted(self.counts.items(), key=lambda kv: (METRICS.index(kv[0][0]), kv[0][1])):
            bins = [{"low": lo, "high": hi, "n": int(c),
                     "mean_p": float(sp / c) if c else None, "observed": float(sy / c) if c else None}
                    for (lo, hi), c, sp, sy in zip(rb.edges(), rb.count, rb.sum_p, rb.sum_y)]
            out.append({"metric": metric, "judge": judge, "label": LABEL_FIELDS[metric], "n": rb.n,
                        "positives": int(round(float(rb.sum_y.sum()))), "ece": rb.ece(), "bins": bins})
        return out

    def missing_reason(self) -> str | None:
        """Why there is no curve, in one line (None: there are curves)."""
        if self.counts or self.pending:
            return None
        if not self.records_with_labels:
            return ("no human labels in fused.jsonl: carry them with `carry_fields: [..., labels]` in the ensemble "
                    "config (the mini bench and `lam3 validate` sets have them)")
        if not self.labelled:
            return "the responses carry `labels`, but none labels a fused metric (" + ", ".join(
                f"{m}: {f}" for m, f in LABEL_FIELDS.items()) + ")"
        return "the labelled responses have no judge probability for their metrics"
