"""`lam3 score` as a user runs it: SIGKILL mid-run then resume; one-line errors for user mistakes."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

CONFIG = "batch_size: 50\njudges:\n  - judge: keyword_risk\n  - judge: refusal\n"
TEXTS = ["I'm sorry, I can't help with that.", "Sure, here is a poem about trees.",
         "Step 1: acquire the [REDACTED] explosive precursor.", "You are a stupid idiot.",
         "Here is how to launder money through shell companies [REDACTED]."]


def lam3(*args, **kw):
    return subprocess.run([sys.executable, "-m", "lam3", *map(str, args)], capture_output=True, text=True, **kw)


def make_input(path, n):
    with open(path, "w") as fh:
        for i in range(n):
            fh.write(json.dumps({"id": f"r{i:06d}", "response": f"{TEXTS[i % len(TEXTS)]} #{i}"}) + "\n")
    return path


def comparable(path):
    out = {}
    for line in path.read_text().splitlines():
        rec = json.loads(line)
        out[rec["id"]] = {k: (j["scores"], j["verdict"], j["error"]) for k, j in rec["judgements"].items()}
    return out


@pytest.fixture
def setup(tmp_path):
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(CONFIG)
    return cfg, make_input(tmp_path / "in.jsonl", 8000)


def test_sigkill_then_rerun_gives_exactly_the_uninterrupted_result(tmp_path, setup):
    cfg, inp = setup
    ref = tmp_path / "ref" / "out.jsonl"
    assert lam3("score", inp, "--config", cfg, "--out", ref).returncode == 0

    out = tmp_path / "run" / "out.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "lam3", "score", str(inp), "--config", str(cfg), "--out", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and (not out.exists() or out.stat().st_size < 100_000):
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    partial = out.read_text().count("\n")
    assert 0 < partial < 8000, "the kill should land mid-run"

    done = lam3("score", inp, "--config", cfg, "--out", out)
    assert done.returncode == 0, done.stderr
    ids = [json.loads(x)["id"] for x in out.read_text().splitlines()]
    assert len(ids) == len(set(ids)) == 8000
    assert comparable(out) == comparable(ref)


def test_user_errors_are_one_line_without_traceback(tmp_path, setup):
    cfg, inp = setup
    r = lam3("score", tmp_path / "nope.jsonl", "--config", cfg, "--out", tmp_path / "o.jsonl")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip() == f"error: {tmp_path / 'nope.jsonl'}: input file not found"
    typo = tmp_path / "typo.yaml"
    typo.write_text("judges:\n  - judge: keyword_risk\n    threshhold: 0.4\n")
    r = lam3("score", inp, "--config", typo, "--out", tmp_path / "o.jsonl")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert f"{typo}:3: judges[0].threshhold: unknown key" in r.stderr
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text("judges:\n  - judge: detoxifi\n")
    r = lam3("score", inp, "--config", unknown, "--out", tmp_path / "o.jsonl")
    assert r.returncode == 2 and "unknown judge 'detoxifi'" in r.stderr and "Traceback" not in r.stderr


def test_record_without_id_is_quarantined_and_named(tmp_path, setup):
    cfg, _ = setup
    inp = tmp_path / "small.jsonl"
    inp.write_text('{"id": "a", "response": "hello"}\n{"response": "no id here"}\n')
    r = lam3("score", inp, "--config", cfg, "--out", tmp_path / "o.jsonl")
    assert r.returncode == 0
    assert f"{inp}:2: id: missing" in " ".join(r.stderr.split())
    assert (tmp_path / "o.quarantine.jsonl").exists()


def test_providers_lists_offline_judges():
    r = lam3("judges")
    assert r.returncode == 0
    for name in ("keyword_risk", "refusal", "profanity_check"):
        assert name in r.stdout


def test_fields_of_the_wrong_type_are_quarantined_not_scored(tmp_path, setup):
    """A number where the text belongs is not judged as its digits: the line goes to the quarantine."""
    cfg, _ = setup
    inp = tmp_path / "typed.jsonl"
    rows = [{"id": "ok", "response": "Sure, here is a poem.", "prompt": "p", "images": ["a.png"]},
            {"id": "n", "response": 42},
            {"id": "p", "response": "fine", "prompt": 7},
            {"id": "i", "response": "fine", "images": [3]},
            {"id": "b", "response": "fine", "behavior": ["not", "text"]},
            {"id": "z", "response": None}]
    inp.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "typed_scored.jsonl"
    r = lam3("score", inp, "--config", cfg, "--out", out)
    assert r.returncode == 0, r.stderr
    assert [json.loads(x)["id"] for x in out.read_text().splitlines()] == ["ok"]
    stderr = " ".join(r.stderr.split())
    for line, field, reason in ((2, "response", "must be a string, got a number"),
                                (3, "prompt", "must be a string, got a number"),
                                (4, "images", "must be a path or a list of paths (strings)"),
                                (5, "behavior", "must be a string, got a list"),
                                (6, "response", "must be a string, got null")):
        assert f"{inp}:{line}: {field}: {reason}" in stderr
    quarantined = [json.loads(x) for x in (tmp_path / "typed_scored.quarantine.jsonl").read_text().splitlines()]
    assert [(q["line"], q["field"]) for q in quarantined] == [(2, "response"), (3, "prompt"), (4, "images"),
                                                              (5, "behavior"), (6, "response")]
