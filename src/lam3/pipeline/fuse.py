"""The ``fuse`` stage: join scored files by response id and fuse the judges, streaming and resumably.

The join is :mod:`lam3.pipeline.join`; the arithmetic is :class:`lam3.fusion.ensemble.Ensemble`.
Every response gets a :class:`lam3.records.FusedResult` line that also carries its
``sample_id, model_id, attack, category, prompt, response, labels`` (``carry_fields``)
so reports can group results and show disputed responses. Disputed responses routed to
people go to a review queue (JSONL + a CSV to fill in); their labels come back through
``lam3 review import`` and ``--reviews``.

The resume / manifest bookkeeping is kept in the functions at the end of this module
(``_check_resumable``, ``_record_running``, ``_record_finished``), apart from the fusion loop.
"""

from __future__ import annotations

import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lam3.config import config_hash
from lam3.errors import UserError
from lam3.fusion.cards import Validity
from lam3.fusion.ensemble import Ensemble, EnsembleError, RecordError
from lam3.manifest import read_manifest, sha256_file, update_manifest
from lam3.pipeline.cards import IDENTITY, JudgeVersions, fused_identity, read_cards, save_run_cards
from lam3.pipeline.ensemble_files import LoadedEnsemble, load_ensemble
from lam3.pipeline.join import Joined, JoinStats, join_scored
from lam3.pipeline.review import ReviewItem, ReviewQueue, load_reviews, pending_metrics
from lam3.records import FusedResult, Metric
from lam3.store import BadLine, IdIndex, JsonlWriter, Quarantine, count_lines, quarantine_path


# --- the stage --------------------------------------------------------------------------------------
@dataclass
class FuseSummary:
    output: Path
    fused: int = 0
    skipped: int = 0
    quarantined: int = 0
    join: JoinStats = field(default_factory=JoinStats)
    flagged: Counter[str] = field(default_factory=Counter)
    no_judge: Counter[str] = field(default_factory=Counter)
    disagreements: Counter[str] = field(default_factory=Counter)
    resolutions: dict[str, Counter[str]] = field(default_factory=dict)
    queued: int = 0
    reviews_applied: int = 0
    reviews_unused: int = 0
    recomputed_for_reviews: int = 0
    stats: dict[str, Any] = field(default_factory=dict)
    review_queue: Path | None = None
    review_csv: Path | None = None
    review_csv_note: str | None = None
    cards: Validity = field(default_factory=Validity)
    cards_file: Path | None = None
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "fused": self.fused, "skipped_already_done": self.skipped, "quarantined": self.quarantined,
            "join": {"mode": self.join.mode, "spilled_lines": self.join.spilled_lines,
                     "conflicting_judgements": dict(self.join.conflicts)},
            "flagged": dict(self.flagged), "no_usable_judge": dict(self.no_judge),
            "disagreements": dict(self.disagreements),
            "resolutions": {m: dict(c) for m, c in self.resolutions.items()},
            "queued_for_review": self.queued, "reviews_applied": self.reviews_applied,
            "reviews_unused": self.reviews_unused, "recomputed_for_reviews": self.recomputed_for_reviews,
            **self.stats, "seconds": round(self.seconds, 3),
        }

    def count(self, fused: FusedResult, metrics: Iterable[Metric]) -> None:
        for metric in metrics:
            r = getattr(fused, metric)
            self.flagged[metric] += bool(r.flagged)
            self.no_judge[metric] += r.flagged is None
            self.disagreements[metric] += r.disagreement
            self.resolutions.setdefault(metric, Counter())[str(r.resolution)] += 1

    @property
    def warnings(self) -> list[str]:
        """Things a researcher must see: judges left out, conflicts, unused reviews."""
        out = []
        for metric, per_judge in self.stats.get("missing", {}).items():
            for judge, n in per_judge.items():
                out.append(f"{metric}: judge {judge!r} had no usable judgement for {n} responses "
                           "(left out, weights renormalised; listed in 'missing')")
        for judge, n in self.stats.get("unconfigured", {}).items():
            out.append(f"judge {judge!r} appears in the inputs ({n} responses) but not in the ensemble "
                       "config: not used")
        for metric, per_judge in self.stats.get("unmapped", {}).items():
            for judge, n in per_judge.items():
                out.append(f"{metric}: judge {judge!r} reported no label that maps to {metric} in {n} "
                           "responses (counted as 0; check its label_map)")
        for judge, n in self.join.conflicts.items():
            out.append(f"judge {judge!r} has different judgements in two inputs for {n} responses "
                       "(the later file was used)")
        for metric, n in self.stats.get("arbiter_missing", {}).items():
            out.append(f"{metric}: the arbiter had no usable judgement for {n} disputed responses")
        if self.review_csv_note:
            out.append(self.review_csv_note)
        if self.reviews_unused:
            out.append(f"{self.reviews_unused} human reviews name ids not found in the inputs")
        return out


