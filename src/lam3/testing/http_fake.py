"""What every local fake API server shares: a threaded HTTP/1.1 server on 127.0.0.1, a log of arrivals, a quota.

:class:`FakeServer` starts and stops the server (it never outlives a forgotten test:
``lifetime_s``), hands each request to the subclass's :meth:`FakeServer.handle`, and keeps the
log of arrivals (each a frozen dataclass with ``t`` and ``status``) that tests count windows
in. :class:`QuotaWindow` is the server side of a rate limit. :mod:`lam3.testing.fake_apis`
(Perspective, OpenAI Moderation) and :mod:`lam3.testing.fake_chat` (chat completions) build on it.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections import deque
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit


@dataclass
class Reply:
    """What a fake answers: a status and JSON body (or raw bytes), headers, a hang-up or a delay."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None
    drop: bool = False
    delay_s: float = 0.0


class Refusal(Exception):
    """Raised inside ``handle`` to answer with an error :class:`Reply`."""

    def __init__(self, reply: Reply) -> None:
        super().__init__(reply.status)
        self.reply = reply


def max_in_window(times: list[float], window_s: float = 1.0) -> int:
    """Most of ``times`` inside any half-open window of ``window_s`` seconds."""
    times, best, lo = sorted(times), 0, 0
    for hi, t in enumerate(times):
        while times[lo] <= t - window_s:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


class QuotaWindow:
    """At most ``floor(quota)`` accepted arrivals per ``floor(quota) / quota`` seconds (at least one)."""

    def __init__(self, quota: float) -> None:
        self.limit = max(1, math.floor(quota))
        self.window_s = self.limit / quota
        self._accepted: deque[float] = deque()
        self.lock = threading.Lock()

    def admit(self, now: float) -> float | None:
        """None when the arrival at ``now`` is accepted, else the seconds until a slot frees."""
        with self.lock:
            while self._accepted and self._accepted[0] <= now - self.window_s:
                self._accepted.popleft()
            if len(self._accepted) < self.limit:
                self._accepted.append(now)
                return None
            return self._accepted[0] + self.window_s - now


class FakeServer:
    """Base of the fake APIs; a context manager, or start()/stop(). Subclasses implement :meth:`handle`."""

    thread_name = "fake-api"

    def __init__(self, *, lifetime_s: float = 600.0, max_requests: int = 100_000) -> None:
        self.lifetime_s = lifetime_s
        self.max_requests = max_requests
        self.stopped = threading.Event()
        self.lock = threading.Lock()
        self._hits: list[Any] = []
        self._httpd: ThreadingHTTPServer | None = None
        self._timer: threading.Timer | None = None

    # -- life cycle ------------------------------------------------------------------------------
    def start(self) -> Any:
        handler = type("Handler", (_Handler,), {"app": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name=self.thread_name,
                         daemon=True).start()
        self._timer = threading.Timer(self.lifetime_s, self.stop)  # never outlives a forgotten test
        self._timer.daemon = True
        self._timer.start()
        return self

    def stop(self) -> None:
        if self.stopped.is_set():
            return
        self.stopped.set()
        if self._timer is not None and self._timer is not threading.current_thread():
            self._timer.cancel()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._httpd is not None, "start() the server first"
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    # -- what happened ---------------------------------------------------------------------------
    @property
    def hits(self) -> list[Any]:
        with self.lock:
            return list(self._hits)

    def reset_log(self) -> None:
        with self.lock:
            self._hits.clear()

    def log(self, hit: Any, reply: Reply) -> Reply:
        """Record ``hit`` with the reply's status; return the reply."""
        with self.lock:
            self._hits.append(replace(hit, status=reply.status))
        return reply

    def check_budget(self) -> None:
        """Past ``max_requests`` the server answers 503 and stops itself."""
        with self.lock:
            spent = len(self._hits) >= self.max_requests
        if spent:
            threading.Thread(target=self.stop, daemon=True).start()
            raise Refusal(Reply(503, {"error": {"message": "fake server request budget spent"}}))

    def serve_until_stopped(self, announce: dict[str, Any], log_path: str | None, row: Any,
                            summary: Any) -> None:
        """The fakes' command line: print ``announce``, serve until the lifetime ends or Ctrl-C, then write
        every hit as ``row(hit)`` JSON lines to ``log_path`` (if given) and print ``summary(self)``."""
        print(json.dumps(announce), flush=True)
        try:
            self.stopped.wait()
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()
            if log_path:
                with open(log_path, "w", encoding="utf-8") as fh:
                    for hit in self.hits:
                        fh.write(json.dumps(row(hit)) + "\n")
            print(json.dumps({"requests": len(self.hits), **summary(self)}), flush=True)

    # -- request handling (called on server threads) ---------------------------------------------
    def handle(self, method: str, path: str, query: str, headers: Any, raw: bytes, arrived: float) -> Reply:
        raise NotImplementedError


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like the real APIs
    app: FakeServer

    def _serve(self, method: str) -> None:
        arrived = time.monotonic()
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length > 0 else b""
        parts = urlsplit(self.path)
        reply = self.app.handle(method, parts.path, parts.query, self.headers, raw, arrived)
        if reply.drop:
            self.close_connection = True  # hang up without a status line
            return
        if reply.delay_s:
            time.sleep(reply.delay_s)
        payload = reply.raw if reply.raw is not None else json.dumps(reply.body).encode()
        try:
            self.send_response(reply.status)
            self.send_header("content-type", "application/json; charset=UTF-8")
            self.send_header("content-length", str(len(payload)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout): nothing to do
            self.close_connection = True

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        self._serve("POST")

    def do_GET(self) -> None:  # noqa: N802
        self._serve("GET")

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet: tests read .hits instead
        return
