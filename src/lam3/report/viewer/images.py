"""Images for the viewer: only paths a record names, only inside the run directory, always re-encoded.

The page never sends a path: it asks for image ``i`` of line ``n``, and the server looks the path
up in the index. That path must lie inside the image root (the run directory, or ``--images``) once symbolic
links are resolved (:class:`lam3.paths.ImageRoots`, the resolver every stage uses); otherwise 403.
What is served is decoded and re-encoded by Pillow as PNG, so a file that is not an image (or is
HTML in disguise) is never sent as it is.
"""

from __future__ import annotations

import io
from functools import lru_cache
from pathlib import Path

from lam3.errors import UserError
from lam3.paths import ImagePathError, ImageRoots

THUMB_SIDE = 160
FULL_SIDE = 1600
MAX_IMAGE_BYTES = 64 << 20


class ImageRefused(Exception):
    """Why an image is not served, with the HTTP status to answer."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


def resolve_image(root: Path, name: object) -> Path:
    """The file ``name`` (as a record wrote it) names under ``root``; anything that leaves it is refused.

    The check is :mod:`lam3.paths`' (the one every stage uses): 403 outside the root, 404 no such file.
    """
    try:
        roots = ImageRoots.at(root, name="run directory", show_path=False, hint=None)
    except UserError:
        raise ImageRefused(404, "image folder not found") from None
    try:
        return roots.resolve(name)
    except ImagePathError as exc:
        raise ImageRefused(404 if exc.missing else 403, str(exc)) from None


def render(path: Path, side: int) -> bytes:
    """``path`` decoded and re-encoded as PNG, at most ``side`` pixels on its longer edge."""
    st = path.stat()
    if st.st_size > MAX_IMAGE_BYTES:
        raise ImageRefused(413, "image file too large to show")
    return _render(str(path), st.st_mtime_ns, st.st_size, side)


@lru_cache(maxsize=512)
def _render(path: str, mtime_ns: int, size: int, side: int) -> bytes:
    from PIL import Image

    try:
        with Image.open(path) as im:
            im.thumbnail((side, side))
            if im.mode not in ("RGB", "RGBA", "L", "LA"):
                im = im.convert("RGBA")
            out = io.BytesIO()
            im.save(out, format="PNG")
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise ImageRefused(415, f"not a readable image: {type(exc).__name__}") from None
    return out.getvalue()
