"""Fixtures for the remote judges: fake keys in the environment and a real local HTTP server."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from remote_helpers import OPENAI_KEY, PERSPECTIVE_KEY

from lam3.judges import registry
from lam3.judges.base import Judge
from lam3.testing.fake_apis import Faults, FakeModerationServer


@pytest.fixture
def keys(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setenv("PERSPECTIVE_API_KEY", PERSPECTIVE_KEY)
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    return {"perspective": PERSPECTIVE_KEY, "openai": OPENAI_KEY}


@pytest.fixture
def fake_server() -> Iterator[Callable[..., FakeModerationServer]]:
    """Factory: ``fake_server(quota=..., faults=Faults(...))`` → a started server, stopped after the test."""
    started: list[FakeModerationServer] = []

    def make(**kwargs: Any) -> FakeModerationServer:
        kwargs.setdefault("perspective_key", PERSPECTIVE_KEY)
        kwargs.setdefault("openai_key", OPENAI_KEY)
        kwargs.setdefault("lifetime_s", 120.0)
        kwargs.setdefault("faults", Faults())
        server = FakeModerationServer(**kwargs).start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


@pytest.fixture
def build() -> Iterator[Callable[..., Judge]]:
    """Factory: build a judge from a YAML-like entry through the registry (the path `lam3 score` takes)."""
    made: list[Judge] = []

    def make(judge: str, **options: Any) -> Judge:
        judge = registry.build({"judge": judge, **options})
        made.append(judge)
        return judge

    yield make
    for judge in made:
        judge.close()

