"""Fixtures of the validity tests: a fake chat-completions judge server and small labelled sets."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from evalset_files import KEY

from lam3.testing.fake_apis import Faults
from lam3.testing.fake_chat import FakeChatServer


@pytest.fixture
def chat_server() -> Iterator[FakeChatServer]:
    server = FakeChatServer(key=KEY, lifetime_s=120.0, faults=Faults()).start()
    yield server
    server.stop()
