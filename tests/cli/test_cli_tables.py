"""Issue 19 point 2: tables stay readable when piped or logged at 80 columns (no `positiv…`, no `example/han…`,
no interval folded over two lines), and a wider terminal gets the table layout."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import struct
import subprocess
import sys
import termios
from pathlib import Path

from cli_tables import fused_run, invoke, lam3, only_table, printed_tables

from lam3.cli.summaries.fusion import AsrJson

LONG_MODEL = "example/harmbench-llama-2-13b-cls-adversarial-image-finetuned"
RATES = ("model_id", "definition", "per", "n", "rate", "95 % CI", "interval", "unjudged", "corrected (Rogan–Gladen)")
DEMO = ("metric", "judge", "n", "accuracy", "precision", "recall", "Cohen κ")


def in_terminal(columns: int, *args: object) -> str:
    """`python -m lam3 ARGS` with stdout on a pseudo-terminal `columns` wide (COLUMNS unset), colours stripped."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    proc = subprocess.Popen([sys.executable, "-m", "lam3", *map(str, args)], stdin=subprocess.DEVNULL, stdout=slave,
                            stderr=subprocess.PIPE, env=env)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # the terminal closed: the command ended
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    assert proc.wait(timeout=120) == 0, proc.stderr.read()
    proc.stderr.close()
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", b"".join(chunks).decode()).replace("\r\n", "\n")


def percent(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}%"


def test_asr_at_80_columns_prints_every_header_model_id_and_interval_whole(tmp_path: Path) -> None:
    run = fused_run(tmp_path / "runs" / "day1", model=LONG_MODEL)
    out = invoke("asr", run["fused"], "--by", "model_id", "--json", tmp_path / "asr.json")
    assert "…" not in out
    assert all(len(line) <= 80 for line in out.splitlines() if line.startswith("  95 % CI: "))
    headline, older, over = printed_tables(out, RATES)
    summary = AsrJson.model_validate_json((tmp_path / "asr.json").read_text())
    rows = [r for r in summary.asr if r.headline] + [r for r in summary.asr if not r.headline and r.per == "response"]
    assert len(headline + older) == len(rows) and len(over) == len(summary.over_refusal)
    for printed, row in zip(headline + older + over, rows + summary.over_refusal):
        assert printed["model_id"] == LONG_MODEL
        assert printed["definition"] == row.definition and printed["n"] == str(row.n)
        assert printed["rate"] == percent(row.rate)
        assert printed["95 % CI"] == f"[{percent(row.ci_low)}, {percent(row.ci_high)}]"
        assert printed["interval"] == f"{row.interval} ({row.units} units)"


def test_a_wide_terminal_gets_the_table_and_a_narrow_one_the_key_value_blocks(tmp_path: Path) -> None:
    run = fused_run(tmp_path / "runs" / "day1", model=LONG_MODEL)
    wide = in_terminal(300, "asr", run["fused"], "--by", "model_id")
    assert re.search(r"^model_id +definition +per +n +rate +95 % CI +interval", wide, re.M), wide
    assert not re.search(r"^- model_id: ", wide, re.M)
    headline = printed_tables(wide, RATES)[0]
    assert {r["model_id"] for r in headline} == {LONG_MODEL} and len(headline) == 3
    assert max(len(line) for line in wide.splitlines()) > 80  # the table used the room it was given
    narrow = in_terminal(100, "asr", run["fused"], "--by", "model_id")
    assert not re.search(r"^model_id +definition", narrow, re.M)
    assert printed_tables(narrow, RATES)[0] == headline  # the same values, one block per row
    assert "…" not in wide + narrow


def test_demo_piped_prints_every_figure_whole(tmp_path: Path) -> None:
    """Before: `lam3 demo | cat` printed its table cut with "…"."""
    proc = lam3("demo", "--out", tmp_path / "demo")  # a pipe, no COLUMNS: Rich's 80 columns
    assert proc.returncode == 0, proc.stderr
    assert "…" not in proc.stdout
    rows = only_table(proc.stdout, DEMO)
    figures = json.loads((tmp_path / "demo" / "summary.json").read_text())["figures"]
    assert len(rows) == len(figures) == 8
    for row in rows:
        judge = row["judge"]
        (key,) = [k for k in figures if k.endswith(f"/{judge}") and (judge != "fused" or k.startswith(
            {"Social Toxicity": "social_toxicity", "Policy Risk": "policy_risk", "Refusal": "refusal",
             "Jailbreak Success": "jailbreak_success"}[row["metric"]]))]
        for column, name in (("accuracy", "accuracy"), ("precision", "precision"), ("recall", "sensitivity"),
                             ("Cohen κ", "kappa")):
            ci = figures[key][name]
            assert row[column] == f"{ci['estimate']:.2f} [{ci['low']:.2f}, {ci['high']:.2f}]", (key, column)
