"""The one remote-judge base: judges that sit behind an HTTP API (Perspective, OpenAI Moderation).

:class:`RemoteJudge` is the judge side every such judge shares: the key from the
environment, the runner's life cycle, the per-record loop (a record that cannot be sent
becomes that record's error) and the switch to a fallback judge when the endpoint is
gone. A subclass says how to prepare, send and read one record.

A remote judge sends one request per record. :class:`RemoteRunner` does the
parts every such judge needs, once:

* a rate limit that the server never sees exceeded, in two layers: an
  ``aiolimiter`` leaky bucket that drains one request every
  ``1 / requests_per_second`` seconds spaces requests evenly (no initial
  burst), and a window guard holds one of ``floor(rate × window)`` permits from
  each send until ``quota_window_s`` after its reply. The server receives a
  request between its send and its reply, so no window of ``quota_window_s``
  can ever hold more arrivals than the quota, however much the network or a
  busy machine delays or bunches requests (spacing alone cannot promise that);
* bounded concurrency (a semaphore) and an ``httpx.AsyncClient`` with timeouts;
* retries with ``tenacity``: exponential backoff with jitter, never sooner than
  a ``Retry-After`` / ``retry-after-ms`` header asks, on 429/408/425/5xx,
  connection errors, timeouts and a 2xx body that is not JSON at all (a reply cut
  short in transit); after ``max_attempts`` the record gets an error string and the
  run goes on. A JSON reply that breaks the API's contract (:class:`BadResponse`) is
  *not* retried: asking again gets the same answer, so the record gets the error at once;
* run-stopping failures (401/403: the key is wrong; 404/410: the endpoint is
  gone) stop sending at once, so a bad key does not burn the whole file;
* the API key is added to a request only when it is sent, and every error
  string is passed through :func:`lam3.secrets.redact` with the key.

Judges stay synchronous (``score(batch)``): the runner owns a private event
loop on a daemon thread, so it works from scripts and from inside notebooks
that already run a loop, and its rate limiter spans batch boundaries.

A judge that talks through a vendor SDK instead of raw HTTP (the prompted judges'
``openai`` client) uses :meth:`RemoteRunner.map_calls`: the SDK call runs inside
the same spacing, window guard, concurrency bound, retries and redaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import logging
import math
import threading
import time
from abc import abstractmethod
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Annotated, Any, ClassVar, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from lam3 import records
from lam3.config import dotted
from lam3.errors import ConfigError, UserError
from lam3.judges import registry
from lam3.judges.base import Judge, JudgeConfig, ScoreInput
from lam3.records import Judgement
from lam3.secrets import env_secret, redact

log = logging.getLogger(__name__)

REMOTE_DEPENDENCIES: tuple[str, ...] = ("httpx", "tenacity", "aiolimiter")
RETRYABLE_STATUS: frozenset[int] = frozenset({408, 425, 429})
AUTH_STATUS: frozenset[int] = frozenset({401, 403})
GONE_STATUS: frozenset[int] = frozenset({404, 410})
SPACING_TOLERANCE = 0.05
"""Two requests are never closer than (1 - 0.05) / requests_per_second; on average exactly 1 / rate."""

T = TypeVar("T")
R = TypeVar("R")
M = TypeVar("M", bound=BaseModel)


def remote_availability() -> tuple[bool, str]:
    """(usable, why not): the ``remote`` extra is importable. Imports nothing."""
    missing = [m for m in REMOTE_DEPENDENCIES if importlib.util.find_spec(m) is None]
    if missing:
        return False, f"missing {', '.join(missing)}; install the remote extra: pip install 'lam3[remote]'"
    return True, ""


def require_key(env_var: str, judge: str) -> str:
    """The API key from ``env_var``, or a ConfigError that names the variable (keys never live in configs)."""
    key = env_secret(env_var)
    if not key:
        raise ConfigError(f"judge {judge!r} needs an API key: set the environment variable {env_var} "
                          "(keys are read from the environment only, never from config files)")
    return key


class RemoteConfig(JudgeConfig):
    """Options every remote judge accepts: where to send, how fast, how patiently."""

    batch_size: int = Field(256, gt=0, description=(
        "records per score() call; a call ends when its slowest record is done (retries included), so "
        "fewer, larger calls keep the quota busier. Durable writes follow the score stage's own batch_size"))
    requests_per_second: float = Field(1.0, gt=0, le=10_000,
                                       description="the quota: the server never sees more requests in any 1-s window")
    quota_window_s: float = Field(1.0, gt=0, le=3600, description=(
        "the window the quota is counted over: at most requests_per_second × quota_window_s requests per window. "
        "Each request holds its slot until quota_window_s after its reply, which costs about latency/window of "
        "throughput; an API that counts per minute can use 60"))
    max_concurrency: int = Field(4, gt=0, le=1024, description="requests in flight at once")
    timeout_s: float = Field(30.0, gt=0, description="per-request timeout (connect, read, write)")
    max_attempts: int = Field(6, ge=1, le=100, description="tries per record before it gets an error")
    backoff_initial_s: float = Field(1.0, gt=0, description="first retry waits about this long (doubles each time)")
    backoff_max_s: float = Field(60.0, gt=0, description="cap on one backoff wait")
    max_retry_after_s: float = Field(300.0, gt=0, description=(
        "a Retry-After longer than this turns the record into an error instead of stalling the run"))

    @model_validator(mode="after")
    def _backoff_order(self) -> RemoteConfig:
        if self.backoff_initial_s > self.backoff_max_s:
            raise ValueError(f"backoff_initial_s ({self.backoff_initial_s}) must not exceed "
                             f"backoff_max_s ({self.backoff_max_s})")
        return self

    @property
    def request_interval_s(self) -> float:
        """Minimum spacing between two requests."""
        return 1.0 / self.requests_per_second

    @property
    def window_permits(self) -> tuple[int, float]:
        """(requests allowed, seconds) of the window guard; below one request per window, the window grows."""
        allowed = math.floor(self.requests_per_second * self.quota_window_s + 1e-9)
        if allowed >= 1:
            return allowed, self.quota_window_s
        return 1, 1.0 / self.requests_per_second


def http_url(value: str) -> str:
    """Validate an endpoint/base URL and drop a trailing slash."""
    if not isinstance(value, str) or not value.startswith(("http://", "https://")):
        raise ValueError("must be an http:// or https:// URL")
    if "?" in value or "#" in value:
        raise ValueError("must not contain a query string or fragment (keys come from the environment)")
    return value.rstrip("/")


# --- failures ---------------------------------------------------------------------------------

class RemoteFailure(Exception):
    """Base for the three ways an attempt can fail."""


class Retryable(RemoteFailure):
    """Worth another try (429, 5xx, timeout, dropped connection, a body cut short)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RecordError(RemoteFailure):
    """This record cannot be judged (e.g. HTTP 400 COMMENT_TOO_LONG); the others can."""


