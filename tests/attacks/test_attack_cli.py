"""``lam3 attack`` end to end: a hard kill (SIGKILL) loses nothing but the steps since the last checkpoint,
the rerun finishes bit-identically to an uninterrupted run, and the image flows through
``lam3 generate --attack-image`` → ``lam3 score`` → ``lam3 fuse`` → ``lam3 asr`` (clean vs adversarial)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import torch
import yaml

from lam3.attacks.checkpoint import load_checkpoint
from lam3.attacks.run import load_attack_config, run_attack

from .conftest import PROMPT, model_fields

REPO = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def _lam3(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "lam3", *args], cwd=REPO, env=ENV, capture_output=True, text=True,
                          timeout=240)
    if check:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def _records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_kill_resume_then_generate_score_fuse(attack_models: dict, targets_file: Path, mllms: dict,
                                             tmp_path: Path) -> None:
    config = tmp_path / "attack.yaml"
    config.write_text(yaml.safe_dump(dict(
        name="tiny_xattn", model=model_fields(attack_models["llava"], "llava"), targets=str(targets_file),
        prompt=PROMPT, seed=4, pgd=dict(epsilon=16, step_size=1, steps=60, random_start=True, momentum=0.5,
                                        targets_per_step=2),
        objective=dict(attention_weight=1.0, terms=[dict(surface="lm", layers=[-1])]),
        checkpoint_every=4, output_dir=str(tmp_path / "killed"))))
    killed = tmp_path / "killed"
    allow = ("--allow-image-root", str(targets_file.parent))  # the corpus lies outside the working folder (REPO)
    proc = subprocess.Popen([sys.executable, "-m", "lam3", "attack", "--config", str(config), *allow], cwd=REPO,
                            env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while not (killed / "checkpoint.pt").exists() and proc.poll() is None:
            time.sleep(0.01)
    finally:
        proc.kill()
        proc.wait()
    state, _ = load_checkpoint(killed / "checkpoint.pt")
    assert not state.done and state.step % 4 == 0  # it really died mid-run, at a periodic checkpoint
    assert not (killed / "adv.png").exists()

    resumed = _lam3("attack", "--config", str(config), *allow)
    assert "resumed at step" in resumed.stdout
    whole = run_attack(load_attack_config(config, output_dir=tmp_path / "whole"), mllm=mllms["llava"])
    assert torch.equal(torch.load(killed / "adv.pt", weights_only=True),
                       torch.load(whole.adversarial_pt, weights_only=True))
    assert (killed / "trace.jsonl").read_text() == (tmp_path / "whole" / "trace.jsonl").read_text()

    # evaluate: clean and adversarial responses side by side in one run directory
    gen = tmp_path / "generation.yaml"
    gen.write_text(yaml.safe_dump(dict(batch_size=4, model=model_fields(attack_models["llava"], "llava"),
                                       generation=dict(max_new_tokens=6, min_new_tokens=1, do_sample=False))))
    run = tmp_path / "run"
    bench = str(REPO / "data" / "mini_bench")
    from lam3.config import load_config
    from lam3.models import GenerateConfig, load_mllm
    from lam3.pipeline.generate import generate_file

    gen_cfg = load_config(gen, GenerateConfig)  # clean run in-process (saves a start-up), attacked run via the CLI
    generate_file(gen, bench, run / "response_clean.jsonl", limit=3, mllm=load_mllm(gen_cfg.model, gen_cfg.generation))
    _lam3("generate", "-c", str(gen), "-b", bench, "-o", str(run / "response_adv.jsonl"), "--limit", "3",
          "--attack-image", str(killed / "adv.png"), "--attack-name", "tiny_xattn")
    attacked = _records(run / "response_adv.jsonl")
    assert [r["attack"] for r in attacked] == ["tiny_xattn"] * 3
    assert all(r["images"] == [str(killed / "adv.png")] and r["id"].endswith("@tiny_xattn") for r in attacked)
    assert all(r["error"] is None for r in attacked + _records(run / "response_clean.jsonl"))

    # score each file with the offline judges, fuse both, ASR per attack (library calls behind the CLI)
    from lam3.fusion.asr import asr_table
    from lam3.pipeline.fuse import fuse_files
    from lam3.pipeline.fused_records import read_fused
    from lam3.pipeline.score import score_file

    for part in ("clean", "adv"):
        score_file(run / f"response_{part}.jsonl", REPO / "configs" / "offline.yaml", run / f"scored_{part}.jsonl")
    fuse_files([run / "scored_clean.jsonl", run / "scored_adv.jsonl"], REPO / "configs" / "ensemble.yaml",
               run / "fused.jsonl")
    fused = _records(run / "fused.jsonl")
    assert len(fused) == 6 and sorted({r["attack"] for r in fused}) == ["clean", "tiny_xattn"]
    assert all("social_toxicity" in r and "policy_risk" in r for r in fused)
    rows = asr_table((rec for _, rec in read_fused(run / "fused.jsonl")), group_by=["attack"])
    assert {r.group["attack"] for r in rows} == {"clean", "tiny_xattn"}
    assert all(r.interval.low <= r.rate <= r.interval.high for r in rows)
