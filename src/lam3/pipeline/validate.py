"""``lam3 validate``: how right the judges are, on a human-labelled judge-evaluation set → a judge card.

The real stages, in one output folder (each resumable; rerun the same command to finish):

1. **import** the set (:mod:`lam3.bench.evalsets`) into ``DIR/responses.jsonl``: LAM3 responses with
   ``labels`` (the human majority) and ``annotators`` (each rater), bad rows quarantined;
2. **score** it with every ``--score`` config (``DIR/<config>_scored.jsonl``, :func:`lam3.pipeline.score.score_file`);
3. **fuse** with the ``--ensemble`` config (``DIR/fused.jsonl``, :func:`lam3.pipeline.fuse.fuse_files`), which
   records the identity of every judge and fused metric;
4. **measure** each judge's vote and each fused verdict against the human label of its metric
   (:mod:`lam3.fusion.validity`) and the raters against each other, and write ``DIR/card.json``
   (:class:`lam3.fusion.cards.JudgeCard`).

Measurement hygiene: the set is an evaluation split. Nothing here fits, tunes or calibrates; an
ensemble config that names human ``reviews`` is refused (they would replace the very verdicts being
measured).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lam3 import __version__
from lam3.bench.evalsets import get_evalset
from lam3.bench.evalsets.labelled import EvalSet
from lam3.errors import UserError
from lam3.fusion.cards import CardDataset, FusedEntry, JudgeCard, JudgeEntry, JudgeMetric, RunIdentity
from lam3.fusion.labels import LABEL_FIELDS, human_label
from lam3.fusion.validity import Resampling, figures, rater_agreement
from lam3.manifest import git_info, now, sha256_file, update_manifest
from lam3.pipeline.cards import card_identity, identity_of, write_card
from lam3.pipeline.ensemble_files import load_ensemble
from lam3.pipeline.fuse import FuseSummary, fuse_files
from lam3.pipeline.fused_records import read_fused
from lam3.pipeline.score import ScoreSummary, score_file
from lam3.pipeline.stage import Stage, StageSummary
from lam3.records import Metric
from lam3.store import BadLine, iter_jsonl

RESPONSES = "responses.jsonl"
FUSED = "fused.jsonl"
CARD = "card.json"


def parse_set(spec: str) -> tuple[str, Path]:
    """``FORMAT:PATH`` → (format, path)."""
    fmt, sep, path = spec.partition(":")
    if not sep or not fmt or not path:
        raise UserError(f"expected FORMAT:PATH, got {spec!r} (e.g. jbb_judges:judge-comparison.csv)", field="--set")
    return fmt, Path(path)


@dataclass
class ImportSummary(StageSummary):
    imported: int = 0
    labels: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        return {"imported": self.imported, "labels": dict(self.labels), **super().as_dict()}


@dataclass
class ValidateResult:
    out_dir: Path
    responses: Path
    scored: list[Path]
    fused: Path
    card_path: Path
    card: JudgeCard
    imported: ImportSummary
    score: list[ScoreSummary]
    fuse: FuseSummary


def dataset_sha256(files: Mapping[str, str]) -> str:
    """The sha256 of the one file, or of the sorted ``name:sha256`` lines of several."""
    if len(files) == 1:
        return next(iter(files.values()))
    return hashlib.sha256("".join(f"{k}:{v}\n" for k, v in sorted(files.items())).encode()).hexdigest()


def import_set(evalset: EvalSet, fmt: str, out: Path, *, limit: int | None = None, overwrite: bool = False,
               on_bad: Callable[[BadLine], None] | None = None) -> ImportSummary:
    """Write the set's labelled responses to ``out`` through the stage skeleton (resumable)."""
    settings = {"format": fmt, "files": {p.name: sha256_file(p) for p in evalset.inputs()},
                "options": evalset.options(), "limit": limit}
    summary = ImportSummary(out)
    with Stage("validate-import", out, summary, settings=settings, inputs=evalset.inputs(), on_bad=on_bad,
               overwrite=overwrite, restart_hint="pass --overwrite or choose another --out") as stage:
        def good() -> Any:
            for draft in evalset.drafts():
                if draft.error is not None:
                    stage.quarantine.add(BadLine(str(draft.file), draft.line, draft.error.field, draft.error.reason,
                                                 ""))
                else:
                    yield draft.line, draft

        batch: list[dict[str, Any]] = []
        done = 0
        for _, draft in stage.pending(good(), source=lambda d: str(d.file), key=lambda d: d.record["id"]):
            if limit is not None and done >= limit:
                break
            batch.append(draft.record)
            done += 1
            summary.labels.update(k for k, v in draft.record["labels"].items() if v is not None)
            if len(batch) >= 500:
                summary.imported += stage.write(batch)
                batch = []
        summary.imported += stage.write(batch)
        stage.finish()
    return summary


def _labelled(responses: Path) -> dict[str, tuple[dict[str, Any], dict[str, list[bool]]]]:
    return {rid: (rec.get("labels") or {}, rec.get("annotators") or {})
            for rid, rec in ((str(r["id"]), r) for _, r in iter_jsonl(responses))}


