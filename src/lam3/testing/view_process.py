"""Start ``lam3 view`` as a user would (a subprocess on an ephemeral port) and read the URL it prints.

Used by the browser tests and by ``benchmarks/bench_viewer.py``, so both talk to the real command.
"""

from __future__ import annotations

import queue
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

URL_LINE = re.compile(r"open (http://127\.0\.0\.1:\d+)/#token=(\S+)")


@contextmanager
def running_viewer(*args: str | Path, timeout: float = 120) -> Iterator[tuple[str, str]]:
    """Run ``lam3 view ARGS --port 0``; yield ``(base URL, write token)``; stop it afterwards.

    A thread keeps reading the command's output (so a chatty server never blocks on a full pipe).
    """
    proc = subprocess.Popen([sys.executable, "-m", "lam3", "view", *map(str, args), "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: queue.Queue[str] = queue.Queue()

    def drain() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)
        lines.put("")

    threading.Thread(target=drain, daemon=True).start()
    try:
        yield _read_url(lines, timeout)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _read_url(lines: queue.Queue[str], timeout: float) -> tuple[str, str]:
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        try:
            line = lines.get(timeout=left)
        except queue.Empty:
            break
        seen.append(line)
        found = URL_LINE.search(line)
        if found:
            return found.group(1), found.group(2)
        if not line:
            break
    raise RuntimeError("lam3 view printed no URL:\n" + "".join(seen))
