"""``lam3 generate --engine ray`` on a local Ray cluster (one per module, ``ray.init(num_cpus=2)``).

The model is a tiny random LLaVA saved to a local folder; decoding samples (temperature 1), with two
draws per sample, so every response depends on its draw's seed. Each test compares with the
single-process run of the same config: the set of lines must be the same, timing fields aside (the
Ray engine writes batches as its replicas finish them, so the order may differ).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import yaml
from scale_helpers import REPO, lines
from typer.testing import CliRunner

import lam3.cli  # noqa: F401  (attaches the commands)
from lam3.cli.app import app
from lam3.errors import ConfigError, UserError
from lam3.manifest import read_manifest
from lam3.pipeline.generate import generate_file

ray = pytest.importorskip("ray")

PROMPTS = ["describe this image", "how to make a weapon", "tell me about the cat", "what is the house",
           "explain this text", "tell me a joke"]
SAMPLES = [f"s{i}" for i in range(len(PROMPTS))] + ["s-missing"]
DRAWS = 2
IDS = sorted(f"{sid}#{j}" for sid in SAMPLES for j in range(DRAWS))


@pytest.fixture(scope="module")
def cluster():
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


@pytest.fixture(scope="module")
def llava(tmp_path_factory):
    from tiny.llava import build_tiny_llava

    return build_tiny_llava(tmp_path_factory.mktemp("ray-generate") / "llava")


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    """Six samples over two images, and one whose image is missing (its error must come out the same)."""
    from PIL import Image

    root = tmp_path_factory.mktemp("ray-bench")
    (root / "images").mkdir()
    Image.new("RGB", (48, 40), (220, 30, 30)).save(root / "images" / "red.png")
    Image.linear_gradient("L").convert("RGB").resize((40, 40)).save(root / "images" / "grad.png")
    rows = [{"id": f"s{i}", "prompt": p, "images": [f"images/{('red', 'grad')[i % 2]}.png"], "category": "benign"}
            for i, p in enumerate(PROMPTS)]
    rows.append({"id": "s-missing", "prompt": "what is this", "images": ["images/gone.png"], "category": "benign"})
    (root / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root


def write_config(path: Path, llava: Path, **top) -> Path:
    data = {"backend": "hf", "batch_size": 2,
            "model": {"architecture": "llava", "model_id": str(llava), "local_files_only": True, "device_map": "cpu",
                      "precision": "fp32", "quantization": False},
            "generation": {"max_new_tokens": 6, "min_new_tokens": 2, "temperature": 1.0, "seed": 7,
                           "num_samples": DRAWS}, **top}
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def without_timings(path: Path) -> list[dict]:
    """The records sorted by id, timing fields removed (the one thing the engine may change besides order)."""
    return sorted(({k: v for k, v in rec.items() if k != "timings"} for rec in lines(path)), key=lambda r: r["id"])


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory, llava, bench):
    """The single-process run of the config: its response.jsonl."""
    tmp = tmp_path_factory.mktemp("ray-reference")
    out = tmp / "response.jsonl"
    generate_file(write_config(tmp / "gen.yaml", llava), bench, out)
    return out


@pytest.fixture(scope="module")
def reference(reference_run):
    return without_timings(reference_run)


def test_ray_output_equals_the_single_process_output_and_resumes_across_engines(cluster, tmp_path, llava, bench,
                                                                                reference, monkeypatch):
    config = write_config(tmp_path / "gen.yaml", llava, replicas={"actors": 2, "num_cpus": 1})
    out = tmp_path / "run" / "response.jsonl"
    first = generate_file(config, bench, out, limit=3)  # engine: local (the config's), then Ray finishes it
    assert first.engine == {"engine": "local", "unused": ["replicas"]}

    def no_model_here(*args, **kwargs):
        raise AssertionError("the driver loaded the model: engine ray must load it in its replicas only")

    monkeypatch.setattr("lam3.models.load_mllm", no_model_here)
    summary = generate_file(config, bench, out, engine="ray")
    assert summary.skipped == 3 and summary.generated + summary.errors == len(IDS) - 3 and summary.errors == 2
    got = without_timings(out)
    assert [r["id"] for r in got] == IDS  # one line per id
    assert got == reference  # same responses, seeds, settings and errors as one process
    assert "image not found" in next(r for r in got if r["id"] == "s-missing#0")["error"]
    assert not (out.parent / "response.jsonl.ray-pending.jsonl").exists()  # the scratch file is removed
    entry = read_manifest(out.parent).stages["generate:response.jsonl"]
    assert entry.status == "finished"
    assert entry.summary["engine"] == {"engine": "ray", "cluster": "the Ray session of this process",
                                       "replicas": {"actors": 2, "num_cpus": 1.0, "num_gpus": 0.0, "max_restarts": 3}}
    assert "engine" not in entry.config and "replicas" not in entry.config  # where it ran is no setting
    assert entry.generation.num_samples == DRAWS and entry.generation.temperature == 1.0


def test_sigkill_of_the_driver_then_rerun_finishes_with_one_line_per_id(cluster, tmp_path, llava, bench, reference,
                                                                        reference_run):
    from lam3.report.runs import load_run

    config = write_config(tmp_path / "gen.yaml", llava, batch_size=1, engine="ray",
                          replicas={"actors": 2, "num_cpus": 1})
    out = tmp_path / "run" / "response.jsonl"
    # the real CLI, SIGKILLed by itself right after its third durable write (while the replicas still work)
    script = ("import os, signal\n"
              "from lam3.pipeline.stage import Stage\n"
              "real = Stage.write\n"
              "def write(self, records):\n"
              "    n = real(self, records)\n"
              "    if self.output.read_bytes().count(b'\\n') >= 3:\n"
              "        os.kill(os.getpid(), signal.SIGKILL)\n"
              "    return n\n"
              "Stage.write = write\n"
              "from lam3.cli import main\n"
              "main()\n")
    env = {**os.environ, "RAY_ADDRESS": cluster, "PYTHONPATH": str(REPO / "src")}
    driver = subprocess.run([sys.executable, "-c", script, "generate", "-c", str(config), "-b", str(bench),
                             "-o", str(out)], env=env, capture_output=True, text=True, timeout=300)
    assert driver.returncode == -9, driver.stderr[-3000:]
    assert out.read_bytes().count(b"\n") == 3
    assert read_manifest(out.parent).stages["generate:response.jsonl"].status == "running"
    summary = generate_file(config, bench, out)  # the same command again
    assert summary.skipped == 3 and summary.generated + summary.errors == len(IDS) - 3
    got = without_timings(out)
    assert Counter(r["id"] for r in got) == Counter(IDS)
    assert got == reference
    assert read_manifest(out.parent).stages["generate:response.jsonl"].status == "finished"
    # the daily log compares requested and applied settings: the same table as for one process, nothing flagged
    table = load_run(out.parent).generation_table()
    assert table == load_run(reference_run.parent).generation_table()
    assert [row for row in table if row["flag"]] == [] and \
        {row["setting"] for row in table} >= {"temperature", "num_samples", "seed", "backend"}


def test_a_model_that_cannot_load_in_its_replica_stops_the_run_naming_the_config(cluster, tmp_path, bench):
    config = write_config(tmp_path / "gen.yaml", tmp_path / "no-such-model", engine="ray",
                          replicas={"num_cpus": 1})
    out = tmp_path / "run" / "response.jsonl"
    with pytest.raises(UserError, match=r"gen\.yaml: model\.model_id: cannot load config '.*no-such-model'"):
        generate_file(config, bench, out)
    assert not out.exists() or out.read_text() == ""


def test_replicas_that_outgrow_the_cluster_are_named(cluster, tmp_path, llava, bench):
    from lam3.config import load_config
    from lam3.models.config import GenerateConfig
    from lam3.paths import ImageRoots
    from lam3.pipeline.engines.ray_generate import check_resources
    from lam3.pipeline.generate_batch import GenerationJob, SampleImages

    path = write_config(tmp_path / "gen.yaml", llava, engine="ray", replicas={"actors": 3, "num_cpus": 1})
    job = GenerationJob(load_config(path, GenerateConfig), SampleImages(ImageRoots.at(bench), bench / "samples.jsonl"))
    with pytest.raises(ConfigError, match=r"replicas: the model's replicas reserve 3 CPUs together, the Ray cluster "
                                          r"has 2: lower actors / num_cpus in replicas:"):
        check_resources(ray, job, started=True, config_path=path)  # a local cluster this run started: an error
    assert "reserve 3 CPUs" in check_resources(ray, job, started=False)  # a cluster that may autoscale: a warning


# -- the engine options: validated with their line, never silently ignored (no cluster needed) -----------------

@pytest.mark.parametrize(("top", "model", "message"), [
    ({"replicas": {"actor": 2}}, {}, r"gen\.yaml:\d+: replicas\.actor: unknown key"),
    ({"engine": "ray", "replicas": {"num_gpus": 1}}, {},
     r"gen\.yaml:\d+: replicas\.num_gpus: each replica would reserve 1 GPU that model\.device_map: cpu never uses"),
    ({"engine": "ray"}, {"device_map": "cuda:0"},
     r"gen\.yaml:\d+: replicas\.num_gpus: model\.device_map 'cuda:0' needs a GPU, and a replica that reserves none"),
    ({"engine": "ray", "backend": "vllm", "replicas": {"num_gpus": 0.5}},
     {"device_map": None, "attn_implementation": None},
     r"gen\.yaml:\d+: replicas\.num_gpus: backend: vllm runs one engine per GPU"),
    ({"ray": {"address": "ray://head:10001"}}, {}, r"Ray Client \(ray://\) is not supported"),
])
def test_engine_options_that_cannot_take_effect_are_errors_naming_the_file(tmp_path, llava, bench, top, model,
                                                                            message):
    config = write_config(tmp_path / "gen.yaml", llava, **top)
    if model:
        data = yaml.safe_load(config.read_text())
        data["model"].update(model)
        for key in [k for k, v in model.items() if v is None]:
            del data["model"][key]
        config.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(ConfigError, match=message):
        generate_file(config, bench, tmp_path / "out.jsonl")


def test_replica_flags_without_the_ray_engine_are_errors_and_unused_blocks_are_said(tmp_path, llava, bench):
    config = write_config(tmp_path / "gen.yaml", llava, replicas={"actors": 2})
    runner = CliRunner()
    bad = runner.invoke(app, ["generate", "-c", str(config), "-b", str(bench), "-o", str(tmp_path / "a.jsonl"),
                              "--replicas", "2", "--replica-gpus", "1"])
    assert bad.exit_code != 0 and isinstance(bad.exception, UserError)
    assert str(bad.exception) == f"{config}: engine: --replicas / --replica-gpus only apply to --engine ray (or " \
                                 "engine: ray in the config)"
    with pytest.raises(UserError, match=r"a model loaded in this process \(mllm=\) cannot serve engine: ray"):
        generate_file(config, bench, tmp_path / "b.jsonl", engine="ray", mllm=object())
    ok = runner.invoke(app, ["generate", "-c", str(config), "-b", str(bench), "-o", str(tmp_path / "c.jsonl"),
                             "--limit", "1"], env={"COLUMNS": "200"})
    assert ok.exit_code == 0, ok.output
    assert "engine local: replicas only apply to --engine ray (not used by this run)" in ok.output


def test_the_shipped_ray_generate_config_validates_without_loading_anything():
    from lam3.config import load_config
    from lam3.models.config import GenerateConfig

    config = load_config(REPO / "configs" / "generation_llava_ray.yaml", GenerateConfig)
    assert config.engine == "ray" and config.unused() == []
    assert (config.replicas.actors, config.replicas.num_gpus, config.replicas.num_cpus) == (2, 1, 1)
    plain = load_config(REPO / "configs" / "generation_llava.yaml", GenerateConfig)
    assert config.model_dump() == plain.model_dump()  # the same run, only elsewhere
