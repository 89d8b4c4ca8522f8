"""One writer per output: an exclusive advisory lock beside each file a stage writes.

Starting the same ``lam3 score … -o out.jsonl`` twice (two terminals, a retried pipeline) once
wrote 195,392 duplicate lines without a word. Every writer of an output therefore holds
``fcntl.flock(LOCK_EX)`` on a hidden lock file beside it, ``.out.jsonl.lock``, for as long as it
writes:

- **A second writer stops at once** with one line naming the file and the holder: the holder
  writes its pid, host, start time and command into the lock file when it gets the lock.
- **A killed writer never blocks a rerun.** The kernel releases a flock when its process dies
  (even on SIGKILL); the stale file left behind is simply locked again and its contents overwritten.
- **The lock file is never deleted.** Deleting it would let two processes lock two different files
  of the same name. It is hidden, so ``lam3 pack`` leaves it out.
- **Re-entrant within a process**: :class:`lam3.pipeline.stage.Stage` holds the lock for the whole
  run and its :class:`lam3.store.JsonlWriter` takes it again; the count is per lock file. Threads
  of one process share it, and coordinate among themselves.

``wait`` (seconds) makes a short read-modify-write wait its turn instead of failing: the manifest
every stage of a run folder updates, a label saved from ``lam3 view``. On a system without
``fcntl`` (Windows) nothing is locked.
"""

from __future__ import annotations

import json
import os
import shlex
import socket
import sys
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from lam3.errors import OutputBusy

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no advisory locks
    fcntl = None  # type: ignore[assignment]

_held: dict[str, list[int]] = {}  # lock file (real path) → [fd, holds]
_guard = threading.Lock()


def lock_path(output: str | Path) -> Path:
    """The lock file of ``output``: ``.NAME.lock`` in the same folder."""
    output = Path(output)
    return output.with_name(f".{output.name}.lock")


def is_lock_file(path: Path) -> bool:
    """True for a lock file (a folder holding only lock files holds no output)."""
    return path.name.startswith(".") and path.name.endswith(".lock") and path.is_file()


def _holder() -> bytes:
    command = shlex.join(["lam3", *sys.argv[1:]]) if Path(sys.argv[0]).name in ("lam3", "__main__.py") \
        else shlex.join(sys.argv)
    started = datetime.now().astimezone().isoformat(timespec="seconds")  # as lam3.manifest.now (which locks)
    return json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": started,
                       "command": command[:300]}).encode() + b"\n"


def _describe(raw: bytes) -> str:
    try:
        info: Any = json.loads(raw)
        return (f"pid {int(info['pid'])} on {info['host']}, since {info['started']}"
                + (f" ({info['command']})" if info.get("command") else ""))
    except (ValueError, KeyError, TypeError):
        return "a process that has not said who it is yet"


class OutputLock:
    """``with OutputLock(out): ...`` — hold the exclusive lock on ``out`` (see the module docstring)."""

    def __init__(self, output: str | Path, *, wait: float = 0.0) -> None:
        self.output = Path(output)
        self.path = lock_path(self.output)
        self.wait = wait
        self._key: str | None = None

    def acquire(self) -> OutputLock:
        """Take the lock; :class:`lam3.errors.OutputBusy` when another process holds it (after ``wait`` s)."""
        if fcntl is None or self._key is not None:
            return self
        key = os.path.realpath(self.path)
        with _guard:
            if key in _held:
                _held[key][1] += 1
                self._key = key
                return self
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
            try:
                self._lock(fd)
                os.ftruncate(fd, 0)
                os.pwrite(fd, _holder(), 0)
            except BaseException:
                os.close(fd)  # closing drops the lock, if it was taken
                raise
            _held[key] = [fd, 1]
            self._key = key
        return self

    def _lock(self, fd: int) -> None:
        deadline = time.monotonic() + self.wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = _describe(os.pread(fd, 4096, 0))
                    raise OutputBusy(f"another process is writing this file: {holder}; wait for it to finish "
                                     "or stop it (a stopped or killed process releases it at once)",
                                     path=self.output) from None
                time.sleep(0.05)

    def release(self) -> None:
        if self._key is None:
            return
        with _guard:
            entry = _held[self._key]
            entry[1] -= 1
            if entry[1] == 0:
                del _held[self._key]
                os.close(entry[0])  # the lock goes with the descriptor; the file stays (see the docstring)
            self._key = None

    def __enter__(self) -> OutputLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
