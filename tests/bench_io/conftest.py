"""Benchmark import/export tests: one real run (mini bench scored offline and fused) shared by the session."""

from __future__ import annotations

from pathlib import Path

import pytest
from bench_io_runs import make_run


@pytest.fixture(scope="session")
def mini_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_run(tmp_path_factory.mktemp("runs") / "mini")