def fuse_files(inputs: Sequence[str | Path], config_path: str | Path, output: str | Path, *,
               reviews: str | Path | None = None, calibration: str | Path | None = None,
               review_queue: str | Path | None = None, overwrite: bool = False,
               progress: Callable[[int, int], None] | None = None,
               on_bad: Callable[[BadLine], None] | None = None, workdir: str | Path | None = None,
               judge_cards: Sequence[str | Path] = ()) -> FuseSummary:
    """Fuse the scored ``inputs`` into ``output`` (resumable; see module docstring).

    ``judge_cards`` (with the YAML's ``judge_cards:``) are checked against the judges fused and
    copied beside the output (``OUT.cards.json``); they never change a fused value.
    """
    output = Path(output)
    inputs = [Path(p) for p in inputs]
    if not inputs:
        raise UserError("give at least one scored file")
    for p in inputs:
        if not p.is_file():
            raise UserError("input file not found", path=p)
        if p.resolve() == output.resolve():
            raise UserError("output must differ from the inputs", path=output)
    loaded = load_ensemble(config_path, calibration=calibration, reviews=reviews)
    ensemble, config = loaded.ensemble, loaded.config
    cards = read_cards([*loaded.judge_cards, *judge_cards])  # a bad card fails before any work
    versions = JudgeVersions()
    human = load_reviews(loaded.reviews, metrics=list(ensemble.metrics)) if loaded.reviews else {}
    queue_path = Path(review_queue) if review_queue else output.with_name(
        output.name.removesuffix(".jsonl") + ".review.jsonl")
    settings = _settings(loaded)
    _check_resumable(output, settings, overwrite, extra=[queue_path, quarantine_path(output)])
    _record_running(output, settings)

    summary = FuseSummary(output=output, review_queue=queue_path)
    quarantine = Quarantine(quarantine_path(output), on_bad=on_bad)
    seen = IdIndex()
    used_reviews: set[str] = set()
    id_field = config.id_field
    carry = [f for f in config.carry_fields if f != id_field]
    t0 = time.perf_counter()
    total = count_lines(inputs[0])
    done = 0
    redo = (lambda rec: str(rec.get("id")) in human) if human else None
    try:
        with JsonlWriter(output, id_field="id", drop=redo) as writer, \
                ReviewQueue(queue_path, drop=redo, enabled=_routes_to_people(ensemble) or queue_path.exists()
                            ) as queue, \
                tempfile.TemporaryDirectory(prefix="lam3-fuse-", dir=workdir) as tmp:
            summary.recomputed_for_reviews = writer.dropped
            fresh = writer.existing == 0
            batch_ids: set[str] = set()
            batch: list[FusedResult] = []
            pending_batch: list[ReviewItem] = []
            for joined in join_scored(inputs, id_field, quarantine, Path(tmp), summary.join):
                done += 1
                versions.add(joined.judgements)
                rid = joined.id
                # a fresh run tells duplicates from the output's own id index (no second index in memory)
                done_before = rid in writer
                if rid in batch_ids or (done_before and fresh) or (not fresh and not seen.add(rid)):
                    path, line = joined.sources[0]
                    quarantine.add(BadLine(path, line, id_field, f"duplicate id {rid!r}", rid))
                    continue
                if rid in human:
                    used_reviews.add(rid)
                if done_before:
                    summary.skipped += 1
                    continue
                fused = _fuse_one(loaded, joined, human.get(rid), carry)
                summary.reviews_applied += rid in human
                summary.count(fused, ensemble.metrics)
                batch.append(fused)
                batch_ids.add(rid)
                if fused.review and rid not in queue:
                    pending_batch.append(ReviewItem.of(fused, pending_metrics(fused)))
                if len(batch) >= config.batch_size:
                    _flush(writer, queue, batch, pending_batch, summary)
                    batch_ids.clear()
                    if progress:
                        progress(done, total)
            _flush(writer, queue, batch, pending_batch, summary)
            summary.review_csv = queue.export_csv()
            summary.review_csv_note = queue.csv_skipped_reason
    finally:
        quarantine.close()
        seen.close()
        summary.seconds = time.perf_counter() - t0
    summary.quarantined = quarantine.count
    summary.reviews_unused = len(set(human) - used_reviews)
    st = ensemble.stats
    summary.stats = {"missing": st.missing, "errored": st.errored, "malformed": st.malformed,
                     "unmapped": st.unmapped, "unconfigured": st.unconfigured, "arbiter_missing": st.arbiter_missing,
                     "metrics": list(ensemble.metrics)}
    identity = fused_identity(ensemble, inputs, versions)
    summary.cards = Validity.of(cards, identity)
    summary.cards_file = save_run_cards(output, cards)
    summary.stats.update({IDENTITY: identity.model_dump(mode="json"), "judge_cards": summary.cards.summary()})
    if progress:
        progress(done, total)
    _record_finished(output, settings, summary, quarantine.path, inputs, loaded)
    return summary


