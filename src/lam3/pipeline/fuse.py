"""The ``fuse`` stage: join scored files by response id and fuse the judges, streaming and resumably.

Join: files written by ``lam3 score`` from one response file share its order, so they are
read in lockstep (one line of each at a time; a file that ends early just drops out).
At the first id that does not line up, the rest of every file is spilled into an on-disk
SQLite index and joined from there, so memory never grows with the files either way.

Every response gets a :class:`lam3.records.FusedResult` line that also carries its
``sample_id, model_id, attack, category, prompt, response, labels`` (``carry_fields``)
so reports can group results and show disputed responses. Disputed responses routed to
people go to a review queue (JSONL + a CSV to fill in); their labels come back through
``lam3 review import`` and ``--reviews``.
"""

from __future__ import annotations

import json
import sqlite3
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lam3.errors import UserError
from lam3.manifest import read_manifest, update_manifest
from lam3.records import SCHEMA_VERSION
from lam3.store import BadLine, IdIndex, JsonlWriter, Quarantine, count_lines, iter_jsonl, quarantine_path


# --- join ---------------------------------------------------------------------------------------------
@dataclass
class Joined:
    """One response with the judgements of every input file merged."""

    id: str
    record: dict[str, Any]
    judgements: dict[str, Any]
    sources: list[tuple[str, int]]


@dataclass
class JoinStats:
    mode: str = "lockstep"
    spilled_lines: int = 0
    conflicts: Counter[str] = field(default_factory=Counter)


def _merge_judgement(current: dict[str, Any], key: str, new: Any, stats: JoinStats) -> None:
    """Two files judged the same response with the same judge: a success beats an error; else the later file wins."""
    old = current.get(key)
    if old is None or old == new:
        current[key] = new
        return
    old_err = isinstance(old, Mapping) and bool(old.get("error"))
    new_err = isinstance(new, Mapping) and bool(new.get("error"))
    if old_err and not new_err:
        current[key] = new
    elif new_err and not old_err:
        return
    else:
        stats.conflicts[key] += 1
        current[key] = new


def _assemble(parts: list[tuple[str, int, dict[str, Any]]], id_field: str, stats: JoinStats) -> Joined:
    judgements: dict[str, Any] = {}
    for _, _, rec in parts:
        for key, j in rec["judgements"].items():
            _merge_judgement(judgements, key, j, stats)
    base: dict[str, Any] = {}
    for _, _, rec in parts:  # fields any file has (labels may live in one only); the first file wins
        for k, v in rec.items():
            if k != "judgements" and k not in base:
                base[k] = v
    return Joined(str(base[id_field]), base, judgements, [(p, n) for p, n, _ in parts])


def _valid(it: Iterator[tuple[int, dict[str, Any]]], path: str, quarantine: Quarantine
           ) -> Iterator[tuple[int, dict[str, Any]]]:
    for lineno, rec in it:
        if not isinstance(rec["judgements"], dict):
            quarantine.add(BadLine(path, lineno, "judgements", "must be an object {judge: judgement}",
                                   json.dumps(rec, ensure_ascii=False)))
            continue
        yield lineno, rec


def join_scored(inputs: Sequence[str | Path], id_field: str, quarantine: Quarantine, workdir: Path,
                stats: JoinStats | None = None) -> Iterator[Joined]:
    """Yield each response id once with the judgements of all ``inputs`` (see module docstring)."""
    stats = stats if stats is not None else JoinStats()
    paths = [str(p) for p in inputs]
    for p in paths:
        if not Path(p).is_file():
            raise UserError("input file not found", path=p)
    iters = [_valid(iter_jsonl(p, quarantine=quarantine, id_field=id_field, required=("judgements",)), p,
                    quarantine) for p in paths]
    heads: list[tuple[int, dict[str, Any]] | None] = [next(it, None) for it in iters]
    while True:
        active = [i for i, h in enumerate(heads) if h is not None]
        if not active:
            return
        ids = {heads[i][1][id_field] for i in active}  # type: ignore[index]
        if len(ids) != 1:
            break
        yield _assemble([(paths[i], heads[i][0], heads[i][1]) for i in active], id_field, stats)  # type: ignore[index]
        for i in active:
            heads[i] = next(iters[i], None)
    stats.mode = "index"
    yield from _join_indexed(paths, iters, heads, id_field, quarantine, workdir, stats)


