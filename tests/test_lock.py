"""lam3.lock: one writer per output, taken before anything is checked or deleted; the manifest in turn."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from lam3.bench.importers.stage import import_benchmark
from lam3.errors import OutputBusy
from lam3.lock import OutputLock, lock_path
from lam3.manifest import read_manifest
from lam3.pipeline.fuse import fuse_files
from lam3.store import JsonlWriter

HOLD = ("import sys; from lam3.lock import OutputLock; lock = OutputLock(sys.argv[1]).acquire(); "
        "print('held', flush=True); sys.stdin.read()")


@contextmanager
def held_elsewhere(output: Path) -> Iterator[subprocess.Popen]:
    """Another process holding the lock on ``output`` until the block ends."""
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(output)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout.readline().strip() == "held"
        yield proc
    finally:
        proc.stdin.close()
        proc.wait(timeout=30)


def _can_lock_elsewhere(output: Path) -> bool:
    probe = subprocess.run([sys.executable, "-c", "import sys; from lam3.lock import OutputLock; "
                            "OutputLock(sys.argv[1]).acquire()", str(output)], capture_output=True, text=True)
    return probe.returncode == 0


def test_a_writer_is_refused_while_another_process_holds_the_output(tmp_path) -> None:
    out = tmp_path / "out.jsonl"
    with held_elsewhere(out) as holder:
        with pytest.raises(OutputBusy, match=rf"^{out}: another process is writing this file: pid {holder.pid} on "):
            JsonlWriter(out)
        assert not out.exists()
    with JsonlWriter(out) as writer:  # released when the holder ended
        writer.write_batch([{"id": "a"}])
    assert lock_path(out).name == ".out.jsonl.lock" and lock_path(out).exists()  # left in place, by design


def test_the_lock_is_reentrant_within_a_process_and_released_by_the_last_holder(tmp_path) -> None:
    out = tmp_path / "out.jsonl"
    outer = OutputLock(out).acquire()
    with JsonlWriter(out) as writer:  # a Stage holds the lock, its writer takes it again
        writer.write_batch([{"id": "a"}])
    assert not _can_lock_elsewhere(out)  # the writer's release left the outer hold in place
    outer.release()
    assert _can_lock_elsewhere(out)


def test_fuse_and_bench_import_take_the_lock_before_deleting_anything(tmp_path) -> None:
    fused = tmp_path / "run" / "fused.jsonl"
    fused.parent.mkdir()
    fused.write_text('{"id": "kept"}\n')
    samples = tmp_path / "bench" / "samples.jsonl"
    samples.parent.mkdir()
    samples.write_text('{"id": "kept"}\n')
    with held_elsewhere(fused), held_elsewhere(samples):
        with pytest.raises(OutputBusy, match=rf"^{fused}: another process"):
            fuse_files([tmp_path / "scored.jsonl"], tmp_path / "ensemble.yaml", fused, overwrite=True)
        with pytest.raises(OutputBusy, match=rf"^{samples}: another process"):
            import_benchmark("jailbreakv", tmp_path / "source.csv", samples.parent, overwrite=True)
    assert fused.read_text() == samples.read_text() == '{"id": "kept"}\n'  # --overwrite deleted nothing


RECORD = ("import sys; from lam3.manifest import record_stage, stage_entry\n"
          "for i in range(12):\n"
          "    record_stage(sys.argv[1], f'{sys.argv[2]}:{i}', stage_entry(status='finished'))\n")


def test_two_processes_updating_one_manifest_lose_no_entry(tmp_path) -> None:
    procs = [subprocess.Popen([sys.executable, "-c", RECORD, str(tmp_path), name]) for name in ("a", "b")]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    assert sorted(read_manifest(tmp_path).stages) == sorted(f"{n}:{i}" for n in "ab" for i in range(12))
