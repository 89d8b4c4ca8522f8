"""Calibration: fit (Platt, isotonic) → JSON → the same predictions; ECE; thresholds; used by fuse."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
from fusion_helpers import read_jsonl, response, score, write_yaml
from sklearn.isotonic import IsotonicRegression

from lam3.errors import UserError
from lam3.fusion.calibration import Calibrator, expected_calibration_error, fit_calibrator, fit_threshold
from lam3.pipeline.calibrate import calibrate_files
from lam3.pipeline.ensemble_files import load_calibration
from lam3.pipeline.fuse import fuse_files


def test_ece_hand_computed() -> None:
    # bin of 0.1: mean label 0.5 vs 0.1 → 0.4 · 2/4; bin of 0.9: 1.0 vs 0.9 → 0.1 · 2/4
    assert expected_calibration_error([0.1, 0.1, 0.9, 0.9], [0, 1, 1, 1]) == pytest.approx(0.25)
    assert expected_calibration_error([0.0, 1.0], [0, 1]) == 0.0


def test_threshold_maximises_f1() -> None:
    p = [0.1, 0.2, 0.35, 0.4, 0.8, 0.9]
    y = [0, 0, 1, 0, 1, 1]
    # t=0.35 → tp 3, fp 1 → F1 6/7; t=0.8 → tp 2, fn 1 → F1 4/5
    assert fit_threshold(p, y, "f1") == 0.35
    assert fit_threshold(p, y, "youden") == 0.8  # J: 0.35 → 1 - 1/3; 0.8 → 2/3 - 0 (tie → higher)


def _overconfident(n: int, seed: int = 0) -> tuple[list[float], list[int]]:
    rng = random.Random(seed)
    ps, ys = [], []
    for _ in range(n):
        p = rng.random()
        ps.append(p)
        ys.append(int(rng.random() < 0.3 + 0.4 * p))  # true frequency only 0.3..0.7
    return ps, ys


@pytest.mark.parametrize("method", ["platt", "isotonic"])
def test_fit_roundtrips_through_json_and_improves_ece(method: str) -> None:
    ps, ys = _overconfident(600)
    cal = fit_calibrator(ps, ys, method)
    again = Calibrator.model_validate_json(cal.model_dump_json())
    grid = np.linspace(0, 1, 101)
    assert np.allclose(again.many(grid), cal.many(grid))
    assert np.all(np.diff(again.many(grid)) >= -1e-12)  # monotone
    if method == "isotonic":
        ref = IsotonicRegression(y_min=0, y_max=1, out_of_bounds="clip").fit(ps, ys)
        assert np.allclose(again.many(grid), ref.predict(grid))
    before = expected_calibration_error(ps, ys)
    after = expected_calibration_error(cal.many(ps), ys)
    assert after < before / 2


def _labelled_files(tmp_path: Path, n: int = 300) -> Path:
    """Responses labelled by people, scored by the real score stage (kw is over-confident)."""
    ps, ys = _overconfident(n, seed=1)
    recs = [response(f"c{i}", {"kw": {"scores": {"fraud": p}}, "tox": {"scores": {"toxic": 1 - p}}},
                     labels={"risky": bool(y), "toxic": bool(i % 2), "refusal": None})
            for i, (p, y) in enumerate(zip(ps, ys))]
    recs.append(response("unlabelled", {"kw": {"scores": {"fraud": 0.5}}, "tox": {"scores": {"toxic": 0.5}}}))
    return score(tmp_path, "labelled", recs, {"kw": "fusion_keywords", "tox": "fusion_tox"})


CONFIG = """
judges:
  kw: {judge: fusion_keywords, threshold: calibrated}
  tox: {judge: fusion_tox}
