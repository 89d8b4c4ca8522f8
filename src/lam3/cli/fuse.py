"""``lam3 fuse``, ``lam3 calibrate``, ``lam3 agreement``, ``lam3 asr`` and ``lam3 review import|export``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from lam3.cli.app import app, console, err_console
from lam3.cli.output import show_table, styled, write_summary
from lam3.cli.progress import progress_bar, report_bad_line

if TYPE_CHECKING:
    from lam3.fusion.asr import AsrRow, PairedRow
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
    judge_card: list[Path] = typer.Option(None, "--judge-card", help="A card from 'lam3 validate' (repeat; with the "
                                                                     "config's judge_cards:), saved beside OUT."),
    json_out: Path = typer.Option(None, "--json", help="Also write the summary as JSON (docs/cli.md)."),
) -> None:
    """Fuse several judges into the metrics (Social Toxicity, Policy Risk, Refusal, Jailbreak Success). Rerun to resume."""
    from lam3.cli.summaries.fusion import FuseJson
    from lam3.pipeline.fuse import fuse_files

    with progress_bar(f"fusing {len(inputs)} file(s)") as update:
        s = fuse_files(inputs, config, out, reviews=reviews, calibration=calibration, review_queue=review_queue,
                       overwrite=overwrite, progress=update, on_bad=report_bad_line, judge_cards=judge_card or [])
    result = FuseJson.of(s)
    show_table(f"lam3 fuse → {out} (join: {result.join.mode})",
               ("metric", "flagged", "no usable judge", "disagreements", "resolutions"),
               ((m.metric, m.flagged, m.no_usable_judge, m.disagreements,
                 ", ".join(f"{k}: {v}" for k, v in m.resolutions.items())) for m in result.metrics))
    console.print(f"fused {s.fused}, skipped (already done) {s.skipped}, quarantined {s.quarantined}, "
                  f"queued for review {s.queued}, reviews applied {s.reviews_applied} in {s.seconds:.1f}s")
    if s.queued or (s.review_queue and s.review_queue.exists() and s.review_queue.stat().st_size):
        console.print(f"review queue: {s.review_queue}" + (f"; fill in {s.review_csv}" if s.review_csv else ""))
    for warning in result.warnings:
        err_console.print(styled("warning", "yellow", f": {warning}"))
    for note in result.judge_cards:
        label = ("card applies", "green") if note.applies else ("card does not apply", "yellow")
        console.print(styled(*label, f" ({note.metric}): {note.text()}"))
    if s.cards_file:
        console.print(f"judge cards saved beside the output: {s.cards_file} (lam3 asr and the reports read them)")
    if json_out:
        write_summary(json_out, result)


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
    show_table(f"lam3 calibrate ({method}) → {out}",
               ("judge", "metric", "n", "positives", "ECE before", "ECE after", "ECE after (cross-fitted)",
                "threshold"),
               ((judge, metric, e.n, e.positives, _fmt(e.ece_before), _fmt(e.ece_after), _fmt(e.ece_after_cv),
                 _fmt(e.threshold)) for judge, per_metric in result.judges.items() for metric, e in per_metric.items()))
    for judge, per_metric in result.skipped.items():
        for metric, why in per_metric.items():
            err_console.print(styled("not fitted", "yellow", f": {judge} / {metric}: {why}"))


def _fused_records(path: Path) -> Iterator[FusedResult]:
    from lam3.pipeline.fused_records import read_fused

    return (rec for _, rec in read_fused(path))


@app.command()
def agreement(
    fused: Path = typer.Argument(..., help="fused.jsonl from 'lam3 fuse'."),
    json_out: Path = typer.Option(None, "--json", help="Also write the full summary (incl. per category) as JSON "
                                                       "(docs/cli.md)."),
) -> None:
    """Judge agreement (Cohen's and Fleiss' κ) and precision/recall/F1 against human labels, from the fused votes."""
    from lam3.cli.summaries.fusion import AgreementJson
    from lam3.fusion.agreement import agreement_summary

    summary = AgreementJson.of(agreement_summary(_fused_records(fused)))
    for metric, s in summary.metrics.items():
        fk = s.fleiss_kappa
        title = (f"{metric}: n={s.n}, disagreement rate {_fmt(s.disagreement_rate)}, "
                 f"Fleiss κ {_fmt(fk.kappa) if fk else '–'}")
        if s.cohen_kappa:
            show_table(title, ("judges", "n", "agreement", "Cohen κ"),
                       ((f"{row.a} ~ {row.b}", row.n, _fmt(row.agreement), _fmt(row.kappa))
                        for row in s.cohen_kappa.values()))
        else:
            console.print(f"{title} (one judge: no pairwise agreement)")
        if s.vs_human:
            show_table(f"{metric} vs human labels",
                       ("verdict", "n", "tp", "fp", "fn", "tn", "precision", "recall", "F1", "κ"),
                       ((who, c.n, c.tp, c.fp, c.fn, c.tn, *(_fmt(v) for v in (c.precision, c.recall, c.f1, c.kappa)))
                        for who, c in s.vs_human.items()))
    if json_out:
        write_summary(json_out, summary)


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}%"


def _ci(low: float | None, high: float | None) -> str:
    return f"[{_pct(low)}, {_pct(high)}]"


def _show_rates(title: str, rows: list[AsrRow], group_by: list[str]) -> None:
    from lam3.fusion.asr import PER_TITLES

    def per(r: AsrRow) -> str:
        if r.k_min is None:
            return PER_TITLES[r.per]
        return PER_TITLES[r.per] + f" (k={r.k_min}" + (f"–{r.k_max}" if r.k_max != r.k_min else "") + ")"

    show_table(title, (*group_by, "definition", "per", "n", "rate", "95 % CI", "interval", "unjudged",
                       "corrected (Rogan–Gladen)"),
               ((*(r.group[g] for g in group_by), r.definition, per(r), r.n, _pct(r.rate),
                 _ci(r.interval.low, r.interval.high), f"{r.interval.method} ({r.interval.n} units)", r.unjudged,
                 "; ".join(c.text() for c in r.corrected) or "–") for r in rows))


def _print_judges(rows: list[AsrRow]) -> None:
    """Once per rate's metric: the judges behind it and each card's figures (or why a card does not apply)."""
    seen: dict[str, AsrRow] = {}
    for r in rows:
        seen.setdefault(r.definition, r)
    for name, r in seen.items():
        console.print(styled(name, "bold", f" from the fused {r.metric} verdict of: {', '.join(r.judges) or '–'}"))
        for note in r.validity:
            console.print(f"  {note.text()}", style="" if note.applies else "yellow")


@app.command()
def asr(
    fused: Path = typer.Argument(..., help="fused.jsonl from 'lam3 fuse'."),
    by: str = typer.Option("model_id,attack,category", "--by", help="Comma-separated grouping fields ('' = overall)."),
    cluster_by: str = typer.Option("sample_id", "--cluster-by",
                                   help="Responses sharing this field are one unit of the per-response interval "
                                        "(cluster bootstrap); '' = every response is its own."),
    interval: str = typer.Option("exact", "--interval", help="exact (Clopper-Pearson) or wilson, for groups "
                                                             "without shared samples."),
    judge_card: list[Path] = typer.Option(None, "--judge-card", help="A card from 'lam3 validate' (repeat); the "
                                                                     "cards 'lam3 fuse' saved beside FUSED are used too."),
    paired: str = typer.Option(None, "--paired", help="ATTACK_A,ATTACK_B: ASR(A) − ASR(B) on the samples judged "
                                                      "under both (e.g. figstep,clean), with paired intervals."),
    n_resamples: int = typer.Option(2000, "--n-resamples", help="Bootstrap resamples."),
    seed: int = typer.Option(0, "--seed"),
    json_out: Path = typer.Option(None, "--json", help="Also write every row (asr, over_refusal, paired, cards) as "
                                                       "JSON (docs/cli.md)."),
) -> None:
    """Attack success rate: judge-based jailbreak success first (per response, per behaviour, ASR@k), the
    older definitions apart, over-refusal on benign prompts, with 95 % intervals and judge cards."""
    from lam3.cli.summaries.fusion import AsrJson
    from lam3.fusion.asr import asr_table, over_refusal_table, paired_table
    from lam3.fusion.cards import annotate
    from lam3.pipeline.cards import validity_of

    if interval not in ("exact", "wilson"):
        raise typer.BadParameter("exact or wilson", param_hint="--interval")
    pair = None
    if paired is not None:
        pair = [a.strip() for a in paired.split(",")]
        if len(pair) != 2 or not all(pair) or pair[0] == pair[1]:
            raise typer.BadParameter("two different attacks, ATTACK_A,ATTACK_B", param_hint="--paired")
    group_by = [g.strip() for g in by.split(",") if g.strip()]
    validity = validity_of(fused, judge_card or [])
    common = {"cluster_by": cluster_by or None, "interval": interval, "n_resamples": n_resamples, "seed": seed}
    boot = {"n_resamples": n_resamples, "seed": seed}
    rows = annotate(asr_table(_fused_records(fused), group_by=group_by, **common), validity, **boot)  # type: ignore[arg-type]
    refusal_by = [g for g in group_by if g != "category"]
    over = annotate(over_refusal_table(_fused_records(fused), group_by=refusal_by, **common), validity, **boot)  # type: ignore[arg-type]
    pairs = paired_table(_fused_records(fused), pair[0], pair[1], [g for g in group_by if g != "attack"], **boot) \
        if pair else []
    headline = [r for r in rows if r.headline]
    older = [r for r in rows if not r.headline and r.per == "response"]
    where = ", ".join(group_by) or "overall"
    if headline:
        _show_rates(f"Headline ASR: judge-based jailbreak success by {where} ({fused})", headline, group_by)
    else:
        console.print(styled("no jailbreak_success verdicts", "yellow",
                             ": the headline ASR needs a success judge (configs/success_*.yaml, or not_refused "
                             "offline) fused into jailbreak_success; the older definitions below do not measure "
                             "whether the response did what the attacker asked"))
    if older:
        _show_rates(f"Older definitions (reported apart; per response, --json has all rows) by {where}", older,
                    group_by)
    if over:
        _show_rates(f"Over-refusal: refusal rate on benign prompts by {', '.join(refusal_by) or 'overall'}", over,
                    refusal_by)
    _print_judges(headline + older + over)
    if pair:
        _show_paired(pair, pairs, [g for g in group_by if g != "attack"])
    if any(r.unjudged for r in rows + over):
        console.print("unjudged: responses whose metric has no verdict (judges errored, unparseable or missing), "
                      "left out of n and never counted as failures; HarmBench counts them as failures "
                      "(rate_unjudged_as_failure in --json)", style="dim")
    if json_out:
        write_summary(json_out, AsrJson(fused=str(fused), group_by=group_by, asr=[r.flat() for r in rows],
                                        over_refusal=[r.flat() for r in over], paired=[p.flat() for p in pairs],
                                        cards=validity.summary()))


def _show_paired(pair: list[str], pairs: list[PairedRow], group_by: list[str]) -> None:
    if not pairs:
        console.print(f"no sample was judged under both {pair[0]} and {pair[1]}", style="yellow")
        return
    show_table(f"Paired: ASR({pair[0]}) − ASR({pair[1]}) on the same samples",
               (*group_by, "definition", "pairs", "unpaired", pair[0], pair[1], "difference", "95 % CI", "interval",
                "McNemar p"),
               ((*(p.group[g] for g in group_by), p.definition, p.pairs, p.unpaired, _pct(p.rate_a), _pct(p.rate_b),
                 _pct(p.difference.estimate), _ci(p.difference.low, p.difference.high), p.difference.method,
                 "–" if p.difference.p_value is None else f"{p.difference.p_value:.3g}") for p in pairs))


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
