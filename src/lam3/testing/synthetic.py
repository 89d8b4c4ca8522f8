"""Larger response files derived from the mini benchmark, for viewer tests and benchmarks.

``lam3 score`` and ``lam3 fuse`` then run on them for real, so a fixture of 1 000 or
100 000 fused responses is what the stages write, not a hand-made imitation. Each
synthetic sample is answered under several attacks (``clean`` and ``figstep`` by default),
so a run can be compared attack against attack by ``sample_id``. Texts are the mini
benchmark's (already redacted) responses plus a sentence of harmless words picked by a
seeded generator, so that full-text search has words that only some responses contain.

    python -m lam3.testing.synthetic OUT.jsonl --n 1000 [--images-to RUN]
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from lam3.bench.mini_bench import bench_dir, responses_path
from lam3.store import iter_jsonl

WORDS = ("lighthouse", "tangerine", "orchard", "harbour", "violet", "meadow", "compass", "lantern", "pebble",
         "glacier", "sparrow", "cobalt", "walnut", "saffron", "quartz", "juniper", "marble", "willow")
MODELS = ("example/handwritten", "example/paraphrased")


def _bench_responses(bench: Path | None) -> list[dict[str, Any]]:
    return [rec for _, rec in iter_jsonl(responses_path(bench))]


def iter_responses(n: int, *, attacks: Sequence[str] = ("clean", "figstep"), seed: int = 0,
                   bench: Path | None = None) -> Iterator[dict[str, Any]]:
    """``n`` Response records: sample ``k`` is answered once under each of ``attacks``.

    The clean answer reuses a refusal of the same category when the mini benchmark has one
    (so attacks visibly change verdicts); the attacked answer reuses the base response.
    """
    base = _bench_responses(bench)
    refusals: dict[str, list[dict[str, Any]]] = {}
    for rec in base:
        if (rec.get("labels") or {}).get("refusal"):
            refusals.setdefault(rec["category"], []).append(rec)
    rng = random.Random(seed)
    for i in range(n):
        k, a = divmod(i, len(attacks))
        attack, src, copy = attacks[a], base[k % len(base)], k // len(base)
        pool = refusals.get(src["category"]) or [src]
        text = (pool[k % len(pool)] if attack == "clean" else src)["response"]
        words = " ".join(rng.choice(WORDS) for _ in range(3))
        yield {**src, "id": f"{src['id']}.{copy}.{attack}", "sample_id": f"{src['sample_id']}.{copy}",
               "attack": attack, "model_id": MODELS[copy % len(MODELS)],
               "response": f"{text} (Note {i}: {words}.)"}


def write_responses(out: str | Path, n: int, *, attacks: Sequence[str] = ("clean", "figstep"), seed: int = 0,
                    extra: Sequence[dict[str, Any]] = (), bench: Path | None = None) -> Path:
    """Write ``n`` synthetic responses (then ``extra`` records, e.g. hostile test payloads) to ``out``."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", encoding="utf-8") as fh:
        for rec in iter_responses(n, attacks=attacks, seed=seed, bench=bench):
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
        for rec in extra:
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
    return out


def replicate_fused(fused: str | Path, n: int) -> None:
    """Rewrite ``fused`` as ``n`` lines: its own lines again and again, with new ids and sample ids.

    For benchmarks at 100 000 responses that run the real score and fuse stages on a hundredth of them.
    """
    path = Path(fused)
    lines = path.read_text(encoding="utf-8").splitlines()
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(n):
            rec = json.loads(lines[i % len(lines)])
            copy = i // len(lines)
            rec["id"], rec["sample_id"] = f"{rec['id']}~{copy}", f"{rec['sample_id']}~{copy}"
            fh.write(json.dumps(rec, separators=(",", ":")) + "\n")


def copy_images(run: str | Path, bench: Path | None = None) -> Path:
    """Copy the mini benchmark's images into ``run/images`` (records name them ``images/…``)."""
    dest = Path(run) / "images"
    shutil.copytree((bench or bench_dir()) / "images", dest, dirs_exist_ok=True)
    return dest


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--attacks", default="clean,figstep")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--images-to", type=Path, help="also copy the images into this run directory")
    args = parser.parse_args(argv)
    write_responses(args.out, args.n, attacks=args.attacks.split(","), seed=args.seed)
    if args.images_to:
        copy_images(args.images_to)


if __name__ == "__main__":
    main()
