"""Where the shipped mini benchmark lives, and how to read it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from lam3.errors import UserError
from lam3.records import Sample
from lam3.store import Quarantine, iter_records

SAMPLES_FILE = "samples.jsonl"
RESPONSES_FILE = "responses.jsonl"


def bench_dir() -> Path:
    """``data/mini_bench`` of the checkout this package is installed from (editable install)."""
    path = Path(__file__).resolve().parents[3] / "data" / "mini_bench"
    if not (path / SAMPLES_FILE).is_file():
        raise UserError("the mini benchmark ships with the source checkout; install LAM3 with "
                        "`pip install -e .` from the repository (or run `python -m lam3.bench.build_mini_bench`)",
                        path=path)
    return path


def load_samples(directory: str | Path | None = None, *, quarantine: Quarantine | None = None
                 ) -> Iterator[Sample]:
    """Stream the benchmark's samples (image paths stay relative to ``directory``)."""
    directory = Path(directory) if directory is not None else bench_dir()
    for _, sample in iter_records(directory / SAMPLES_FILE, Sample, quarantine=quarantine):
        yield sample


def responses_path(directory: str | Path | None = None) -> Path:
    """The hand-labelled example responses (``lam3.records.Response`` lines with ``labels``)."""
    directory = Path(directory) if directory is not None else bench_dir()
    return directory / RESPONSES_FILE
