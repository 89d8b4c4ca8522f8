"""``lam3 demo``: score the shipped example responses with the offline judges, fuse them, and check
every judge's fused vote and every fused verdict against the human labels that ship with them.

Runs with the core install only (no torch, no network): it is the first thing a new user runs,
and the smallest end-to-end check that scoring, fusion, the store and the manifest work. It goes
through the real stages (:func:`lam3.pipeline.score.score_file`, :func:`lam3.pipeline.fuse.fuse_files`
with ``configs/ensemble.yaml``), so a rerun resumes and the output directory gets a manifest;
agreement comes from :mod:`lam3.fusion.agreement`, read off the fused votes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lam3.bench.mini_bench import responses_path
from lam3.errors import UserError
from lam3.fusion.agreement import FUSED, VsHuman, agreement_summary
from lam3.fusion.labels import LABEL_FIELDS
from lam3.manifest import MANIFEST, update_manifest
from lam3.pipeline.fuse import FuseSummary, fuse_files
from lam3.pipeline.fused_records import read_fused
from lam3.pipeline.score import ScoreSummary, score_file
from lam3.records import Metric
from lam3.store import iter_jsonl, write_json


def default_config(name: str = "offline.yaml") -> Path:
    """``configs/NAME`` of the checkout LAM3 is installed from."""
    path = Path(__file__).resolve().parents[3] / "configs" / name
    if not path.is_file():
        raise UserError(f"configs/{name} ships with the source checkout; install LAM3 with "
                        "`pip install -e .` from the repository", path=path)
    return path


@dataclass
class Agreement:
    """One judge's fused votes (or the fused verdict, judge ``fused``) against one human label."""

    judge: str
    metric: Metric
    label: str
    figures: VsHuman

    def as_dict(self) -> dict[str, Any]:
        return {"judge": self.judge, "metric": self.metric, "label": self.label,
                **self.figures.model_dump(exclude={"tp", "fp", "fn", "tn"}),
                "confusion": self.figures.model_dump(include={"tp", "fp", "fn", "tn"})}


@dataclass
class DemoResult:
    out_dir: Path
    scored: Path
    fused: Path
    summary_path: Path
    manifest: Path
    n: int
    agreements: list[Agreement]
    score: ScoreSummary
    fuse: FuseSummary

    def as_dict(self) -> dict[str, Any]:
        return {"n": self.n, "scored": str(self.scored), "fused": str(self.fused), "score": self.score.as_dict(),
                "agreement": {f"{a.metric}/{a.judge}": a.as_dict() for a in self.agreements}}


def agreements_of(fused: Path) -> tuple[int, list[Agreement]]:
    """Every judge's fused vote and every fused verdict against the human label of its metric."""
    summary = agreement_summary(rec for _, rec in read_fused(fused))
    rows = [Agreement(who, metric, LABEL_FIELDS[metric], figures)
            for metric, m in summary.metrics.items()
            for who, figures in sorted(m.vs_human.items(), key=lambda kv: (kv[0] == FUSED, kv[0]))]
    return summary.n_records, rows


def run_demo(out_dir: str | Path = Path("outputs/demo"), *, config: str | Path | None = None,
             input_path: str | Path | None = None,
             progress: Callable[[int, int], None] | None = None) -> DemoResult:
    """Score and fuse the mini benchmark's example responses offline; write scored/fused JSONL, summary.json."""
    out_dir = Path(out_dir)
    config_path = Path(config) if config is not None else default_config()
    ensemble_path = default_config("ensemble.yaml")
    source = Path(input_path) if input_path is not None else responses_path()
    for lineno, rec in iter_jsonl(source):  # before any work: the demo compares with human labels
        if not isinstance(rec.get("labels"), dict):
            raise UserError("no human 'labels' object to compare with", path=source, line=lineno, field="labels")
    scored = out_dir / "responses_scored.jsonl"
    score = score_file(source, config_path, scored, progress=progress)
    fused = out_dir / "fused.jsonl"
    fuse = fuse_files([scored], ensemble_path, fused)
    n, agreements = agreements_of(fused)
    summary_path = out_dir / "summary.json"
    result = DemoResult(out_dir, scored, fused, summary_path, out_dir / MANIFEST, n, agreements, score, fuse)
    write_json(summary_path, {"input": str(source), "config": str(config_path),
                               "ensemble": str(ensemble_path), **result.as_dict()})
    update_manifest(out_dir, stage="demo",
                    config={"config": str(config_path), "ensemble": str(ensemble_path), "input": str(source)},
                    artifacts=[summary_path, scored, fused], inputs=[source, config_path, ensemble_path],
                    summary={"n": n, **{f"{a.metric}/{a.judge}": {"rate": a.figures.rate, "kappa": a.figures.kappa}
                                        for a in agreements}})
    return result
