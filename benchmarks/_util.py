"""Shared helpers for benchmark scripts: peak RSS of a child command, machine description."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time


def run_measured(cmd: list[str]) -> tuple[float, int, int]:
    """Run ``cmd`` in a fresh wrapper process; return (seconds, peak RSS in KiB, return code)."""
    wrapper = (
        "import resource, subprocess, sys, time, json;"
        "t=time.perf_counter(); rc=subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode;"
        "print(json.dumps([time.perf_counter()-t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, rc]))"
    )
    out = subprocess.run([sys.executable, "-c", wrapper, *cmd], capture_output=True, text=True, check=True)
    import json

    seconds, rss, rc = json.loads(out.stdout.strip().splitlines()[-1])
    return seconds, rss, rc


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, {time.strftime('%Y-%m-%d')}"
