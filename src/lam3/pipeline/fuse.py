"""The ``fuse`` stage: join scored files by response id and fuse the judges, streaming and resumably.

The join is :mod:`lam3.pipeline.join`; the arithmetic is :class:`lam3.fusion.ensemble.Ensemble`.
Every response gets a :class:`lam3.records.FusedResult` line that also carries its
``sample_id, model_id, attack, category, prompt, response, labels`` (``carry_fields``)
so reports can group results and show disputed responses. Disputed responses routed to
people go to a review queue (JSONL + a CSV to fill in); their labels come back through
``lam3 review import`` and ``--reviews``.

The resume check, duplicate ids, the durable writer and the manifest entries are the shared
stage skeleton's (:class:`lam3.pipeline.stage.Stage`); this module only fuses.
"""

from __future__ import annotations

import tempfile
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lam3.errors import UserError
from lam3.fusion.cards import Validity
from lam3.fusion.ensemble import Ensemble, EnsembleError, RecordError
from lam3.lock import OutputLock
from lam3.manifest import sha256_file
from lam3.pipeline.cards import IDENTITY, JudgeVersions, fused_identity, read_cards, save_run_cards
from lam3.pipeline.ensemble_files import LoadedEnsemble, load_ensemble
from lam3.pipeline.join import Joined, JoinStats, join_scored
from lam3.pipeline.review import ReviewItem, ReviewQueue, load_reviews, pending_metrics
from lam3.pipeline.stage import Stage, StageSummary
from lam3.records import FusedResult, Metric
from lam3.store import BadLine, Encoded, count_lines


