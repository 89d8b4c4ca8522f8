"""The ``attack`` stage: config → adversarial image (+ checkpoints, loss trace, manifest), resumably.

Outputs in ``output_dir``: ``adv.png`` / ``adv.pt`` (the best restart's image), ``clean.png`` /
``clean.pt`` (the clean image at the model's resolution), ``checkpoint.pt`` (every
``checkpoint_every`` steps, at each restart's end and on Ctrl-C or a crash), ``trace.jsonl``
(one line per step: losses, λ, attention masses) and ``manifest.json`` (stage ``attack``: the
resolved config, seed, hashes of inputs/outputs, clean-vs-adversarial loss and attention).
Rerunning the same command continues from the checkpoint; a finished attack is not redone.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lam3.attacks.checkpoint import load_checkpoint, save_checkpoint, save_image
from lam3.attacks.config import AttackConfig
from lam3.attacks.objectives import AttackObjective, read_targets
from lam3.attacks.pgd import PGDState, initial_state, run_pgd
from lam3.attacks.preprocess import build_pipeline, resized_clean_image, to_pil
from lam3.config import load_config
from lam3.errors import UserError
from lam3.manifest import read_manifest, sha256_file, update_manifest
from lam3.paths import ImagePathError, ImageRoots
from lam3.store import write_jsonl

STAGE = "attack"
CHECKPOINT = "checkpoint.pt"
TRACE = "trace.jsonl"
BASE_COLUMNS = ["restart", "step", "loss", "target_loss", "attention_weight"]


@dataclass
class AttackSummary:
    output_dir: Path
    name: str
    adversarial_png: Path
    adversarial_pt: Path
    steps_total: int
    steps_run: int = 0
    resumed_at: int | None = None
    seconds: float = 0.0
    already_done: bool = False
    best_restart: int | None = None
    linf_255: float | None = None
    preprocess_max_abs_diff: float | None = None
    clean: dict[str, float] = field(default_factory=dict)
    adversarial: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "steps_total": self.steps_total, "steps_run_this_session": self.steps_run,
                "resumed_at_step": self.resumed_at, "seconds": round(self.seconds, 3),
                "seconds_per_step": round(self.seconds / self.steps_run, 4) if self.steps_run else None,
                "best_restart": self.best_restart, "linf_255": self.linf_255,
                "preprocess_max_abs_diff": self.preprocess_max_abs_diff,
                "clean": self.clean, "adversarial": self.adversarial,
                "adversarial_png": str(self.adversarial_png), "adversarial_pt": str(self.adversarial_pt)}


def load_attack_config(path: str | Path, *, output_dir: str | Path | None = None, steps: int | None = None,
                       seed: int | None = None) -> AttackConfig:
    """Read ``path``; command-line overrides win (and are validated like the file)."""
    from pydantic import ValidationError

    from lam3.config import validation_error

    config = load_config(path, AttackConfig, {"output_dir": str(output_dir) if output_dir else None, "seed": seed})
    if steps is not None:
        data = config.model_dump(mode="json", exclude_unset=True)  # defaults stay unset (validators see them so)
        data.setdefault("pgd", {})["steps"] = steps
        try:
            config = AttackConfig.model_validate(data)
        except ValidationError as exc:
            raise validation_error(exc, path) from None
    return config


def _check_inputs_inside(config: AttackConfig, allow: Sequence[str | Path]) -> None:
    """A shared attack config must not pick any readable file: the clean image is copied into the
    run (``clean.png``), which is packed and pushed. Paths stay inside the working folder (:mod:`lam3.paths`)."""
    for field_name, path, what in (("targets", config.targets, "target corpus"), ("image", config.image, "image")):
        if path is None:
            continue
        roots = ImageRoots.at(Path.cwd(), allow=allow, name="working folder", what=what)
        try:
            roots.resolve(str(path), field=field_name)
        except ImagePathError as exc:
            if not exc.missing:  # a missing file gets the reader's own message
                raise UserError(str(exc)) from None


def _source_image(config: AttackConfig, image_processor: Any) -> Any:
    """The clean image as PIL: the configured file (optionally resized once), or seeded uniform noise."""
    import torch
    from PIL import Image

    size = config.image_size
    if config.image is not None:
        try:
            with Image.open(config.image) as img:
                img.load()
                image = img.convert("RGB")
        except FileNotFoundError:
            raise UserError("clean image not found", path=config.image, field="image") from None
        except OSError as exc:
            raise UserError(f"unreadable image: {exc}", path=config.image, field="image") from None
        if size is not None:
            image = image.resize((size[1], size[0]), Image.Resampling.BICUBIC)
        return image
    if size is None:  # ask the processor what resolution a square image ends up at
        probe, _ = resized_clean_image(image_processor, config.model.architecture,
                                       Image.new("RGB", (1024, 1024), (127, 127, 127)))
        size = tuple(probe.shape[-2:])
    generator = torch.Generator().manual_seed(config.seed)
    return to_pil(torch.rand((3, *size), generator=generator))


def _load_mllm(config: AttackConfig) -> Any:
    from lam3.models import GenerationConfig, wrapper_class

    return wrapper_class(config.model.architecture).load(config.model, GenerationConfig())


def _trace_rows(state: PGDState, columns: list[str], steps: int) -> list[dict[str, Any]]:
    rows = []
    for row in state.history[:state.rows_done(steps)]:
        rec = dict(zip(columns, row))
        rec["restart"], rec["step"] = int(rec["restart"]), int(rec["step"])
        rows.append(rec)
    return rows


def _tensor_sha(x: Any) -> str:
    import hashlib

    return hashlib.sha256(x.detach().float().cpu().contiguous().numpy().tobytes()).hexdigest()


class _Frozen:
    """Parameters do not need gradients during the attack (saves memory); restored afterwards."""

    def __init__(self, model: Any) -> None:
        self.params = [p for p in model.parameters() if p.requires_grad]

    def __enter__(self) -> None:
        for p in self.params:
            p.requires_grad_(False)

    def __exit__(self, *exc: Any) -> None:
        for p in self.params:
            p.requires_grad_(True)


def run_attack(config: AttackConfig | str | Path, *, progress: Callable[[int, int], None] | None = None,
               mllm: Any = None, allow_image_roots: Sequence[str | Path] = ()) -> AttackSummary:
    """Run (or continue) the attack described by ``config``; see the module docstring for outputs.

    ``mllm`` lets a caller reuse a loaded wrapper (it must be the config's model). The clean image
    and the target corpus are read only inside the working folder and ``allow_image_roots``.
    """
    import torch

    if not isinstance(config, AttackConfig):
        config = load_attack_config(config)
    _check_inputs_inside(config, allow_image_roots)
    out = Path(config.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    cfg = config.pgd
    total_steps = cfg.steps * cfg.restarts
    summary = AttackSummary(out, config.name, out / "adv.png", out / "adv.pt", total_steps)
    targets = read_targets(config.targets)
    settings_hash = config.settings_hash()
    ckpt_path = out / CHECKPOINT
    state: PGDState | None = None
    payload: dict[str, Any] = {}
    if ckpt_path.exists():
        state, payload = load_checkpoint(ckpt_path, settings_hash)
        entry = read_manifest(out).stages.get(STAGE)
        previous = entry.summary if entry else {}
        if state.done and summary.adversarial_png.exists() and previous.get("status") == "finished":
            summary.already_done = True
            for key in ("best_restart", "linf_255", "preprocess_max_abs_diff", "clean", "adversarial"):
                setattr(summary, key, previous.get(key))
            return summary
    t0 = time.perf_counter()
    own = mllm is None
    if own:
        mllm = _load_mllm(config)
    try:
        with _Frozen(mllm.model):
            return _attack(config, mllm, targets, state, payload, summary, settings_hash, progress, t0)
    finally:
        if own:
            mllm.close()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def _attack(config: AttackConfig, mllm: Any, targets: list[str], state: PGDState | None, payload: dict[str, Any],
            summary: AttackSummary, settings_hash: str, progress: Callable[[int, int], None] | None,
            t0: float) -> AttackSummary:
    import torch

    out, cfg = summary.output_dir, config.pgd
    image_processor = mllm.processor.image_processor
    source = _source_image(config, image_processor)
    pipeline, x0, diff = build_pipeline(image_processor, config.model.architecture, source)
    summary.preprocess_max_abs_diff = diff
    objective = AttackObjective(mllm, pipeline, config.prompt, targets, config.objective, to_pil(x0))
    surfaces = sorted(t.surface for t in config.objective.terms)
    columns = BASE_COLUMNS + [f"attention.{s}" for s in surfaces]
    clean_sha = _tensor_sha(x0)
    meta = {"name": config.name, "model_id": config.model.model_id, "architecture": config.model.architecture,
            "clean_sha256": clean_sha, "image_shape": list(x0.shape), "targets": len(targets),
            "targets_sha256": sha256_file(config.targets)}
    if state is None:
        state = initial_state(x0, cfg, config.seed)
    else:
        for key, what in (("clean_sha256", "clean image"), ("targets_sha256", "target corpus")):
            if payload["meta"].get(key) != meta[key]:
                raise UserError(f"the {what} differs from the one this checkpoint was started from; use another "
                                f"output_dir or restore the {what}", path=out / CHECKPOINT)
        summary.resumed_at = state.rows_done(cfg.steps)
    start_rows = state.rows_done(cfg.steps)
    save_image(out, "clean", x0)
    last = {"state": state}

    def checkpoint(s: PGDState) -> None:
        save_checkpoint(out / CHECKPOINT, s, steps=cfg.steps, settings_hash=settings_hash, columns=columns,
                        meta=meta)
        write_jsonl(out / TRACE, _trace_rows(s, columns, cfg.steps))

    def on_step(s: PGDState) -> None:
        last["state"] = s
        done = s.rows_done(cfg.steps)
        if s.step % config.checkpoint_every == 0:
            checkpoint(s)
        if progress:
            progress(done, summary.steps_total)

    def on_restart_end(s: PGDState) -> None:
        last["state"] = s
        checkpoint(s)

    def grad_fn(x: Any, indices: list[int], step: int) -> tuple[Any, dict[str, float]]:
        xv = x.detach().to(objective.device, copy=True).requires_grad_(True)
        ev = objective(xv, indices, step)
        (grad,) = torch.autograd.grad(ev.total, xv)
        logged = ev.floats()
        return grad, {c: logged.get(c, float("nan")) for c in columns[2:]}

    def final_loss(x: Any) -> float:
        return objective.evaluate(x, config.eval_batch_size)["target_loss"]

    if progress:
        progress(start_rows, summary.steps_total)
    try:
        with objective.capturing():
            state = run_pgd(state, x0, cfg, objective.n_targets, grad_fn, final_loss, on_step=on_step,
                            on_restart_end=on_restart_end)
    except BaseException:
        # a crash or Ctrl-C: keep every finished step (the state is replaced whole after each step)
        if last["state"].rows_done(cfg.steps) > start_rows:
            checkpoint(last["state"])
        raise
    checkpoint(state)
    summary.steps_run = state.rows_done(cfg.steps) - start_rows
    adv = state.best_x
    png, pt = save_image(out, "adv", adv)
    summary.best_restart = state.best_restart
    summary.linf_255 = round(float((adv - x0).abs().max()) * 255.0, 4)
    summary.clean = objective.evaluate(x0, config.eval_batch_size)
    summary.adversarial = objective.evaluate(adv, config.eval_batch_size)
    summary.seconds = time.perf_counter() - t0
    inputs = [config.targets, *([config.image] if config.image else [])]
    update_manifest(out, stage=STAGE, config=config, seed=config.seed,
                    artifacts=[png, pt, out / "clean.png", out / "clean.pt", out / CHECKPOINT, out / TRACE],
                    inputs=inputs, summary={**summary.as_dict(), "status": "finished",
                                            "settings_hash": settings_hash, "adv_png_sha256": sha256_file(png)})
    return summary
