"""The stage skeleton: the bookkeeping every stage that writes a JSONL output shares.

``generate``, ``score`` and ``fuse`` differ in what they compute; around that they need the same
things, done here once:

1. **Resume compatibility.** The stage's settings (what must not change between a run and its
   resume) are hashed and recorded in the manifest, status "running", before the first output
   line. A rerun onto an output written with other settings is refused with one line naming the
   first setting that differs and what to do.
2. **``--retry-errors``.** Output records the stage calls failed are dropped first (an atomic
   rewrite), so exactly those are redone.
3. **The durable writer** (:class:`lam3.store.JsonlWriter`): append-only, fsync per batch, torn
   tail repaired, ids indexed.
4. **Inputs.** A repeated input id goes to the quarantine (``file:line: id: duplicate id``); an id
   already in the output is skipped and counted.
5. **The manifest entry** goes "running" → "finished" with the summary, inputs and artifacts. A
   crash leaves it "running" with its settings, so rerunning the same command resumes.

6. **One writer per output.** :meth:`Stage.open` takes the output's lock (:mod:`lam3.lock`) before
   anything else, and holds it until :meth:`Stage.close`: a second run onto the same output stops
   at once, naming the holder, before it can delete, rewrite or append anything.
7. **Storage errors.** A disk that fills up, a read-only or vanished file, a permission refused,
   anywhere inside the stage (output, quarantine, manifest, input), becomes one
   :class:`lam3.errors.StorageError` line naming the file and how many records are safely
   written; a rerun of the same command does exactly the rest.

Use::

    summary = ScoreSummary(output)
    with Stage("score", output, summary, settings=config, inputs=[input_path], retry=has_error) as stage:
        for lineno, rec in stage.pending(iter_jsonl(input_path, quarantine=stage.quarantine), source=input_path,
                                         key=lambda rec: rec["id"]):
            ...
            stage.write(records)
        stage.finish()
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel

from lam3.config import config_hash
from lam3.errors import StorageError, UserError, is_storage_error, storage_error
from lam3.lock import OutputLock
from lam3.manifest import file_hashes, now, read_manifest, record_stage, stage_entry
from lam3.records import GenerationSettings
from lam3.store import BadLine, IdIndex, JsonlWriter, Quarantine, Writable, count_lines, quarantine_path

T = TypeVar("T")
_CHUNK = 500
"""Input items :meth:`Stage.pending` checks against the output in one query (see :class:`lam3.store.IdIndex`)."""


@dataclass
class StageSummary:
    """What every stage reports; each stage's summary adds its own counts."""

    output: Path
    skipped: int = 0
    quarantined: int = 0
    retried: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"skipped_already_done": self.skipped, "quarantined": self.quarantined,
                "retried_errors": self.retried, "seconds": round(self.seconds, 3)}


def _first_difference(old: Any, new: Any, prefix: str = "") -> str | None:
    """The dotted path of the first setting that differs between two JSON-like values, with both values."""
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        for key in sorted(set(old) | set(new), key=str):
            found = _first_difference(old.get(key), new.get(key), f"{prefix}.{key}" if prefix else str(key))
            if found:
                return found
        return None
    return None if old == new else f"{prefix or 'settings'}: {old!r} then, {new!r} now"


