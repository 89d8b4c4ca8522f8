"""Rate limit, retries and key handling of the shared remote client, against the real local server."""

from __future__ import annotations

from email.utils import format_datetime
from datetime import datetime, timedelta, timezone

import pytest
from remote_helpers import FAST, PERSPECTIVE_KEY, inputs

from lam3.judges.remote import RemoteConfig, parse_retry_after
from lam3.testing.fake_apis import Faults, perspective_scores

ATTRS = ["TOXICITY", "INSULT", "THREAT"]


def test_every_fault_is_retried_until_each_record_is_judged(keys, fake_server, build) -> None:
    faults = Faults(server_error=0.15, rate_limited=0.05, drop=0.1, malformed=0.1, slow=0.05, slow_s=1.0,
                    retry_after_s=1, seed=3)
    server = fake_server(faults=faults)
    judge = build("perspective", endpoint=server.url, attributes=ATTRS, **{**FAST, "timeout_s": 0.4},
                  max_attempts=12)
    texts = [f"record {i} says {'idiot' if i % 4 == 0 else 'hello'}" for i in range(40)]
    judged = judge.score(inputs(texts))

    assert len(judged) == len(texts)
    assert [j.error for j in judged] == [None] * len(texts)
    for text, j in zip(texts, judged):  # in input order, with the server's scores for that very text
        assert j.scores == perspective_scores(text, ATTRS)
    seen = {h.fault for h in server.hits}
    assert {"server_error", "rate_limited", "drop", "malformed", "slow"} <= seen
    assert max(j.details["attempts"] for j in judged) > 1


def test_gives_up_after_max_attempts_with_a_per_record_error(keys, fake_server, build) -> None:
    server = fake_server(faults=Faults(server_error=1.0))
    judge = build("perspective", endpoint=server.url, **FAST, max_attempts=3)
    judged = judge.score(inputs(["a", "b", "c"]))
    assert all(j.error and j.error.startswith("gave up after 3 attempt(s): HTTP 503 UNAVAILABLE") for j in judged)
    assert all(j.scores == {} for j in judged)  # an error is never a silent zero
    assert len(server.hits) == 9


def test_retry_waits_at_least_what_retry_after_asks(keys, fake_server, build) -> None:
    # The client is allowed 50 rps but the server only takes 1: the others get 429 + Retry-After.
    server = fake_server(quota=1)
    judge = build("perspective", endpoint=server.url, **FAST, max_attempts=10)
    judged = judge.score(inputs(["one", "two", "three"]))
    assert [j.error for j in judged] == [None, None, None]
    hits = server.hits
    rejected = [h for h in hits if h.status == 429]
    assert rejected
    for h in rejected:  # the next try of the same text came no sooner than Retry-After (>= 1 s)
        retry = min(x.t for x in hits if x.t > h.t and x.text == h.text)
        assert retry - h.t >= 0.99


def test_server_never_sees_more_than_the_quota_in_any_second(keys, fake_server, build) -> None:
    server = fake_server()  # no server-side quota: only the client holds the line
    judge = build("perspective", endpoint=server.url, **{**FAST, "requests_per_second": 25, "max_concurrency": 16})
    judged = judge.score(inputs([f"text {i}" for i in range(80)]))
    assert all(j.error is None for j in judged)
    assert len(server.hits) == 80
    assert server.max_in_window("perspective", 1.0) <= 25
    # and no bursts (e.g. at start-up): a 0.2-s window holds about 5, never the 25 a burst would put there
    assert server.max_in_window("perspective", 0.2) <= 12


def test_a_wrong_key_stops_the_run_and_never_leaks(keys, fake_server, build) -> None:
    server = fake_server(perspective_key="the-right-key")
    judge = build("perspective", endpoint=server.url, **{**FAST, "max_concurrency": 2})
    judged = judge.score(inputs([f"t{i}" for i in range(30)]))
    assert all(j.error for j in judged)
    assert all("API_KEY_INVALID" in j.error for j in judged)
    assert len(server.hits) <= 4  # stopped after the first answers, not 30 wasted requests
    assert not any(PERSPECTIVE_KEY in j.model_dump_json() for j in judged)
    # later batches are not sent at all
    before = len(server.hits)
    assert all(j.error for j in judge.score(inputs(["again"])))
    assert len(server.hits) == before


def test_parse_retry_after_forms() -> None:
    assert parse_retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert parse_retry_after({"retry-after": "2"}) == 2.0
    when = datetime.now(timezone.utc) + timedelta(seconds=30)
    assert 25 <= parse_retry_after({"retry-after": format_datetime(when, usegmt=True)}) <= 31
    assert parse_retry_after({"retry-after": "soon"}) is None
    assert parse_retry_after({}) is None


def test_remote_config_rejects_contradictions() -> None:
    with pytest.raises(ValueError, match="backoff_initial_s"):
        RemoteConfig(backoff_initial_s=10, backoff_max_s=1)
    assert RemoteConfig(requests_per_second=20).window_permits == (20, 1.0)
    assert RemoteConfig(requests_per_second=0.5).window_permits == (1, 2.0)
    assert RemoteConfig(requests_per_second=1, quota_window_s=60).window_permits == (60, 60)


def test_http_request_logs_do_not_carry_the_key(keys, fake_server, build, caplog) -> None:
    server = fake_server()
    judge = build("perspective", endpoint=server.url, **FAST)
    with caplog.at_level("INFO", logger="httpx"):
        assert judge.score(inputs(["hello"]))[0].error is None
    assert "comments:analyze" in caplog.text  # httpx did log the request line …
    assert PERSPECTIVE_KEY not in caplog.text  # … without the key