class BadResponse(RecordError):
    """HTTP 2xx JSON that is not what the API's contract promises: not transient, so never retried."""


FatalKind = Literal["auth", "gone"]


class Fatal(RemoteFailure):
    """No further request can succeed in this run (bad key, endpoint gone)."""

    def __init__(self, kind: FatalKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(slots=True)
class Request:
    """One HTTP POST. ``params``/``headers`` may hold the key: built right before sending, never stored."""

    url: str
    json: dict[str, Any]
    params: dict[str, str] | None = None
    headers: dict[str, str] | None = None


@dataclass(slots=True)
class Outcome(Generic[R]):
    """What happened to one record: a parsed value, or an error string (already redacted)."""

    value: R | None = None
    error: str | None = None
    fatal: FatalKind | None = None
    attempts: int = 0
    latency_ms: float | None = None


def parse_retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds the server asks us to wait: ``retry-after-ms`` (OpenAI) or ``Retry-After`` (seconds or HTTP date)."""
    raw_ms = headers.get("retry-after-ms")
    if raw_ms:
        try:
            value = float(raw_ms) / 1000.0
            if math.isfinite(value):
                return max(0.0, value)
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if not raw:
        return None
    try:
        value = float(raw)
        return max(0.0, value) if math.isfinite(value) else None
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _json_or_none(content: bytes) -> Any:
    import json

    try:
        return json.loads(content)
    except (ValueError, UnicodeDecodeError):
        return None


class _RedactHttpLogs(logging.Filter):
    """httpx logs each request URL at INFO; Perspective keys travel in the URL. Scrub them."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed log call is not ours to fix
            return True
        record.msg, record.args = redact(message), ()
        return True


_log_filter_installed = False


def _install_log_redaction() -> None:
    global _log_filter_installed
    if not _log_filter_installed:
        for name in ("httpx", "httpcore"):
            logging.getLogger(name).addFilter(_RedactHttpLogs())
        _log_filter_installed = True


# --- the runner -------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class _Api:
    """The judge-specific parts of one call: make the request, read the reply, render errors."""

    build: Callable[[Any], Request]
    parse: Callable[[Any, Any], Any]
    describe: Callable[[int, Any], str]
    fatal_hint: Callable[[int, Any], FatalKind | None]


class WindowGuard:
    """At most ``permits`` requests per ``window_s``, each counted from its send until ``window_s`` after its reply.

    A server sees a request at some moment between the client's send and the reply, so if every
    permit is held over that whole span plus the window, no window at the server can hold more
    than ``permits`` arrivals. Used as ``async with guard:`` around send-and-read.
    """

    def __init__(self, permits: int, window_s: float) -> None:
        self._sem = asyncio.Semaphore(permits)
        self._window_s = window_s

    async def __aenter__(self) -> None:
        await self._sem.acquire()

    async def __aexit__(self, *exc: object) -> None:
        asyncio.get_running_loop().call_later(self._window_s, self._sem.release)


@dataclass
class RunnerStats:
    """Counts for benchmarks and summaries: attempts sent and why attempts failed."""

    sent: int = 0
    retried: int = 0
    statuses: Counter[int] = field(default_factory=Counter)


class RemoteRunner:
    """Send one request per item, rate-limited, bounded, retried; one :class:`Outcome` per item, in order."""

    def __init__(self, config: RemoteConfig, *, name: str, secrets: Sequence[str] = ()) -> None:
        self.config = config
        self.name = name
        self._secrets = tuple(s for s in secrets if s)
        self.fatal: tuple[FatalKind, str] | None = None
        self.stats = RunnerStats()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._client: Any = None
        self._limiter: Any = None
        self._guard: WindowGuard | None = None
        self._sem: asyncio.Semaphore | None = None
        _install_log_redaction()

    # -- public ----------------------------------------------------------------------------------
    def redact(self, text: str) -> str:
        return redact(text, extra=self._secrets)

    def map(self, items: Sequence[T], *, build: Callable[[T], Request], parse: Callable[[T, Any], R],
            describe: Callable[[int, Any], str],
            fatal_hint: Callable[[int, Any], FatalKind | None] | None = None) -> list[Outcome[R]]:
        """Run every item through ``build`` → POST → ``parse``; never raises for a per-item failure.

        ``build(item)`` makes the request (adding the key); ``parse(item, json_body)`` turns a 2xx body into
        a value or raises :class:`BadResponse`; ``describe(status, body)`` renders an API error body;
        ``fatal_hint(status, body)`` spots run-stopping errors an API reports with another status
        (Google answers a wrong key with HTTP 400 API_KEY_INVALID).
        """
        if not items:
            return []
        api = _Api(build, parse, describe, fatal_hint or (lambda status, body: None))
        return self.run(self._map(items, api))

    def map_calls(self, items: Sequence[T], call: Callable[[T], Awaitable[R]]) -> list[Outcome[R]]:
        """Like :meth:`map`, but ``call(item)`` makes the request itself (e.g. through a vendor SDK).

        ``call`` runs on the runner's loop, one attempt at a time, inside the same spacing, window
        guard, concurrency bound and retries; it raises :class:`Retryable` (with ``retry_after``),
        :class:`RecordError` or :class:`Fatal` for a failed attempt, and returns the parsed value.
        """
        if not items:
            return []

        async def everything() -> list[Outcome[R]]:
            self._ensure_gates()
            return list(await asyncio.gather(*(self._one(item, lambda it: self._call(it, call)) for item in items)))

        return self.run(everything())

    def run(self, coro: Coroutine[Any, Any, R]) -> R:
        """Run ``coro`` on the runner's private loop and wait for it (e.g. to close an SDK client there)."""
        future = asyncio.run_coroutine_threadsafe(coro, self._ensure_loop())
        try:
            return future.result()
        except BaseException:
            future.cancel()  # Ctrl-C or a bug: stop sending; the caller's writer keeps finished batches
            raise

    def close(self) -> None:
        """Close the HTTP client and stop the private loop (idempotent)."""
        loop, thread = self._loop, self._thread
        if loop is None:
            return
        if self._client is not None and loop.is_running():
            try:
                asyncio.run_coroutine_threadsafe(self._client.aclose(), loop).result(timeout=5)
            except Exception:  # closing is best-effort; nothing is lost if sockets close with the process
                pass
        loop.call_soon_threadsafe(loop.stop)
        if thread is not None:
            thread.join(timeout=5)
        if not loop.is_running():
            loop.close()
        self._loop = self._thread = self._client = self._limiter = self._guard = self._sem = None

    # -- internals -------------------------------------------------------------------------------
    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None or self._loop.is_closed():
            self._loop = asyncio.new_event_loop()
            self._thread = threading.Thread(target=self._loop.run_forever, name=f"lam3-{self.name}-http",
                                            daemon=True)
            self._thread.start()
        return self._loop

    def _ensure_client(self) -> None:
        if self._client is not None:
            return
        import httpx

        cfg = self.config
        self._ensure_gates()
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(cfg.timeout_s),
            limits=httpx.Limits(max_connections=cfg.max_concurrency,
                                max_keepalive_connections=cfg.max_concurrency),
            headers={"user-agent": "lam3 (+https://github.com/lam3)"},
            follow_redirects=False,
        )

    def _ensure_gates(self) -> None:
        if self._guard is not None:
            return
        from aiolimiter import AsyncLimiter

        cfg = self.config
        # One request per interval, no initial burst (AsyncLimiter(rate, 1) would send `rate` at once). The bucket
        # holds 1 + SPACING_TOLERANCE so a wake-up that comes a little late is made up on the next request
        # instead of being lost for good (~2 % of the quota on a busy machine); the window guard still caps
        # every window at the quota.
        self._limiter = AsyncLimiter(max_rate=1 + SPACING_TOLERANCE,
                                     time_period=(1 + SPACING_TOLERANCE) * cfg.request_interval_s)
        self._guard = WindowGuard(*cfg.window_permits)
        self._sem = asyncio.Semaphore(cfg.max_concurrency)

    async def _map(self, items: Sequence[T], api: _Api) -> list[Outcome[Any]]:
        self._ensure_client()
        return list(await asyncio.gather(*(self._one(item, lambda it: self._attempt(it, api)) for item in items)))

    def _wait(self, retry_state: Any) -> float:
        """Exponential backoff with jitter, but never sooner than the server's Retry-After."""
        from tenacity import wait_exponential_jitter

        cfg = self.config
        backoff = wait_exponential_jitter(initial=cfg.backoff_initial_s, max=cfg.backoff_max_s,
                                          jitter=cfg.backoff_initial_s)(retry_state)
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        asked = getattr(exc, "retry_after", None)
        self.stats.retried += 1
        return max(backoff, asked) if asked is not None else backoff

    async def _one(self, item: Any, attempt_once: Callable[[Any], Awaitable[tuple[Any, float]]]) -> Outcome[Any]:
        from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt

        out: Outcome[Any] = Outcome()
        try:
            async for attempt in AsyncRetrying(stop=stop_after_attempt(self.config.max_attempts),
                                               wait=self._wait, retry=retry_if_exception_type(Retryable),
                                               reraise=True):
                with attempt:
                    out.attempts += 1
                    out.value, out.latency_ms = await attempt_once(item)
        except Retryable as exc:
            out.error = self.redact(f"gave up after {out.attempts} attempt(s): {exc}")
        except Fatal as exc:
            out.error, out.fatal = self.redact(str(exc)), exc.kind
        except BadResponse as exc:
            out.error = self.redact(f"malformed reply (not retried): {exc}")
        except RecordError as exc:
            out.error = self.redact(str(exc))
        except Exception as exc:  # a bug in parsing one reply must not sink the batch
            out.error = self.redact(f"{type(exc).__name__}: {exc}")
        return out

    def _check_fatal(self) -> None:
        if self.fatal is not None:
            kind, message = self.fatal
            raise Fatal(kind, f"not sent: an earlier request in this run failed with {message}")

    @contextlib.asynccontextmanager
    async def _slot(self) -> AsyncIterator[None]:
        """One attempt's turn: a concurrency slot, the even spacing, then the window permit from the send on."""
        self._check_fatal()
        assert self._sem is not None and self._guard is not None
        async with self._sem:
            await self._limiter.acquire()  # even spacing first …
            async with self._guard:  # … then the window slot, held from the send on (not while queueing)
                self._check_fatal()
                self.stats.sent += 1
                yield

    async def _call(self, item: Any, call: Callable[[Any], Awaitable[Any]]) -> tuple[Any, float]:
        """One attempt of :meth:`map_calls`: the caller's coroutine inside the slot; a fatal failure stops the run."""
        async with self._slot():
            t0 = time.perf_counter()
            try:
                value = await call(item)
            except Fatal as exc:
                if self.fatal is None:
                    self.fatal = (exc.kind, str(exc))
                    log.warning("%s: %s; no further requests are sent in this run", self.name, self.redact(str(exc)))
                raise
            except Retryable as exc:
                asked = exc.retry_after
                if asked is not None and asked > self.config.max_retry_after_s:
                    raise RecordError(f"{exc}; the server asked to wait {asked:.0f}s, more than max_retry_after_s="
                                      f"{self.config.max_retry_after_s:g} (rerun with --retry-errors)") from None
                raise
            return value, (time.perf_counter() - t0) * 1000.0

    async def _attempt(self, item: Any, api: _Api) -> tuple[Any, float]:
        import httpx

        async with self._slot():
            request = api.build(item)
            t0 = time.perf_counter()
            try:
                response = await self._client.post(request.url, json=request.json, params=request.params,
                                                    headers=request.headers)
            except httpx.TimeoutException as exc:
                raise Retryable(f"{type(exc).__name__}: no complete reply within "
                                f"timeout_s={self.config.timeout_s}") from None
            except httpx.TransportError as exc:
                raise Retryable(f"{type(exc).__name__}: {exc}") from None
            latency_ms = (time.perf_counter() - t0) * 1000.0
        self.stats.statuses[response.status_code] += 1
        return self._classify(item, response.status_code, response.headers, response.content, api), latency_ms

    def _classify(self, item: Any, status: int, headers: Mapping[str, str], content: bytes, api: _Api) -> Any:
        body = _json_or_none(content)
        if 200 <= status < 300:
            if body is None:  # cut short or garbled in transit: the next reply may well be whole
                raise Retryable(f"HTTP {status} with a body that is not JSON ({len(content)} bytes)")
            return api.parse(item, body)
        shown = body if body is not None else content[:300].decode("utf-8", "replace")
        message = f"HTTP {status} {api.describe(status, shown)}".rstrip()
        hinted = api.fatal_hint(status, body)
        if status in RETRYABLE_STATUS or status >= 500:
            asked = parse_retry_after(headers)
            if asked is not None and asked > self.config.max_retry_after_s:
                raise RecordError(f"{message}; the server asked to wait {asked:.0f}s, more than "
                                  f"max_retry_after_s={self.config.max_retry_after_s:g} (rerun with --retry-errors)")
            raise Retryable(message, retry_after=asked)
        if hinted is not None or status in AUTH_STATUS or status in GONE_STATUS:
            kind: FatalKind = hinted or ("auth" if status in AUTH_STATUS else "gone")
            if self.fatal is None:
                self.fatal = (kind, message)
                log.warning("%s: %s; no further requests are sent in this run", self.name, self.redact(message))
            raise Fatal(kind, message)
        raise RecordError(message)


