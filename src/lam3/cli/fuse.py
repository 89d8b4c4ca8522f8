"""``lam3 fuse``, ``lam3 calibrate``, ``lam3 agreement``, ``lam3 asr`` and ``lam3 review import|export``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from lam3.cli.app import app, console, err_console
from lam3.cli.progress import progress_bar, report_bad_line

if TYPE_CHECKING:
    from lam3.records import FusedResult

review_app = typer.Typer(help="Human review of disputed responses: export a CSV to fill in, import the labels.",
                         no_args_is_help=True)
app.add_typer(review_app, name="review")


def _fmt(x: float | None, digits: int = 3) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


@app.command()
def fuse(
    inputs: list[Path] = typer.Argument(..., help="Scored JSONL files (from 'lam3 score'), joined by response id."),
    config: Path = typer.Option(Path("configs/ensemble.yaml"), "--config", "-c", help="Ensemble YAML."),
    out: Path = typer.Option(..., "--out", "-o", help="Output fused.jsonl."),
    reviews: Path = typer.Option(None, "--reviews", help="Human labels from 'lam3 review import' (override config)."),
    calibration: Path = typer.Option(None, "--calibration", help="Calibration JSON from 'lam3 calibrate'."),
    review_queue: Path = typer.Option(None, "--review-queue", help="Queue path (default OUT.review.jsonl)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Start again when OUT was made with other settings."),
) -> None:
    """Fuse several judges into the metrics (Social Toxicity, Policy Risk, Refusal, Jailbreak Success). Rerun to resume."""
    from lam3.pipeline.fuse import fuse_files

    with progress_bar(f"fusing {len(inputs)} file(s)") as update:
        s = fuse_files(inputs, config, out, reviews=reviews, calibration=calibration, review_queue=review_queue,
                       overwrite=overwrite, progress=update, on_bad=report_bad_line)
    table = Table(title=f"lam3 fuse → {out}  (join: {s.join.mode})")
    for col in ("metric", "flagged", "no usable judge", "disagreements", "resolutions"):
        table.add_column(col, overflow="fold")
    for metric in s.stats.get("metrics", []):
        table.add_row(metric, str(s.flagged[metric]), str(s.no_judge[metric]), str(s.disagreements[metric]),
                      ", ".join(f"{k}:{v}" for k, v in sorted(s.resolutions.get(metric, {}).items())))
    console.print(table)
    console.print(f"fused {s.fused}, skipped (already done) {s.skipped}, quarantined {s.quarantined}, "
                  f"queued for review {s.queued}, reviews applied {s.reviews_applied} in {s.seconds:.1f}s")
    if s.queued or (s.review_queue and s.review_queue.exists() and s.review_queue.stat().st_size):
        console.print(f"review queue: {s.review_queue}" + (f"; fill in {s.review_csv}" if s.review_csv else ""))
    for warning in s.warnings:
        err_console.print(f"[yellow]warning[/]: {warning}", highlight=False, soft_wrap=True)


@app.command()
def calibrate(
    inputs: list[Path] = typer.Argument(..., help="Scored JSONL files whose records carry human labels."),
    config: Path = typer.Option(Path("configs/ensemble.yaml"), "--config", "-c", help="Ensemble YAML (judges, label maps)."),
    out: Path = typer.Option(..., "--out", "-o", help="Calibration JSON to write."),
    method: str = typer.Option("platt", "--method", help="platt or isotonic."),
    criterion: str = typer.Option("f1", "--criterion", help="Threshold chosen to maximise: f1 or youden."),
    min_labels: int = typer.Option(10, "--min-labels", help="Fewest labelled responses (both classes) to fit."),
    seed: int = typer.Option(0, "--seed", help="Seed of the cross-fitting folds."),
) -> None:
    """Fit per-judge calibration and thresholds on human labels; report ECE before/after."""
    from lam3.pipeline.calibrate import calibrate_files

    if method not in ("platt", "isotonic"):
        raise typer.BadParameter("platt or isotonic", param_hint="--method")
    if criterion not in ("f1", "youden"):
        raise typer.BadParameter("f1 or youden", param_hint="--criterion")
    with progress_bar("calibrating") as update:
        result = calibrate_files(inputs, config, out, method=method, criterion=criterion,  # type: ignore[arg-type]
                                 min_labels=min_labels, seed=seed, progress=update)
    table = Table(title=f"lam3 calibrate ({method}) → {out}")
    for col in ("judge", "metric", "n", "positives", "ECE before", "ECE after", "ECE after (cross-fitted)",
                "threshold"):
        table.add_column(col)
    for judge, per_metric in result.judges.items():
        for metric, e in per_metric.items():
            table.add_row(judge, metric, str(e.n), str(e.positives), _fmt(e.ece_before), _fmt(e.ece_after),
                          _fmt(e.ece_after_cv), _fmt(e.threshold))
    console.print(table)
    for judge, per_metric in result.skipped.items():
        for metric, why in per_metric.items():
            err_console.print(f"[yellow]not fitted[/]: {judge} / {metric}: {why}", highlight=False)


def _fused_records(path: Path) -> Iterator[FusedResult]:
    from lam3.pipeline.fused_records import read_fused

    return (rec for _, rec in read_fused(path))


@app.command()
def agreement(
    fused: Path = typer.Argument(..., help="fused.jsonl from 'lam3 fuse'."),
    json_out: Path = typer.Option(None, "--json", help="Also write the full summary (incl. per category) as JSON."),
) -> None:
    """Judge agreement (Cohen's and Fleiss' κ) and precision/recall/F1 against human labels, from the fused votes."""
    from lam3.store import write_json
    from lam3.fusion.agreement import agreement_summary

    summary = agreement_summary(_fused_records(fused))
    for metric, s in summary.metrics.items():
        fk = s.fleiss_kappa
        title = (f"{metric}: n={s.n}, disagreement rate {_fmt(s.disagreement_rate)}, "
                 f"Fleiss κ {_fmt(fk.kappa) if fk else '–'}")
        table = Table(title=title)
        for col in ("judges", "n", "agreement", "Cohen κ"):
            table.add_column(col)
        for row in s.cohen_kappa.values():
            table.add_row(f"{row.a} ~ {row.b}", str(row.n), _fmt(row.agreement), _fmt(row.kappa))
        if s.cohen_kappa:
            console.print(table)
        else:
            console.print(f"{title} (one judge: no pairwise agreement)")
        if s.vs_human:
            human = Table(title=f"{metric} vs human labels")
            for col in ("verdict", "n", "tp", "fp", "fn", "tn", "precision", "recall", "F1", "κ"):
                human.add_column(col)
            for who, c in s.vs_human.items():
                human.add_row(who, *(str(v) for v in (c.n, c.tp, c.fp, c.fn, c.tn)),
                              *(_fmt(v) for v in (c.precision, c.recall, c.f1, c.kappa)))
            console.print(human)
    if json_out:
        write_json(json_out, summary.model_dump(mode="json"))
        console.print(f"written {json_out}")


@app.command()
def asr(
    fused: Path = typer.Argument(..., help="fused.jsonl from 'lam3 fuse'."),
    by: str = typer.Option("model_id,attack,category", "--by", help="Comma-separated grouping fields ('' = overall)."),
    cluster_by: str = typer.Option("sample_id", "--cluster-by",
                                   help="Responses sharing this field are one unit of the interval "
                                        "(cluster bootstrap); '' = every response is its own."),
    interval: str = typer.Option("exact", "--interval", help="exact (Clopper-Pearson) or wilson, for groups "
                                                             "without shared samples."),
    n_resamples: int = typer.Option(2000, "--n-resamples", help="Cluster-bootstrap resamples."),
    seed: int = typer.Option(0, "--seed"),
    json_out: Path = typer.Option(None, "--json", help="Also write the rows as JSON."),
) -> None:
    """Attack success rate per definition (one per fused metric) with 95 % intervals."""
    from lam3.store import write_json
    from lam3.fusion.asr import asr_table

    if interval not in ("exact", "wilson"):
        raise typer.BadParameter("exact or wilson", param_hint="--interval")
    group_by = [g.strip() for g in by.split(",") if g.strip()]
    rows = [r.flat() for r in asr_table(_fused_records(fused), group_by=group_by, cluster_by=cluster_by or None,
                                        interval=interval, n_resamples=n_resamples, seed=seed)]  # type: ignore[arg-type]
    table = Table(title=f"ASR by {', '.join(group_by) or 'overall'} ({fused})")
    for col in (*group_by, "definition", "n", "ASR", "95 % CI", "interval"):
        table.add_column(col)
    for r in rows:
        table.add_row(*(str(r[g]) for g in group_by), r["definition"], str(r["n"]), f"{r['rate']:.3f}",
                      f"[{_fmt(r['ci_low'])}, {_fmt(r['ci_high'])}]", f"{r['interval']} ({r['units']} units)")
    console.print(table)
    if json_out:
        write_json(json_out, rows)
        console.print(f"written {json_out}")


@review_app.command("export")
def review_export(
    source: Path = typer.Argument(..., help="A review queue (OUT.review.jsonl) or a fused.jsonl."),
    out: Path = typer.Option(..., "--out", "-o", help="CSV to write."),
    all_metrics: bool = typer.Option(False, "--all", help="From a fused.jsonl: every response, not only queued."),
) -> None:
    """Write the CSV a person fills in (label columns: yes/no)."""
    from lam3.pipeline.review import export_csv

    path = export_csv(source, out, only_pending=not all_metrics)
    from lam3.records import METRICS

    console.print(f"written {path}: fill in the {' / '.join(METRICS)} columns (yes/no), "
                  "then run 'lam3 review import'")


@review_app.command("import")
def review_import(
    csv_path: Path = typer.Argument(..., help="The filled-in review CSV."),
    out: Path = typer.Option(..., "--out", "-o", help="reviews.jsonl to create or update."),
    queue: Path = typer.Option(None, "--queue", help="Check every id is in this review queue."),
) -> None:
    """Validate the CSV (errors name file:line:column) and merge its labels into reviews.jsonl."""
    from lam3.pipeline.review import import_csv

    result = import_csv(csv_path, out, queue=queue)
    console.print(json.dumps(result))
    console.print(f"apply with: lam3 fuse … --reviews {out}")
