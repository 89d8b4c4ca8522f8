"""LAM3 judges and fused metrics as an Inspect AI scorer.

    from inspect_ai import Task
    from lam3.integrations.inspect import lam3_scorer

    Task(dataset=..., solver=generate(), scorer=lam3_scorer("configs/offline.yaml", ensemble="configs/ensemble.yaml"))

The scorer runs the judges of a LAM3 score config on each sample's output (loaded once, when the
scorer is built, so a bad config fails before the eval starts) and returns an Inspect ``Score``:

- with an ensemble config: ``value = {metric: 1.0 flagged / 0.0 not}`` for every metric the
  ensemble fuses (Inspect reports ``mean`` and ``stderr`` per metric, i.e. the flagged rate);
- without one: ``value = {judge key: its highest label probability}`` (judges never threshold);
- a metric or judge with no usable judgement is ``NaN``, which Inspect counts as unscored rather
  than as 0;
- ``answer`` = the completion, ``explanation`` = one line per metric (or judge), ``metadata["lam3"]``
  = the judgements (and fused results) exactly as ``lam3 score`` / ``lam3 fuse`` write them.

What judges see: ``text`` = ``output.completion``, ``prompt`` = the input text, ``behavior`` =
``metadata["behavior"]`` else the target text, ``context`` = ``metadata["context"]``; images of the
input (Inspect inlines them as ``data:`` URIs) are written once to a temporary folder so vision
judges can open them. Judges run one sample at a time in a worker thread, one at a time (judges
are not required to be thread-safe), so the event loop keeps running other samples' generations.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import tempfile
import threading
from pathlib import Path
from typing import Any

from lam3.errors import DependencyError, UserError

try:
    import anyio
    from inspect_ai.scorer import Score, Scorer, Target, mean, scorer, stderr
    from inspect_ai.solver import TaskState
except ImportError:  # pragma: no cover - exercised only without the extra
    raise DependencyError("the Inspect AI scorer needs inspect-ai: pip install 'lam3[inspect]'") from None

from lam3.integrations.inspect_log import behavior_of, user_text_and_images
from lam3.judges.base import Judge, ScoreInput
from lam3.records import Judgement
from lam3.secrets import redact

NAN = float("nan")


def judge_one(judges: list[tuple[str, Judge]], item: ScoreInput) -> dict[str, Judgement]:
    """Every judge on one input; a judge that raises gives an error judgement, never a silent 0."""
    out: dict[str, Judgement] = {}
    for key, judge in judges:
        try:
            (out[key],) = judge.score([item])
        except Exception as exc:  # one failing judge must not fail the sample's other judgements
            out[key] = judge.failure(redact(f"{type(exc).__name__}: {exc}"))
    return out


def _image_file(ref: str, folder: Path) -> str | None:
    """A file path for an input image: kept when it is one, a ``data:`` URI decoded into ``folder``."""
    if not ref.startswith("data:"):
        return None if ref.startswith("attachment://") else ref
    head, _, payload = ref.partition(",")
    try:
        data = base64.b64decode(payload, validate=True) if head.endswith(";base64") else payload.encode()
    except binascii.Error:
        return None
    ext = head.removeprefix("data:").split(";")[0].split("/")[-1] or "bin"
    path = folder / f"{hashlib.sha256(data).hexdigest()[:24]}.{ext}"
    if not path.exists():
        path.write_bytes(data)
    return str(path)


def _load_ensemble(path: str | Path) -> Any:
    from lam3.fusion.calibration import load_calibration
    from lam3.fusion.ensemble import Ensemble, load_ensemble_config

    config, node = load_ensemble_config(path)
    calibration = None
    if config.calibration:
        cal = Path(config.calibration)
        calibration = load_calibration(cal if cal.is_absolute() else Path(path).parent / cal)
    return Ensemble(config, calibration=calibration, path=path, node=node)


def _headline(j: Judgement) -> float:
    return NAN if j.error or not j.scores else max(j.scores.values())


@scorer(metrics={"*": [mean(), stderr()]})
def lam3_scorer(config: str = "configs/offline.yaml", ensemble: str | None = None) -> Scorer:
    """An Inspect scorer running the judges of LAM3 score config ``config`` (and fusing them with ``ensemble``)."""
    from lam3.pipeline.score import load_score_config

    _, judges = load_score_config(config)
    for key, judge in judges:
        try:
            judge.load()
        except UserError:
            raise
        except Exception as exc:  # a judge that cannot load would error every sample of the eval
            raise UserError(redact(f"judge {key!r} could not load: {type(exc).__name__}: {exc}"),
                            path=config) from None
    fuser = _load_ensemble(ensemble) if ensemble else None
    lock = threading.Lock()
    images_dir = tempfile.TemporaryDirectory(prefix="lam3-inspect-images-")

    def run(item: ScoreInput) -> tuple[dict[str, Any], dict[str, Any] | None, dict[str, Any] | None]:
        with lock:
            judgements = {k: j.model_dump(mode="json") for k, j in judge_one(judges, item).items()}
            if fuser is None:
                return judgements, None, None
            results, judge_scores, _ = fuser.fuse(judgements)
            return judgements, results, judge_scores

    async def score(state: TaskState, target: Target) -> Score:
        metadata = dict(state.metadata or {})
        prompt, refs, _ = user_text_and_images(state.messages)
        images = [p for p in (_image_file(r, Path(images_dir.name)) for r in refs) if p]
        text = state.output.completion if state.output is not None else ""
        sid = f"{state.sample_id}#{state.epoch}"
        item = ScoreInput(id=sid, text=text, prompt=prompt or state.input_text, images=images,
                          record={"id": sid, "metadata": metadata}, behavior=behavior_of(metadata, target.target),
                          context=metadata.get("context"))
        judgements, results, judge_scores = await anyio.to_thread.run_sync(run, item)
        if results is None:
            parsed = {k: Judgement.model_validate(j) for k, j in judgements.items()}
            value = {k: _headline(j) for k, j in parsed.items()}
            lines = [f"{k}: error {j.error}" if j.error else
                     f"{k}: " + ", ".join(f"{label} {p:.2f}" for label, p in j.scores.items()) for k, j in parsed.items()]
        else:
            value = {m: NAN if r["flagged"] is None else float(r["flagged"]) for m, r in results.items()}
            lines = [f"{m}: " + ("no usable judge" if r["flagged"] is None else
                                 f"{'flagged' if r['flagged'] else 'not flagged'} (score {r['score']}, {r['resolution']})") for m, r in results.items()]
        lam3 = {"config": str(config), "ensemble": str(ensemble) if ensemble else None, "judgements": judgements}
        if results is not None:
            lam3.update(fused=results, judge_scores=judge_scores)
        return Score(value=value, answer=text, explanation="; ".join(lines), metadata={"lam3": lam3})

    return score  # the closure keeps images_dir (and its files) alive as long as the scorer


__all__ = ["lam3_scorer", "judge_one"]