Probability = Annotated[records.Probability, Field(strict=True)]
"""A score in an API reply: a judgement's probability, and strictly a JSON number (a string or bool breaks the
contract)."""


class ReplyModel(BaseModel):
    """Base of the API reply models: the fields LAM3 reads are typed; others the API adds are allowed."""

    model_config = ConfigDict(extra="allow")


def parse_reply(model: type[M], body: Any) -> M:
    """A 2xx JSON body read into the API's reply model, or :class:`BadResponse` naming the first broken field."""
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = dotted(tuple(err["loc"])) or "the reply"
        raise BadResponse(f"{where}: {err['msg']} (got {str(err.get('input'))[:60]!r})") from None


# --- the judge side -------------------------------------------------------------------------

FallbackEvent = Literal["sunset", "gone"]


def check_fallback(spec: dict[str, Any] | None, *, judge: str, metric: str) -> dict[str, Any] | None:
    """Validate a ``fallback:`` judge entry (a ValueError names the bad key): same metric, usable here, valid options."""
    if spec is None:
        return None
    if "judge" not in spec:
        raise ValueError("needs a 'judge:' key, e.g. {judge: detoxify}")
    if "key" in spec:
        raise ValueError("'key' is not allowed in a fallback: its judgements stay under this judge's key")
    name = spec["judge"]
    if name == judge:
        raise ValueError(f"{judge} cannot fall back to itself")
    try:
        fallback_cls = registry.get(name)
    except UserError as exc:
        raise ValueError(f"judge: {exc}") from None
    if fallback_cls.metric != metric:
        raise ValueError(f"judge {name!r} judges {fallback_cls.metric}, not {metric}")
    ok, why = fallback_cls.availability()
    if not ok:
        raise ValueError(f"judge {name!r} is not usable here: {why}")
    try:
        fallback_cls.Config.model_validate({k: v for k, v in spec.items() if k != "judge"})
    except ValidationError as exc:
        err = exc.errors()[0]
        msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
        raise ValueError(f"{dotted(tuple(err['loc']))}: {msg}") from None
    return spec