class Stage:
    """One run of a stage onto one output file (see the module docstring)."""

    def __init__(self, kind: str, output: str | Path, summary: StageSummary, *,
                 settings: BaseModel | Mapping[str, Any], config: BaseModel | Mapping[str, Any] | None = None,
                 seed: int | None = None, generation: GenerationSettings | None = None,
                 inputs: Sequence[str | Path] = (), side_outputs: Sequence[str | Path] = (),
                 id_field: str = "id", retry: Callable[[dict[str, Any]], bool] | None = None,
                 on_bad: Callable[[BadLine], None] | None = None, overwrite: bool = False,
                 settings_name: str = "settings",
                 restart_hint: str = "write to another --out, or delete it to start over") -> None:
        """``settings``: what a resume must match (``config``, recorded in full, defaults to them), called
        ``settings_name`` in errors; ``side_outputs``: other files the stage writes (removed by
        ``overwrite``, hashed as artifacts); ``retry``: output records to drop and redo (``--retry-errors``)."""
        self.kind, self.output, self.summary = kind, Path(output), summary
        dump = settings.model_dump(mode="json") if isinstance(settings, BaseModel) else dict(settings)
        self.settings, self.settings_hash = dump, config_hash(dump)
        self.config = config if config is not None else dump
        self._settings_recorded = dump if config is not None else None  # else: the config is the settings
        self.seed, self.generation = seed, generation
        self.inputs = [Path(p) for p in inputs]
        self.side_outputs = [Path(p) for p in side_outputs]
        self.id_field, self.retry, self.on_bad, self.overwrite = id_field, retry, on_bad, overwrite
        self.settings_name, self.restart_hint = settings_name, restart_hint
        self.quarantine = Quarantine(quarantine_path(self.output), on_bad=on_bad)
        self.writer: JsonlWriter | None = None
        self.lock = OutputLock(self.output)
        self.started: str | None = None
        self._t0 = 0.0
        self._seen: IdIndex | None = None
        self._unwritten: set[str] = set()  # yielded by pending, not written yet
        self._written_since_check: set[str] = set()  # written since pending last asked the output
        self._closed = False
        self._written = 0

    @property
    def name(self) -> str:
        """The manifest key: ``score:toxicity_scored.jsonl``."""
        return f"{self.kind}:{self.output.name}"

    @property
    def directory(self) -> Path:
        return self.output.parent

    # --- opening ----------------------------------------------------------------------------------
    def open(self) -> Stage:
        for p in self.inputs:
            if p.resolve() == self.output.resolve():
                raise UserError("output must differ from the input", path=self.output)
        self.lock.acquire()  # before anything is deleted, rewritten or checked
        try:
            self._open()
        except BaseException:
            self.close()
            raise
        return self

    def _open(self) -> None:
        if self.overwrite:
            for p in (self.output, self.quarantine.path, *self.side_outputs):
                p.unlink(missing_ok=True)
        self._check_resume()
        self._t0 = time.perf_counter()
        self.writer = JsonlWriter(self.output, id_field=self.id_field, drop=self.retry)
        self.summary.retried = self.writer.dropped
        if self.writer.existing:  # a fresh run finds repeated ids in the output's own index
            self._seen = IdIndex()
        self.started = now()
        self._record("running")

    def _check_resume(self) -> None:
        if not (self.output.is_file() and self.output.stat().st_size):
            return
        previous = read_manifest(self.directory).stages.get(self.name)
        recorded = previous.settings_hash if previous else None
        if recorded == self.settings_hash:
            return
        if recorded is None:
            why = f"its manifest records no settings for stage {self.name}"
        else:
            before = previous.settings
            if before is None and previous.config_hash == previous.settings_hash:  # the config was the settings
                before = previous.config
            diff = _first_difference(before, self.settings) if before is not None else None
            why = f"it was written with other {self.settings_name} ({diff or 'settings hash differs'})"
        raise UserError(f"cannot resume: {why}; {self.restart_hint}", path=self.output)

    # --- the run ----------------------------------------------------------------------------------
    def pending(self, items: Iterable[tuple[int, T]], *, source: str | Path | Callable[[T], str],
                key: Callable[[T], str], out_id: Callable[[str], str] | None = None, id_field: str | None = None,
                limit: int | None = None) -> Iterator[tuple[int, T]]:
        """The input ``(line, item)`` pairs still to do, in order (the first ``limit`` of them; the input is
        not read further).

        ``key(item)`` is the input id, ``out_id(key)`` the output id it becomes (default: the same).
        A repeated id goes to the quarantine as ``source:line: id_field: duplicate id`` (``source``: the
        input file, or a function giving an item's file); an id already in the output is skipped
        (``summary.skipped``).

        Items are read ahead :data:`_CHUNK` at a time and checked against the output in one query (see
        :class:`lam3.store.IdIndex` for why); the bad lines met while reading ahead are held back, so
        the quarantine still lists every report in input order.
        """
        assert self.writer is not None, "open the stage first"
        field = id_field or self.id_field
        items = iter(items)
        left = limit  # None: no limit
        while left != 0:
            with self.quarantine.holding() as held:  # bad lines met while reading ahead: reported in line order
                chunk = [(len(held.reports), pair)
                         for pair in islice(items, _CHUNK if left is None else min(left, _CHUNK))]
            try:
                if not chunk:
                    return
                keys = [out_id(key(item)) if out_id else key(item) for _, (_, item) in chunk]
                self._written_since_check.clear()  # written from now on: not in the answer below
                in_output = self.writer.ids.present(keys)
                first = self._seen.add_each(keys) if self._seen is not None else None
                for i, ((reported_before, (lineno, item)), oid) in enumerate(zip(chunk, keys)):
                    held.release(reported_before)
                    if first is None:  # a fresh run: a repeat is in this run's output or on its way there
                        repeated = oid in self._unwritten or oid in in_output or oid in self._written_since_check
                        self._unwritten.add(oid)
                    else:
                        repeated = not first[i]
                    if repeated:
                        where = source(item) if callable(source) else source
                        rid = key(item)
                        self.quarantine.add(BadLine(str(where), lineno, field, f"duplicate id {rid!r}", rid))
                        continue
                    if first is not None and oid in in_output:
                        self.summary.skipped += 1
                        continue
                    if left is not None:
                        left -= 1
                    yield lineno, item
            finally:
                held.release()

    def write(self, records: Sequence[Writable]) -> int:
        """Append one batch durably (flush + fsync)."""
        assert self.writer is not None, "open the stage first"
        n = self.writer.write_batch(records)
        self._written += n
        if self._unwritten:
            ids = [self.writer.id_of(r) for r in records]
            self._unwritten.difference_update(ids)
            self._written_since_check.update(ids)
        return n

    # --- closing ----------------------------------------------------------------------------------
    def close(self) -> None:
        """Close the output and the quarantine, release the lock (a crash leaves the manifest entry
        "running": resumable)."""
        if self._closed:
            return
        self._closed = True
        try:
            if self.writer is not None:
                self.writer.close()
        finally:
            try:
                self.quarantine.close()
            finally:
                if self._seen is not None:
                    self._seen.close()
                    self._seen = None
                self.lock.release()
        self.summary.quarantined = self.quarantine.count
        self.summary.seconds = time.perf_counter() - self._t0

    def storage_error(self, exc: OSError) -> StorageError:
        """``exc`` as the one line the user reads: the file, the records safely in the output, what to do."""
        try:
            safe = count_lines(self.output, complete=True) if self.output.exists() else 0
        except OSError:
            safe = (self.writer.existing if self.writer is not None else 0) + self._written
        return storage_error(exc, output=self.output, safe=safe)

    def finish(self, *, inputs: Sequence[str | Path] = (), artifacts: Sequence[str | Path] = ()) -> None:
        """Close and record the stage "finished" with ``summary.as_dict()``, its inputs and artifacts."""
        self.close()
        self.inputs += [Path(p) for p in inputs]
        self._record("finished", artifacts=[self.output, self.quarantine.path, *self.side_outputs, *artifacts])

    def _record(self, status: str, artifacts: Sequence[Path] = ()) -> None:
        finished = status == "finished"
        config = self.config.model_dump(mode="json") if isinstance(self.config, BaseModel) else self.config
        entry = stage_entry(config=dict(config) if config is not None else None, status=status,
                            started=self.started, finished=now() if finished else None,
                            settings=self._settings_recorded, settings_hash=self.settings_hash, seed=self.seed,
                            generation=self.generation, inputs=file_hashes(self.inputs) if finished else {},
                            summary=self.summary.as_dict() if finished else {})
        record_stage(self.directory, self.name, entry, artifacts)

    def __enter__(self) -> Stage:
        try:
            return self.open()
        except OSError as exc:
            if is_storage_error(exc):
                raise self.storage_error(exc) from exc
            raise

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        try:
            self.close()
        except OSError as failed:
            if exc is None:  # else the first error is the one to report
                if is_storage_error(failed):
                    raise self.storage_error(failed) from failed
                raise
        if exc is not None and is_storage_error(exc):
            raise self.storage_error(exc) from exc
