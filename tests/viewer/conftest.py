"""Session runs for the viewer tests (built once by the real score and fuse stages) and a served viewer."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from viewer_fixtures import build_damaged, build_run

TOKEN = "test-token-0123456789"


@pytest.fixture(scope="session")
def runs_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("view-runs")
    run = build_run(root)
    build_damaged(root, run / "fused.jsonl")
    return root


@pytest.fixture(scope="session")
def run1k(runs_root: Path) -> Path:
    return runs_root / "run1k"


@pytest.fixture(scope="session")
def damaged(runs_root: Path) -> Path:
    return runs_root / "damaged"


@pytest.fixture(scope="module")
def served(run1k: Path, damaged: Path) -> Iterator[str]:
    """Both runs in one viewer on an ephemeral port (read-only tests; writes are refused or go nowhere)."""
    from lam3.report.viewer.server import Viewer, create_app, serving

    viewer = Viewer.open([run1k, damaged], token=TOKEN, reviewer="tester")
    with serving(create_app(viewer)) as url:
        yield url
    for idx in viewer.runs.values():
        idx.close()
