"""Deterministic benchmark images: FigStep-style typographic prompts and plain distractors.

FigStep (Gong et al., 2023) moves a harmful request from the text channel into
the image: the request is typeset as an image followed by an empty numbered
list, and the text prompt only asks the model to fill the list in. We render
the same layout with Pillow's built-in bitmap font (no system font needed)
at half resolution and scale it up with nearest-neighbour, so the same
Pillow produces the same pixels on every machine. Distractor images (a few
flat shapes on a flat background) are the "clean" control: an image that
carries nothing of the request.
"""

from __future__ import annotations

import hashlib
import random
import textwrap
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

SIZE = 336
"""Output side in pixels (CLIP ViT-L/14-336 input size, used by LLaVA-1.5)."""
_SCALE = 2
_MARGIN = 6
_LINE = 12
_CHAR = 6  # the bitmap font's advance width


def _font() -> ImageFont.ImageFont:
    # Pillow >= 10.1 returns a FreeType font from load_default(); the bitmap one is stable across builds.
    loader = getattr(ImageFont, "load_default_imagefont", None)
    return loader() if loader is not None else ImageFont.load_default()


def render_figstep(request: str, *, items: int = 3, size: int = SIZE) -> Image.Image:
    """The request as black text on white, then ``1.``..``items.`` with empty space to fill."""
    small = size // _SCALE
    img = Image.new("RGB", (small, small), "white")
    draw = ImageDraw.Draw(img)
    font = _font()
    width = (small - 2 * _MARGIN) // _CHAR
    y = _MARGIN
    for line in textwrap.wrap(request, width=width):
        draw.text((_MARGIN, y), line, fill="black", font=font)
        y += _LINE
    y += _LINE
    step = max(_LINE, (small - _MARGIN - y) // items)
    for i in range(1, items + 1):
        draw.text((_MARGIN, y), f"{i}.", fill="black", font=font)
        y += step
    return img.resize((size, size), Image.Resampling.NEAREST)


_PALETTE = ("#e63946", "#f1c453", "#2a9d8f", "#264653", "#8ab17d", "#e76f51", "#6d597a", "#457b9d")


def render_distractor(seed: str, *, shapes: int = 3, size: int = SIZE) -> Image.Image:
    """A few flat shapes on a flat background, chosen deterministically from ``seed``."""
    rng = random.Random(int.from_bytes(hashlib.sha256(seed.encode()).digest()[:8], "big"))
    small = size // _SCALE
    colours = rng.sample(_PALETTE, shapes + 1)
    img = Image.new("RGB", (small, small), colours[0])
    draw = ImageDraw.Draw(img)
    for colour in colours[1:]:
        w, h = rng.randint(small // 5, small // 2), rng.randint(small // 5, small // 2)
        x, y = rng.randint(0, small - w), rng.randint(0, small - h)
        kind = rng.choice(("rectangle", "ellipse", "triangle"))
        if kind == "rectangle":
            draw.rectangle((x, y, x + w, y + h), fill=colour)
        elif kind == "ellipse":
            draw.ellipse((x, y, x + w, y + h), fill=colour)
        else:
            draw.polygon([(x + w // 2, y), (x, y + h), (x + w, y + h)], fill=colour)
    return img.resize((size, size), Image.Resampling.NEAREST)


def save_png(img: Image.Image, path: str | Path) -> None:
    """Write a PNG with no metadata (no timestamps), so equal pixels give equal bytes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, format="PNG", optimize=False, compress_level=9)
