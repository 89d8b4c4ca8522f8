"""``lam3 attack``: optimise one adversarial image for a model (resumable)."""

from __future__ import annotations

from pathlib import Path

import typer

from lam3.cli.app import app, console
from lam3.cli.output import show_table
from lam3.cli.progress import progress_bar


def _fmt(value: object) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


@app.command()
def attack(
    config: Path = typer.Option(..., "--config", "-c", help="Attack YAML, e.g. configs/attack_xattn_llava.yaml."),
    out: Path = typer.Option(None, "--out", "-o", help="Output directory (overrides output_dir)."),
    steps: int = typer.Option(None, "--steps", min=1, help="Steps per restart (overrides pgd.steps)."),
    seed: int = typer.Option(None, "--seed", min=0, help="Seed (overrides seed)."),
    allow_image_root: list[Path] = typer.Option(
        [], "--allow-image-root", help="Also read the clean image / target corpus inside this folder (repeatable); "
                                       "by default only inside the working folder."),
) -> None:
    """PGD on the image against a target corpus, with the cross-attention objective.

    Rerun the same command to continue after a crash or Ctrl-C (from the last checkpoint).
    """
    from lam3.attacks.run import load_attack_config, run_attack

    cfg = load_attack_config(config, output_dir=out, steps=steps, seed=seed)
    with progress_bar(f"attack {cfg.name}", total=cfg.pgd.steps * cfg.pgd.restarts) as update:
        summary = run_attack(cfg, progress=update, allow_image_roots=allow_image_root)
    keys = ["target_loss", *(k for k in summary.adversarial if k != "target_loss")]
    show_table(f"lam3 attack {summary.name} → {summary.output_dir}",
               ("image", "target loss", *keys[1:]),
               ((label, *(_fmt(values.get(k)) for k in keys))
                for label, values in (("clean", summary.clean), ("adversarial", summary.adversarial))))
    status = "already finished (nothing redone)" if summary.already_done else \
        f"{summary.steps_run} steps in {summary.seconds:.1f} s" + \
        (f" (resumed at step {summary.resumed_at})" if summary.resumed_at else "")
    console.print(f"{status}; best restart {summary.best_restart}; L∞ = {summary.linf_255}/255; "
                  f"image: {summary.adversarial_png}")
    console.print(f"next: lam3 generate --config <generation config> --bench <bench> --out <response.jsonl> "
                  f"--attack-image {summary.adversarial_png} --attack-name {summary.name}")
