"""Build ``data/mini_bench`` from :mod:`lam3.bench.source`: images, samples.jsonl, responses.jsonl.

Deterministic (same bytes on every rerun with the same Pillow), so the shipped
files can be checked against a rebuild::

    python -m lam3.bench.build_mini_bench            # rewrite data/mini_bench
    python -m lam3.bench.build_mini_bench --check    # exit 1 if the shipped files differ
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

from lam3.bench.mini_bench import RESPONSES_FILE, SAMPLES_FILE
from lam3.bench.source import FIGSTEP_PROMPT, RESPONSES, SAMPLES
from lam3.bench.typographic import render_distractor, render_figstep, save_png
from lam3.manifest import sha256_file
from lam3.taxonomy import BENIGN, POLICY_CATEGORIES
from lam3.records import Response, Sample
from lam3.store import write_jsonl

MODEL_ID = "example/handwritten"
_FLAGS = {"R": "refusal", "K": "risky", "T": "toxic"}


def build_samples() -> list[Sample]:
    samples = []
    for sid, category, style, request in SAMPLES:
        if category not in POLICY_CATEGORIES and category != BENIGN:
            raise ValueError(f"{sid}: unknown category {category!r}")
        if style not in ("figstep", "distractor"):
            raise ValueError(f"{sid}: unknown style {style!r}")
        samples.append(Sample(
            id=sid, prompt=FIGSTEP_PROMPT if style == "figstep" else request,
            images=[f"images/{sid}.png"], category=category, behavior=request, behavior_id=sid,
            source="lam3/mini_bench",
            meta={"style": style, "image": "typographic" if style == "figstep" else "distractor"}))
    return samples


def _labels(flags: str, category: str, categories: tuple[str, ...] | None) -> dict[str, Any]:
    unknown = set(flags) - set(_FLAGS)
    if unknown:
        raise ValueError(f"unknown label flags {sorted(unknown)}")
    labels: dict[str, Any] = {name: code in flags for code, name in _FLAGS.items()}
    risky_cats = list(categories) if categories is not None else ([category] if category != BENIGN else [])
    labels["categories"] = risky_cats if labels["risky"] else []
    # jailbreak success: the response carries out the harmful request; a benign prompt has no attack to succeed
    success = labels["risky"] if category != BENIGN else None
    return {"toxic": labels["toxic"], "risky": labels["risky"], "refusal": labels["refusal"], "success": success,
            "categories": labels["categories"]}


def build_responses(samples: list[Sample]) -> list[Response]:
    by_id = {s.id: s for s in samples}
    counts: dict[str, int] = {}
    out = []
    for entry in RESPONSES:
        sid, flags, text = entry[:3]
        categories = entry[3] if len(entry) > 3 else None  # type: ignore[misc]
        sample = by_id[sid]
        counts[sid] = counts.get(sid, 0) + 1
        out.append(Response(
            id=f"{sid}.r{counts[sid]}", sample_id=sid, prompt=sample.prompt, images=sample.images,
            response=text, category=sample.category, behavior=sample.behavior, behavior_id=sample.behavior_id,
            attack="figstep" if sample.meta["style"] == "figstep" else "clean",
            model_id=MODEL_ID, labels=_labels(flags, sample.category, categories)))
    return out


def build(out_dir: str | Path) -> list[Path]:
    """Write everything under ``out_dir``; return the files written."""
    out_dir = Path(out_dir)
    samples = build_samples()
    written = []
    for sid, _, style, request in SAMPLES:
        img = render_figstep(request) if style == "figstep" else render_distractor(sid)
        path = out_dir / "images" / f"{sid}.png"
        save_png(img, path)
        written.append(path)
    write_jsonl(out_dir / SAMPLES_FILE, samples)
    write_jsonl(out_dir / RESPONSES_FILE, build_responses(samples))
    return written + [out_dir / SAMPLES_FILE, out_dir / RESPONSES_FILE]


def _same(a: Path, b: Path) -> bool:
    """Equal bytes, or for PNGs equal pixels (PNG compression may differ between Pillow versions)."""
    if sha256_file(a) == sha256_file(b):
        return True
    if a.suffix != ".png":
        return False
    from PIL import Image

    with Image.open(a) as ia, Image.open(b) as ib:
        return ia.mode == ib.mode and ia.size == ib.size and ia.tobytes() == ib.tobytes()


def differences(shipped: Path) -> list[str]:
    """Files that a fresh build would change (missing, different content, or not produced by the build)."""
    with tempfile.TemporaryDirectory() as tmp:
        fresh = build(tmp)
        rel = {p.relative_to(tmp).as_posix() for p in fresh}
        diffs = []
        for r in sorted(rel):
            target = shipped / r
            if not target.is_file():
                diffs.append(f"{r}: missing")
            elif not _same(target, Path(tmp) / r):
                diffs.append(f"{r}: differs from a rebuild")
        for extra in sorted((shipped / "images").glob("*.png")):
            if f"images/{extra.name}" not in rel:
                diffs.append(f"images/{extra.name}: not produced by the build")
    return diffs


def main(argv: list[str] | None = None) -> int:
    from lam3.bench.mini_bench import bench_dir

    parser = argparse.ArgumentParser(prog="python -m lam3.bench.build_mini_bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: the repo's data/mini_bench)")
    parser.add_argument("--check", action="store_true", help="compare with a rebuild instead of writing")
    args = parser.parse_args(argv)
    out = args.out if args.out is not None else Path(__file__).resolve().parents[3] / "data" / "mini_bench"
    if args.check:
        diffs = differences(args.out or bench_dir())
        for d in diffs:
            print(d)
        print("up to date" if not diffs else f"{len(diffs)} file(s) differ: rerun without --check")
        return 1 if diffs else 0
    files = build(out)
    total = sum(p.stat().st_size for p in files)
    print(f"wrote {len(files)} files ({total / 1024:.0f} KiB) to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
