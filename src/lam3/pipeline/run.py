"""``lam3 pipeline``: the local side of the two-stage flow in one resumable command.

unpack (optional) → score with each judge config → fuse → HTML report → pack → push (optional).

Each step records in the run's ``manifest.json`` (under ``pipeline.steps``) a
fingerprint — the sha256 of every input file plus the hash of the step's config —
and the sha256 of every output. A rerun skips a step whose fingerprint is unchanged
and whose outputs are still the ones it wrote; a step whose inputs or config changed
is redone from scratch (its stale output is moved aside, never resumed with other
settings), and a step that was interrupted under the same fingerprint resumes.

Paths in the pipeline config are relative to the current directory (run it from the
repository root, like every other ``lam3`` command).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import Field, model_validator

from lam3.config import StrictModel, config_hash, load_config
from lam3.errors import UserError
from lam3.manifest import MANIFEST, now, read_manifest, sha256_file, write_json_atomic
from lam3.pipeline.rundir import REPORT_HTML, RESPONSES, RunDir, check_run_name, scored_name
from lam3.store import quarantine_path

Progress = Callable[[int, int], None]


class ScoreStepConfig(StrictModel):
    name: str = Field(description="output is <name>_scored.jsonl, e.g. toxicity → toxicity_scored.jsonl")
    config: Path = Field(description="a `lam3 score` config, e.g. configs/offline.yaml")

    @model_validator(mode="after")
    def _name(self) -> ScoreStepConfig:
        check_run_name(self.name)
        return self


class FuseStepConfig(StrictModel):
    config: Path = Field(Path("configs/ensemble.yaml"), description="a `lam3 fuse` (ensemble) config")


class PipelineConfig(StrictModel):
    """``configs/pipeline.yaml``."""

    archive: Path | None = Field(None, description="a run archive from the server (lam3 pack / pull)")
    run: Path | None = Field(None, description="a run directory that is already here")
    runs_root: Path = Field(Path("runs"), description="where an archive is unpacked")
    score: list[ScoreStepConfig] = Field(min_length=1)
    fuse: FuseStepConfig | None = Field(default_factory=FuseStepConfig, description="null: do not fuse")
    report: bool = True
    pack: bool = True
    pack_out: Path | None = Field(None, description="default: <runs_root>/<NAME>.results.tar.gz")
    push: str | None = Field(None, description="fsspec folder URL the results archive is pushed to")

    @model_validator(mode="after")
    def _consistent(self) -> PipelineConfig:
        if (self.archive is None) == (self.run is None):
            raise ValueError("set exactly one of 'archive' (unpack it first) or 'run' (an existing run directory)")
        names = [s.name for s in self.score]
        if len(set(names)) != len(names):
            raise ValueError("two score steps share a name; their outputs would collide")
        if self.push and not self.pack:
            raise ValueError("'push' needs 'pack: true' (what is pushed is the packed results archive)")
        if self.pack_out is not None and not self.pack:
            raise ValueError("'pack_out' is set but 'pack' is false")
        return self


@dataclass
class StepOutcome:
    name: str
    status: str  # done | skipped | unavailable | failed
    message: str = ""
    seconds: float = 0.0


@dataclass
class PipelineResult:
    run_dir: Path
    steps: list[StepOutcome] = field(default_factory=list)
    archive: Path | None = None
    pushed: str | None = None

    @property
    def ran(self) -> list[str]:
        return [s.name for s in self.steps if s.status == "done"]

    @property
    def skipped(self) -> list[str]:
        return [s.name for s in self.steps if s.status == "skipped"]


class Reporter:
    """What the pipeline tells its caller; the CLI prints these, tests record them."""

    def step(self, index: int, total: int, name: str, status: str, message: str = "") -> None:
        """A step started (status "running") or ended."""

    def progress(self, name: str) -> AbstractContextManager[Progress | None]:
        """A context giving a progress callback for a long step (None: no bar)."""
        return nullcontext(None)


# --- step bookkeeping in manifest.json --------------------------------------------------------
def _key(path: Path, run_dir: Path) -> str:
    try:
        return path.resolve().relative_to(run_dir.resolve()).as_posix()
    except ValueError:
        return str(path)


def _fingerprint(run_dir: Path, inputs: list[Path], config: dict[str, Any]) -> dict[str, Any]:
    missing = [p for p in inputs if not p.is_file()]
    if missing:
        raise UserError("input of this step is missing", path=missing[0])
    return {"inputs": {_key(p, run_dir): sha256_file(p) for p in inputs}, "config_hash": config_hash(config)}


def _steps(run_dir: Path) -> dict[str, Any]:
    return (read_manifest(run_dir).get("pipeline") or {}).get("steps") or {}


def _record(run_dir: Path, name: str, entry: dict[str, Any]) -> None:
    manifest = read_manifest(run_dir)
    pipe = manifest.setdefault("pipeline", {})
    pipe.setdefault("steps", {})[name] = entry
    pipe["updated"] = now()
    write_json_atomic(run_dir / MANIFEST, manifest)


def _outputs_intact(run_dir: Path, recorded: dict[str, str]) -> bool:
    for key, sha in recorded.items():
        path = Path(key) if Path(key).is_absolute() else run_dir / key
        if not path.is_file() or sha256_file(path) != sha:
            return False
    return True


def _set_aside(path: Path) -> Path | None:
    """Move a stale output out of the way (hidden, so pack skips it); nothing is deleted."""
    if not path.exists():
        return None
    dest = path.with_name(f".{path.name}.stale-{datetime.now().strftime('%Y%m%dT%H%M%S%f')}")
    path.replace(dest)
    return dest


@dataclass
class _Step:
    name: str
    inputs: list[Path]
    outputs: list[Path]
    config: dict[str, Any]
    action: Callable[[], dict[str, Any]]
    resumable: bool = False


def _run_step(run_dir: Path, step: _Step) -> tuple[str, str, dict[str, Any]]:
    """Run or skip one step; return (status, message, summary)."""
    fp = _fingerprint(run_dir, step.inputs, step.config)
    prev = _steps(run_dir).get(step.name) or {}
    if prev.get("fingerprint") == fp:
        if prev.get("status") == "done" and _outputs_intact(run_dir, prev.get("outputs") or {}):
            return "skipped", "inputs and config unchanged", prev.get("summary") or {}
    resume = step.resumable and prev.get("fingerprint") == fp and prev.get("status") == "running"
    moved = []
    if not resume:
        for out in step.outputs:
            for stale in (out, quarantine_path(out)):
                if (m := _set_aside(stale)) is not None:
                    moved.append(m.name)
    started = now()
    _record(run_dir, step.name, {"status": "running", "fingerprint": fp, "started": started})
    summary = step.action()
    outputs = {_key(p, run_dir): sha256_file(p) for p in step.outputs if p.is_file()}
    _record(run_dir, step.name, {"status": "done", "fingerprint": fp, "outputs": outputs, "started": started,
                                 "finished": now(), "summary": summary})
    message = "resumed" if resume else ("redone; stale output kept as " + ", ".join(moved) if moved else "")
    return "done", message, summary


# --- the pipeline -----------------------------------------------------------------------------
def load_pipeline_config(path: str | Path, *, run: Path | None = None, archive: Path | None = None
                         ) -> PipelineConfig:
    """Load the config; ``run``/``archive`` from the command line replace the config's source."""
    config = load_config(path, PipelineConfig)
    if run is not None and archive is not None:
        raise UserError("give --run or --archive, not both")
    if run is not None or archive is not None:
        config = PipelineConfig.model_validate({**config.model_dump(), "run": run, "archive": archive})
    return config


