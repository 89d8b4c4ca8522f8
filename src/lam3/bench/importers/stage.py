"""The import stage: a public benchmark's downloaded files → ``DIR/samples.jsonl`` + ``DIR/images/``.

- **Streaming.** Drafts are written in batches as the source is read; memory holds one batch.
- **Resumable.** Rerunning the same command skips the ids already in ``samples.jsonl`` (a torn
  last line is cut off) and finishes the import; images are written to a temp name and renamed,
  so a crash never leaves half an image. A rerun with another source, format or image folder
  is refused (``--overwrite`` starts again).
- **Per-sample errors.** A row that cannot become a sample (an image outside the dataset root
  or missing, an unmapped category, a duplicate id, an empty required cell) goes to
  ``DIR/samples.quarantine.jsonl`` as ``file:line: column: reason`` and the import goes on.
  Every run re-reads the whole source, so the quarantine file is rewritten by each run.
- **Images** are placed inside ``DIR`` (``images/<path under the dataset root>``) so the benchmark
  folder is self-contained (``lam3 push`` carries it to the GPU server): a hard link when the
  dataset is on the same file system, a copy otherwise. FigStep images are rendered.
- **Provenance.** ``DIR/manifest.json`` records the format, the sha256 of every source file and of
  the category table, and the counts.

Resume check, duplicate ids, the durable writer and the manifest entries are the shared stage
skeleton's (:class:`lam3.pipeline.stage.Stage`).
"""

from __future__ import annotations

import os
import shutil
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lam3.bench.importers import get_importer
from lam3.bench.importers.base import IMAGES_DIR, Draft, ImageJob, RenderImage
from lam3.errors import UserError
from lam3.lock import OutputLock, is_lock_file
from lam3.manifest import read_manifest, sha256_file
from lam3.pipeline.stage import Stage, StageSummary
from lam3.store import BadLine, quarantine_path

SAMPLES_FILE = "samples.jsonl"
STAGE = "bench-import"
BATCH = 500


@dataclass
class ImportSummary(StageSummary):
    imported: int = 0
    images: Counter[str] = field(default_factory=Counter)
    categories: Counter[str] = field(default_factory=Counter)
    approximate: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"imported": self.imported, "skipped_already_done": self.skipped, "quarantined": self.quarantined,
                "images": dict(self.images), "categories": dict(sorted(self.categories.items())),
                "approximate_category": self.approximate, "seconds": round(self.seconds, 3)}


def _place(job: ImageJob, out_dir: Path, counts: Counter[str], placed: set[str]) -> None:
    """Put one image at ``out_dir/job.dest`` (once: an image shared by many rows is placed once)."""
    if job.dest in placed:
        return
    placed.add(job.dest)
    dest = out_dir / job.dest
    if dest.is_file() and (isinstance(job, RenderImage) or dest.stat().st_size == job.source.stat().st_size):
        return
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.tmp")
    tmp.unlink(missing_ok=True)
    if isinstance(job, RenderImage):
        from lam3.bench.typographic import render_figstep, save_png

        save_png(render_figstep(job.text), tmp)
        counts["rendered"] += 1
    else:
        try:
            os.link(job.source, tmp)
            counts["linked"] += 1
        except OSError:  # another file system, or links not allowed: copy
            shutil.copyfile(job.source, tmp)
            counts["copied"] += 1
    os.replace(tmp, dest)


def _prepare_out(out_dir: Path, overwrite: bool) -> None:
    """Refuse to write into a folder another tool filled; with ``overwrite``, remove what the last import wrote."""
    written = any(name.startswith(f"{STAGE}:") for name in read_manifest(out_dir).stages)
    if not written:
        if out_dir.is_dir() and any(not is_lock_file(p) for p in out_dir.iterdir()):
            raise UserError("not an empty folder nor one written by 'lam3 bench import': choose a new --out",
                            path=out_dir)
        return
    if overwrite:
        shutil.rmtree(out_dir / IMAGES_DIR, ignore_errors=True)


def import_benchmark(fmt: str, source: str | Path, out_dir: str | Path, *, images: str | Path | None = None,
                     limit: int | None = None, overwrite: bool = False,
                     progress: Callable[[int, int | None], None] | None = None,
                     on_bad: Callable[[BadLine], None] | None = None) -> ImportSummary:
    """Import benchmark ``source`` (format ``fmt``) into ``out_dir``; resumable (see module docstring).

    One import at a time per folder: the lock on ``samples.jsonl`` (:mod:`lam3.lock`) is held throughout.
    """
    with OutputLock(Path(out_dir) / SAMPLES_FILE):
        return _import_locked(fmt, source, out_dir, images=images, limit=limit, overwrite=overwrite,
                              progress=progress, on_bad=on_bad)


def _import_locked(fmt: str, source: str | Path, out_dir: str | Path, *, images: str | Path | None,
                   limit: int | None, overwrite: bool, progress: Callable[[int, int | None], None] | None,
                   on_bad: Callable[[BadLine], None] | None) -> ImportSummary:
    importer = get_importer(fmt)(Path(source), Path(images) if images is not None else None)
    out_dir = Path(out_dir)
    inputs = importer.inputs()
    settings = {"format": fmt, "source": str(Path(source).resolve()),
                "images": str(Path(images).resolve()) if images is not None else None,
                "inputs_sha256": {p.name: sha256_file(p) for p in inputs},
                "category_table": importer.table.path.name, "category_table_sha256": importer.table.sha256}
    _prepare_out(out_dir, overwrite)
    out_dir.mkdir(parents=True, exist_ok=True)
    samples = out_dir / SAMPLES_FILE
    quarantine_path(samples).unlink(missing_ok=True)  # every run re-reads the whole source
    summary = ImportSummary(samples)
    stage = Stage(STAGE, samples, summary, settings=settings, inputs=[*inputs, importer.table.path],
                  on_bad=on_bad, overwrite=overwrite, settings_name="import settings (source, format, image "
                  "folder or file contents)", restart_hint="pass --overwrite to start again or choose another --out")
    placed: set[str] = set()  # image destinations done this run (bounded by the distinct images)
    total = importer.estimate()
    done = 0

    def good(drafts: Iterator[Draft]) -> Iterator[tuple[int, Draft]]:
        nonlocal done
        for draft in drafts:
            done += 1
            if draft.error is not None:
                stage.quarantine.add(BadLine(str(draft.file), draft.line, draft.error.field, draft.error.reason, ""))
            else:
                yield draft.line, draft

    with stage:
        batch = []
        for _, draft in stage.pending(good(importer.drafts()), source=lambda d: d.file, key=lambda d: d.sample.id):
            if limit is not None and summary.imported + len(batch) >= limit:
                break
            for job in draft.images:
                _place(job, out_dir, summary.images, placed)
            batch.append(draft.sample)
            summary.categories[draft.sample.category] += 1
            summary.approximate += not draft.sample.meta.get("category_exact", True)
            if len(batch) >= BATCH:
                summary.imported += stage.write(batch)
                batch = []
                if progress:
                    progress(done, max(total or 0, done) or None)
        summary.imported += stage.write(batch)
        if progress:
            progress(done, done)
        stage.finish()
    return summary
