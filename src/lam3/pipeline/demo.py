"""``lam3 demo``: score the shipped example responses with the offline judges, fuse them, and measure
every judge's fused vote and every fused verdict against the human labels that ship with them.

Runs with the core install only (no torch, no network): it is the first thing a new user runs,
and the smallest end-to-end check that scoring, fusion, the store and the manifest work. It goes
through the real stages (:func:`lam3.pipeline.score.score_file`, :func:`lam3.pipeline.fuse.fuse_files`
with ``configs/ensemble.yaml``), so a rerun resumes and the output directory gets a manifest.

The judges are the transparent offline ones (phrase refusal, keyword risk, profanity, and the
``not_refused`` success rule): the learned offline judges did not beat them on held-out data
(docs/offline-judges.md). Figures come from the same code as ``lam3 validate``
(:func:`lam3.pipeline.validate.measure`): exact Clopper–Pearson intervals for the proportions,
bootstrap intervals for κ and F1. The mini bench is LAM3-written, so its figures are a smoke
test; the held-out figures are the shipped judge cards (``data/cards/``, made by ``lam3 validate``
on PyRIT's human-labelled sets), checked against the demo's judges and configs like any card.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lam3.bench.mini_bench import responses_path
from lam3.errors import UserError
from lam3.fusion.asr import AsrRow, asr_table
from lam3.fusion.cards import CardMatch, annotate
from lam3.fusion.labels import LABEL_FIELDS
from lam3.fusion.validity import Figures, Resampling
from lam3.manifest import MANIFEST, update_manifest
from lam3.pipeline.cards import identity_of, validity_of
from lam3.pipeline.fuse import FuseSummary, fuse_files
from lam3.pipeline.fused_records import read_fused
from lam3.pipeline.score import ScoreSummary, score_file
from lam3.pipeline.validate import measure
from lam3.records import Metric
from lam3.store import iter_jsonl, write_json

HONESTY = ("mini_bench is LAM3-written: its responses were written by LAM3's developers, in the style these "
           "phrase and keyword judges were built against, so these figures are a smoke test, not validity.")


def _checkout() -> Path:
    return Path(__file__).resolve().parents[3]


def default_config(name: str = "offline.yaml") -> Path:
    """``configs/NAME`` of the checkout LAM3 is installed from."""
    path = _checkout() / "configs" / name
    if not path.is_file():
        raise UserError(f"configs/{name} ships with the source checkout; install LAM3 with "
                        "`pip install -e .` from the repository", path=path)
    return path


def default_cards() -> list[Path]:
    """The judge cards that ship for the demo's judges (``data/cards/*.json``, made by ``lam3 validate``)."""
    return sorted((_checkout() / "data" / "cards").glob("*.json"))


@dataclass
class JudgeFigures:
    """One judge's fused votes (or the fused verdict, judge ``fused``) against one human label."""

    judge: str
    metric: Metric
    label: str
    figures: Figures

    def as_dict(self) -> dict[str, Any]:
        return {"judge": self.judge, "metric": self.metric, "label": self.label,
                **self.figures.model_dump(mode="json")}


@dataclass
class DemoResult:
    out_dir: Path
    scored: Path
    fused: Path
    summary_path: Path
    manifest: Path
    n: int
    figures: list[JudgeFigures]
    cards: list[CardMatch]
    asr: list[AsrRow]
    score: ScoreSummary
    fuse: FuseSummary

    def as_dict(self) -> dict[str, Any]:
        return {"n": self.n, "scored": str(self.scored), "fused": str(self.fused), "score": self.score.as_dict(),
                "mini_bench_note": HONESTY,
                "figures": {f"{f.metric}/{f.judge}": f.as_dict() for f in self.figures},
                "held_out_cards": [m.summary() | {"figures": m.figures.model_dump(mode="json")} for m in self.cards],
                "asr": [r.flat() for r in self.asr]}


def figures_of(responses: Path, fused: Path, resampling: Resampling = Resampling()) -> tuple[int, list[JudgeFigures]]:
    """Every judge's fused vote and every fused verdict against the human label of its metric."""
    identity = identity_of(fused)
    if identity is None:
        raise UserError("the fuse stage recorded no judge identities; rerun the demo into a new --out", path=fused)
    n, judges, fused_entries, _ = measure(responses, fused, identity, resampling=resampling)
    rows = [JudgeFigures(key, metric, LABEL_FIELDS[metric], entry.metrics[metric].figures)
            for key, entry in sorted(judges.items()) for metric in entry.metrics]
    rows += [JudgeFigures("fused", metric, LABEL_FIELDS[metric], entry.figures) for metric, entry in fused_entries.items()]
    order = {m: i for i, m in enumerate(LABEL_FIELDS)}
    return n, sorted(rows, key=lambda r: (order[r.metric], r.judge == "fused", r.judge))


def run_demo(out_dir: str | Path = Path("outputs/demo"), *, config: str | Path | None = None,
             input_path: str | Path | None = None, cards: list[Path] | None = None,
             progress: Callable[[int, int], None] | None = None) -> DemoResult:
    """Score and fuse the mini benchmark's example responses offline; write scored/fused JSONL, summary.json."""
    out_dir = Path(out_dir)
    config_path = Path(config) if config is not None else default_config()
    ensemble_path = default_config("ensemble.yaml")
    source = Path(input_path) if input_path is not None else responses_path()
    card_paths = default_cards() if cards is None else cards
    for lineno, rec in iter_jsonl(source):  # before any work: the demo compares with human labels
        if not isinstance(rec.get("labels"), dict):
            raise UserError("no human 'labels' object to compare with", path=source, line=lineno, field="labels")
    scored = out_dir / "responses_scored.jsonl"
    score = score_file(source, config_path, scored, progress=progress)
    fused = out_dir / "fused.jsonl"
    fuse = fuse_files([scored], ensemble_path, fused, judge_cards=card_paths)
    n, rows = figures_of(source, fused)
    validity = validity_of(fused)
    asr = annotate([r for r in asr_table((rec for _, rec in read_fused(fused)), group_by=())
                    if r.headline and r.per == "response"], validity)
    summary_path = out_dir / "summary.json"
    result = DemoResult(out_dir, scored, fused, summary_path, out_dir / MANIFEST, n, rows, validity.matches, asr,
                        score, fuse)
    write_json(summary_path, {"input": str(source), "config": str(config_path), "ensemble": str(ensemble_path),
                              "cards": [str(p) for p in card_paths], **result.as_dict()})
    update_manifest(out_dir, stage="demo",
                    config={"config": str(config_path), "ensemble": str(ensemble_path), "input": str(source),
                            "cards": [str(p) for p in card_paths]},
                    artifacts=[summary_path, scored, fused], inputs=[source, config_path, ensemble_path, *card_paths],
                    summary={"n": n, **{f"{r.metric}/{r.judge}": {"accuracy": r.figures.accuracy.estimate,
                                                                   "kappa": r.figures.kappa.estimate} for r in rows}})
    return result

