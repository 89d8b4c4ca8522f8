"""Fixtures for the report tests: two hand-built wave-1 runs (report_fixtures.py) and two made by the real stages (staged_runs.py)."""

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


@pytest.fixture(scope="session")
def mb_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The mini bench through the real stages, with the shipped judge cards (see staged_runs.py)."""
    from staged_runs import stage_mb

    return stage_mb(tmp_path_factory.mktemp("staged") / "mb")


@pytest.fixture(scope="session")
def pair_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Clean and figstep answers to the same samples through the real stages (see staged_runs.py)."""
    from staged_runs import stage_pair

    return stage_pair(tmp_path_factory.mktemp("staged") / "pair")
