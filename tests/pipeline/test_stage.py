"""The stage skeleton on real files: settings recorded before the first line, resume refused with other
settings, repeated ids quarantined, done ids skipped, --retry-errors, manifest "running" → "finished"."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from lam3.errors import UserError
from lam3.manifest import read_manifest
from lam3.pipeline.stage import Stage, StageSummary
from lam3.store import iter_jsonl


@dataclass
class CopySummary(StageSummary):
    copied: int = 0

    def as_dict(self) -> dict:
        return {"copied": self.copied, **super().as_dict()}


def copy_stage(src: Path, out: Path, settings: dict, *, crash_after: int | None = None, retry: bool = False,
               batch: int = 2) -> CopySummary:
    """A minimal stage: copies records (upper-casing ``text``), in batches, through the skeleton."""
    summary = CopySummary(out)
    with Stage("copy", out, summary, settings=settings, inputs=[src],
               retry=(lambda r: r.get("error") is not None) if retry else None) as stage:
        pending = []
        for _, rec in stage.pending(iter_jsonl(src, quarantine=stage.quarantine), source=src, key=lambda r: r["id"]):
            pending.append({**rec, "text": rec["text"].upper(), "error": rec.get("error")})
            if len(pending) == batch:
                summary.copied += stage.write(pending)
                pending = []
                if crash_after is not None and summary.copied >= crash_after:
                    raise KeyboardInterrupt
        summary.copied += stage.write(pending)
        stage.finish()
    return summary


def lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()]


@pytest.fixture
def src(tmp_path: Path) -> Path:
    path = tmp_path / "in.jsonl"
    rows = [{"id": f"r{i}", "text": f"t{i}"} for i in range(6)]
    rows.insert(3, {"id": "r1", "text": "again"})  # line 4 repeats r1
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_a_crash_leaves_the_settings_recorded_and_a_rerun_resumes(src: Path, tmp_path: Path) -> None:
    out = tmp_path / "run" / "out.jsonl"
    with pytest.raises(KeyboardInterrupt):
        copy_stage(src, out, {"mode": "upper"}, crash_after=2)
    entry = read_manifest(out.parent).stages["copy:out.jsonl"]
    assert entry.status == "running" and entry.settings_hash and entry.finished is None
    assert [r["id"] for r in lines(out)] == ["r0", "r1"]

    summary = copy_stage(src, out, {"mode": "upper"})
    assert (summary.copied, summary.skipped, summary.quarantined) == (4, 2, 1)
    assert [r["id"] for r in lines(out)] == [f"r{i}" for i in range(6)]
    entry = read_manifest(out.parent).stages["copy:out.jsonl"]
    assert entry.status == "finished" and entry.summary["copied"] == 4
    assert entry.summary["skipped_already_done"] == 2 and str(src) in entry.inputs
    quarantined = lines(tmp_path / "run" / "out.quarantine.jsonl")
    assert [(q["line"], q["field"], q["reason"]) for q in quarantined] == [(4, "id", "duplicate id 'r1'")]


def test_a_fresh_run_quarantines_repeated_ids_too(src: Path, tmp_path: Path) -> None:
    out = tmp_path / "fresh" / "out.jsonl"
    summary = copy_stage(src, out, {"mode": "upper"}, batch=10)  # the repeat is still in the unwritten batch
    assert (summary.copied, summary.quarantined) == (6, 1)
    assert [r["text"] for r in lines(out)][1] == "T1"  # the first occurrence wins


def test_resuming_with_other_settings_is_refused_naming_the_setting(src: Path, tmp_path: Path) -> None:
    out = tmp_path / "run" / "out.jsonl"
    copy_stage(src, out, {"mode": "upper", "judges": [{"judge": "a", "k": 1}]})
    before = out.read_bytes()
    with pytest.raises(UserError, match=r"out.jsonl: cannot resume: it was written with other settings "
                                        r"\(judges: \[\{'judge': 'a', 'k': 1\}\] then, \[\{'judge': 'a', 'k': 2\}\] "
                                        r"now\); write to another --out, or delete it to start over"):
        copy_stage(src, out, {"mode": "upper", "judges": [{"judge": "a", "k": 2}]}, retry=True)
    assert out.read_bytes() == before  # refused before --retry-errors rewrote anything
    (out.parent / "manifest.json").unlink()
    with pytest.raises(UserError, match="cannot resume: its manifest records no settings for stage copy:out.jsonl"):
        copy_stage(src, out, {"mode": "upper", "judges": [{"judge": "a", "k": 1}]})


def test_retry_errors_redoes_exactly_the_failed_records(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"id": f"r{i}", "text": "x", "error": "boom" if i % 2 else None}) + "\n"
                           for i in range(4)))
    out = tmp_path / "out.jsonl"
    copy_stage(src, out, {})
    src.write_text("".join(json.dumps({"id": f"r{i}", "text": "y"}) + "\n" for i in range(4)))
    summary = copy_stage(src, out, {}, retry=True)
    assert (summary.retried, summary.copied, summary.skipped) == (2, 2, 2)
    assert {r["id"]: r["text"] for r in lines(out)} == {"r0": "X", "r2": "X", "r1": "Y", "r3": "Y"}


def test_output_must_differ_from_the_input(src: Path) -> None:
    with pytest.raises(UserError, match="output must differ from the input"):
        copy_stage(src, src, {})


def _rows(path: Path, n: int, repeats: dict[int, str], bad: set[int] = frozenset()) -> None:
    """``n`` records r0.. with the given repeated ids inserted at (1-based) lines and bad JSON at ``bad``."""
    lines_, i = [], 0
    while len(lines_) < n + len(repeats) + len(bad):
        line = len(lines_) + 1
        if line in repeats:
            lines_.append(json.dumps({"id": repeats[line], "text": "again"}))
        elif line in bad:
            lines_.append("{not json")
        else:
            lines_.append(json.dumps({"id": f"r{i}", "text": f"t{i}"}))
            i += 1
    path.write_text("\n".join(lines_) + "\n")


@pytest.mark.parametrize("resume", [False, True])
def test_repeats_are_caught_across_the_read_ahead_and_reported_in_line_order(tmp_path: Path, resume: bool) -> None:
    # line 20 repeats r5, written (batch of 2) before line 20 is reached but after its chunk was checked;
    # line 650 repeats r3 from the first chunk of 500; bad JSON at lines 8 and 640 are read ahead of both
    src = tmp_path / "in.jsonl"
    _rows(src, 700, {20: "r5", 650: "r3"}, bad={8, 640})
    out = tmp_path / "run" / "out.jsonl"
    if resume:
        with pytest.raises(KeyboardInterrupt):
            copy_stage(src, out, {"mode": "upper"}, crash_after=100)
    summary = copy_stage(src, out, {"mode": "upper"})
    assert summary.copied + summary.skipped == 700 and summary.quarantined == 4
    assert summary.skipped == (100 if resume else 0)
    assert [r["id"] for r in lines(out)] == [f"r{i}" for i in range(700)]
    quarantined = [(q["line"], q["reason"]) for q in lines(tmp_path / "run" / "out.quarantine.jsonl")]
    if resume:  # the crashed run reported the first two before it stopped
        assert [line for line, _ in quarantined[:2]] == [8, 20]
        quarantined = quarantined[2:]
    assert [line for line, _ in quarantined] == [8, 20, 640, 650]
    assert quarantined[1][1] == "duplicate id 'r5'" and quarantined[3][1] == "duplicate id 'r3'"


def test_a_limit_stops_reading_the_input(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    _rows(src, 20, {}, bad={5})
    out = tmp_path / "out.jsonl"
    with Stage("copy", out, CopySummary(out), settings={}, inputs=[src]) as stage:
        got = [rec["id"] for _, rec in stage.pending(iter_jsonl(src, quarantine=stage.quarantine), source=src,
                                                        key=lambda r: r["id"], limit=4)]
        assert got == ["r0", "r1", "r2", "r3"]
        assert stage.quarantine.count == 0  # line 5 was never read


def test_bad_lines_read_ahead_are_reported_when_reading_fails(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    _rows(src, 10, {}, bad={3})
    out = tmp_path / "out.jsonl"

    def failing():
        yield from iter_jsonl(src, quarantine=stage.quarantine)
        raise OSError("the input vanished")

    with pytest.raises(OSError, match="vanished"):
        with Stage("copy", out, CopySummary(out), settings={}, inputs=[src]) as stage:
            list(stage.pending(failing(), source=src, key=lambda r: r["id"]))
    assert [q["line"] for q in lines(tmp_path / "out.quarantine.jsonl")] == [3]
