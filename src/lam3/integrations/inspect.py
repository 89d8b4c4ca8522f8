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

The judges are called by the score stage's own loop (:func:`lam3.pipeline.score.judge_batch`) and
the ensemble is built by the loader ``lam3 fuse`` uses (:func:`lam3.pipeline.ensemble_files.load_ensemble`),
so its calibration file and its human reviews (by response id ``<sample id>#<epoch>``) apply here
too, and a score-config key that names another judge than the ensemble config does is refused when
the scorer is built.

What judges see: ``text`` = ``output.completion``, ``prompt`` = the input text, ``behavior`` =
``metadata["behavior"]`` else the target text, ``context`` = ``metadata["context"]``; images of the
input (Inspect inlines them as ``data:`` URIs) are written once to a temporary folder so vision
judges can open them; a file the task names is read only inside the working folder (:mod:`lam3.paths`). Judges run one sample at a time in a worker thread, one at a time (judges
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

from lam3.fusion.ensemble import EnsembleError, RecordError
from lam3.integrations.inspect_log import behavior_of, user_text_and_images
from lam3.judges.base import ScoreInput
from lam3.paths import ImageRoots
from lam3.pipeline.ensemble_files import LoadedEnsemble, load_ensemble
from lam3.pipeline.review import load_reviews
from lam3.pipeline.score import judge_batch, load_judges, load_score_config
from lam3.records import FusedResult, Judgement, Metric

NAN = float("nan")


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


class Fuser:
    """The ensemble ``lam3 fuse`` would build from ``path`` (calibration and human reviews included)."""

    def __init__(self, path: str | Path, judges: dict[str, str]) -> None:
        self.loaded: LoadedEnsemble = load_ensemble(path)
        ensemble = self.loaded.ensemble
        self.human = load_reviews(self.loaded.reviews, metrics=list(ensemble.metrics)) if self.loaded.reviews else {}
        bad = ensemble.mismatched_judge({key: {"judge": name} for key, name in judges.items()})
        if bad is not None:  # what fuse would refuse on every record, refused before the eval starts
            raise self.loaded.located(EnsembleError(
                f"the score config runs judge {judges[bad]!r} as {bad!r}, this config says "
                f"{ensemble.judges[bad].judge!r}", ("judges", bad, "judge")))

    @property
    def metrics(self) -> list[Metric]:
        return list(self.loaded.ensemble.metrics)

    def fuse(self, rid: str, judgements: dict[str, Judgement]) -> FusedResult:
        try:
            return self.loaded.ensemble.fuse(rid, judgements, human=self.human.get(rid))
        except EnsembleError as exc:
            raise self.loaded.located(exc) from None
        except RecordError as exc:
            raise UserError(exc.message, path=f"Inspect sample {rid}", field=exc.field) from None


def _headline(j: Judgement) -> float:
    return NAN if j.error or not j.scores else max(j.scores.values())


@scorer(metrics={"*": [mean(), stderr()]})
def lam3_scorer(config: str = "configs/offline.yaml", ensemble: str | None = None) -> Scorer:
    """An Inspect scorer running the judges of LAM3 score config ``config`` (and fusing them with ``ensemble``)."""
    _, judges = load_score_config(config)
    fuser = Fuser(ensemble, {key: judge.name for key, judge in judges}) if ensemble else None
    load_judges(judges, config)
    lock = threading.Lock()
    images_dir = tempfile.TemporaryDirectory(prefix="lam3-inspect-images-")
    # judges read an image file the task names inside the working folder, and the decoded inline ones
    roots = ImageRoots.at(Path.cwd(), allow=[images_dir.name], name="working folder")

    def run(item: ScoreInput) -> tuple[dict[str, Judgement], FusedResult | None]:
        with lock:
            (judgements,) = judge_batch(judges, [item])
            return judgements, fuser.fuse(item.id, judgements) if fuser is not None else None

    async def score(state: TaskState, target: Target) -> Score:
        metadata = dict(state.metadata or {})
        prompt, refs, _ = user_text_and_images(state.messages)
        images = [p for p in (_image_file(r, Path(images_dir.name)) for r in refs) if p]
        text = state.output.completion if state.output is not None else ""
        sid = f"{state.sample_id}#{state.epoch}"
        item = ScoreInput(id=sid, text=text, prompt=prompt or state.input_text, images=images,
                          record={"id": sid, "metadata": metadata}, behavior=behavior_of(metadata, target.target),
                          context=metadata.get("context"), image_roots=roots)
        judgements, fused = await anyio.to_thread.run_sync(run, item)
        if fused is None:
            value = {k: _headline(j) for k, j in judgements.items()}
            lines = [f"{k}: error {j.error}" if j.error else
                     f"{k}: " + ", ".join(f"{label} {p:.2f}" for label, p in j.scores.items())
                     for k, j in judgements.items()]
        else:
            results = {m: getattr(fused, m) for m in fuser.metrics}
            value = {m: NAN if r.flagged is None else float(r.flagged) for m, r in results.items()}
            lines = [f"{m}: " + ("no usable judge" if r.flagged is None else
                                 f"{'flagged' if r.flagged else 'not flagged'} (score {r.score}, {r.resolution})")
                     for m, r in results.items()]
        lam3: dict[str, Any] = {"config": str(config), "ensemble": str(ensemble) if ensemble else None,
                                "judgements": {k: j.model_dump(mode="json") for k, j in judgements.items()}}
        if fused is not None:  # as lam3 fuse writes it: per-judge probabilities in each metric's result
            lam3["fused"] = fused.model_dump(mode="json")
        return Score(value=value, answer=text, explanation="; ".join(lines), metadata={"lam3": lam3})

    return score  # the closure keeps images_dir (and its files) alive as long as the scorer


__all__ = ["lam3_scorer"]
