"""Lay a saved tiny checkpoint out as the Hugging Face hub cache holds a repo, so hub ids,
``revision`` (branches, tags, commits) and ``cache_dir`` go through transformers' real cache lookup."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path


def build_hub_cache(cache_dir: Path, repo_id: str, source: Path, *, commit: str | None = None,
                    refs: tuple[str, ...] = ("main",)) -> str:
    """Copy ``source`` to ``snapshots/<commit>/`` and point each ref at it; return the commit id."""
    commit = commit or hashlib.sha1(repo_id.encode()).hexdigest()
    repo = Path(cache_dir) / ("models--" + repo_id.replace("/", "--"))
    shutil.copytree(source, repo / "snapshots" / commit, dirs_exist_ok=True)
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    for ref in refs:
        (repo / "refs" / ref).write_text(commit, encoding="utf-8")
    return commit
