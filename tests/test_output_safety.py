"""One writer per output, and storage errors that say how to resume — ``lam3 score`` as a user runs it.

- two ``lam3 score`` onto one output: the second stops at once naming the holder, the first finishes,
  one line per id;
- a writer killed with SIGKILL leaves its lock file behind, and the rerun is not blocked by it;
- a disk that fills up mid-run (an injected ENOSPC: ``tests/faults/sitecustomize.py``; or a real,
  small tmpfs where this machine may mount one), a read-only file system, a permission refused, the
  output deleted under the writer: one line with the file, the records already safe and the command
  that resumes, exit code 4, no traceback; running that command completes exactly what is missing.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_score_cli import CONFIG, comparable, lam3, make_input

FAULTS = Path(__file__).parent / "faults"
N = 4000


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> tuple[Path, Path, dict]:
    """The config, the input and what an uninterrupted run writes."""
    root = tmp_path_factory.mktemp("reference")
    cfg = root / "cfg.yaml"
    cfg.write_text(CONFIG)
    inp = make_input(root / "in.jsonl", N)
    ref = root / "ref.jsonl"
    assert lam3("score", inp, "--config", cfg, "--out", ref).returncode == 0
    return cfg, inp, comparable(ref)


def _start(*args: object, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "lam3", *map(str, args)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, **kw)


def _wait_for_output(out: Path, proc: subprocess.Popen, min_bytes: int = 1) -> None:
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None and not (out.exists() and out.stat().st_size >= min_bytes):
        time.sleep(0.005)
    assert proc.poll() is None, "the first writer should still be running"


def _ids(path: Path) -> list[str]:
    return [json.loads(line)["id"] for line in path.read_text().splitlines()]


def test_a_second_writer_is_refused_at_once_and_the_first_finishes(tmp_path, reference) -> None:
    cfg, inp, ref = reference
    out = tmp_path / "out.jsonl"
    first = _start("score", inp, "--config", cfg, "--out", out)
    _wait_for_output(out, first)
    os.kill(first.pid, signal.SIGSTOP)  # hold the first mid-run, lock held, while the second tries
    try:
        size = out.stat().st_size
        second = lam3("score", inp, "--config", cfg, "--out", out)
        assert out.stat().st_size == size  # the second wrote nothing
    finally:
        os.kill(first.pid, signal.SIGCONT)
    assert second.returncode == 5 and "Traceback" not in second.stderr
    line = second.stderr.strip()
    assert "\n" not in line
    assert line.startswith(f"error: {out}: another process is writing this file: pid {first.pid} on "
                           f"{socket.gethostname()}, since ")
    assert f"(lam3 score {inp} --config {cfg} --out {out})" in line
    assert first.wait(timeout=120) == 0, first.stderr.read()
    ids = _ids(out)
    assert len(ids) == len(set(ids)) == N
    assert comparable(out) == ref


def test_a_lock_left_by_a_killed_writer_does_not_block_the_rerun(tmp_path, reference) -> None:
    cfg, inp, ref = reference
    out = tmp_path / "out.jsonl"
    proc = _start("score", inp, "--config", cfg, "--out", out)
    _wait_for_output(out, proc, min_bytes=50_000)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    lock = tmp_path / ".out.jsonl.lock"
    assert json.loads(lock.read_text())["pid"] == proc.pid  # the stale lock file is still there
    done = lam3("score", inp, "--config", cfg, "--out", out)
    assert done.returncode == 0, done.stderr
    assert comparable(out) == ref and len(_ids(out)) == N
    assert json.loads(lock.read_text())["pid"] != proc.pid  # taken over, contents overwritten


def _faulty(fault: dict, out: Path) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(FAULTS), os.environ.get("PYTHONPATH", "")]),
           "LAM3_FAULT": json.dumps({"path": str(out), **fault})}
    return env


def _complete_lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


@pytest.mark.parametrize("fault, what, fix", [
    ({"errno": 28}, "no space left on device [ENOSPC]", "free some space"),
    ({"errno": 30}, "read-only file system [EROFS]", "make it writable"),
    ({"errno": 13}, "permission denied [EACCES]", "fix the permissions"),
    ({"vanish": True}, "the output was deleted or replaced while it was being written (records written into "
                       "the old file are not in it) [ENOENT]", "make sure nothing else deletes or moves it"),
])
def test_a_storage_error_is_one_line_with_the_resume_command(tmp_path, reference, fault, what, fix) -> None:
    cfg, inp, ref = reference
    out = tmp_path / "my run" / "scored.jsonl"  # a space, so the printed command must be quoted
    args = ["score", str(inp), "--config", str(cfg), "--out", str(out)]
    failed = lam3(*args, env=_faulty({"after_bytes": 300_000, **fault}, out))
    assert failed.returncode == 4 and "Traceback" not in failed.stderr
    line = failed.stderr.strip()
    assert "\n" not in line
    safe = _complete_lines(out)
    assert (0 < safe < N) if "vanish" not in fault else safe == 0
    rerun = shlex.join(["lam3", *args])
    assert line == (f"error: {out}: {what}; {safe} records are safely written there, and a rerun does only the "
                    f"rest; {fix}, then rerun the same command: {rerun}")

    command = shlex.split(line.rsplit(": ", 1)[1])
    assert command[0] == "lam3" and command[1:] == args
    done = lam3(*command[1:])
    assert done.returncode == 0, done.stderr
    ids = _ids(out)
    assert len(ids) == len(set(ids)) == N  # nothing lost, nothing twice
    assert comparable(out) == ref


def test_a_real_full_tmpfs_then_more_space(tmp_path, reference) -> None:
    cfg, inp, ref = reference
    mnt = tmp_path / "small"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(mnt)],
                      capture_output=True).returncode != 0:
        pytest.skip("this machine does not let the tests mount a tmpfs (the injected ENOSPC test covers it)")
    try:
        out = mnt / "scored.jsonl"
        full = lam3("score", inp, "--config", cfg, "--out", out)
        assert full.returncode == 4 and "Traceback" not in full.stderr, full.stderr
        line = full.stderr.strip()
        assert "\n" not in line and "no space left on device [ENOSPC]" in line
        assert f"{_complete_lines(out)} records are safely written" in line
        assert line.endswith(f"free some space, then rerun the same command: lam3 score {inp} --config {cfg} "
                             f"--out {out}")
        subprocess.run(["mount", "-o", "remount,size=64m", str(mnt)], check=True)
        done = lam3("score", inp, "--config", cfg, "--out", out)
        assert done.returncode == 0, done.stderr
        assert len(_ids(out)) == N and comparable(out) == ref
    finally:
        subprocess.run(["umount", str(mnt)], capture_output=True)
