"""The viewer's web app (Starlette) and how it is served (uvicorn).

Security, because the page shows untrusted model text and can write labels:

- it binds to 127.0.0.1 unless ``--host`` says otherwise, and answers only requests whose
  ``Host`` is a loopback name (a page elsewhere cannot reach it through DNS rebinding);
- every write needs the random token printed at start, in the ``X-LAM3-Token`` header, compared
  in constant time (missing → 401, wrong → 403); a write from another origin is refused, and
  a custom header cannot be sent cross-origin without a CORS preflight, which this app never allows;
- every response carries a Content-Security-Policy with ``script-src 'self'`` and no
  ``'unsafe-inline'``: the page's only script is ``/static/app.js``, and even a payload that
  slipped into the DOM could not run; the script itself builds the DOM with ``textContent``;
- images are served only as :mod:`.images` allows (paths the records name, inside the run).
"""

from __future__ import annotations

import hmac
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lam3.config import dotted
from lam3.errors import UserError
from lam3.pipeline.rundir import RunDir
from lam3.report.viewer.images import FULL_SIDE, THUMB_SIDE, ImageRefused, render, resolve_image
from lam3.report.viewer.index import RunIndex
from lam3.report.viewer.queries import (CompareQuery, ListQuery, NotFound, QueryError, Stale, compare_page,
                                        list_page, parse_query, raw_line, record)
from lam3.report.viewer.reviews import REVIEW_METRICS, ReviewFileError

TOKEN_HEADER = "X-LAM3-Token"
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
       "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
SECURITY_HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cross-origin-resource-policy": "same-origin",
}
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1", "[::1]")
MAX_BODY_BYTES = 1 << 20
STATIC = Path(__file__).parent / "static"
REVIEWS_FILE = "reviews.jsonl"
STATIC_FILES = {"app.js": "text/javascript; charset=utf-8", "style.css": "text/css; charset=utf-8"}


def is_loopback(host: str) -> bool:
    return host in LOOPBACK_NAMES or host.startswith("127.")


class SecurityHeaders:
    """Pure ASGI middleware: the headers above on every response (errors included); no-store by default."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers[name] = value
                if "cache-control" not in headers:
                    headers["cache-control"] = "no-store"
            await send(message)

        await self.app(scope, receive, send_with_headers)


class LabelRequest(BaseModel):
    """One write from the page: the same labels for one or more responses of one run."""

    model_config = ConfigDict(extra="forbid")

    ids: list[str] = Field(min_length=1, max_length=1000)
    labels: dict[str, StrictBool] = Field(min_length=1)
    reviewer: str = Field(min_length=1, max_length=120, pattern=r"\S")
    note: str = Field("", max_length=2000)


@dataclass
class Viewer:
    """What the app serves: the runs by key, the write token, the reviewer name the page starts with."""

    runs: dict[str, RunIndex]
    token: str
    reviewer: str = ""

    @classmethod
    def open(cls, runs: list[Path], *, token: str, reviews: Path | None = None, images: Path | None = None,
             reviewer: str = "", rebuild: bool = False,
             progress: Callable[[str], Callable[[int, int], None]] | None = None) -> Viewer:
        """Index every run (reused when current). ``progress(run name)`` gives a bar's update function."""
        if reviews is not None and len(runs) != 1:
            raise UserError("--reviews names one file: with several runs, each run's labels go to RUN/reviews.jsonl")
        indexes: dict[str, RunIndex] = {}
        for path in runs:
            run = RunDir.open(path)
            key = run.name
            while key in indexes:
                key += "~"
            indexes[key] = RunIndex(run, key, reviews=reviews or run.path / REVIEWS_FILE,
                                    image_root=images or run.path, rebuild=rebuild,
                                    progress=progress(run.name) if progress else None)
        return cls(indexes, token=token, reviewer=reviewer)

    def run(self, key: str) -> RunIndex:
        try:
            return self.runs[key]
        except KeyError:
            raise NotFound(f"no run {key!r} in this viewer") from None

    def info(self, idx: RunIndex) -> dict[str, Any]:
        idx.refresh()
        meta = idx.meta
        return {"key": idx.key, "name": idx.run.name, "path": str(idx.run.path), "records": meta["records"],
                "errors": meta["errors"], "metrics": meta["metrics"], "built": meta["built"],
                "build_seconds": meta["build_seconds"], "index": meta["sha256"][:12],
                "review_metrics": [m for m in REVIEW_METRICS if m in meta["metrics"]],
                "judges": idx.judge_columns(), "facets": idx.facets(), "quarantined": idx.quarantined(),
                "reviews": {"path": str(idx.reviews.path), "count": idx.reviews.count, "error": idx.reviews.error}}


