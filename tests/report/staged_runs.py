"""Run directories made by the real stages (lam3 score → lam3 fuse → lam3 asr --json → lam3 report html),
and a reader of the report's HTML (the standard library's parser, as a browser would tokenise it).

- ``mb``: the mini bench (88 labelled responses, clean and figstep on different samples, so no pair),
  offline judges, the shipped judge cards (they apply: same judges, configs and ensemble).
- ``pair``: synthetic responses (:mod:`lam3.testing.synthetic`: each sample answered under clean and
  figstep), two hostile records, scored with a second success judge; the fused jailbreak_success and
  that judge then differ from the cards (shown as not applying).
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from lam3.bench.mini_bench import responses_path
from lam3.testing.synthetic import iter_responses

REPO = Path(__file__).resolve().parents[2]
CONFIGS = Path(__file__).parent / "configs"
CARDS = sorted((REPO / "data" / "cards").glob("*.json"))
LONG_TAIL = "harmless placeholder text. " * 40
HOSTILE = "<script>window.__lam3_pwned=1</script><img src=x onerror=\"window.__lam3_pwned=2\">"
HOSTILE_BEHAVIOR = "<b onmouseover=\"window.__lam3_pwned=3\">placeholder behaviour</b>"


def lam3(*args: str | Path, cwd: Path) -> str:
    proc = subprocess.run([sys.executable, "-m", "lam3", *map(str, args)], capture_output=True, text=True,
                          timeout=240, cwd=cwd)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def hostile_records() -> list[dict[str, Any]]:
    """One sample answered under both attacks with script and event-handler payloads (placeholder text only)."""
    base = json.loads(responses_path().read_text(encoding="utf-8").splitlines()[0])
    return [{**base, "id": "hostile.figstep", "sample_id": "hostile", "attack": "figstep",
             "behavior": HOSTILE_BEHAVIOR, "response": HOSTILE + " " + LONG_TAIL},
            {**base, "id": "hostile.clean", "sample_id": "hostile", "attack": "clean",
             "response": "I cannot help with that. " + HOSTILE}]


def stage_mb(run: Path) -> Path:
    run.mkdir(parents=True)
    lam3("score", responses_path(), "-c", REPO / "configs" / "offline.yaml", "-o", run / "offline_scored.jsonl",
         cwd=run)
    lam3("fuse", run / "offline_scored.jsonl", "-c", REPO / "configs" / "ensemble.yaml", "-o", run / "fused.jsonl",
         *[a for c in CARDS for a in ("--judge-card", c)], cwd=run)
    lam3("asr", run / "fused.jsonl", "--by", "model_id,category,attack", "--json", run / "asr.json", cwd=run)
    lam3("report", "html", run, cwd=run)
    return run


def stage_pair(run: Path) -> Path:
    """One response per sample and attack (so every pair is binary and McNemar's p-value is defined)."""
    run.mkdir(parents=True)
    with open(run / "response.jsonl", "w", encoding="utf-8") as fh:
        for rec in [*iter_responses(132), *hostile_records()]:
            fh.write(json.dumps({**rec, "sample_id": rec["id"].rsplit(".", 1)[0]}) + "\n")
    lam3("score", run / "response.jsonl", "-c", CONFIGS / "score_two_success_judges.yaml", "-o",
         run / "offline_scored.jsonl", cwd=run)
    lam3("fuse", run / "offline_scored.jsonl", "-c", CONFIGS / "ensemble_two_success_judges.yaml", "-o",
         run / "fused.jsonl", *[a for c in CARDS for a in ("--judge-card", c)], cwd=run)
    lam3("asr", run / "fused.jsonl", "--by", "model_id,category,attack", "--json", run / "asr.json", cwd=run)
    lam3("asr", run / "fused.jsonl", "--by", "model_id,attack", "--paired", "figstep,clean", "--json",
         run / "paired.json", cwd=run)
    lam3("report", "html", run, cwd=run)
    return run


def fused_lines(run: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run / "fused.jsonl").read_text(encoding="utf-8").splitlines()]


def pct(x: float | None) -> str:
    """The report's percentage (one decimal; — for none), to compare `lam3 asr --json` numbers with the page."""
    return "—" if x is None else f"{100 * x:.1f}%"


@dataclass
class Element:
    tag: str
    attrs: dict[str, str | None]
    section: str | None


@dataclass
class Page(HTMLParser):
    """Every element, and per <section id> its tables (rows of cell texts), headings and images."""

    elements: list[Element] = field(default_factory=list)
    tables: dict[str, list[list[list[str]]]] = field(default_factory=dict)
    headings: dict[str, list[str]] = field(default_factory=dict)
    images: dict[str, list[dict[str, str | None]]] = field(default_factory=dict)
    texts: dict[str, list[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self._section: str | None = None
        self._cell: list[str] | None = None
        self._heading: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "section":
            self._section = a.get("id")
        self.elements.append(Element(tag, a, self._section))
        sec = self._section or ""
        if tag == "table":
            self.tables.setdefault(sec, []).append([])
        elif tag == "tr" and self.tables.get(sec):
            self.tables[sec][-1].append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag in ("h3", "h4"):
            self._heading = []
        elif tag == "img":
            self.images.setdefault(sec, []).append(a)
        elif tag == "br" and self._cell is not None:
            self._cell.append("\n")  # a line break separates words, as on the screen

    def handle_endtag(self, tag: str) -> None:
        sec = self._section or ""
        if tag == "section":
            self._section = None
        elif tag in ("td", "th") and self._cell is not None:
            self.tables[sec][-1][-1].append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag in ("h3", "h4") and self._heading is not None:
            self.headings.setdefault(sec, []).append(" ".join("".join(self._heading).split()))
            self._heading = None

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        if self._heading is not None:
            self._heading.append(data)
        self.texts.setdefault(self._section or "", []).append(data)

    def rows(self, section: str, index: int = 0) -> list[dict[str, str]]:
        """Table ``index`` of ``section`` as dicts keyed by its header row."""
        table = self.tables[section][index]
        header = table[0]
        return [dict(zip(header, row)) for row in table[1:]]

    def text(self, section: str) -> str:
        return " ".join(" ".join(self.texts.get(section, [])).split())


def parse(path: Path) -> Page:
    page = Page()
    page.feed(path.read_text(encoding="utf-8"))
    page.close()
    return page
