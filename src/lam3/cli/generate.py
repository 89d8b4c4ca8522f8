"""``lam3 generate``: benchmark samples → model responses."""

from __future__ import annotations

from pathlib import Path

import typer

from lam3.cli.app import app, err_console
from lam3.cli.output import show_table, styled, warn_unused_engine_keys
from lam3.cli.progress import progress_bar, report_bad_line


@app.command()
def generate(
    config: Path = typer.Option(..., "--config", "-c", help="YAML with model + generation settings, "
                                "e.g. configs/generation_llava.yaml."),
    bench: Path = typer.Option(..., "--bench", "-b", help="Benchmark directory holding samples.jsonl (+ images)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output JSONL of responses, e.g. runs/NAME/response.jsonl."),
    limit: int = typer.Option(None, "--limit", min=1, help="Generate at most this many new responses."),
    batch_size: int = typer.Option(None, "--batch-size", min=1, help="Samples per generate call (overrides config)."),
    attack_image: Path = typer.Option(None, "--attack-image", help="Replace every sample's image by this image."),
    attack_name: str = typer.Option(None, "--attack-name", help="Name recorded as `attack` (with --attack-image)."),
    retry_errors: bool = typer.Option(False, "--retry-errors", help="Redo responses that have an error."),
    allow_image_root: list[Path] = typer.Option(
        [], "--allow-image-root", help="Also read sample images inside this folder (repeatable); by default an "
                                       "image outside the benchmark folder is that sample's error."),
    engine: str = typer.Option(None, "--engine", help="local (the model in this process) or ray (data-parallel model "
                                                        "replicas on a Ray cluster; overrides the config's)."),
    replicas: int = typer.Option(None, "--replicas", min=1, help="--engine ray: model replicas (replicas.actors)."),
    replica_cpus: float = typer.Option(None, "--replica-cpus", min=0, help="--engine ray: CPUs each replica "
                                                                           "reserves (replicas.num_cpus)."),
    replica_gpus: float = typer.Option(None, "--replica-gpus", min=0, help="--engine ray: GPUs each replica "
                                                                           "reserves (replicas.num_gpus)."),
) -> None:
    """Answer every benchmark sample with the configured MLLM. Rerun the same command to resume."""
    from lam3.pipeline.generate import generate_file

    with progress_bar(f"generating → {out.name}") as update:
        summary = generate_file(config, bench, out, limit=limit, batch_size=batch_size, attack_image=attack_image,
                                attack_name=attack_name, retry_errors=retry_errors, progress=update,
                                on_bad=report_bad_line, allow_image_roots=allow_image_root, engine=engine,
                                replicas=replicas, replica_cpus=replica_cpus, replica_gpus=replica_gpus)
    show_table(f"lam3 generate → {out}",
               ("generated", "skipped (already done)", "errors", "quarantined input lines", "retried errors",
                "batch size (final)", "out-of-memory halvings", "new tokens", "engine", "seconds"),
               [(summary.generated, summary.skipped, summary.errors, summary.quarantined, summary.retried,
                 summary.batch_size, summary.oom_halvings, summary.new_tokens, summary.engine.get("engine", "local"),
                 f"{summary.seconds:.1f}")])
    warn_unused_engine_keys(summary.engine)
    for example in summary.error_examples:
        err_console.print(styled("error", "yellow", f" {example}"))
    if summary.errors:
        err_console.print(styled("some samples failed", "yellow", ": fix the cause and rerun with --retry-errors."))