# --- the stage --------------------------------------------------------------------------------------
@dataclass
class FuseSummary(StageSummary):
    fused: int = 0
    join: JoinStats = field(default_factory=JoinStats)
    flagged: Counter[str] = field(default_factory=Counter)
    no_judge: Counter[str] = field(default_factory=Counter)
    disagreements: Counter[str] = field(default_factory=Counter)
    resolutions: defaultdict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
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
            self.resolutions[metric][str(r.resolution)] += 1

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

    One writer at a time: the output's lock (:mod:`lam3.lock`) is held before anything is checked or deleted
    (the stage takes it again, re-entrantly). ``judge_cards`` (with the YAML's ``judge_cards:``) are checked
    against the judges fused and copied beside the output (``OUT.cards.json``); they never change a fused value.
    """
    with OutputLock(output):
        return _fuse_locked(inputs, config_path, output, reviews=reviews, calibration=calibration,
                            review_queue=review_queue, overwrite=overwrite, progress=progress, on_bad=on_bad,
                            workdir=workdir, judge_cards=judge_cards)


def _fuse_locked(inputs: Sequence[str | Path], config_path: str | Path, output: str | Path, *,
                 reviews: str | Path | None, calibration: str | Path | None, review_queue: str | Path | None,
                 overwrite: bool, progress: Callable[[int, int], None] | None,
                 on_bad: Callable[[BadLine], None] | None, workdir: str | Path | None,
                 judge_cards: Sequence[str | Path]) -> FuseSummary:
    output = Path(output)
    inputs = [Path(p) for p in inputs]
    if not inputs:
        raise UserError("give at least one scored file")
    for p in inputs:
        if not p.is_file():
            raise UserError("input file not found", path=p)
    loaded = load_ensemble(config_path, calibration=calibration, reviews=reviews)
    ensemble, config = loaded.ensemble, loaded.config
    cards = read_cards([*loaded.judge_cards, *judge_cards])  # a bad card fails before any work
    versions = JudgeVersions()
    human = load_reviews(loaded.reviews, metrics=list(ensemble.metrics)) if loaded.reviews else {}
    queue_path = Path(review_queue) if review_queue else output.with_name(
        output.name.removesuffix(".jsonl") + ".review.jsonl")
    summary = FuseSummary(output=output, review_queue=queue_path)
    # reviews are applied by recomputing their ids (dropped from the output first), not by a new run
    redo = (lambda rec: str(rec.get("id")) in human) if human else None
    stage = Stage("fuse", output, summary, settings=_settings(loaded), inputs=inputs, id_field="id",
                  retry=redo, on_bad=on_bad, overwrite=overwrite, side_outputs=[queue_path],
                  settings_name="ensemble settings",
                  restart_hint="pass --overwrite to start again or choose another --out")
    used_reviews: set[str] = set()
    carry = [f for f in config.carry_fields if f != config.id_field]
    total = count_lines(inputs[0])
    done = 0
    with stage, ReviewQueue(queue_path, drop=redo, enabled=_routes_to_people(ensemble) or queue_path.exists()
                            ) as queue, tempfile.TemporaryDirectory(prefix="lam3-fuse-", dir=workdir) as tmp:
        summary.recomputed_for_reviews = summary.retried
        batch: list[Encoded] = []  # encoded at once: see Encoded
        pending_batch: list[ReviewItem] = []

        def counted(joins: Iterable[Joined]) -> Iterable[tuple[int, Joined]]:
            nonlocal done
            for joined in joins:
                done += 1
                versions.add(joined.judgements)  # every input record: the judge versions the run used
                yield joined.sources[0][1], joined

        todo = stage.pending(counted(join_scored(inputs, config.id_field, stage.quarantine, Path(tmp), summary.join)),
                             source=lambda j: j.sources[0][0], key=lambda j: j.id, id_field=config.id_field)
        for _, joined in todo:
            rid = joined.id
            if rid in human:
                used_reviews.add(rid)
            fused = _fuse_one(loaded, joined, human.get(rid), carry)
            summary.reviews_applied += rid in human
            summary.count(fused, ensemble.metrics)
            batch.append(Encoded.of(fused))
            if fused.review and rid not in queue:
                pending_batch.append(ReviewItem.of(fused, pending_metrics(fused)))
            if len(batch) >= config.batch_size:
                _flush(stage, queue, batch, pending_batch, summary)
                if progress:
                    progress(done, total)
        _flush(stage, queue, batch, pending_batch, summary)
        summary.review_csv = queue.export_csv()
        summary.review_csv_note = queue.csv_skipped_reason
        summary.reviews_unused = len(set(human) - used_reviews)
        st = ensemble.stats
        summary.stats = {"missing": st.missing, "errored": st.errored, "malformed": st.malformed,
                         "unmapped": st.unmapped, "unconfigured": st.unconfigured,
                         "arbiter_missing": st.arbiter_missing, "metrics": list(ensemble.metrics)}
        identity = fused_identity(ensemble, inputs, versions)
        summary.cards = Validity.of(cards, identity)
        summary.cards_file = save_run_cards(output, cards)
        summary.stats.update({IDENTITY: identity.model_dump(mode="json"), "judge_cards": summary.cards.summary()})
        if progress:
            progress(done, total)
        stage.finish(inputs=[p for p in (loaded.calibration, loaded.reviews) if p],
                     artifacts=[p for p in (summary.review_csv, summary.cards_file) if p])
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


def _flush(stage: Stage, queue: ReviewQueue, batch: list[Encoded], pending: list[ReviewItem],
           summary: FuseSummary) -> None:
    # the queue first: a crash between the two writes redoes the response and finds it already queued
    summary.queued += queue.write_batch(pending)
    summary.fused += stage.write(batch)
    batch.clear()
    pending.clear()


# --- what a resume must match ---------------------------------------------------------------------------
def _settings(loaded: LoadedEnsemble) -> dict[str, Any]:
    """What decides the fused values (reviews excluded: they are applied by recomputing their ids)."""
    cfg = loaded.config.model_dump(mode="json")
    cfg.pop("reviews", None)
    cfg.pop("calibration", None)
    cfg.pop("judge_cards", None)  # cards are checked, never change a fused value
    return {"ensemble": cfg,
            "calibration_sha256": sha256_file(loaded.calibration) if loaded.calibration else None}
