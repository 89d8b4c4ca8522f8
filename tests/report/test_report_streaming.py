"""The report's streaming collectors keep bounded state and give what a one-shot computation gives."""

from __future__ import annotations

import random

from lam3.fusion.calibration import ReliabilityBins, expected_calibration_error
from lam3.records import FusedResult
from lam3.report.cell_responses import CellResponses
from lam3.report.reliability import Reliability


def _record(i: int, p: float, label: bool) -> FusedResult:
    return FusedResult.model_validate({
        "id": f"r{i}", "labels": {"refusal": label}, "response": "placeholder " * (i % 200),
        "refusal": {"score": p, "flagged": p >= 0.5, "votes": {"a": p >= 0.5, "b": p >= 0.3},
                    "probabilities": {"a": p, "b": min(1.0, p + 0.1)}, "disagreement": (p >= 0.5) != (p >= 0.3)}})


def test_reliability_streamed_past_its_flush_equals_the_one_shot_ece() -> None:
    rng = random.Random(0)
    points = [(rng.random(), rng.random() < 0.4) for _ in range(10_000)]  # more than one flush of 4096
    rel = Reliability()
    for i, (p, y) in enumerate(points):
        rel.add(_record(i, p, y))
    curves = {c["judge"]: c for c in rel.curves()}
    ps, ys = [p for p, _ in points], [int(y) for _, y in points]
    assert curves["a"]["n"] == 10_000 and curves["a"]["positives"] == sum(ys)
    assert abs(curves["a"]["ece"] - expected_calibration_error(ps, ys)) < 1e-12
    assert sum(b["n"] for b in curves["a"]["bins"]) == 10_000 and len(curves["a"]["bins"]) == 10


def test_reliability_bins_add_up_in_chunks() -> None:
    rng = random.Random(1)
    ps = [rng.random() for _ in range(999)] + [1.0, 0.0]
    ys = [int(rng.random() < p) for p in ps]
    chunked = ReliabilityBins()
    for start in range(0, len(ps), 100):
        chunked.add(ps[start:start + 100], ys[start:start + 100])
    assert list(chunked.count) == list(ReliabilityBins().add(ps, ys).count)
    assert abs(chunked.ece() - expected_calibration_error(ps, ys)) < 1e-12


def test_cell_responses_keep_at_most_per_cell_and_the_most_disputed() -> None:
    cells = CellResponses(per_cell=2)
    for i in range(500):
        p = (i % 10) / 10
        rec = _record(i, p, False)
        cells.add(("m", "clean", "S1"), rec, i + 1, 0.5 if rec.refusal.disagreement else 0.0)
    [cell] = cells.cells()
    assert cell["of"] == 500 and len(cells.heaps[("m", "clean", "S1")]) == 2
    assert [r["dispute"] for r in cell["responses"]] == [0.5, 0.5]  # p in [0.3, 0.5): the judges split
    assert all(len(r["response"]["text"]) <= 600 for r in cell["responses"])