def _unpack(config: PipelineConfig, reporter: Reporter) -> tuple[Path, StepOutcome]:
    from lam3.pipeline.transfer import read_index, unpack, verify_archive_sidecar

    t0 = time.perf_counter()
    archive = config.archive
    assert archive is not None
    if not archive.is_file():
        raise UserError("archive not found", path=archive)
    verify_archive_sidecar(archive)
    index = read_index(archive)
    run_dir = config.runs_root / index.run
    fp = {"inputs": {"archive": sha256_file(archive)}, "config_hash": config_hash({"runs_root": str(config.runs_root)})}
    prev = _steps(run_dir).get("unpack") or {} if run_dir.is_dir() else {}
    if prev.get("fingerprint") == fp and prev.get("status") == "done":
        return run_dir, StepOutcome("unpack", "skipped", "archive unchanged", time.perf_counter() - t0)
    same = run_dir.is_dir() and all((run_dir / rel).is_file() and sha256_file(run_dir / rel) == e.sha256
                                    for rel, e in index.files.items() if rel != MANIFEST)
    if same:
        message = f"{run_dir} already holds this archive's files"
    else:
        result = unpack(archive, config.runs_root, replace=True)
        message = f"{result.files} files verified" + (f"; previous folder kept as {result.replaced}"
                                                       if result.replaced else "")
    _record(run_dir, "unpack", {"status": "done", "fingerprint": fp, "outputs": {}, "finished": now(),
                                "summary": {"archive": str(archive)}})
    return run_dir, StepOutcome("unpack", "done", message, time.perf_counter() - t0)


