"""Issue 19 point 3: `lam3 --version` names the package version, the commit of the checkout it runs from, and the
records schema version."""

from __future__ import annotations

import shutil
import subprocess
from importlib.metadata import version
from pathlib import Path

from cli_tables import REPO, lam3

import lam3 as package
from lam3.manifest import MANIFEST_VERSION
from lam3.records import SCHEMA_VERSION


def git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout.strip()


def test_version_from_the_checkout(tmp_path: Path) -> None:
    proc = lam3("--version", cwd=tmp_path)  # the commit is LAM3's checkout's, wherever the command runs
    assert proc.returncode == 0, proc.stderr
    commit, branch = git("rev-parse", "HEAD", cwd=REPO), git("rev-parse", "--abbrev-ref", "HEAD", cwd=REPO)
    state = "uncommitted changes" if git("status", "--porcelain", "--untracked-files=no", cwd=REPO) else "clean"
    assert version("lam3") == package.__version__  # pyproject.toml reads the one version
    assert proc.stdout.splitlines() == [f"lam3 {package.__version__}", f"commit: {commit} (branch {branch}, {state})",
                                        f"records schema version: {SCHEMA_VERSION}",
                                        f"manifest version: {MANIFEST_VERSION}"]


def test_version_installed_inside_another_repository_names_no_commit(tmp_path: Path) -> None:
    """A venv inside a lab's own repository: that repository's commit is not LAM3's."""
    project = tmp_path / "lab-project"
    project.mkdir()
    git("init", "-q", cwd=project)
    (project / ".gitignore").write_text(".venv/\n")
    git("add", ".gitignore", cwd=project)
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "lab", cwd=project)
    site = project / ".venv" / "site"
    shutil.copytree(REPO / "src" / "lam3", site / "lam3", ignore=shutil.ignore_patterns("__pycache__"))
    proc = lam3("--version", env={"PYTHONPATH": str(site)}, cwd=project)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[1] == "commit: – (not run from a git checkout of LAM3)"
    assert f"records schema version: {SCHEMA_VERSION}" in proc.stdout
