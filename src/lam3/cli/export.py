"""``lam3 export``: a LAM3 run in peer formats (HarmBench, JailbreakBench) or as a Parquet table."""

from __future__ import annotations

from pathlib import Path

import typer

from lam3.cli.app import app, console, err_console
from lam3.cli.output import styled


@app.command()
def export(
    fmt: str = typer.Argument(..., metavar="FORMAT",
                              help="harmbench-completions | harmbench-results | jbb | parquet"),
    run: Path = typer.Argument(..., help="Run folder holding response.jsonl and fused.jsonl."),
    out: Path = typer.Option(..., "--out", "-o", help="File to write (.json, or .parquet for parquet)."),
    success: str = typer.Option("jailbreak_success", "--success",
                                help="What counts as a successful attack: jailbreak_success (falls back to "
                                     "policy_risk where the run lacks it), policy_risk, non_refusal, social_toxicity."),
    attack: str = typer.Option(None, "--attack", help="Only responses of this attack (required for jbb when the "
                                                      "run holds several)."),
    bench: Path = typer.Option(None, "--bench", help="jbb: the benchmark folder (default: the one generate read)."),
    attack_type: str = typer.Option(None, "--attack-type", help="jbb: white_box | black_box | transfer | manual."),
    method: str = typer.Option(None, "--method", help="jbb: method name (default lam3/<attack>)."),
    model: str = typer.Option(None, "--model", help="jbb: target model name (default: the responses' model_id)."),
    defense: str = typer.Option(None, "--defense", help="jbb: defense name (default none)."),
    provider: str = typer.Option("lam3", "--provider", help="jbb: evaluation_llm_provider."),
) -> None:
    """Export RUN as HarmBench completions/results, a JailbreakBench artifact, or a flat Parquet table."""
    from lam3.errors import UserError
    from lam3.export import FORMATS
    from lam3.export.run import Run
    from lam3.export.success import Success

    if fmt not in FORMATS:
        raise UserError(f"unknown export format {fmt!r} (one of: {', '.join(FORMATS)})", field="FORMAT")
    jbb_only = {"--bench": bench, "--attack-type": attack_type, "--method": method, "--model": model,
                "--defense": defense}
    if fmt != "jbb":
        given = [name for name, value in jbb_only.items() if value is not None]
        if given:
            raise UserError(f"{', '.join(given)} only apply to the jbb format", field=given[0])
    the_run, verdict = Run(run, attack=attack), Success(success)
    if fmt == "parquet":
        from lam3.export.parquet import export_parquet

        summary = export_parquet(the_run, out)
    elif fmt == "jbb":
        from lam3.export.jbb import export_jbb

        if attack_type is None:
            raise UserError("the jbb format needs --attack-type (white_box, black_box, transfer or manual)",
                            field="--attack-type")
        summary = export_jbb(the_run, out, success=verdict, attack_type=attack_type, method=method, model=model,
                             defense=defense, provider=provider, bench=bench)
    else:
        from lam3.export.harmbench import export_harmbench

        summary = export_harmbench(the_run, out, results=fmt == "harmbench-results", success=verdict)
    console.print(f"lam3 export {fmt} → {summary.output}: {summary.written} responses")
    for warning in summary.warnings:
        err_console.print(styled("warning", "yellow", f": {warning}"))