"""


def test_calibrate_files_then_fuse_uses_it(tmp_path: Path) -> None:
    config = write_yaml(tmp_path / "e.yaml", CONFIG)
    data = _labelled_files(tmp_path)
    out = tmp_path / "cal" / "calibration.json"
    result = calibrate_files([data], config, out, method="isotonic")
    saved = json.loads(out.read_text())  # plain JSON, no pickle
    entry = saved["judges"]["kw"]["policy_risk"]
    assert entry["n"] == 300 and saved["unlabelled"] == 1
    assert entry["ece_after"] < entry["ece_before"] and entry["ece_after_cv"] is not None
    assert set(saved["judges"]["tox"]) == {"social_toxicity"}
    assert result.skipped == {} and load_calibration(out) == result
    cal = Calibrator.model_validate({"method": entry["method"], "params": entry["params"]})
    # without the calibration file, 'threshold: calibrated' cannot work
    with pytest.raises(UserError, match="needs a calibration"):
        fuse_files([data], config, tmp_path / "f0.jsonl")
    fused = tmp_path / "fused.jsonl"
    fuse_files([data], config, fused, calibration=out)
    rec = next(r for r in read_jsonl(fused) if r["id"] == "c3")
    raw = next(r for r in read_jsonl(data) if r["id"] == "c3")["judgements"]["kw"]["scores"]["fraud"]
    assert rec["policy_risk"]["probabilities"]["kw"] == pytest.approx(cal(raw), abs=1e-6)
    assert rec["policy_risk"]["votes"]["kw"] == (cal(raw) >= entry["threshold"])


def test_calibration_must_match_the_judge_config(tmp_path: Path) -> None:
    config = write_yaml(tmp_path / "e.yaml", CONFIG)
    data = _labelled_files(tmp_path)
    out = tmp_path / "calibration.json"
    calibrate_files([data], config, out)
    changed = write_yaml(tmp_path / "e2.yaml", CONFIG.replace(
        "threshold: calibrated}", "threshold: calibrated, label_map: {policy_risk: {fraud: S1}}}"))
    with pytest.raises(UserError, match="refit"):
        fuse_files([data], changed, tmp_path / "f.jsonl", calibration=out)
    missing = write_yaml(tmp_path / "e3.yaml", CONFIG + "  other: {judge: fusion_guard}\n")
    with pytest.raises(UserError, match=r"no entry for judge 'other'.*calibrated: false"):
        fuse_files([data], missing, tmp_path / "f.jsonl", calibration=out)


def test_too_few_labels_are_skipped_with_a_reason(tmp_path: Path) -> None:
    config = write_yaml(tmp_path / "e.yaml", "judges:\n  kw: {judge: fusion_keywords}\n")
    recs = [response(f"x{i}", {"kw": {"scores": {"fraud": 0.9}}}, labels={"risky": True}) for i in range(5)]
    out = tmp_path / "calibration.json"
    result = calibrate_files([score(tmp_path, "few", recs, {"kw": "fusion_keywords"})], config, out)
    assert "need >= 10" in result.skipped["kw"]["policy_risk"]
    assert load_calibration(out).judges == {}


def test_a_bad_calibration_file_names_file_line_field(tmp_path: Path) -> None:
    config = write_yaml(tmp_path / "e.yaml", CONFIG)
    data = _labelled_files(tmp_path)
    out = tmp_path / "calibration.json"
    calibrate_files([data], config, out)
    text = out.read_text()
    broken = text.replace('"threshold": ', '"threshold": "high", "was": ', 1)
    out.write_text(broken)
    line = next(i for i, row in enumerate(broken.splitlines(), 1) if '"threshold": "high"' in row)
    with pytest.raises(UserError, match=rf"calibration\.json:{line}: judges\.kw\.policy_risk\.threshold: "):
        fuse_files([data], config, tmp_path / "f.jsonl", calibration=out)
    out.write_text("{}")
    with pytest.raises(UserError, match=r"calibration\.json:1: not a LAM3 calibration file"):
        fuse_files([data], config, tmp_path / "f.jsonl", calibration=out)


def test_a_wave1_calibration_file_is_read(tmp_path: Path) -> None:
    """The JSON the previous version wrote (same layout) still loads and calibrates."""
    path = tmp_path / "old.json"
    path.write_text(json.dumps({
        "lam3_calibration_version": 1, "created": "2026-11-01T10:00:00+00:00", "method": "platt", "inputs": ["x"],
        "records": 20, "unlabelled": 0, "quarantined": 0, "skipped": {},
        "judges": {"kw": {"policy_risk": {"method": "platt", "params": {"a": 4.0, "b": -2.0}, "threshold": 0.5,
                                          "criterion": "f1", "n": 20, "positives": 8, "ece_before": 0.2,
                                          "ece_after": 0.05, "ece_after_cv": None,
                                          "judge": {"key": "kw", "judge": "fusion_keywords", "label_map": {},
                                                    "score_label": {}}}}}}, indent=2))
    entry = load_calibration(path).judges["kw"]["policy_risk"]
    assert entry.calibrator()(0.5) == pytest.approx(0.5) and entry.calibrator()(1.0) == pytest.approx(1 / (1 + 2.718281828 ** -2))
