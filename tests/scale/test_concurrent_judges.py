"""Concurrent judges (``engine: local``): the same output as one judge after another, and a remote judge
waiting on its quota never holds up a local one."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from scale_helpers import HERE, REPO, RESPONSES, lines, without_latency, write_config

import scale_judges  # noqa: F401  (registers scale_probe)
from lam3.pipeline.engines.concurrent import judge_stream
from lam3.pipeline.score import judge_batch, load_score_config, score_input
from lam3.testing.fake_chat import FakeChatServer

pytest.importorskip("openai")


@pytest.fixture
def server():
    with FakeChatServer(key=None, models=("judge",), lifetime_s=120.0) as srv:
        yield srv


def harmbench(server: FakeChatServer, rps: float) -> dict:
    return {"judge": "harmbench_classifier", "key": "harmbench", "backend": "openai_compatible",
            "base_url": server.base_url, "model_id": "judge", "api_key_env": None, "clip_tokens": None,
            "requests_per_second": rps, "quota_window_s": 0.2, "max_concurrency": 8}


def test_concurrent_output_equals_one_judge_after_another(tmp_path, server, guard_dir):
    entries = [{"judge": "scale_probe", "raise_on": "mb-s3-02.r1"}, {"judge": "keyword_risk"},
               {"judge": "llama_guard", "key": "guard", "model_id": str(guard_dir), "local_files_only": True},
               harmbench(server, rps=400)]
    outputs = {}
    for concurrent in (False, True):
        config = write_config(tmp_path / f"{concurrent}.yaml", entries, concurrent_judges=concurrent, lookahead=3)
        out = tmp_path / str(concurrent) / "scored.jsonl"
        summary = score_file_(config, out)
        assert summary.engine == {"engine": "local", "concurrent_judges": concurrent, "lookahead": 3}
        outputs[concurrent] = lines(out)
    assert without_latency(outputs[True]) == without_latency(outputs[False])
    ids = [r["id"] for r in outputs[True]]
    assert ids == [r["id"] for r in lines(RESPONSES)]  # input order, each record once
    assert list(outputs[True][0]["judgements"]) == ["scale_probe", "keyword_risk", "guard", "harmbench"]
    failed = [r for r in outputs[True] if r["judgements"]["scale_probe"]["error"]]
    assert {r["id"] for r in failed} >= {"mb-s3-02.r1"} and len(failed) == 8  # its batch of 8, nothing else
    assert all(f["judgements"]["scale_probe"]["error"] == "RuntimeError: probe refuses the batch holding "
                                                          "mb-s3-02.r1" for f in failed)
    assert all(r["judgements"]["harmbench"]["error"] is None for r in outputs[True])  # the others judged all


def score_file_(config: Path, out: Path):
    from lam3.pipeline.score import score_file

    return score_file(RESPONSES, config, out)


def timed(judges):
    """Wrap each judge's real ``score`` to log when each of its batches ended (order only, no thresholds)."""
    log: list[tuple[str, str, float]] = []
    lock = threading.Lock()
    for key, judge in judges:
        def wrapped(batch, _key=key, _real=judge.score):
            out = _real(batch)
            with lock:
                log.append((_key, batch[0].id, time.monotonic()))
            return out

        judge.score = wrapped
    return log


@pytest.mark.parametrize("concurrent", [True, False])
def test_a_remote_judge_waiting_on_its_quota_does_not_hold_up_the_local_judge(tmp_path, server, concurrent):
    config = write_config(tmp_path / "score.yaml", [{"judge": "scale_probe"}, harmbench(server, rps=10)])
    cfg, judges = load_score_config(config)
    for _, judge in judges:
        judge.load()
    records = [score_input(rec, cfg) for rec in lines(RESPONSES)[:12]]
    batches = [records[i:i + 4] for i in range(0, 12, 4)]  # the remote judge needs ≥ 0.3 s per batch (10/s)
    log = timed(judges)
    try:
        results = list(judge_stream(judges, batches, lookahead=2, concurrent=concurrent))
    finally:
        for _, judge in judges:
            judge.close()
    assert [b[0].id for b, _ in results] == [b[0].id for b in batches]  # yielded oldest first
    end = {(key, first): t for key, first, t in log}
    first_remote = end[("harmbench", batches[0][0].id)]
    last_local = end[("scale_probe", batches[2][0].id)]
    if concurrent:  # the local judge finished all three batches while the remote one was still on its first
        assert last_local < first_remote
    else:  # one judge after another: the local judge waits for the remote one, batch by batch
        assert last_local > first_remote


def test_judge_batch_runs_every_judge_on_one_batch(tmp_path, server):
    config = write_config(tmp_path / "score.yaml", [{"judge": "scale_probe"}, harmbench(server, rps=400)])
    cfg, judges = load_score_config(config)
    items = [score_input(rec, cfg) for rec in lines(RESPONSES)[:3]]
    try:
        out = judge_batch(judges, items)
    finally:
        for _, judge in judges:
            judge.close()
    assert [sorted(v) for v in out] == [["harmbench", "scale_probe"]] * 3
    assert all(v["harmbench"].error is None and v["harmbench"].details["scoring"] == "probability" for v in out)


def test_only_engine_ray_imports_ray(tmp_path):
    config = write_config(tmp_path / "score.yaml", [{"judge": "keyword_risk", "ray": {"actors": 2}}])
    code = ("import sys; from lam3.pipeline.score import score_file; "
            f"score_file({str(RESPONSES)!r}, {str(config)!r}, {str(tmp_path / 'out.jsonl')!r}); "
            "print(json.dumps(sorted(m for m in ('ray', 'torch') if m in sys.modules)))")
    done = subprocess.run([sys.executable, "-c", "import json; " + code], capture_output=True, text=True,
                          cwd=REPO, check=True, env={"PYTHONPATH": str(HERE), "PATH": "/usr/bin:/bin"})
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


def test_closing_the_stream_drops_the_batches_not_yet_started(tmp_path):
    """An error while writing (or Ctrl-C) closes the stream: at most the look-ahead is judged, not the rest."""
    config = write_config(tmp_path / "score.yaml", [{"judge": "scale_probe", "sleep_s": 0.05,
                                                     "log": str(tmp_path / "events.jsonl")}])
    cfg, judges = load_score_config(config)
    records = [score_input(rec, cfg) for rec in lines(RESPONSES)[:40]]
    stream = judge_stream(judges, [records[i:i + 4] for i in range(0, 40, 4)], lookahead=2)
    next(stream)
    stream.close()
    time.sleep(0.3)
    started = [e for e in lines(tmp_path / "events.jsonl") if e["event"] == "start"]
    assert 1 <= len(started) <= 4  # the yielded batch and the look-ahead, never the ten
