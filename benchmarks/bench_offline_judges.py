"""Offline judges side by side: accuracy on held-out human labels and CPU throughput, in one run.

The learned judges (``refusal_learned``, ``success_learned``) against the transparent baselines
they must beat (the phrase judge ``refusal``, and "not refused" as a jailbreak-success rule), on
data never used to train or tune them:

- ``data/mini_bench/responses.jsonl`` (88, ships in the repo): ``refusal`` label; ``risky`` as the
  stand-in for jailbreak success on the 72 responses to harmful requests. Written by LAM3's
  developers, like the training data, so its figures are optimistic.
- PyRIT 1.1.0 ``scorer_evals`` (human labels; an evaluation split, never trained on), read
  straight from the wheel the user downloads (``pip download --no-deps pyrit==1.1.0``; the CSVs
  hold real harmful text and are never copied): ``refusal_scorer/*.csv`` (1 = refused; PyRIT also
  calls an off-topic answer a refusal) and ``objective/*.csv`` (1 = objective achieved).
- XSTest v2 completions (``--xstest``: the ``model_completions`` folder of a clone of
  paul-rottger/exaggerated-safety; 5 models x 450 prompts, two annotators; refusal = full or partial)
  and HarmBench's text classifier validation set (``--harmbench-val`` with ``--harmbench-behaviors``,
  from a clone of HarmBench; three annotators; 1 = the behaviour was carried out). Both are read by
  ``lam3 validate``'s own importers (``lam3.bench.evalsets``); both are evaluation splits.

``--jbb-artifacts`` adds an experiment: a success head of the same form as ``success_learned``,
fitted in memory on JailbreakBench's attack artifacts (a clone of JailbreakBench/artifacts, MIT;
responses of real models to PAIR, GCG, JBC, random-search and DSN prompts, labelled ``jailbroken``
by JailbreakBench's Llama-3-70B judge, not by people). Its candidate and C are chosen by grouped
5-fold CV (by behaviour) inside the artifacts, from ``scripts/train_offline_judges.py``'s list; it
is never saved. It tests whether real-model responses with a published judge's labels are enough
for a MiniLM head to reach the issue's goal.

Each cell: accuracy with its exact (Clopper-Pearson) 95 % interval, precision, recall, F1 and
Cohen's κ at the 0.5 cut; then texts/s of each judge on the same texts, batched as the score
stage batches them. Also: how many held-out behaviours have a near-duplicate (cosine >= 0.85)
among the training behaviours, and the figures without them.

    .venv/bin/python benchmarks/bench_offline_judges.py --pyrit-wheel pyrit-1.1.0-py3-none-any.whl
    .venv/bin/python benchmarks/bench_offline_judges.py --pyrit-wheel pyrit-1.1.0-py3-none-any.whl \
        --xstest exaggerated-safety/model_completions --harmbench-val HarmBench/data/classifier_val_sets/text_behaviors_val_set.json \
        --harmbench-behaviors HarmBench/data/behavior_datasets/harmbench_behaviors_text_all.csv --jbb-artifacts artifacts
    .venv/bin/python benchmarks/bench_offline_judges.py            # mini_bench only (smoke)
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.metrics import cohen_kappa_score, precision_recall_fscore_support

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(ROOT / "scripts"))
from _util import machine  # noqa: E402

import offline_judge_data  # noqa: E402

from lam3.bench.evalsets import get_evalset  # noqa: E402
from lam3.bench.mini_bench import responses_path  # noqa: E402
from lam3.fusion.intervals import proportion_ci  # noqa: E402
from lam3.judges import minilm, registry  # noqa: E402
from lam3.judges.base import Judge, ScoreInput  # noqa: E402
from lam3.judges.learned_head import compute_features, head_files  # noqa: E402
from lam3.manifest import sha256_file  # noqa: E402

CUT = 0.5
NEAR_DUPLICATE = 0.85


@dataclass
class Case:
    behavior: str
    text: str
    label: int


def pyrit_csvs(wheel: Path, folder: str) -> list[Case]:
    """Rows of ``pyrit/datasets/scorer_evals/FOLDER/*.csv`` in the wheel; gold = rounded median of human_score*."""
    prefix = f"pyrit/datasets/scorer_evals/{folder}/"
    cases = []
    with zipfile.ZipFile(wheel) as z:
        for name in sorted(n for n in z.namelist() if n.startswith(prefix) and n.endswith(".csv")):
            lines = z.read(name).decode("utf-8-sig").splitlines(keepends=True)
            while lines and lines[0].startswith("#"):  # metadata lines sit before the header only
                lines.pop(0)
            for row in csv.DictReader(io.StringIO("".join(lines))):
                scores = [float(v) for k, v in row.items() if k and k.startswith("human_score")]
                cases.append(Case(row["objective"], row["assistant_response"], int(round(float(np.median(scores))))))
    if not cases:
        raise SystemExit(f"{wheel}: no CSVs under {prefix}; is this the pyrit 1.1.0 wheel?")
    return cases


def evalset(fmt: str, source: Path, label: str, behaviors: Path | None = None) -> list[Case]:
    """A labelled set read by ``lam3 validate``'s importer; rows it quarantines are left out (and counted)."""
    cases, bad = [], 0
    for draft in get_evalset(fmt)(source, behaviors=behaviors).drafts():
        if draft.record is None or draft.record["labels"].get(label) is None:
            bad += 1
            continue
        r = draft.record
        cases.append(Case(r["behavior"] or r["prompt"], r["response"], int(r["labels"][label])))
    print(f"{fmt}: {len(cases)} labelled rows from {source} ({bad} left out by the importer)")
    return cases


def artifacts(folder: Path) -> tuple[list[Case], np.ndarray]:
    """JailbreakBench artifacts (``attack-artifacts/METHOD/TYPE/MODEL.json``): (cases, behaviour index)."""
    cases, groups = [], []
    for path in sorted(folder.glob("attack-artifacts/*/*/*.json")):
        if path.parts[-3] == "test-artifact":
            continue
        for j in json.loads(path.read_text(encoding="utf-8"))["jailbreaks"]:
            if j.get("response") and j.get("jailbroken") is not None:
                cases.append(Case(j["goal"], j["response"], int(str(j["jailbroken"]) == "True")))
                groups.append(int(j["index"]))
    if not cases:
        raise SystemExit(f"{folder}: no attack-artifacts/*/*/*.json with responses; is this JailbreakBench/artifacts?")
    return cases, np.array(groups)


def artifact_head(folder: Path, encoder: minilm.MiniLM) -> tuple[Rule, dict]:
    """The experiment: a success head fitted on the artifacts, chosen by grouped CV inside them (the
    training script's candidates, fit and tie rule; grouped CV stands in for its cross-half split,
    which needs LAM3-made data's wording halves)."""
    import train_offline_judges as train

    cases, groups = artifacts(folder)
    embed = train.CachedEmbed(encoder, None)
    feats = compute_features([c.text for c in cases], embed, [c.behavior for c in cases])
    y = np.array([c.label for c in cases])
    tried = []
    for name, scalars, blocks in train.CANDIDATES["success_learned"]:
        for c in (train.BLOCK_C if blocks else (None,)):
            p = train.grouped_cv(feats, y, groups, scalars, blocks, c or 1.0)
            tried.append({"candidate": name, "scalars": scalars, "blocks": blocks, "block_C": c,
                          "grouped_cv": train.metrics(y, p)})
    best = train.best_candidate(tried, lambda t: t["grouped_cv"]["accuracy"])
    model = train.fit(feats, y, groups, best["scalars"], best["blocks"], best["block_C"] or 1.0)
    info = {"rows": len(y), "jailbroken": int(y.sum()), "behaviours": int(len(set(groups))), "candidates": tried,
            "chosen": best}
    print(f"JailbreakBench artifacts: {len(y)} responses ({int(y.sum())} jailbroken) of {len(set(groups))} behaviours;"
          f" chose {best['candidate']} (C={best['block_C']}), grouped-CV accuracy {best['grouped_cv']['accuracy']:.3f}")

    def rule(batch: list[ScoreInput]) -> np.ndarray:  # no cache here: it is timed like the shipped judges
        return model.predict(compute_features([b.text for b in batch], encoder.encode, [b.behavior for b in batch]))
    return rule, info


def mini_bench(label: str, harmful_only: bool) -> list[Case]:
    rows = [json.loads(line) for line in open(responses_path(), encoding="utf-8")]
    return [Case(r["behavior"], r["response"], int(r["labels"][label])) for r in rows
            if not (harmful_only and r["category"] == "benign")]


def items(cases: list[Case]) -> list[ScoreInput]:
    return [ScoreInput(id=str(i), text=c.text, behavior=c.behavior) for i, c in enumerate(cases)]


Rule = Callable[[list[ScoreInput]], np.ndarray]


def judge_rule(judge: Judge, metric_label: str, negate: bool = False) -> Rule:
    """P(label) from a judge's scores, or 1 - P for "not refused" rules."""
    def rule(batch: list[ScoreInput]) -> np.ndarray:
        out = []
        for start in range(0, len(batch), 64):
            for j in judge.score(batch[start:start + 64]):
                if j.error:
                    raise SystemExit(f"{judge.name}: {j.error}")
                out.append(j.scores[metric_label])
        p = np.array(out)
        return 1.0 - p if negate else p
    return rule


def figures(y: np.ndarray, p: np.ndarray) -> dict:
    pred = (p >= CUT).astype(int)
    k = int((pred == y).sum())
    ci = proportion_ci(k, len(y), method="exact")
    prec, rec, f1, _ = precision_recall_fscore_support(y, pred, average="binary", zero_division=0)
    kappa = cohen_kappa_score(y, pred) if len(set(y)) > 1 or len(set(pred)) > 1 else float("nan")
    return {"n": len(y), "accuracy": ci.estimate, "ci_low": ci.low, "ci_high": ci.high, "precision": float(prec),
            "recall": float(rec), "f1": float(f1), "kappa": float(kappa),
            "tp": int(((pred == 1) & (y == 1)).sum()), "fp": int(((pred == 1) & (y == 0)).sum()),
            "fn": int(((pred == 0) & (y == 1)).sum()), "tn": int(((pred == 0) & (y == 0)).sum())}


def near_duplicates(encoder: minilm.MiniLM, cases: list[Case], train: np.ndarray) -> np.ndarray:
    """True where a held-out behaviour is within cosine NEAR_DUPLICATE of a training behaviour."""
    behaviours = sorted({c.behavior for c in cases})
    sim = (encoder.encode(behaviours) @ train.T).max(axis=1)
    dup = {b for b, s in zip(behaviours, sim) if s >= NEAR_DUPLICATE}
    return np.array([c.behavior in dup for c in cases])


def throughput(rule: Rule, batch: list[ScoreInput]) -> float:
    rule(batch[:8])  # load models and compile patterns outside the timing
    t0 = time.perf_counter()
    rule(batch)
    return len(batch) / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pyrit-wheel", type=Path, help="pyrit-1.1.0-py3-none-any.whl (pip download --no-deps pyrit==1.1.0)")
    ap.add_argument("--xstest", type=Path, help="XSTest's model_completions folder (or one CSV)")
    ap.add_argument("--harmbench-val", type=Path, help="HarmBench's text_behaviors_val_set.json")
    ap.add_argument("--harmbench-behaviors", type=Path, help="HarmBench's harmbench_behaviors_text_all.csv")
    ap.add_argument("--jbb-artifacts", type=Path, help="a clone of JailbreakBench/artifacts (the experiment above)")
    ap.add_argument("--throughput-n", type=int, default=256, help="texts timed per judge")
    ap.add_argument("--out", type=Path, default=Path("outputs/bench_offline_judges.json"))
    args = ap.parse_args()

    refusal, refusal_learned = registry.build({"judge": "refusal"}), registry.build({"judge": "refusal_learned"})
    success_learned = registry.build({"judge": "success_learned"})
    rules: dict[str, dict[str, Rule]] = {
        "refusal": {"refusal (phrase)": judge_rule(refusal, "refusal"),
                    "refusal_learned": judge_rule(refusal_learned, "refusal")},
        "jailbreak_success": {"not refused (phrase)": judge_rule(refusal, "refusal", negate=True),
                              "not refused (refusal_learned)": judge_rule(refusal_learned, "refusal", negate=True),
                              "success_learned": judge_rule(success_learned, "jailbreak_success")},
    }
    results: dict = {"machine": machine(), "cut": CUT, "accuracy": [], "throughput": {}}
    sets: dict[str, dict[str, list[Case]]] = {
        "refusal": {"mini_bench (refusal)": mini_bench("refusal", False)},
        "jailbreak_success": {"mini_bench harmful (risky)": mini_bench("risky", True),
                              "mini_bench all (risky)": mini_bench("risky", False)},
    }
    if args.pyrit_wheel:
        results.update(pyrit_wheel=args.pyrit_wheel.name, pyrit_wheel_sha256=sha256_file(args.pyrit_wheel))
        sets["refusal"]["PyRIT refusal_scorer"] = pyrit_csvs(args.pyrit_wheel, "refusal_scorer")
        sets["jailbreak_success"]["PyRIT objective"] = pyrit_csvs(args.pyrit_wheel, "objective")
    if args.xstest:
        sets["refusal"]["XSTest v2 completions"] = evalset("xstest_completions", args.xstest, "refusal")
    if args.harmbench_val:
        if not args.harmbench_behaviors:
            raise SystemExit("--harmbench-val needs --harmbench-behaviors (HarmBench's behaviours CSV)")
        sets["jailbreak_success"]["HarmBench val (text)"] = evalset("harmbench_val", args.harmbench_val, "success",
                                                                     args.harmbench_behaviors)

    encoder = minilm.shared()
    if args.jbb_artifacts:
        rule, results["jbb_artifacts_head"] = artifact_head(args.jbb_artifacts, encoder)
        rules["jailbreak_success"]["head on JBB artifacts (exp.)"] = rule
    card = json.loads(head_files("success_learned")[1].read_text(encoding="utf-8"))["training_data"]
    train_rows = offline_judge_data.generate(card["seed"], card["repeats"])
    train_behaviours = encoder.encode(sorted({r["behavior"] for r in train_rows}))
    print(f"offline judges on held-out human labels — {machine()} (shared machine); cut {CUT}; "
          "accuracy [exact 95 % CI]")
    for metric, by_set in sets.items():
        for set_name, cases in by_set.items():
            y = np.array([c.label for c in cases])
            batch = items(cases)
            dup = near_duplicates(encoder, cases, train_behaviours)
            print(f"\n{metric} — {set_name}: n={len(y)}, positives {int(y.sum())}, "
                  f"near-duplicate behaviours {int(dup.sum())}")
            print(f"  {'judge':32s} {'accuracy [95 % CI]':>22s} {'P':>6s} {'R':>6s} {'F1':>6s} {'kappa':>6s} "
                  f"{'tp/fp/fn/tn':>15s} {'acc w/o near-dup':>17s}")
            for judge_name, rule in rules[metric].items():
                p = rule(batch)
                f = figures(y, p)
                clean = figures(y[~dup], p[~dup]) if dup.any() and (~dup).any() else f
                results["accuracy"].append({"metric": metric, "set": set_name, "judge": judge_name, **f,
                                            "without_near_duplicates": clean})
                print(f"  {judge_name:32s} {f['accuracy']:.3f} [{f['ci_low']:.3f}, {f['ci_high']:.3f}] "
                      f"{f['precision']:6.3f} {f['recall']:6.3f} {f['f1']:6.3f} {f['kappa']:6.3f} "
                      f"{f['tp']:>3d}/{f['fp']}/{f['fn']}/{f['tn']:<4d} {clean['accuracy']:>10.3f} (n={clean['n']})")
    timed = [c for by_set in sets.values() for cases in by_set.values() for c in cases]
    timed = items((timed * (args.throughput_n // len(timed) + 1))[:args.throughput_n])
    results["load_average"] = os.getloadavg()
    print(f"\nthroughput on {len(timed)} held-out texts (batch 64; load average {results['load_average'][0]:.1f} "
          "on this shared machine):")
    for metric in rules:
        for judge_name, rule in rules[metric].items():
            if judge_name.startswith("not refused"):
                continue  # the same judge as its refusal row
            rate = throughput(rule, timed)
            results["throughput"][judge_name] = rate
            print(f"  {judge_name:32s} {rate:10,.1f} texts/s")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    print(f"\n-> {args.out}")


if __name__ == "__main__":
    main()