def run_pipeline(config: PipelineConfig, *,
                 reporter: Reporter | None = None) -> PipelineResult:
    """Run every configured step in order, skipping the finished ones (see module docstring)."""
    reporter = reporter or Reporter()
    names = (["unpack"] if config.archive else []) + [f"score:{s.name}" for s in config.score] \
        + (["fuse"] if config.fuse else []) + (["report"] if config.report else []) \
        + (["pack"] if config.pack else []) + (["push"] if config.push else [])
    total = len(names)
    outcomes: list[StepOutcome] = []

    def announce(o: StepOutcome) -> None:
        outcomes.append(o)
        reporter.step(len(outcomes), total, o.name, o.status, o.message)

    if config.archive:
        reporter.step(1, total, "unpack", "running")
        run_dir, outcome = _unpack(config, reporter)
        announce(outcome)
    else:
        assert config.run is not None
        run_dir = RunDir.open(config.run).path
    run = RunDir.open(run_dir)
    if not run.responses.is_file():
        raise UserError(f"the run has no {RESPONSES} (run `lam3 generate` first)", path=run.path)
    result = PipelineResult(run_dir=run.path)

    def do(step: _Step) -> None:
        reporter.step(len(outcomes) + 1, total, step.name, "running")
        t0 = time.perf_counter()
        status, message, _ = _run_step(run.path, step)
        announce(StepOutcome(step.name, status, message, time.perf_counter() - t0))

    scored: list[Path] = []
    for s in config.score:
        out = run.path / scored_name(s.name)
        scored.append(out)
        do(_Step(f"score:{s.name}", [run.responses, s.config], [out],
                 {"name": s.name, "config": str(s.config)}, _score_action(run.responses, s.config, out, reporter,
                                                                          f"score:{s.name}"), resumable=True))
    if config.fuse:
        from lam3.pipeline.fuse import fuse_files

        fcfg = config.fuse.config
        stem = run.fused.name.removesuffix(".jsonl")
        review = [run.fused.with_name(stem + ".review.jsonl"), run.fused.with_name(stem + ".review.csv")]

        def fuse_action() -> dict[str, Any]:
            with reporter.progress("fuse") as update:
                summary = fuse_files(list(scored), fcfg, run.fused, progress=update)
            return summary.as_dict()

        do(_Step("fuse", [*scored, fcfg], [run.fused, *review],
                 {"config": str(fcfg)}, fuse_action, resumable=True))
    if config.report:
        from lam3.report.html import write_html_report

        inputs = [run.responses, *scored] + ([run.fused] if run.fused.is_file() else [])

        def report_action() -> dict[str, Any]:
            rep = write_html_report([run.path], run.report_html)
            return {"plots": rep.plots, "notes": rep.notes}

        do(_Step("report", inputs, [run.report_html], {"html": REPORT_HTML, "fused": run.fused.is_file()},
                 report_action))
    if config.pack:
        result.archive = _pack_step(config, run, reporter, announce, total, len(outcomes))
    if config.push and result.archive:
        result.pushed = _push_step(config.push, result.archive, run, reporter, announce, total, len(outcomes))
    result.steps = outcomes
    return result


def _score_action(responses: Path, cfg: Path, out: Path, reporter: Reporter, name: str
                  ) -> Callable[[], dict[str, Any]]:
    def action() -> dict[str, Any]:
        from lam3.pipeline.score import score_file

        with reporter.progress(name) as update:
            summary = score_file(responses, cfg, out, progress=update)
        return summary.as_dict()

    return action


def _pack_step(config: PipelineConfig, run: RunDir, reporter: Reporter, announce: Callable[[StepOutcome], None],
               total: int, done: int) -> Path:
    """Pack everything but the manifest's own pipeline bookkeeping (which records this step)."""
    from lam3.pipeline.transfer import pack

    out = config.pack_out or (run.path.parent / f"{run.name}.results.tar.gz")
    inputs = [p for p in run.files() if p.name != MANIFEST]
    reporter.step(done + 1, total, "pack", "running")
    t0 = time.perf_counter()
    fp = _fingerprint(run.path, inputs, {"out": str(out)})
    prev = _steps(run.path).get("pack") or {}
    if prev.get("fingerprint") == fp and prev.get("status") == "done" and \
            _outputs_intact(run.path, prev.get("outputs") or {}):
        announce(StepOutcome("pack", "skipped", "run files unchanged", time.perf_counter() - t0))
        return out
    with reporter.progress("pack") as update:
        packed = pack(run.path, out, progress=update)
    _record(run.path, "pack", {"status": "done", "fingerprint": fp, "outputs": {str(out.resolve()): packed.sha256},
                               "finished": now(), "summary": {"files": packed.files, "bytes": packed.bytes}})
    announce(StepOutcome("pack", "done", f"{out} ({packed.files} files)", time.perf_counter() - t0))
    return out


def _push_step(url: str, archive: Path, run: RunDir, reporter: Reporter, announce: Callable[[StepOutcome], None],
               total: int, done: int) -> str:
    from lam3.pipeline.transfer import display_url, push, remote_has

    reporter.step(done + 1, total, "push", "running")
    t0 = time.perf_counter()
    fp = _fingerprint(run.path, [archive], {"url": url})
    prev = _steps(run.path).get("push") or {}
    sha = fp["inputs"][_key(archive, run.path)]
    if prev.get("fingerprint") == fp and prev.get("status") == "done" and remote_has(url, archive.name, sha):
        announce(StepOutcome("push", "skipped", "already at " + display_url(url), time.perf_counter() - t0))
        return prev.get("summary", {}).get("remote", url)
    with reporter.progress("push") as update:
        pushed = push(archive, url, progress=update)
    _record(run.path, "push", {"status": "done", "fingerprint": fp, "outputs": {}, "finished": now(),
                               "summary": {"remote": display_url(pushed.remote), "sha256": pushed.sha256}})
    announce(StepOutcome("push", "done", display_url(pushed.remote), time.perf_counter() - t0))
    return pushed.remote
