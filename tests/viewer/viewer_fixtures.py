"""Runs for the viewer tests, made by the real stages: synthetic responses → ``lam3 score`` → ``lam3 fuse``.

The 1 000 responses come from :mod:`lam3.testing.synthetic` (the mini benchmark's redacted texts);
a few hostile ones are added before scoring (script payloads, a huge response, image paths that
try to leave the run). Only the *damaged* run is edited by hand afterwards: it is a copy of the
fused file with unreadable lines appended, which no stage would write (that is the point).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from lam3.testing.synthetic import copy_images, write_responses

HERE = Path(__file__).parent
SCORE_CONFIG = HERE / "score_two_risk_judges.yaml"
ENSEMBLE_CONFIG = HERE / "ensemble_human_review.yaml"
N = 1000
XSS = ('<script>window.__lam3_pwned=1</script><img src=x onerror="window.__lam3_pwned=2">'
       '<svg onload="window.__lam3_pwned=3"></svg>')
HUGE_CHARS = 1_500_000


def lam3(*args: str | Path) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, "-m", "lam3", *map(str, args)], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc


def hostile_records(outside: Path) -> list[dict]:
    """Responses that try to break the page: markup in every text field, a huge text, escaping image paths."""
    base = {"prompt": "Describe the image.", "model_id": "example/handwritten", "attack": "clean",
            "behavior": "Describe the image.", "behavior_id": "hostile", "images": []}
    return [
        {**base, "id": "xss-1", "sample_id": "hostile-xss", "category": "S10<b>bold</b>",
         "response": "Harmless placeholder text. " + XSS, "behavior": "Placeholder behaviour " + XSS,
         "images": ["images/mb-benign-01.png"]},
        {**base, "id": "huge-1", "sample_id": "hostile-huge", "category": "benign",
         "response": "start of a very long answer " + "lorem " * (HUGE_CHARS // 6) + "end of the answer"},
        {**base, "id": "escape-dotdot", "sample_id": "hostile-img", "category": "benign",
         "response": "Image path with dots.", "images": ["../" + outside.name]},
        {**base, "id": "escape-absolute", "sample_id": "hostile-img", "category": "benign",
         "response": "Absolute image path.", "images": [str(outside)]},
        {**base, "id": "escape-symlink", "sample_id": "hostile-img", "category": "benign",
         "response": "Image through a symbolic link.", "images": ["images/escape.png"]},
    ]


def build_run(root: Path, name: str = "run1k", n: int = N) -> Path:
    """``root/name``: n synthetic + the hostile responses, scored and fused by the real CLI."""
    run = root / name
    run.mkdir(parents=True)
    copy_images(run)
    outside = root / f"{name}-outside.png"
    shutil.copy(run / "images" / "mb-benign-02.png", outside)
    (run / "images" / "escape.png").symlink_to(outside)
    write_responses(run / "response.jsonl", n, extra=hostile_records(outside))
    lam3("score", run / "response.jsonl", "-c", SCORE_CONFIG, "-o", run / "offline_scored.jsonl")
    lam3("fuse", run / "offline_scored.jsonl", "-c", ENSEMBLE_CONFIG, "-o", run / "fused.jsonl")
    return run


DAMAGED_LINES = [
    b"{not json\n",
    b"[1, 2, 3]\n",
    b'{"schema_version": 2, "policy_risk": {"score": 0.5}}\n',
    b'{"schema_version": 2, "id": "bad-metric", "policy_risk": {"score": "high"}}\n',
    b'{"schema_version": 2, "id": "nan-score", "policy_risk": {"score": NaN}}\n',
    b'{"id": "too-deep", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}\n",
]


def build_damaged(root: Path, source: Path, name: str = "damaged") -> Path:
    """A run whose fused.jsonl is ``source``'s first 50 lines, a repeated id, bad lines, and a torn tail."""
    run = root / name
    run.mkdir(parents=True)
    lines = source.read_bytes().splitlines(keepends=True)[:50]
    (run / "fused.jsonl").write_bytes(b"".join(lines) + lines[0] + b"".join(DAMAGED_LINES) + b'{"id": "torn"')
    return run


def copy_run(run: Path, dest: Path) -> Path:
    """A private copy (a test that writes reviews or re-fuses must not change the shared run)."""
    shutil.copytree(run, dest, symlinks=True)
    return dest


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
