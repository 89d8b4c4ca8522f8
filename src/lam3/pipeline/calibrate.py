"""The ``calibrate`` stage: fit a calibrator and threshold per (judge, metric) from labelled scored files.

Each response needs a human ``labels`` object (fields named by
:data:`lam3.fusion.labels.LABEL_FIELDS`); unlabelled ones are counted and skipped. The fitting is
:mod:`lam3.fusion.calibration`; this module reads the files and writes the JSON.
Never fit on an evaluation split: the calibrated thresholds are tuned on these labels.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from lam3.fusion.calibration import CALIBRATION_VERSION, CalibrationFile, Criterion, JudgeSignature, Method, fit_entry
from lam3.fusion.labels import human_label
from lam3.manifest import now, update_manifest
from lam3.store import write_json
from lam3.pipeline.ensemble_files import load_ensemble
from lam3.pipeline.join import join_scored
from lam3.records import Metric
from lam3.store import Quarantine, count_lines, quarantine_path


def calibrate_files(inputs: Sequence[str | Path], config_path: str | Path, output: str | Path, *,
                    method: Method = "platt", criterion: Criterion = "f1", min_labels: int = 10, seed: int = 0,
                    progress: Callable[[int, int], None] | None = None) -> CalibrationFile:
    """Fit, write ``output`` (JSON, never pickle) and record the stage in the manifest beside it."""
    output = Path(output)
    loaded = load_ensemble(config_path, fitting=True)
    ensemble, config = loaded.ensemble, loaded.config
    pairs: dict[tuple[str, Metric], tuple[list[float], list[int]]] = {}
    n_records = n_unlabelled = 0
    quarantine = Quarantine(quarantine_path(output))
    total = count_lines(inputs[0])
    try:
        with tempfile.TemporaryDirectory(prefix="lam3-calibrate-") as tmp:
            for joined in join_scored(inputs, config.id_field, quarantine, Path(tmp)):
                n_records += 1
                labels = joined.record.get("labels")
                if not isinstance(labels, dict):
                    n_unlabelled += 1
                    continue
                for key, plan in ensemble.judges.items():
                    raw = joined.judgements.get(key)
                    judgement = ensemble.judgement(key, raw) if raw is not None else None
                    if judgement is None:
                        continue
                    for metric in plan.maps:
                        y = human_label(labels, metric)
                        found = ensemble.probability(key, metric, judgement) if y is not None else None
                        if found is not None:
                            ps, ys = pairs.setdefault((key, metric), ([], []))
                            ps.append(found[0])
                            ys.append(int(y))
                if progress and n_records % 1000 == 0:
                    progress(n_records, total)
            if progress:
                progress(n_records, total)
    finally:
        quarantine.close()
    result = CalibrationFile(lam3_calibration_version=CALIBRATION_VERSION, created=now(), method=method,
                             inputs=[str(p) for p in inputs], records=n_records, unlabelled=n_unlabelled,
                             quarantined=quarantine.count)
    for (key, metric), (ps, ys) in sorted(pairs.items()):
        pos = sum(ys)
        if len(ys) < min_labels or pos == 0 or pos == len(ys):
            result.skipped.setdefault(key, {})[metric] = (f"{len(ys)} labelled, {pos} positive: need >= "
                                                          f"{min_labels} with both classes")
            continue
        result.judges.setdefault(key, {})[metric] = fit_entry(
            ps, ys, method=method, criterion=criterion, seed=seed,
            signature=JudgeSignature.of(key, config.judges[key]))
    for key, plan in ensemble.judges.items():
        for metric in plan.maps:
            if (key, metric) not in pairs:
                result.skipped.setdefault(key, {})[metric] = "no labelled record with a usable judgement"
    output.parent.mkdir(parents=True, exist_ok=True)
    write_json(output, result.model_dump(mode="json"))
    update_manifest(output.parent, stage=f"calibrate:{output.name}", config=config, seed=seed,
                    artifacts=[output], inputs=list(inputs),
                    summary={"method": method, "records": n_records, "unlabelled": n_unlabelled,
                             "fitted": {k: sorted(v) for k, v in result.judges.items()}, "skipped": result.skipped})
    return result
