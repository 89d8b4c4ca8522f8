"""The attack on the tiny models: loss goes down, budget and pixel range hold, the attention term steers
attention, runs are reproducible and resume bit-identically (CPU)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from lam3.attacks.checkpoint import load_checkpoint
from lam3.attacks.preprocess import from_pil
from lam3.attacks.run import run_attack
from lam3.errors import UserError


def _trace(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "trace.jsonl").read_text().splitlines()]


def _pt(out: Path, stem: str = "adv") -> torch.Tensor:
    return torch.load(out / f"{stem}.pt", weights_only=True)


@pytest.mark.parametrize("arch", ["llava", "idefics2"])
def test_target_loss_decreases_within_budget(make_config, mllms: dict, arch: str) -> None:
    cfg = make_config(arch, pgd=dict(epsilon=32, step_size=2, steps=15, targets_per_step=None))
    summary = run_attack(cfg, mllm=mllms[arch])
    out = cfg.output_dir
    trace = _trace(out)
    assert len(trace) == 15 and [r["step"] for r in trace] == list(range(15))
    assert trace[-1]["target_loss"] < trace[0]["target_loss"]
    assert summary.adversarial["target_loss"] < summary.clean["target_loss"] - 0.1
    adv, clean = _pt(out), _pt(out, "clean")
    assert 0.0 <= float(adv.min()) and float(adv.max()) <= 1.0
    levels = (torch.round(adv * 255) - torch.round(clean * 255)).abs()
    assert int(levels.max()) <= 32 and summary.linf_255 <= 32
    assert int(levels.max()) > 0
    with Image.open(out / "adv.png") as img:  # the PNG is exactly the optimised image
        assert torch.equal(from_pil(img), adv)
    manifest = json.loads((out / "manifest.json").read_text())
    stage = manifest["stages"]["attack"]
    assert stage["summary"]["status"] == "finished" and stage["config"]["name"] == cfg.name
    assert {"adv.png", "adv.pt", "checkpoint.pt", "trace.jsonl"} <= set(manifest["artifacts"])
    payload = torch.load(out / "checkpoint.pt", weights_only=True)  # tensors and plain types only
    assert payload["done"] and payload["history"].shape == (15, 5)


@pytest.mark.parametrize("arch, surface", [("llava", "lm"), ("idefics2", "perceiver"), ("idefics2", "lm")])
def test_attention_term_steers_attention(make_config, mllms: dict, arch: str, surface: str) -> None:
    masses = {}
    for sign in (+1, -1):
        cfg = make_config(arch, out=f"out{sign}", pgd=dict(epsilon=32, step_size=2, steps=8, targets_per_step=2),
                          objective=dict(attention_weight=5.0 * sign, terms=[{"surface": surface}]))
        summary = run_attack(cfg, mllm=mllms[arch])
        key = f"attention.{surface}"
        masses[sign] = (summary.clean[key], summary.adversarial[key])
    (clean, up), (_, down) = masses[+1], masses[-1]
    assert up > clean > down


def test_same_seed_same_image(make_config, mllms: dict) -> None:
    pgd = dict(epsilon=16, step_size=2, steps=5, random_start=True, targets_per_step=2)
    runs = {}
    for out, seed in (("a", 1), ("b", 1), ("c", 2)):
        cfg = make_config("llava", out=out, seed=seed, pgd=pgd)
        run_attack(cfg, mllm=mllms["llava"])
        runs[out] = _pt(cfg.output_dir)
    assert torch.equal(runs["a"], runs["b"])
    assert not torch.equal(runs["a"], runs["c"])


class _Stop(Exception):
    pass


def test_resume_after_interruption_is_bit_identical(make_config, mllms: dict) -> None:
    mllm = mllms["idefics2"]
    fields = dict(pgd=dict(epsilon=16, step_size=2, steps=4, restarts=2, momentum=0.9, targets_per_step=2),
                  objective=dict(attention_weight=1.0, terms=[{"surface": "perceiver"}, {"surface": "lm"}]),
                  checkpoint_every=3)
    whole = make_config("idefics2", out="whole", **fields)
    run_attack(whole, mllm=mllm)

    parts = make_config("idefics2", out="parts", **fields)

    def crash_at_6(done: int, total: int) -> None:
        if done == 6:  # restart 1, step 2: mid-restart, after a restart boundary, with momentum state
            raise _Stop

    with pytest.raises(_Stop):
        run_attack(parts, mllm=mllm, progress=crash_at_6)
    state, _ = load_checkpoint(parts.output_dir / "checkpoint.pt")
    assert (state.restart, state.step, state.done) == (1, 2, False) and state.momentum is not None
    summary = run_attack(parts, mllm=mllm)
    assert summary.resumed_at == 6 and summary.steps_run == 2
    assert torch.equal(_pt(parts.output_dir), _pt(whole.output_dir))
    assert _trace(parts.output_dir) == _trace(whole.output_dir)
    a, _ = load_checkpoint(parts.output_dir / "checkpoint.pt")
    b, _ = load_checkpoint(whole.output_dir / "checkpoint.pt")
    assert a.best_restart == b.best_restart and a.best_loss == b.best_loss

    # a finished attack is not redone; other settings in the same directory are refused
    assert run_attack(parts, mllm=mllm).already_done
    changed = make_config("idefics2", out="parts", seed=9, **fields)
    with pytest.raises(UserError, match="different settings"):
        run_attack(changed, mllm=mllm)
    (parts.output_dir / "adv.png").unlink()  # unfinished again: now an edited corpus must be refused
    parts.targets.write_text(parts.targets.read_text() + "sure\n")
    try:
        with pytest.raises(UserError, match="target corpus differs"):
            run_attack(parts, mllm=mllm)
    finally:
        parts.targets.write_text(parts.targets.read_text()[:-len("sure\n")])


def test_idefics2_with_image_splitting(attack_models: dict, make_config, tmp_path: Path) -> None:
    """Four exact crops + the whole image (5 × 8 image tokens) are attacked as one image."""
    import shutil

    from lam3.models import GenerationConfig, wrapper_class

    from .conftest import model_fields

    split = shutil.copytree(attack_models["idefics2"], tmp_path / "split-model")
    proc_cfg = split / "processor_config.json"
    data = json.loads(proc_cfg.read_text())
    data["image_processor"].update(do_image_splitting=True, size={"longest_edge": 32, "shortest_edge": 8})
    proc_cfg.write_text(json.dumps(data))
    cfg = make_config("idefics2", model=model_fields(split, "idefics2"), image_size=(32, 32),
                      pgd=dict(epsilon=8, step_size=2, steps=3, targets_per_step=None),
                      objective=dict(attention_weight=1.0, terms=[{"surface": "perceiver"}, {"surface": "lm"}]))
    mllm = wrapper_class("idefics2").load(cfg.model, GenerationConfig())
    summary = run_attack(cfg, mllm=mllm)
    assert summary.preprocess_max_abs_diff <= 1e-5
    inputs = mllm.prepare_inputs(["hello"], [[Image.open(cfg.output_dir / "adv.png")]])
    assert int((inputs["input_ids"] == mllm.image_token_id).sum()) == 5 * 8
    levels = (torch.round(_pt(cfg.output_dir) * 255) - torch.round(_pt(cfg.output_dir, "clean") * 255)).abs()
    assert 0 < int(levels.max()) <= 8
