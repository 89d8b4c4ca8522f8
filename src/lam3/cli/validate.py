"""``lam3 validate``: judges and fused verdicts against a human-labelled judge-evaluation set → a judge card."""

from __future__ import annotations

from pathlib import Path

import typer

from lam3.cli.app import app, console
from lam3.cli.output import show_table, styled, write_summary
from lam3.cli.progress import progress_bar, report_bad_line


def _column_map(items: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for item in items:
        key, sep, cols = item.partition("=")
        if not sep or not key.strip() or not cols.strip():
            raise typer.BadParameter(f"expected KEY=COLUMN[,COLUMN…], got {item!r}", param_hint="--map")
        out[key.strip()] = [c.strip() for c in cols.split(",") if c.strip()]
    return out


@app.command()
def validate(
    set_spec: str = typer.Option(..., "--set", help="FORMAT:PATH of a downloaded labelled set. Formats: harmbench_val, "
                                                    "jbb_judges, xstest_completions, pyrit_refusal, pyrit_objective, "
                                                    "generic (docs/validity.md)."),
    score: list[Path] = typer.Option(..., "--score", help="A score config (repeat for several)."),
    ensemble: Path = typer.Option(Path("configs/ensemble.yaml"), "--ensemble", help="The ensemble config to fuse with."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder: responses, scored and fused files, card.json."),
    behaviors: Path = typer.Option(None, "--behaviors", help="harmbench_val: HarmBench's behaviours CSV."),
    encoding: str = typer.Option(None, "--encoding", help="The set's text encoding when not UTF-8 (e.g. mac_roman)."),
    column_map: list[str] = typer.Option(None, "--map", help="generic: KEY=COLUMN (response=…, labels.success=…, "
                                                              "raters.refusal=a,b; repeat)."),
    name: str = typer.Option(None, "--name", help="The set's name on the card (default FORMAT: FILE)."),
    limit: int = typer.Option(None, "--limit", help="Import at most this many records."),
    n_resamples: int = typer.Option(2000, "--n-resamples", help="Bootstrap resamples (κ, F1, ECE)."),
    seed: int = typer.Option(0, "--seed"),
    overwrite: bool = typer.Option(False, "--overwrite", help="Start again in OUT."),
    json_out: Path = typer.Option(None, "--json", help="Also write the summary (with the card) as JSON "
                                                       "(docs/cli.md)."),
) -> None:
    """Run the real score + fuse stages over a human-labelled set; write OUT/card.json. Rerun to resume.

    Reports per judge and per fused metric: accuracy, precision, recall (sensitivity), specificity, F1,
    Cohen's κ against the human majority and calibration error, each with a 95 % interval; and the
    raters' own agreement (Fleiss' κ, unanimous share), the ceiling a judge can reach. Nothing is fitted.
    """
    from lam3.cli.summaries.fusion import ValidateJson
    from lam3.fusion.asr import fmt_interval
    from lam3.fusion.validity import Resampling
    from lam3.pipeline.validate import validate as run_validate
    from lam3.report import METRIC_TITLES

    columns = _column_map(column_map) if column_map else None
    with progress_bar("validate: scoring") as update:
        result = run_validate(set_spec, score, ensemble, out, behaviors=behaviors, encoding=encoding, columns=columns,
                              name=name, limit=limit, resampling=Resampling(n_resamples=n_resamples, seed=seed),
                              overwrite=overwrite, progress=lambda _, done, total: update(done, total),
                              on_bad=report_bad_line)
    card = result.card
    console.print(styled(card.dataset.name, "bold", f": {card.n} labelled records "
                                                    f"({result.imported.quarantined} rows quarantined)"))
    rows = [(m, key, e.judge, e.metrics[m].figures) for key, e in card.judges.items() for m in e.metrics]
    rows += [(m, "fused", "fused", e.figures) for m, e in card.fused.items()]
    for metric in sorted({r[0] for r in rows}):
        show_table(f"{METRIC_TITLES[metric]} vs the human majority (95 % intervals)",
                   ("judge", "n", "accuracy", "precision", "recall", "specificity", "F1", "Cohen κ", "ECE"),
                   ((key if judge in (key, "fused") else f"{key} ({judge})",
                     f"{f.n}" + (f" (+{f.not_judged} not judged)" if f.not_judged else ""),
                     *(fmt_interval(ci) for ci in (f.accuracy, f.precision, f.sensitivity, f.specificity, f.f1,
                                                   f.kappa, f.ece)))
                    for _, key, judge, f in sorted((r for r in rows if r[0] == metric),
                                                   key=lambda r: (r[1] == "fused", r[1]))))
    for metric, r in card.raters.items():
        console.print(f"raters ({METRIC_TITLES[metric]}): {r.raters} per item on {r.n} items — Fleiss κ "
                      f"{fmt_interval(r.fleiss_kappa)}, unanimous {fmt_interval(r.unanimous)}")
    if not card.raters:
        console.print("raters: the set has one label per item (no inter-annotator agreement to report)")
    console.print(f"card: {result.card_path}\nuse it: lam3 asr FUSED --judge-card {result.card_path} "
                  f"(or judge_cards: in the ensemble YAML)")
    if json_out:
        write_summary(json_out, ValidateJson.of(result))
