"""A judge that sends images off the machine never sends a file outside the run folder (issue 18).

``lam3 score`` with ``openai_moderation`` against the local fake OpenAI server, on a run whose records
name an image inside the run, one through ``..``, one by absolute path and one through a symbolic
link to the same outside file: the server must never receive that file's bytes, unless the user
allows its folder with ``--allow-image-root``.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import yaml
from PIL import Image
from remote_helpers import OPENAI_KEY

FAST = {"requests_per_second": 40, "max_concurrency": 4, "backoff_initial_s": 0.02, "backoff_max_s": 0.1,
        "timeout_s": 5, "max_attempts": 1}


def _lam3(*args: object) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OPENAI_API_KEY": OPENAI_KEY, "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "lam3", *map(str, args)], capture_output=True, text=True, env=env,
                          timeout=180)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_outside_images_are_never_sent_unless_their_folder_is_allowed(fake_server, tmp_path: Path) -> None:
    run, outside = tmp_path / "run", tmp_path / "outside"
    (run / "images").mkdir(parents=True)
    outside.mkdir()
    Image.new("RGB", (6, 6), (10, 200, 10)).save(run / "images" / "ok.png")
    secret = outside / "secret.png"
    Image.new("RGB", (6, 6), (200, 10, 10)).save(secret)
    (run / "images" / "link.png").symlink_to(secret)
    refs = {"ok": "images/ok.png", "dotdot": "../outside/secret.png", "absolute": str(secret),
            "symlink": "images/link.png"}
    inp = run / "response.jsonl"
    inp.write_text("".join(json.dumps({"id": rid, "prompt": "p", "response": "a calm picture", "images": [ref]})
                           + "\n" for rid, ref in refs.items()))
    server = fake_server()
    config = tmp_path / "openai.yaml"
    config.write_text(yaml.safe_dump({"judges": [{"judge": "openai_moderation", "base_url": server.url + "/v1",
                                                  **FAST}]}))
    out = run / "scored.jsonl"

    first = _lam3("score", inp, "-c", config, "-o", out)
    assert first.returncode == 0, first.stderr
    sent = {d for hit in server.hits for d in hit.images}
    assert sent == {_sha(run / "images" / "ok.png")} and _sha(secret) not in sent
    judged = {r["id"]: r["judgements"]["openai_moderation"] for r in map(json.loads, out.read_text().splitlines())}
    assert judged["ok"]["error"] is None
    for line, (rid, why) in enumerate([("dotdot", "leads outside the run folder"),
                                       ("absolute", "is an absolute path outside the run folder"),
                                       ("symlink", "lies outside the run folder")], start=2):
        error = judged[rid]["error"]
        assert error.startswith(f"image_refused: {inp}:{line}: images[0]: {refs[rid]!r} "), error
        assert why in error and error.endswith("; not sent")

    allowed = _lam3("score", inp, "-c", config, "-o", out, "--retry-errors", "--allow-image-root", outside)
    assert allowed.returncode == 0, allowed.stderr
    judged = {r["id"]: r["judgements"]["openai_moderation"] for r in map(json.loads, out.read_text().splitlines())}
    assert all(j["error"] is None for j in judged.values())
    assert [d for hit in server.hits for d in hit.images].count(_sha(secret)) == 3  # now sent, once per record
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["stages"]["score:scored.jsonl"]["config"]["allow_image_roots"] == [str(outside.resolve())]
