"""Fixtures for the report tests: two hand-built runs of the same day (see report_fixtures.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from report_fixtures import build_run


@pytest.fixture(scope="session")
def fixture_runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``runs/`` with two runs of the same day: ``fixture_run`` and ``fixture_run_b`` (attacks neutralised)."""
    root = tmp_path_factory.mktemp("runs")
    build_run(root)
    build_run(root, "fixture_run_b", shift=True)
    return root