def _json(data: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(data, status_code=status)


def _error(status: int) -> Callable[[Request, Exception], Response]:
    def handler(request: Request, exc: Exception) -> Response:
        return _json({"error": str(exc)}, status)
    return handler


def _image_refused(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ImageRefused)
    return _json({"error": str(exc)}, exc.status)


def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return _json({"error": exc.detail}, exc.status_code)


def check_write(request: Request, token: str) -> None:
    """The token (constant-time), same origin, a JSON body: or the write is refused."""
    given = request.headers.get(TOKEN_HEADER)
    if not given:
        raise HTTPException(401, f"writes need the {TOKEN_HEADER} header: the token `lam3 view` printed at start")
    if not hmac.compare_digest(given.encode("utf-8", "replace"), token.encode()):
        raise HTTPException(403, f"wrong {TOKEN_HEADER}: use the token `lam3 view` printed at start")
    origin = request.headers.get("origin")
    if origin is not None and origin != f"{request.url.scheme}://{request.headers.get('host')}":
        raise HTTPException(403, f"cross-origin write refused (origin {origin})")
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        raise HTTPException(415, "send the labels as application/json")


def save_labels(idx: RunIndex, req: LabelRequest) -> dict[str, Any]:
    allowed = [m for m in REVIEW_METRICS if m in idx.meta["metrics"]]
    for metric in req.labels:
        if metric not in allowed:
            raise QueryError(f"labels.{metric}: not a metric people can label in this run "
                             f"(one of {', '.join(allowed) or 'none'})")
    ids = list(dict.fromkeys(req.ids))
    db = idx.db()
    found = {r[0] for r in db.execute(f"SELECT id FROM rec WHERE bad = 0 AND id IN "
                                      f"({', '.join('?' * len(ids))})", ids)}
    missing = [rid for rid in ids if rid not in found]
    if missing:
        raise NotFound(f"ids: {missing[0]!r} is not a readable response of run {idx.key}")
    lines = idx.reviews.add(ids, req.labels, req.reviewer.strip(), req.note)
    idx.refresh()
    return {"saved": lines, "reviews": str(idx.reviews.path), "count": idx.reviews.count}


def create_app(viewer: Viewer, *, allowed_hosts: list[str] | None = None) -> Starlette:
    """The Starlette app; ``allowed_hosts=None`` accepts loopback Host headers only."""
    page = (STATIC / "index.html").read_bytes()
    static = {name: (STATIC / name).read_bytes() for name in STATIC_FILES}

    def index(request: Request) -> Response:
        return Response(page, media_type="text/html; charset=utf-8")

    def static_file(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in static:
            raise HTTPException(404, "no such file")
        return Response(static[name], media_type=STATIC_FILES[name])

    def favicon(request: Request) -> Response:
        return Response(status_code=204)

    def runs(request: Request) -> Response:
        return _json({"runs": [viewer.info(idx) for idx in viewer.runs.values()], "reviewer": viewer.reviewer,
                      "token_header": TOKEN_HEADER})

    def rows(request: Request) -> Response:
        idx = viewer.run(request.path_params["run"])
        return _json(list_page(idx, parse_query(ListQuery, request.query_params.multi_items())))

    def one(request: Request) -> Response:
        idx = viewer.run(request.path_params["run"])
        return _json(record(idx, request.path_params["n"]))

    def raw(request: Request) -> Response:
        idx = viewer.run(request.path_params["run"])
        n = request.path_params["n"]
        _, data = raw_line(idx, n)
        return Response(data, media_type="text/plain; charset=utf-8",
                        headers={"content-disposition": f'attachment; filename="{idx.key}-line-{n}.json"'})

    def image(request: Request) -> Response:
        idx = viewer.run(request.path_params["run"])
        n, i = request.path_params["n"], request.path_params["i"]
        size = request.query_params.get("size", "thumb")
        if size not in ("thumb", "full"):
            raise QueryError("size: thumb or full")
        row = idx.db().execute("SELECT images FROM body WHERE n = ?", (n,)).fetchone()
        names = json.loads(row["images"]) if row is not None and row["images"] else []
        if not 0 <= i < len(names):
            raise NotFound(f"line {n} names no image {i}")
        path = resolve_image(idx.image_root, names[i])
        png = render(path, THUMB_SIDE if size == "thumb" else FULL_SIDE)
        return Response(png, media_type="image/png", headers={"cache-control": "private, max-age=600"})

    def compare(request: Request) -> Response:
        q = parse_query(CompareQuery, request.query_params.multi_items())
        return _json(compare_page(viewer.run(q.left), viewer.run(q.right), q))

    async def label(request: Request) -> Response:
        check_write(request, viewer.token)
        idx = viewer.run(request.path_params["run"])
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            raise HTTPException(413, "request too large")
        try:
            req = LabelRequest.model_validate_json(body)
        except ValidationError as exc:
            first = exc.errors()[0]
            raise QueryError(f"{dotted(tuple(first['loc']))}: {first['msg']}") from None
        return _json(await run_in_threadpool(save_labels, idx, req))

    routes = [
        Route("/", index),
        Route("/static/{name}", static_file),
        Route("/favicon.ico", favicon),
        Route("/api/runs", runs),
        Route("/api/runs/{run}/rows", rows),
        Route("/api/runs/{run}/records/{n:int}", one),
        Route("/api/runs/{run}/records/{n:int}/raw", raw),
        Route("/api/runs/{run}/images/{n:int}/{i:int}", image),
        Route("/api/runs/{run}/reviews", label, methods=["POST"]),
        Route("/api/compare", compare),
    ]
    handlers: dict[Any, Callable[[Request, Exception], Response]] = {
        QueryError: _error(400), NotFound: _error(404), Stale: _error(409), ReviewFileError: _error(409),
        ImageRefused: _image_refused, HTTPException: _http_error,
    }
    hosts = list(LOOPBACK_NAMES) if allowed_hosts is None else allowed_hosts
    return Starlette(routes=routes, exception_handlers=handlers,
                     middleware=[Middleware(SecurityHeaders), Middleware(TrustedHostMiddleware, allowed_hosts=hosts)])


# --- serving -----------------------------------------------------------------------------------------
def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (0 = a free port), bound before uvicorn starts."""
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    # proto must say TCP: asyncio sets TCP_NODELAY on accepted sockets only then, and without it a small
    # response on a kept-alive connection waits ~40 ms for a delayed ACK (Nagle)
    sock = socket.socket(family, kind, proto or socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(address)
    sock.listen(128)
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://{'[' + host + ']' if ':' in host else host}:{port}"


def make_server(app: ASGIApp) -> Any:
    import uvicorn

    return uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off",
                                         server_header=False))


@contextmanager
def serving(app: ASGIApp, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve ``app`` from a background thread (tests and benchmarks); yield its base URL."""
    sock = bind(host, port)
    server = make_server(app)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True, name="lam3-view")
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            sock.close()
            raise RuntimeError("the viewer's server did not start")
        time.sleep(0.01)
    try:
        yield url_of(sock)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
