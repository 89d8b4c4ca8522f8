"""`lam3 view` refuses what it cannot serve with one line, before it listens anywhere."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from lam3.report.viewer.server import is_loopback


def view(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lam3", "view", *map(str, args)], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "COLUMNS": "200"})


def test_a_run_without_fused_jsonl_is_refused(tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    proc = view(tmp_path / "run")
    assert proc.returncode == 2
    assert "no fused.jsonl in this run: run `lam3 fuse … -o RUN/fused.jsonl` first" in proc.stderr


def test_one_reviews_file_for_several_runs_is_refused(run1k: Path, damaged: Path, tmp_path: Path) -> None:
    proc = view(run1k, damaged, "--reviews", tmp_path / "r.jsonl")
    assert proc.returncode == 2 and "--reviews names one file" in proc.stderr


def test_help_warns_about_other_hosts() -> None:
    proc = view("--help")
    assert proc.returncode == 0 and "WARNING: anything but 127.0.0.1" in " ".join(proc.stdout.split())
    assert is_loopback("127.0.0.1") and is_loopback("::1") and not is_loopback("0.0.0.0")
