"""End to end: `python -m lam3 score` against the local server, then `--retry-errors`; keys never written."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml
from PIL import Image
from remote_helpers import OPENAI_KEY, PERSPECTIVE_KEY

from lam3.testing.fake_apis import Faults


def _write_inputs(tmp: Path) -> list[dict]:
    Image.new("RGB", (4, 4), (0, 90, 200)).save(tmp / "pic.png")
    records = [{"id": f"r{i:02d}", "prompt": "p", "response": f"reply {i} {'you idiot' if i % 5 == 0 else 'sure'}",
                "images": ["pic.png"] if i % 4 == 0 else []} for i in range(24)]
    records.append({"id": "long", "prompt": "p", "response": "word " * 5000, "images": []})
    records.append({"id": "empty", "prompt": "p", "response": "", "images": []})
    (tmp / "responses.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return records


def _config(tmp: Path, url: str, **perspective: object) -> Path:
    fast = {"requests_per_second": 40, "max_concurrency": 8, "backoff_initial_s": 0.02, "backoff_max_s": 0.1,
            "timeout_s": 5, "max_attempts": 1}
    config = {"id_field": "id", "text_field": "response", "images_field": "images", "batch_size": 10,
              "judges": [{"judge": "perspective", "endpoint": url, **fast, **perspective},
                            {"judge": "openai_moderation", "base_url": url + "/v1", "image_root": str(tmp), **fast}]}
    path = tmp / "remote.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _lam3(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lam3", *args], capture_output=True, text=True, env=env,
                          timeout=180)


def _env(**keys: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PERSPECTIVE_API_KEY", "OPENAI_API_KEY")}
    env.update(keys)
    env["COLUMNS"] = "200"
    return env


def _read(path: Path) -> dict[str, dict]:
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(rows) == len({r["id"] for r in rows})  # one line per id, never two
    return {r["id"]: r for r in rows}


def _assert_no_keys(out_dir: Path, *streams: str) -> None:
    blobs = [p.read_text(errors="replace") for p in out_dir.rglob("*") if p.is_file()] + list(streams)
    for key in (PERSPECTIVE_KEY, OPENAI_KEY):
        assert not any(key in blob for blob in blobs)


def test_score_then_retry_errors_redoes_only_the_failed(tmp_path, fake_server) -> None:
    records = _write_inputs(tmp_path)
    server = fake_server(faults=Faults(server_error=0.25, seed=11))
    config = _config(tmp_path, server.url)
    out = tmp_path / "out" / "scored.jsonl"
    env = _env(PERSPECTIVE_API_KEY=PERSPECTIVE_KEY, OPENAI_API_KEY=OPENAI_KEY)

    first = _lam3("score", str(tmp_path / "responses.jsonl"), "--config", str(config), "--out", str(out), env=env)
    assert first.returncode == 0, first.stderr
    rows = _read(out)
    assert set(rows) == {r["id"] for r in records}  # every id: exactly one line with both judgements
    for row in rows.values():
        for key in ("perspective", "openai_moderation"):
            j = row["judgements"][key]
            assert (j["error"] is None) != (j["scores"] == {})  # a judgement or an error, never both/neither
    assert rows["long"]["judgements"]["perspective"]["error"].startswith("COMMENT_TOO_LONG")
    assert rows["empty"]["judgements"]["perspective"]["error"].startswith("COMMENT_EMPTY")
    assert rows["r00"]["judgements"]["openai_moderation"]["details"]["images_sent"] == 1
    failed = {rid for rid, row in rows.items() if any(j["error"] for j in row["judgements"].values())}
    transient = failed - {"long", "empty"}
    assert transient, "the injected 5xx should have failed some records (max_attempts: 1)"

    server.faults = Faults()
    server.reset_log()
    again = _lam3("score", str(tmp_path / "responses.jsonl"), "--config", str(config), "--out", str(out),
                  "--retry-errors", env=env)
    assert again.returncode == 0, again.stderr
    fixed = _read(out)
    assert set(fixed) == set(rows)
    by_text = {r["response"]: r["id"] for r in records}
    resent = {by_text.get(h.text, h.text) for h in server.hits}
    assert resent <= failed and transient <= resent  # only the failed records went out again
    still = {rid for rid, row in fixed.items() if any(j["error"] for j in row["judgements"].values())}
    assert still == {"long", "empty"}  # the permanent per-record errors stay errors
    for rid in set(rows) - failed:  # the good ones were kept as they were
        assert fixed[rid]["judgements"] == rows[rid]["judgements"]
    _assert_no_keys(out.parent, first.stdout, first.stderr, again.stdout, again.stderr)
    assert "manifest.json" in {p.name for p in out.parent.iterdir()}


def test_keys_never_reach_outputs_even_when_echoed(tmp_path, fake_server) -> None:
    _write_inputs(tmp_path)
    server = fake_server(openai_key="sk-some-other-key")  # the server echoes the wrong key in its 401
    out = tmp_path / "out" / "scored.jsonl"
    result = _lam3("score", str(tmp_path / "responses.jsonl"), "--config", str(_config(tmp_path, server.url)),
                   "--out", str(out), "--limit", "5",
                   env=_env(PERSPECTIVE_API_KEY=PERSPECTIVE_KEY, OPENAI_API_KEY=OPENAI_KEY))
    assert result.returncode == 0, result.stderr
    rows = _read(out)
    assert all("invalid_api_key" in r["judgements"]["openai_moderation"]["error"] for r in rows.values())
    _assert_no_keys(out.parent, result.stdout, result.stderr)


def test_missing_key_is_one_clear_line(tmp_path, fake_server) -> None:
    _write_inputs(tmp_path)
    server = fake_server()
    result = _lam3("score", str(tmp_path / "responses.jsonl"), "--config", str(_config(tmp_path, server.url)),
                   "--out", str(tmp_path / "o.jsonl"), env=_env(OPENAI_API_KEY=OPENAI_KEY))
    assert result.returncode == 2
    assert "PERSPECTIVE_API_KEY" in result.stderr and "Traceback" not in result.stderr
    assert server.hits == []


def test_ctrl_c_mid_run_then_rerun_finishes_without_duplicates(tmp_path, fake_server) -> None:
    import signal
    import time

    records = _write_inputs(tmp_path)
    server = fake_server()
    config = tmp_path / "slow.yaml"
    config.write_text(yaml.safe_dump({"batch_size": 4, "judges": [
        {"judge": "perspective", "endpoint": server.url, "requests_per_second": 8, "batch_size": 4}]}))
    out = tmp_path / "out" / "scored.jsonl"
    env = _env(PERSPECTIVE_API_KEY=PERSPECTIVE_KEY)
    cmd = [sys.executable, "-m", "lam3", "score", str(tmp_path / "responses.jsonl"), "--config", str(config),
           "--out", str(out)]
    # as from a terminal: a run started as a background job (`cmd &` in a script) inherits SIGINT ignored, and so
    # would lam3, which is right for lam3 and wrong for this test
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:  # wait for the first durable batch
        if out.exists() and out.read_text().count("\n") >= 4:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=60)
    partial = out.read_text().count("\n")
    assert partial < len(records)  # it really was interrupted mid-run
    again = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
    assert again.returncode == 0, again.stderr
    rows = _read(out)  # asserts one line per id
    assert set(rows) == {r["id"] for r in records}


def _openai_only(tmp: Path, url: str, **options: object) -> Path:
    entry = {"judge": "openai_moderation", "base_url": url + "/v1", "send_images": False, "requests_per_second": 40,
             "max_concurrency": 8, "backoff_initial_s": 0.02, "backoff_max_s": 0.1, "timeout_s": 5, **options}
    path = tmp / "openai.yaml"
    path.write_text(yaml.safe_dump({"batch_size": 10, "judges": [entry]}))
    return path


def test_null_category_scores_are_not_scored_never_an_error(tmp_path, fake_server) -> None:
    """The live API answers null for illicit / illicit/violent on some models: every record is still judged."""
    server = fake_server(null_categories=("illicit", "illicit/violent"))
    texts = ["how to hack and steal", "you idiot", "have a nice day", "kill it with explosives"]
    (tmp_path / "in.jsonl").write_text("".join(json.dumps({"id": f"r{i}", "response": t}) + "\n"
                                               for i, t in enumerate(texts)))
    out = tmp_path / "out" / "scored.jsonl"
    run = _lam3("score", str(tmp_path / "in.jsonl"), "--config", str(_openai_only(tmp_path, server.url)),
                "--out", str(out), env=_env(OPENAI_API_KEY=OPENAI_KEY))
    assert run.returncode == 0, run.stderr
    rows = _read(out)
    from lam3.testing.fake_apis import openai_scores

    for i, text in enumerate(texts):
        j = rows[f"r{i}"]["judgements"]["openai_moderation"]
        assert j["error"] is None
        assert j["details"]["not_scored"] == ["illicit", "illicit/violent"]
        expected = {k: v for k, v in openai_scores(text).items() if not k.startswith("illicit")}
        assert j["scores"] == expected  # absent, not 0
        assert j["details"]["attempts"] == 1
    assert len(server.hits) == len(texts)  # nothing was retried


def test_a_reply_that_breaks_the_contract_is_an_error_at_once_not_retried(tmp_path, fake_server) -> None:
    server = fake_server(faults=Faults(off_contract=1.0))
    (tmp_path / "in.jsonl").write_text("".join(json.dumps({"id": f"r{i}", "response": f"text {i}"}) + "\n"
                                               for i in range(3)))
    out = tmp_path / "out" / "scored.jsonl"
    config = _openai_only(tmp_path, server.url, max_attempts=6)
    run = _lam3("score", str(tmp_path / "in.jsonl"), "--config", str(config), "--out", str(out),
                env=_env(OPENAI_API_KEY=OPENAI_KEY))
    assert run.returncode == 0, run.stderr
    for row in _read(out).values():
        error = row["judgements"]["openai_moderation"]["error"]
        assert error == ("malformed reply (not retried): results[0].category_scores.harassment: "
                         "Input should be a valid number (got 'high')")
    assert len(server.hits) == 3  # one request per record, not six