def _join_indexed(paths: list[str], iters: list[Iterator[tuple[int, dict[str, Any]]]],
                  heads: list[tuple[int, dict[str, Any]] | None], id_field: str, quarantine: Quarantine,
                  workdir: Path, stats: JoinStats) -> Iterator[Joined]:
    """Spill what is left of each file into SQLite, then emit ids in first-seen order."""
    db_path = Path(tempfile.mkdtemp(prefix="lam3-join-", dir=workdir)) / "join.sqlite"
    db = sqlite3.connect(db_path)
    try:
        db.executescript("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA cache_size=-16000;"
                         "PRAGMA temp_store=FILE;"
                         "CREATE TABLE rec(seq INTEGER PRIMARY KEY, id TEXT, src INT, line INT, body TEXT);")
        seq = 0
        for src, (head, it) in enumerate(zip(heads, iters)):
            if head is None:
                continue
            rows = []

            def lines() -> Iterator[tuple[int, dict[str, Any]]]:
                yield head  # type: ignore[misc]
                yield from it

            for lineno, rec in lines():
                seq += 1
                rows.append((seq, rec[id_field], src, lineno, json.dumps(rec, ensure_ascii=False)))
                if len(rows) >= 10_000:
                    db.executemany("INSERT INTO rec VALUES (?,?,?,?,?)", rows)
                    rows.clear()
            db.executemany("INSERT INTO rec VALUES (?,?,?,?,?)", rows)
            stats.spilled_lines = seq
        db.executescript("CREATE INDEX rec_id ON rec(id, seq);"
                         "CREATE TABLE ord(first INTEGER PRIMARY KEY, id TEXT);"
                         "INSERT INTO ord SELECT MIN(seq), id FROM rec GROUP BY id;")
        db.commit()
        reader = db.cursor()
        for (rid,) in db.execute("SELECT id FROM ord ORDER BY first"):
            parts: list[tuple[str, int, dict[str, Any]]] = []
            used: set[int] = set()
            for src, lineno, body in reader.execute("SELECT src, line, body FROM rec WHERE id=? ORDER BY seq",
                                                    (rid,)):
                if src in used:
                    quarantine.add(BadLine(paths[src], lineno, id_field, f"duplicate id {rid!r}", body))
                    continue
                used.add(src)
                parts.append((paths[src], lineno, json.loads(body)))
            yield _assemble(parts, id_field, stats)
    finally:
        db.close()
        db_path.unlink(missing_ok=True)
        db_path.parent.rmdir()


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


def _stage_name(out: Path) -> str:
    return f"fuse:{out.name}"


def _settings(config: Any, calibration_path: Path | None) -> dict[str, Any]:
    """What decides the fused values (reviews excluded: they are applied by recomputing their ids)."""
    from lam3.manifest import sha256_file

    cfg = config.model_dump(mode="json")
    cfg.pop("reviews", None)
    cfg.pop("calibration", None)
    return {"ensemble": cfg,
            "calibration_sha256": sha256_file(calibration_path) if calibration_path else None}


def _resolve(path: str | None, base: Path) -> Path | None:
    """A file named in the YAML: relative paths are relative to the YAML file."""
    if path is None:
        return None
    p = Path(path)
    return p if p.is_absolute() else base / p