def _fuse_one(loaded: LoadedEnsemble, joined: Joined, human: dict[Any, bool] | None, carry: list[str]
              ) -> FusedResult:
    """One response; a problem names the config line, or the input file and line it came from."""
    ensemble = loaded.ensemble
    path, line = joined.sources[0]
    bad = ensemble.mismatched_judge(joined.judgements)
    if bad is not None:
        raise UserError(f"judgement names judge {joined.judgements[bad].get('judge')!r} but the ensemble config "
                        f"says {ensemble.judges[bad].judge!r}", path=path, line=line, field=f"judgements.{bad}.judge")
    try:
        return ensemble.fuse(joined.id, joined.judgements, human=human,
                             carry={f: joined.record[f] for f in carry if f in joined.record})
    except EnsembleError as exc:
        raise loaded.located(exc) from None
    except RecordError as exc:
        raise UserError(exc.message, path=path, line=line, field=exc.field) from None


def _routes_to_people(ensemble: Ensemble) -> bool:
    return any(p.config.arbitration.method == "human" or p.config.arbitration.fallback == "human"
               for p in ensemble.metrics.values())


def _flush(writer: JsonlWriter, queue: ReviewQueue, batch: list[FusedResult], pending: list[ReviewItem],
           summary: FuseSummary) -> None:
    # the queue first: a crash between the two writes redoes the response and finds it already queued
    summary.queued += queue.write_batch(pending)
    summary.fused += writer.write_batch(batch)
    batch.clear()
    pending.clear()


# --- stage bookkeeping: resume check and manifest entries ----------------------------------------------
def _stage_name(out: Path) -> str:
    return f"fuse:{out.name}"


def _settings(loaded: LoadedEnsemble) -> dict[str, Any]:
    """What decides the fused values (reviews excluded: they are applied by recomputing their ids)."""
    cfg = loaded.config.model_dump(mode="json")
    cfg.pop("reviews", None)
    cfg.pop("calibration", None)
    cfg.pop("judge_cards", None)  # cards are checked, never change a fused value
    return {"ensemble": cfg,
            "calibration_sha256": sha256_file(loaded.calibration) if loaded.calibration else None}


def _check_resumable(output: Path, settings: dict[str, Any], overwrite: bool, extra: Sequence[Path]) -> None:
    """A non-empty output resumes only with the settings that wrote it; ``overwrite`` starts again."""
    previous = read_manifest(output.parent).stages.get(_stage_name(output))
    if output.exists() and output.stat().st_size and not overwrite:
        if previous is None or previous.config_hash != config_hash(settings):
            raise UserError("this output was written with other ensemble settings (or its manifest entry is "
                            "missing); pass --overwrite to start again or choose another --out", path=output)
    if overwrite:
        for path in (output, *extra):
            path.unlink(missing_ok=True)


def _record_running(output: Path, settings: dict[str, Any]) -> None:
    # recorded before the first line is written, so a resumed run can check it uses the same settings
    update_manifest(output.parent, stage=_stage_name(output), config=settings, summary={"status": "running"})


def _record_finished(output: Path, settings: dict[str, Any], summary: FuseSummary, quarantine: Path,
                     inputs: list[Path], loaded: LoadedEnsemble) -> None:
    artifacts = [output, quarantine, summary.review_queue] + [p for p in (summary.review_csv, summary.cards_file) if p]
    update_manifest(output.parent, stage=_stage_name(output), config=settings, artifacts=artifacts,
                    inputs=inputs + [p for p in (loaded.calibration, loaded.reviews) if p], summary=summary.as_dict())
