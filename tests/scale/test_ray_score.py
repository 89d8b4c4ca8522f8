"""``lam3 score --engine ray`` on a local Ray cluster (one per module, ``ray.init(num_cpus=2)``).

Every test compares with the single-process run of the same config, line for line (latency aside),
and counts ids: the engine must change where judges run, never what is written.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from scale_helpers import HERE, REPO, RESPONSES, lines, without_latency, write_config

import scale_judges  # noqa: F401  (registers scale_probe in this process)
from lam3.errors import ConfigError, UserError
from lam3.manifest import read_manifest
from lam3.pipeline.score import score_file

ray = pytest.importorskip("ray")

IDS = [json.loads(line)["id"] for line in RESPONSES.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def cluster():
    """One local cluster for the module; its workers can import scale_judges (as a cluster's would a plugin)."""
    saved = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join([str(HERE), *([saved] if saved else [])])
    try:
        ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    finally:
        if saved is None:
            os.environ.pop("PYTHONPATH")
        else:
            os.environ["PYTHONPATH"] = saved
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


def judges(tmp_path: Path, **probe) -> list[dict]:
    return [{"judge": "scale_probe", "log": str(tmp_path / "events.jsonl"), "ray": {"actors": 2, "num_cpus": 0.5},
             **probe},
            {"judge": "keyword_risk", "ray": {"num_cpus": 0.5}},
            {"judge": "refusal", "ray": {"num_cpus": 0.5}}]


def reference(tmp_path: Path, config: Path) -> list[dict]:
    out = tmp_path / "reference" / "scored.jsonl"
    score_file(RESPONSES, config, out, engine="local")
    return without_latency(lines(out))


def events(tmp_path: Path) -> list[dict]:
    return lines(tmp_path / "events.jsonl")


def test_ray_output_equals_the_single_process_output_and_resumes_across_engines(cluster, tmp_path):
    config = write_config(tmp_path / "score.yaml", judges(tmp_path))
    expected = reference(tmp_path, config)
    out = tmp_path / "run" / "scored.jsonl"
    first = score_file(RESPONSES, config, out, limit=20)  # engine: local (the config's), then Ray finishes it
    assert first.engine["engine"] == "local" and first.engine["unused"] == ["judges[0].ray", "judges[1].ray",
                                                                              "judges[2].ray"]
    (tmp_path / "events.jsonl").unlink()
    summary = score_file(RESPONSES, config, out, engine="ray")
    assert summary.scored == len(IDS) - 20 and summary.skipped == 20
    assert without_latency(lines(out)) == expected
    assert not (out.parent / "scored.jsonl.ray-pending.jsonl").exists()  # the scratch file is removed
    entry = read_manifest(out.parent).stages["score:scored.jsonl"]
    assert entry.status == "finished"
    assert entry.summary["engine"]["engine"] == "ray"
    assert entry.summary["engine"]["pools"]["scale_probe"] == {"actors": 2, "num_cpus": 0.5, "num_gpus": 0.0,
                                                               "max_restarts": 3}
    assert entry.summary["engine"]["cluster"] == "the Ray session of this process"
    probe_pids = {e["pid"] for e in events(tmp_path)}
    # the probe's actors did the judging (both, unless one was ready before the other started: timing)
    assert 1 <= len(probe_pids) <= 2 and os.getpid() not in probe_pids


@pytest.mark.parametrize("die_by", ["ray_kill", "wait_for_sigkill"])
def test_an_actor_killed_mid_batch_is_retried_with_nothing_lost_or_written_twice(cluster, tmp_path, die_by):
    victim = IDS[45]
    marker = tmp_path / "dying"
    config = write_config(tmp_path / "score.yaml", judges(tmp_path, sleep_s=0.02))
    expected = reference(tmp_path, config)
    (tmp_path / "events.jsonl").unlink()
    config = write_config(tmp_path / "score.yaml",
                          judges(tmp_path, sleep_s=0.02, die_on=victim, die_by=die_by, marker=str(marker)))
    if die_by == "wait_for_sigkill":
        def killer() -> None:
            deadline = time.time() + 120
            while not marker.exists() and time.time() < deadline:
                time.sleep(0.02)
            time.sleep(0.05)
            os.kill(int(marker.read_text()), signal.SIGKILL)

        threading.Thread(target=killer, daemon=True).start()
    out = tmp_path / "run" / "scored.jsonl"
    score_file(RESPONSES, config, out, engine="ray")
    assert marker.exists()  # it did die
    got = lines(out)
    assert Counter(r["id"] for r in got) == Counter(IDS) and [r["id"] for r in got] == IDS
    assert without_latency(got) == expected
    log = events(tmp_path)
    starts = [e for e in log if e["event"] == "start" and victim in e["ids"]]
    assert len(starts) == 2 and starts[0]["pid"] != starts[1]["pid"]  # retried on the restarted actor
    ends = Counter(tuple(e["ids"]) for e in log if e["event"] == "end")
    assert set(ends.values()) == {1} and sum(len(k) for k in ends) == len(IDS)  # every batch judged to the end once


def test_sigkill_of_the_driver_then_rerun_finishes_with_one_line_per_id(cluster, tmp_path):
    config = write_config(tmp_path / "score.yaml", judges(tmp_path, sleep_s=0.25))
    expected = reference(tmp_path, config)
    out = tmp_path / "run" / "scored.jsonl"
    env = {**os.environ, "RAY_ADDRESS": cluster,
           "PYTHONPATH": os.pathsep.join([str(HERE), str(REPO / "src"), os.environ.get("PYTHONPATH", "")])}
    cmd = [sys.executable, "-c", "import scale_judges; from lam3.cli import main; main()", "score", str(RESPONSES),
           "-c", str(config), "-o", str(out), "--engine", "ray"]
    with open(tmp_path / "driver.log", "wb") as log:
        driver = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.time() + 180
        while time.time() < deadline and driver.poll() is None:
            if out.is_file() and out.read_bytes().count(b"\n") >= 24:
                break
            time.sleep(0.05)
        assert driver.poll() is None, (tmp_path / "driver.log").read_text()[-3000:]
        driver.send_signal(signal.SIGKILL)
        driver.wait()
    written = out.read_bytes().count(b"\n")
    assert 24 <= written < len(IDS)
    assert read_manifest(out.parent).stages["score:scored.jsonl"].status == "running"
    summary = score_file(RESPONSES, config, out, engine="ray")  # the same command again
    assert summary.skipped >= 24 and summary.scored + summary.skipped == len(IDS)
    got = lines(out)
    assert [r["id"] for r in got] == IDS
    assert without_latency(got) == expected
    assert read_manifest(out.parent).stages["score:scored.jsonl"].status == "finished"


def test_a_judge_that_cannot_load_in_its_actor_stops_the_run_naming_it(cluster, tmp_path):
    config = write_config(tmp_path / "score.yaml", [{"judge": "keyword_risk", "ray": {"num_cpus": 0.5}},
                                                    {"judge": "scale_probe", "fail_load": True}])
    out = tmp_path / "run" / "scored.jsonl"
    with pytest.raises(UserError, match=r"score\.yaml: judges\[1\]: judge 'scale_probe' could not load in its Ray "
                                        r"actor: RuntimeError: the probe checkpoint is missing"):
        score_file(RESPONSES, config, out, engine="ray")
    assert not out.exists() or out.read_text() == ""


def test_pools_that_outgrow_the_cluster_are_named(cluster, tmp_path):
    from lam3.pipeline.engines.ray_score import check_resources
    from lam3.pipeline.score import ray_judges, read_score_config

    config = write_config(tmp_path / "score.yaml", [{"judge": "keyword_risk", "ray": {"actors": 2}},
                                                    {"judge": "refusal", "ray": {"num_cpus": 1}}])
    pools = ray_judges(read_score_config(config), config)
    with pytest.raises(ConfigError, match=r"the judges' actor pools reserve 3 CPUs together, the Ray cluster has 2"):
        check_resources(ray, pools, started=True)  # a local cluster this run started: an error
    assert "reserve 3 CPUs" in check_resources(ray, pools, started=False)  # a cluster that may autoscale: a warning