def fuse_files(inputs: Sequence[str | Path], config_path: str | Path, output: str | Path, *,
               reviews: str | Path | None = None, calibration: str | Path | None = None,
               review_queue: str | Path | None = None, overwrite: bool = False,
               progress: Callable[[int, int], None] | None = None,
               on_bad: Callable[[BadLine], None] | None = None, workdir: str | Path | None = None) -> FuseSummary:
    """Fuse the scored ``inputs`` into ``output`` (resumable; see module docstring)."""
    from lam3.config import config_hash
    from lam3.fusion.calibration import load_calibration
    from lam3.fusion.ensemble import Ensemble, load_ensemble_config
    from lam3.pipeline.review import ReviewQueue, load_reviews

    output = Path(output)
    inputs = [Path(p) for p in inputs]
    if not inputs:
        raise UserError("give at least one scored file")
    for p in inputs:
        if not p.is_file():
            raise UserError("input file not found", path=p)
        if p.resolve() == output.resolve():
            raise UserError("output must differ from the inputs", path=output)
    config, node = load_ensemble_config(config_path)
    base = Path(config_path).parent
    cal_path = Path(calibration) if calibration else _resolve(config.calibration, base)
    rev_path = Path(reviews) if reviews else _resolve(config.reviews, base)
    cal = load_calibration(cal_path) if cal_path else None
    ensemble = Ensemble(config, calibration=cal, path=config_path, node=node)
    human = load_reviews(rev_path, metrics=list(ensemble.metrics)) if rev_path else {}

    settings = _settings(config, cal_path)
    stage = _stage_name(output)
    previous = read_manifest(output.parent).stages.get(stage)
    if output.exists() and output.stat().st_size and not overwrite:
        if previous is None or previous.config_hash != config_hash(settings):
            raise UserError("this output was written with other ensemble settings (or its manifest entry is "
                            "missing); pass --overwrite to start again or choose another --out", path=output)
    if overwrite:
        output.unlink(missing_ok=True)
    queue_path = Path(review_queue) if review_queue else output.with_name(
        output.name.removesuffix(".jsonl") + ".review.jsonl")
    if overwrite:
        queue_path.unlink(missing_ok=True)
        quarantine_path(output).unlink(missing_ok=True)
    # recorded before the first line is written, so a resumed run can check it uses the same settings
    update_manifest(output.parent, stage=stage, config=settings, summary={"status": "running"})

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
            batch: list[dict[str, Any]] = []
            pending_batch: list[dict[str, Any]] = []
            for joined in join_scored(inputs, id_field, quarantine, Path(tmp), summary.join):
                done += 1
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
                bad = ensemble.provider_mismatch(joined.judgements)
                if bad is not None:
                    path, line = joined.sources[0]
                    raise UserError(f"judgement names judge {joined.judgements[bad].get('judge')!r} but the "
                                    f"ensemble config says {ensemble.judges[bad].judge!r}",
                                    path=path, line=line, field=f"judgements.{bad}.judge")
                labels = human.get(rid)
                results, judge_scores, pending = ensemble.fuse(joined.judgements, labels)
                rec: dict[str, Any] = {"schema_version": SCHEMA_VERSION, "id": rid}
                for f in carry:
                    if f in joined.record:
                        rec[f] = joined.record[f]
                for metric in ("social_toxicity", "policy_risk", "refusal"):
                    rec[metric] = results.get(metric, _EMPTY_METRIC)
                rec["review"] = bool(pending)
                rec["judge_scores"] = judge_scores
                if labels is not None:
                    summary.reviews_applied += 1
                _count(summary, results)
                batch.append(rec)
                batch_ids.add(rid)
                if pending and rid not in queue:
                    pending_batch.append(queue.item(rec, pending))
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
    if progress:
        progress(done, total)
    update_manifest(output.parent, stage=stage, config=settings,
                    artifacts=[output, quarantine.path, queue_path] + ([summary.review_csv] if summary.review_csv
                                                                       else []),
                    inputs=inputs + [p for p in (cal_path, rev_path) if p], summary=summary.as_dict())
    return summary


def _routes_to_people(ensemble: Any) -> bool:
    return any(p.config.arbitration.method == "human" or p.config.arbitration.fallback == "human"
               for p in ensemble.metrics.values())


_EMPTY_METRIC: dict[str, Any] = {"score": None, "flagged": None, "categories": {}, "votes": {},
                                 "disagreement": False, "resolution": None, "missing": []}


def _count(summary: FuseSummary, results: Mapping[str, Mapping[str, Any]]) -> None:
    for metric, r in results.items():
        if r["flagged"]:
            summary.flagged[metric] += 1
        if r["flagged"] is None:
            summary.no_judge[metric] += 1
        if r["disagreement"]:
            summary.disagreements[metric] += 1
        summary.resolutions.setdefault(metric, Counter())[str(r["resolution"])] += 1


def _flush(writer: JsonlWriter, queue: Any, batch: list[dict[str, Any]], pending: list[dict[str, Any]],
           summary: FuseSummary) -> None:
    # the queue first: a crash between the two writes redoes the response and finds it already queued
    summary.queued += queue.write_batch(pending)
    summary.fused += writer.write_batch(batch)
    batch.clear()
    pending.clear()
