"""``lam3 demo``: score the shipped example responses with the offline judges and check them
against the human labels that ship with them.

Runs with the core install only (no torch, no network): it is the first thing a
new user runs, and the smallest end-to-end check that scoring, the store and the
manifest work. Scoring goes through :func:`lam3.pipeline.score.score_file`, so a
rerun resumes and the output directory gets a manifest.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from lam3.bench.mini_bench import responses_path
from lam3.errors import UserError
from lam3.manifest import MANIFEST, update_manifest
from lam3.pipeline.fuse import fuse_files
from lam3.pipeline.score import ScoreSummary, score_file
from lam3.store import iter_jsonl, write_json

# Which human label each metric is checked against (labels shipped in responses.jsonl).
HUMAN_LABEL: dict[str, str] = {"social_toxicity": "toxic", "policy_risk": "risky", "refusal": "refusal"}
METRIC_TITLE: dict[str, str] = {"social_toxicity": "toxicity", "policy_risk": "policy risk",
                                "refusal": "refusal"}


FUSED = "fused"
"""The row of the fused verdict itself, beside each judge's vote."""


def default_config(name: str = "offline.yaml") -> Path:
    """``configs/NAME`` of the checkout LAM3 is installed from."""
    path = Path(__file__).resolve().parents[3] / "configs" / name
    if not path.is_file():
        raise UserError(f"configs/{name} ships with the source checkout; install LAM3 with "
                        "`pip install -e .` from the repository", path=path)
    return path


@dataclass
class Agreement:
    """One judge against one human label: how often it flags, and how well it agrees."""

    judge: str
    metric: str
    label: str
    n: int
    errors: int
    rate: float | None
    human_rate: float | None
    accuracy: float | None
    precision: float | None
    recall: float | None
    f1: float | None
    kappa: float | None
    confusion: dict[str, int] = field(default_factory=dict)


@dataclass
class DemoResult:
    out_dir: Path
    scored: Path
    summary_path: Path
    manifest: Path
    n: int
    agreements: list[Agreement]
    score: ScoreSummary

    def as_dict(self) -> dict[str, Any]:
        return {"n": self.n, "scored": str(self.scored), "score": self.score.as_dict(),
                "agreement": {f"{a.metric}/{a.judge}": asdict(a) for a in self.agreements}}


def _nan_to_none(x: float) -> float | None:
    return None if x is None or math.isnan(x) else round(float(x), 4)


def agreement(judge: str, metric: str, label: str, pairs: list[tuple[bool, bool]], errors: int) -> Agreement:
    """Agreement of ``(judge flagged, human label)`` pairs: accuracy, P/R/F1 and Cohen's κ (scikit-learn)."""
    from sklearn.metrics import accuracy_score, cohen_kappa_score, precision_recall_fscore_support

    if not pairs:
        return Agreement(judge, metric, label, 0, errors, None, None, None, None, None, None, None)
    pred = [p for p, _ in pairs]
    gold = [g for _, g in pairs]
    p, r, f, _ = precision_recall_fscore_support(gold, pred, average="binary", zero_division=0)
    # κ is undefined (nan) when both raters give one constant label; reported as None then.
    kappa = cohen_kappa_score(gold, pred) if len(set(gold) | set(pred)) > 1 else float("nan")
    confusion = {"tp": sum(p and g for p, g in pairs), "fp": sum(p and not g for p, g in pairs),
                 "fn": sum(g and not p for p, g in pairs), "tn": sum(not p and not g for p, g in pairs)}
    return Agreement(judge, metric, label, len(pairs), errors, round(sum(pred) / len(pred), 4),
                     round(sum(gold) / len(gold), 4), _nan_to_none(accuracy_score(gold, pred)),
                     _nan_to_none(p), _nan_to_none(r), _nan_to_none(f), _nan_to_none(kappa), confusion)


def agreements_of(fused: Path) -> tuple[int, list[Agreement]]:
    """Compare every judge's fused vote (and the fused verdict) with the human label of its metric."""
    pairs: dict[tuple[str, str], list[tuple[bool, bool]]] = {}
    errors: dict[tuple[str, str], int] = {}
    n = 0
    for lineno, rec in iter_jsonl(fused):
        labels = rec.get("labels")
        if not isinstance(labels, dict):
            raise UserError("no human 'labels' object to compare with", path=fused, line=lineno, field="labels")
        n += 1
        for metric, label in HUMAN_LABEL.items():
            result = rec.get(metric) or {}
            if not result.get("votes"):
                continue
            human = labels.get(label)
            if not isinstance(human, bool):
                raise UserError("must be true or false", path=fused, line=lineno, field=f"labels.{label}")
            for key, vote in [*result["votes"].items(), (FUSED, result.get("flagged"))]:
                slot = (metric, key)
                pairs.setdefault(slot, [])
                if vote is None:
                    errors[slot] = errors.get(slot, 0) + 1
                else:
                    pairs[slot].append((bool(vote), human))
    order = list(HUMAN_LABEL)
    slots = sorted(pairs, key=lambda s: (order.index(s[0]), s[1] == FUSED, s[1]))
    return n, [agreement(k, m, HUMAN_LABEL[m], pairs[(m, k)], errors.get((m, k), 0)) for m, k in slots]


def run_demo(out_dir: str | Path = Path("outputs/demo"), *, config: str | Path | None = None,
             input_path: str | Path | None = None,
             progress: Callable[[int, int], None] | None = None) -> DemoResult:
    """Score the mini benchmark's example responses offline; write scored JSONL, summary.json, manifest."""
    out_dir = Path(out_dir)
    config_path = Path(config) if config is not None else default_config()
    source = Path(input_path) if input_path is not None else responses_path()
    for lineno, rec in iter_jsonl(source):  # before any work: the demo compares with human labels
        if not isinstance(rec.get("labels"), dict):
            raise UserError("no human 'labels' object to compare with", path=source, line=lineno, field="labels")
    scored = out_dir / "responses_scored.jsonl"
    summary = score_file(source, config_path, scored, progress=progress)
    fused = out_dir / "fused.jsonl"
    fuse_files([scored], default_config("ensemble.yaml"), fused)
    n, agreements = agreements_of(fused)
    summary_path = out_dir / "summary.json"
    result = DemoResult(out_dir, scored, summary_path, out_dir / MANIFEST, n, agreements, summary)
    write_json(summary_path, {"input": str(source), "config": str(config_path), **result.as_dict()})
    update_manifest(out_dir, stage="demo", config={"config": str(config_path), "input": str(source)},
                    artifacts=[summary_path, scored], inputs=[source, config_path],
                    summary={"n": n, **{f"{a.metric}/{a.judge}": {"rate": a.rate, "kappa": a.kappa}
                                        for a in agreements}})
    return result