class RemoteJudge(Judge):
    """A judge behind a web API: one request per record through :class:`RemoteRunner`.

    Subclasses name the key's environment variable (``KEY_ENV``) and implement
    :meth:`prepare` (client-side checks that would only waste quota), :meth:`request`,
    :meth:`parse` and :meth:`judged`; :meth:`fallback_spec` opts into a fallback judge.
    """

    offline = False
    remote = True
    KEY_ENV: ClassVar[str]
    config: RemoteConfig

    def __init__(self, config: RemoteConfig | None = None) -> None:
        super().__init__(config)
        self.runner: RemoteRunner | None = None
        self.fallback: Judge | None = None
        self.fallback_reason: str | None = None
        self._key: str | None = None
        if config is not None:  # built to score: a missing key fails now (no config = introspection)
            self.activate()

    @classmethod
    def availability(cls) -> tuple[bool, str]:
        return remote_availability()

    @property
    def key(self) -> str:
        """The API key, for :meth:`request` only (never stored anywhere else, redacted from every error)."""
        if self._key is None:
            raise RuntimeError(f"{self.name}: no key (activate() first)")
        return self._key

    def activate(self) -> None:
        """Decide once per run how to score: the API (reads the key) unless a fallback already took over."""
        if self.runner is None and self.fallback is None:
            self._key = require_key(self.KEY_ENV, self.name)
            self.runner = RemoteRunner(self.config, name=self.name, secrets=(self._key,))

    # -- what a subclass says about its API ------------------------------------------------------
    @abstractmethod
    def prepare(self, item: ScoreInput) -> tuple[Any, dict[str, Any]]:
        """(what to send, notes for details) for one record; raise :class:`RecordError` to not send it."""

    @abstractmethod
    def request(self, prepared: Any) -> Request:
        """The HTTP request for one prepared record (the key goes in here)."""

    @abstractmethod
    def parse(self, prepared: Any, body: Any) -> Any:
        """A 2xx JSON body → the reply, or :class:`BadResponse`."""

    @abstractmethod
    def describe_error(self, status: int, body: Any) -> str:
        """One line for an API error body."""

    @abstractmethod
    def judged(self, reply: Any, details: dict[str, Any], latency_ms: float | None) -> Judgement:
        """The judgement of one parsed reply (``details`` already holds the notes and attempts)."""

    def fatal_hint(self, status: int, body: Any) -> FatalKind | None:
        """Run-stopping errors an API reports with another status (see :meth:`RemoteRunner.map`)."""
        return None

    def fallback_spec(self, event: FallbackEvent) -> dict[str, Any] | None:
        """The judge entry that scores instead after ``event`` (None: no fallback, the records get errors)."""
        return None

    # -- the loop ----------------------------------------------------------------------------------
    def score(self, batch: Sequence[ScoreInput]) -> list[Judgement]:
        self.activate()
        if self.runner is None:
            return self.fallback_score(batch)
        results: list[Judgement | None] = [None] * len(batch)
        todo: list[tuple[int, Any, dict[str, Any]]] = []
        for i, item in enumerate(batch):
            try:
                prepared, notes = self.prepare(item)
            except RecordError as exc:
                results[i] = self.failure(str(exc))
                continue
            todo.append((i, prepared, notes))
        outcomes = self.runner.map([p for _, p, _ in todo], build=self.request, parse=self.parse,
                                   describe=self.describe_error, fatal_hint=self.fatal_hint)
        gone: list[int] = []
        for (i, _, notes), out in zip(todo, outcomes):
            if out.fatal == "gone" and self.fallback_spec("gone") is not None:
                gone.append(i)
            elif out.error is not None or out.value is None:
                results[i] = self.failure(out.error or "no reply", latency_ms=out.latency_ms)
            else:
                results[i] = self.judged(out.value, {**notes, "attempts": out.attempts}, out.latency_ms)
        if gone:
            assert self.runner.fatal is not None
            self.switch_to_fallback("gone", f"endpoint gone ({self.runner.fatal[1]})")
            for i, judged in zip(gone, self.fallback_score([batch[i] for i in gone])):
                results[i] = judged
        if self.fallback is not None:  # the endpoint is gone: later batches go straight to the fallback
            self.runner.close()
            self.runner = None
        missing = [i for i, r in enumerate(results) if r is None]
        if missing:
            raise RuntimeError(f"internal error: no judgement for batch positions {missing}")
        return [r for r in results if r is not None]

    def switch_to_fallback(self, event: FallbackEvent, reason: str) -> None:
        """Build the fallback judge (once) and score with it from now on."""
        spec = self.fallback_spec(event)
        if self.fallback is None and spec is not None:
            self.fallback = registry.build(dict(spec), loc=("fallback",))
            self.fallback_reason = reason
            log.warning("%s: %s; scoring with fallback judge %r instead", self.name, reason, self.fallback.name)

    def fallback_score(self, batch: Sequence[ScoreInput]) -> list[Judgement]:
        """The fallback's judgements: its own judge name, labels and version, and whom they stand in for."""
        assert self.fallback is not None
        note = {"fallback_for": self.name, "fallback_reason": self.fallback_reason}
        return [j.model_copy(update={"details": {**j.details, **note}}) for j in self.fallback.score(batch)]

    def close(self) -> None:
        if self.runner is not None:
            self.runner.close()
            self.runner = None
        if self.fallback is not None:
            self.fallback.close()


__all__ = [
    "BadResponse", "Fatal", "Outcome", "Probability", "RecordError", "RemoteConfig", "RemoteJudge", "RemoteRunner",
    "ReplyModel", "Request",
    "Retryable", "WindowGuard", "check_fallback", "http_url", "parse_reply", "parse_retry_after",
    "remote_availability", "require_key",
]
