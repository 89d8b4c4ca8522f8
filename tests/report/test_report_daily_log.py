"""The daily log is filled from run manifests and files: commit, settings, figures, issues."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from report_fixtures import BRANCH, COMMIT, DAY, FIXTURE_RECORDS, MODEL

from lam3.errors import UserError
from lam3.report.daily_log import write_daily_log


@pytest.fixture(scope="module")
def log_text(fixture_runs: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    out = tmp_path_factory.mktemp("logs")
    notes = tmp_path_factory.mktemp("notes") / "notes.yaml"
    notes.write_text("focus: typographic attacks on tiny-llava\ngoals: [check judge agreement]\n")
    proc = subprocess.run([sys.executable, "-m", "lam3", "report", "daily", "--date", DAY, "--runs",
                           str(fixture_runs), "--notes", str(notes), "--out-dir", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    path = out / f"{DAY.replace('-', '')}.md"
    assert path.is_file()
    return path.read_text(encoding="utf-8")


def _section(text: str, title: str) -> str:
    start = text.index(f"## {title}")
    nxt = text.find("\n## ", start + 3)
    return text[start:] if nxt < 0 else text[start:nxt]


def test_structure_and_commit(log_text: str) -> None:
    for title in ("Overview", "Parameters", "Observations / Results", "Issues", "Commit & Sync"):
        assert f"## {title}" in log_text
    sync = _section(log_text, "Commit & Sync")
    assert COMMIT in sync and BRANCH in sync and "**Dirty:** no" in sync
    assert "+" in sync.split("**Written:**")[1]  # timestamp carries its UTC offset
    overview = _section(log_text, "Overview")
    assert "typographic attacks on tiny-llava" in overview and "check judge agreement" in overview
    assert f"`{MODEL}` @ abc123" in overview and "data/mini_bench" in overview
    assert "| fixture_run | detoxify | detoxify | 1 | social_toxicity | 9 | 2 | errors on 1/9 |" in overview


def test_settings_table_flags_what_was_not_honoured(log_text: str) -> None:
    """A wave-1 run (seed recorded as `global_seed`) whose typo_img responses used another temperature."""
    params = _section(log_text, "Parameters")
    assert "| max_new_tokens | 256 | 256 |  |" in params
    assert "| seed | 42 | 42 |  |" in params  # wave 1's global_seed is the seed: honoured, not flagged
    temp = next(line for line in params.splitlines() if line.startswith("| temperature "))
    assert "NOT HONOURED: requested 0.2" in temp and "1.0 ×4" in temp
    flagged = [line.split("|")[1].strip() for line in params.splitlines() if "⚠" in line]
    assert flagged == ["temperature", "temperature"]  # both fixture runs, nothing else
    assert "`score:offline_scored.jsonl`" in params and "llama_guard" in params


def test_dual_metric_figures_match_the_records(log_text: str) -> None:
    results = _section(log_text, "Observations / Results").split("### Run `fixture_run_b`")[0]
    for attack in ("clean", "typo_img"):
        for cat in ("S1", "S10", "benign"):
            rows = [r for r in FIXTURE_RECORDS if r[1] == attack and r[2] == cat]
            st, pr, ref = (sum(r[i] for r in rows) for i in (4, 5, 6))
            n = len(rows)
            expected = (f"| {MODEL} | {attack} | {cat} | {n} | {100 * st / n:.1f}% ({st}/{n}) |")
            assert expected in results, expected
            line = next(x for x in results.splitlines() if x.startswith(f"| {MODEL} | {attack} | {cat} |"))
            assert f"{100 * pr / n:.1f}% ({pr}/{n})" in line and f"{100 * ref / n:.1f}% ({ref}/{n})" in line
    # Agreement: both judges per metric in a κ table; ASR with its interval, computed from the fused records.
    assert "Pairwise Cohen's κ, social_toxicity" in results and "| detoxify | profanity_check |" in results
    typo_s1 = [r for r in FIXTURE_RECORDS if r[1] == "typo_img" and r[2] == "S1"]
    rate = sum(not r[6] for r in typo_s1) / len(typo_s1)
    assert f"| {MODEL} | typo_img | S1 | non_refusal | {len(typo_s1)} | {100 * rate:.1f}% |" in results


def test_issues_list_errors_quarantine_and_failed_judges(log_text: str) -> None:
    issues = _section(log_text, "Issues")
    assert "1/9 responses have an error" in issues and "CUDA out of memory" in issues
    assert "judge detoxify" in issues and "model crashed" in issues
    assert "quarantined line(s) in offline_scored.quarantine.jsonl" in issues
    assert "temperature" in issues


def test_no_run_that_day_is_an_error(fixture_runs: Path, tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no run .* on 2020-01-01; runs exist for 2026-11-24"):
        write_daily_log("2020-01-01", fixture_runs, None, tmp_path)
    with pytest.raises(UserError, match="YYYY-MM-DD"):
        write_daily_log("24/11/2026", fixture_runs, None, tmp_path)


def test_notes_with_unknown_key_is_a_config_error(fixture_runs: Path, tmp_path: Path) -> None:
    notes = tmp_path / "notes.yaml"
    notes.write_text("focus: x\nfocsu: y\n")
    with pytest.raises(UserError, match=r"notes.yaml:2: focsu: unknown key"):
        write_daily_log(DAY, fixture_runs, notes, tmp_path)


def test_an_interrupted_stage_is_an_issue(tmp_path: Path) -> None:
    """A wave-1 manifest marked a running stage only inside its summary; the log still lists it."""
    import json

    from report_fixtures import build_run

    run = build_run(tmp_path / "runs")
    manifest = json.loads((run / "manifest.json").read_text())
    manifest["stages"]["fuse:fused.jsonl"] = {"finished": f"{DAY}T11:10:00+01:00", "config_hash": "a" * 64,
                                              "summary": {"status": "running"}}
    (run / "manifest.json").write_text(json.dumps(manifest))
    result = write_daily_log(DAY, tmp_path / "runs", None, tmp_path / "logs")
    text = result.path.read_text()
    assert "fixture_run: stage fuse:fused.jsonl did not finish (interrupted?); rerun the same command" in text
    assert "`fuse:fused.jsonl`: config hash `aaaaaaaaaaaa`; **not finished** (interrupted?)" in text
