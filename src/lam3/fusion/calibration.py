"""Per-judge probability calibration (Platt or isotonic) and thresholds, fitted on human labels.

Why: judges' raw scores are not comparable (a keyword matcher's 0.8 is not Llama Guard's
0.8), so soft voting on raw scores silently favours the over-confident judge. Calibration
maps each judge's probability for a metric onto the observed frequency of the human label.

Saved as JSON (never pickle): Platt as two numbers, isotonic as its breakpoints, so a
calibration file can be read, diffed and trusted. Expected calibration error (ECE) is
reported before and after, in-sample and cross-fitted (the honest figure).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from lam3.errors import UserError

CALIBRATION_VERSION = 1
Method = Literal["platt", "isotonic"]


@dataclass
class Calibrator:
    """p ↦ calibrated p. Platt: sigmoid(a·p + b). Isotonic: linear interpolation of breakpoints.

    Platt uses the raw score (as Platt did), not its logit: keyword-style judges emit exact 0s and 1s,
    whose clipped logits would dominate the fit.
    """

    method: str
    a: float = 1.0
    b: float = 0.0
    xs: tuple[float, ...] = ()
    ys: tuple[float, ...] = ()

    def __call__(self, p: float) -> float:
        if self.method == "platt":
            z = self.a * p + self.b
            return 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))
        xs, ys = self.xs, self.ys
        if p <= xs[0]:
            return ys[0]
        if p >= xs[-1]:
            return ys[-1]
        i = bisect.bisect_right(xs, p)
        x0, x1, y0, y1 = xs[i - 1], xs[i], ys[i - 1], ys[i]
        return y0 if x1 == x0 else y0 + (y1 - y0) * (p - x0) / (x1 - x0)

    def many(self, ps: Iterable[float]) -> np.ndarray:
        return np.array([self(float(p)) for p in ps], dtype=float)

    def to_dict(self) -> dict[str, Any]:
        if self.method == "platt":
            return {"method": "platt", "params": {"a": self.a, "b": self.b}}
        return {"method": "isotonic", "params": {"x": list(self.xs), "y": list(self.ys)}}

    @classmethod
    def from_dict(cls, entry: Mapping[str, Any]) -> Calibrator:
        method, params = entry.get("method"), entry.get("params") or {}
        if method == "platt":
            return cls("platt", a=float(params["a"]), b=float(params["b"]))
        if method == "isotonic":
            xs, ys = tuple(map(float, params["x"])), tuple(map(float, params["y"]))
            if not xs or len(xs) != len(ys) or list(xs) != sorted(xs):
                raise UserError("isotonic calibration needs equally long, sorted 'x' and 'y' lists")
            return cls("isotonic", xs=xs, ys=ys)
        raise UserError(f"unknown calibration method {method!r} (platt or isotonic)")


def fit_calibrator(p: Sequence[float], y: Sequence[int], method: Method) -> Calibrator:
    """Fit on raw probabilities ``p`` and binary labels ``y`` (both classes needed)."""
    x = np.asarray(p, dtype=float)
    t = np.asarray(y, dtype=int)
    if method == "platt":
        from sklearn.linear_model import LogisticRegression

        lr = LogisticRegression(C=1e4, max_iter=1000).fit(x.reshape(-1, 1), t)
        return Calibrator("platt", a=float(lr.coef_[0][0]), b=float(lr.intercept_[0]))
    if method == "isotonic":
        from sklearn.isotonic import IsotonicRegression

        iso = IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True, out_of_bounds="clip").fit(x, t)
        return Calibrator("isotonic", xs=tuple(map(float, iso.X_thresholds_)),
                          ys=tuple(map(float, iso.y_thresholds_)))
    raise UserError(f"unknown calibration method {method!r} (platt or isotonic)")


def expected_calibration_error(p: Sequence[float], y: Sequence[int], bins: int = 10) -> float:
    """ECE with equal-width bins: Σ_b |B_b|/n · |mean(y in b) − mean(p in b)|."""
    x = np.asarray(p, dtype=float)
    t = np.asarray(y, dtype=float)
    if len(x) == 0:
        return float("nan")
    idx = np.minimum((x * bins).astype(int), bins - 1)
    ece = 0.0
    for b in range(bins):
        mask = idx == b
        if mask.any():
            ece += mask.sum() / len(x) * abs(t[mask].mean() - x[mask].mean())
    return float(ece)


def fit_threshold(p: Sequence[float], y: Sequence[int], criterion: str = "f1") -> float:
    """The threshold on ``p`` that maximises F1 (or Youden's J); ties go to the highest threshold."""
    x = np.asarray(p, dtype=float)
    t = np.asarray(y, dtype=int)
    best, best_t = -1.0, 0.5
    for cand in np.unique(x):
        pred = x >= cand
        tp = int((pred & (t == 1)).sum())
        fp = int((pred & (t == 0)).sum())
        fn = int((~pred & (t == 1)).sum())
        tn = int((~pred & (t == 0)).sum())
        if criterion == "f1":
            value = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
        elif criterion == "youden":
            value = tp / max(tp + fn, 1) - fp / max(fp + tn, 1)
        else:
            raise UserError(f"unknown threshold criterion {criterion!r} (f1 or youden)")
        if value >= best - 1e-12:  # ties (up to rounding) go to the higher threshold
            best, best_t = max(value, best), float(cand)
    return best_t


def cross_fitted(p: Sequence[float], y: Sequence[int], method: Method, folds: int = 5,
                 seed: int = 0) -> np.ndarray | None:
    """Out-of-fold calibrated probabilities (None when a class has fewer than ``folds`` examples)."""
    t = np.asarray(y, dtype=int)
    if min(int(t.sum()), int(len(t) - t.sum())) < folds:
        return None
    from sklearn.model_selection import StratifiedKFold

    x = np.asarray(p, dtype=float)
    out = np.empty(len(x))
    for train, test in StratifiedKFold(folds, shuffle=True, random_state=seed).split(x.reshape(-1, 1), t):
        out[test] = fit_calibrator(x[train], t[train], method).many(x[test])
    return out


def judge_signature(key: str, judge: Any) -> dict[str, Any]:
    """What about a judge's config changes its probability (so a calibration stays valid)."""
    return {"key": key, "judge": judge.judge, "label_map": judge.label_map, "score_label": judge.score_label}


def check_judge_matches(entry: Mapping[str, Any], key: str, judge: Any, metric: str) -> None:
    saved = entry.get("judge")
    if saved is not None and saved != judge_signature(key, judge):
        raise UserError(f"calibration of judge {key!r} ({metric}) was fitted with another judge/label_map/"
                        f"score_label ({saved}); refit with 'lam3 calibrate'")


def load_calibration(path: str | Path) -> dict[str, dict[str, Any]]:
    """``judges`` of a calibration JSON: {judge: {metric: entry}}."""
    import json

    path = Path(path)
    if not path.is_file():
        raise UserError("calibration file not found", path=path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise UserError(f"invalid JSON: {exc}", path=path, line=exc.lineno) from None
    if not isinstance(data, dict) or data.get("lam3_calibration_version") != CALIBRATION_VERSION:
        raise UserError(f"not a LAM3 calibration file (lam3_calibration_version {CALIBRATION_VERSION})", path=path)
    judges = data.get("judges") or {}
    for key, per_metric in judges.items():
        for metric, entry in per_metric.items():
            try:
                Calibrator.from_dict(entry)
                float(entry["threshold"])
            except (KeyError, TypeError, ValueError) as exc:
                raise UserError(f"bad entry: {exc}", path=path, field=f"judges.{key}.{metric}") from None
    return judges


# --- the `calibrate` stage -------------------------------------------------------------------------
def calibrate_files(inputs: Sequence[str | Path], config_path: str | Path, output: str | Path, *,
                    method: Method = "platt", criterion: str = "f1", min_labels: int = 10, seed: int = 0,
                    progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Fit a calibrator and threshold per (judge, metric) from labelled scored files; write JSON.

    Each response needs ``labels: {toxic, risky, refusal}``; unlabelled ones are counted and skipped.
    """
    import tempfile

    from lam3.manifest import now, update_manifest
    from lam3.store import write_json
    from lam3.fusion.ensemble import LABEL_FIELDS, Ensemble, load_ensemble_config
    from lam3.pipeline.fuse import join_scored
    from lam3.store import Quarantine, count_lines, quarantine_path

    output = Path(output)
    config, node = load_ensemble_config(config_path)
    ensemble = Ensemble(config, path=config_path, node=node, fitting=True)
    pairs: dict[tuple[str, str], tuple[list[float], list[int]]] = {}
    n_records = n_unlabelled = 0
    quarantine = Quarantine(quarantine_path(output))
    total = count_lines(inputs[0])
    try:
        with tempfile.TemporaryDirectory(prefix="lam3-calibrate-") as tmp:
            for joined in join_scored(inputs, config.id_field, quarantine, Path(tmp)):
                n_records += 1
                labels = joined.record.get("labels")
                if not isinstance(labels, Mapping):
                    n_unlabelled += 1
                    continue
                for key in ensemble.judges:
                    j = joined.judgements.get(key)
                    if j is None or not ensemble._usable(key, j):
                        continue
                    for metric in ensemble.judges[key].maps:
                        y = labels.get(LABEL_FIELDS[metric])
                        if y is None:
                            continue
                        v = ensemble._verdict(key, metric, j)
                        if v is not None:
                            ps, ys = pairs.setdefault((key, metric), ([], []))
                            ps.append(v.p)
                            ys.append(int(bool(y)))
                if progress and n_records % 1000 == 0:
                    progress(n_records, total)
            if progress:
                progress(n_records, total)
    finally:
        quarantine.close()
    judges: dict[str, dict[str, Any]] = {}
    skipped: dict[str, dict[str, str]] = {}
    for (key, metric), (ps, ys) in sorted(pairs.items()):
        pos = sum(ys)
        if len(ys) < min_labels or pos == 0 or pos == len(ys):
            skipped.setdefault(key, {})[metric] = (f"{len(ys)} labelled, {pos} positive: need >= {min_labels} "
                                                   "with both classes")
            continue
        cal = fit_calibrator(ps, ys, method)
        after = cal.many(ps)
        cv = cross_fitted(ps, ys, method, seed=seed)
        judges.setdefault(key, {})[metric] = {
            **cal.to_dict(),
            "threshold": fit_threshold(after, ys, criterion),
            "criterion": criterion,
            "n": len(ys), "positives": pos,
            "ece_before": round(expected_calibration_error(ps, ys), 6),
            "ece_after": round(expected_calibration_error(after, ys), 6),
            "ece_after_cv": None if cv is None else round(expected_calibration_error(cv, ys), 6),
            "judge": judge_signature(key, config.judges[key]),
        }
    for key in ensemble.judges:
        for metric in ensemble.judges[key].maps:
            if (key, metric) not in pairs:
                skipped.setdefault(key, {})[metric] = "no labelled record with a usable judgement"
    result = {"lam3_calibration_version": CALIBRATION_VERSION, "created": now(), "method": method,
              "inputs": [str(p) for p in inputs], "records": n_records, "unlabelled": n_unlabelled,
              "quarantined": quarantine.count, "judges": judges, "skipped": skipped}
    output.parent.mkdir(parents=True, exist_ok=True)
    write_json(output, result)
    update_manifest(output.parent, stage=f"calibrate:{output.name}", config=config, seed=seed,
                    artifacts=[output], inputs=list(inputs),
                    summary={"method": method, "records": n_records, "unlabelled": n_unlabelled,
                             "fitted": {k: sorted(v) for k, v in judges.items()}, "skipped": skipped})
    return result
