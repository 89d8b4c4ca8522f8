"""The HTML report on a run whose records name images outside it: no outside file ends up in the page.

The report embeds only its own plots (``data:image/png``); a record's image paths (``..``, absolute,
a symbolic link out) are never read into it nor turned into an ``<img>`` that a browser would fetch.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

from PIL import Image
from report_fixtures import build_run

from lam3.report.html import write_html_report


def test_a_report_never_embeds_or_links_an_image_outside_the_run(tmp_path: Path) -> None:
    run = build_run(tmp_path / "runs")
    secret = tmp_path / "secret.png"
    Image.new("RGB", (8, 8), (123, 45, 67)).save(secret)
    (run / "images").mkdir()
    (run / "images" / "link.png").symlink_to(secret)
    hostile = ["../../secret.png", str(secret), "images/link.png"]
    for name in ("response.jsonl", "fused.jsonl"):
        rows = [json.loads(line) for line in (run / name).read_text().splitlines()]
        for i, row in enumerate(rows):
            row["images"] = [hostile[i % len(hostile)]]
        (run / name).write_text("".join(json.dumps(r) + "\n" for r in rows))
    html = write_html_report([run]).path.read_text(encoding="utf-8")
    assert base64.b64encode(secret.read_bytes()).decode() not in html
    sources = re.findall(r'<img[^>]*\ssrc="([^"]*)"', html)
    assert sources and all(src.startswith("data:image/png;base64,") for src in sources)
    assert not any(ref in src for src in sources for ref in hostile)