def measure(responses: Path, fused: Path, identity: RunIdentity, *, resampling: Resampling
            ) -> tuple[int, dict[str, JudgeEntry], dict[Metric, FusedEntry], dict[Metric, Any]]:
    """Every judge's votes and every fused verdict against the human labels; the raters' agreement."""
    labelled = _labelled(responses)
    votes: dict[tuple[str, Metric], tuple[list[bool | None], list[bool], list[float | None]]] = {}

    def add(key: str, metric: Metric, pred: bool | None, truth: bool, prob: float | None) -> None:
        cell = votes.setdefault((key, metric), ([], [], []))
        cell[0].append(pred)
        cell[1].append(truth)
        cell[2].append(prob)

    n = 0
    for _, rec in read_fused(fused):
        labels = labelled.get(rec.id, ({}, {}))[0]
        n += any(v is not None for v in labels.values())
        for metric in identity.metrics:
            truth = human_label(labels, metric)
            if truth is None:
                continue
            result = getattr(rec, metric)
            for key, vote in result.votes.items():
                add(key, metric, vote, truth, result.probabilities.get(key))
            add("fused", metric, result.flagged, truth, result.score)
    judges: dict[str, JudgeEntry] = {}
    fused_entries: dict[Metric, FusedEntry] = {}
    for (key, metric), (pred, truths, prob) in sorted(votes.items()):
        fig = figures(pred, truths, prob, resampling=resampling)
        if not fig.n:
            continue
        if key == "fused":
            plan = identity.metrics[metric]
            fused_entries[metric] = FusedEntry(
                label=LABEL_FIELDS[metric], ensemble_hash=plan.ensemble_hash, figures=fig,
                judges={k: card_identity(identity, k) for k in plan.judges if k in identity.judges})
        elif key in identity.judges:
            ident = card_identity(identity, key)
            entry = judges.setdefault(key, JudgeEntry(**ident.model_dump(), metrics={}))
            entry.metrics[metric] = JudgeMetric(label=LABEL_FIELDS[metric], vote_hash=identity.judges[key].votes[metric],
                                                figures=fig)
    raters: dict[Metric, Any] = {}
    for metric, label in LABEL_FIELDS.items():
        ratings = [ann[label] for _, ann in labelled.values() if len(ann.get(label) or []) >= 2]
        agreement = rater_agreement(ratings, resampling=resampling) if ratings else None
        if agreement is not None:
            raters[metric] = agreement
    return n, judges, fused_entries, raters


def validate(set_spec: str, score_configs: Sequence[str | Path], ensemble: str | Path, out_dir: str | Path, *,
             behaviors: str | Path | None = None, encoding: str | None = None,
             columns: Mapping[str, Sequence[str]] | None = None, name: str | None = None, limit: int | None = None,
             resampling: Resampling = Resampling(), overwrite: bool = False,
             progress: Callable[[str, int, int], None] | None = None,
             on_bad: Callable[[BadLine], None] | None = None) -> ValidateResult:
    """Import, score, fuse and measure (see the module docstring); writes ``DIR/card.json``."""
    fmt, path = parse_set(set_spec)
    evalset = get_evalset(fmt)(path, encoding=encoding, behaviors=Path(behaviors) if behaviors else None,
                               columns=columns)
    if not score_configs:
        raise UserError("give at least one --score config", field="--score")
    configs = [Path(c) for c in score_configs]
    stems = [c.stem for c in configs]
    if len(set(stems)) != len(stems):
        raise UserError("two --score configs share a file name; their scored files would collide", field="--score")
    loaded = load_ensemble(ensemble)  # errors before any work
    if loaded.reviews is not None:
        raise UserError("this ensemble config names human reviews: they would replace the verdicts being validated; "
                        "validate with a config without `reviews:`", path=loaded.path, field="reviews")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    responses, fused = out / RESPONSES, out / FUSED
    scored = [out / f"{stem}_scored.jsonl" for stem in stems]
    if overwrite:
        for p in [*scored, fused]:
            for q in (p, p.with_name(p.name.removesuffix(".jsonl") + ".quarantine.jsonl")):
                q.unlink(missing_ok=True)
    imported = import_set(evalset, fmt, responses, limit=limit, overwrite=overwrite, on_bad=on_bad)
    if not imported.imported + imported.skipped:
        raise UserError("no labelled record could be imported (see the quarantine file)", path=path)
    summaries = []
    for config, target in zip(configs, scored):
        update = (lambda done, total, c=config: progress(f"scoring ({c.name})", done, total)) if progress else None
        summaries.append(score_file(responses, config, target, progress=update, on_bad=on_bad))
    fuse = fuse_files(scored, ensemble, fused, overwrite=overwrite, on_bad=on_bad)
    identity = identity_of(fused)
    assert identity is not None, "the fuse stage records the identity"
    n, judges, fused_entries, raters = measure(responses, fused, identity, resampling=resampling)
    files = {p.name: sha256_file(p) for p in evalset.inputs()}
    git = git_info()
    card = JudgeCard(
        dataset=CardDataset(name=name or f"{fmt}: {path.name}", format=fmt, files=files,
                            sha256=dataset_sha256(files), records=imported.imported + imported.skipped,
                            quarantined=imported.quarantined, options=evalset.options()),
        n=n, resampling=resampling, judges=judges, fused=fused_entries, raters=raters,
        score_configs=[c.name for c in configs], ensemble_config=Path(ensemble).name, commit=git.get("commit"),
        dirty=git.get("dirty"), created=now(), lam3_version=__version__)
    card_path = write_card(out / CARD, card)
    update_manifest(out, stage="validate", config={"set": set_spec, "score": [str(c) for c in configs],
                                                   "ensemble": str(ensemble), "resampling": resampling.model_dump()},
                    artifacts=[card_path], inputs=[*evalset.inputs(), *configs, Path(ensemble)],
                    summary={"n": n, "judges": sorted(judges), "fused": sorted(fused_entries),
                             "raters": sorted(raters)})
    return ValidateResult(out, responses, scored, fused, card_path, card, imported, summaries, fuse)
