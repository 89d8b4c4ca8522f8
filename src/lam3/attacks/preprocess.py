"""The processor's pixel path as a differentiable torch op, so PGD can work in pixel space [0, 1].

The attack optimises the image *before* normalisation, where ε and the valid range [0, 1] are
defined. The clean image is resized **once**, by the processor's own resize (``do_rescale=False,
do_normalize=False``), to the resolution the model sees; from there the pixel path is linear —
rescale, normalise with the processor's mean/std, IDEFICS2's crops and zero padding — and is
re-implemented here with torch ops. :func:`build_pipeline` checks that this reproduces the
processor's ``pixel_values`` on the unperturbed image (to ``TOLERANCE``) and that the saved PNG
of an image at this resolution goes through the processor unchanged; a processor that breaks
either (e.g. one that resamples split crops) is refused with an explanation instead of attacking
a different input than the one ``lam3 generate`` will feed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lam3.errors import UserError

TOLERANCE = 1e-5


def processor_images(architecture: str, image: Any) -> Any:
    """One image in the layout the architecture's image processor expects (IDEFICS2: a list per sample)."""
    return [[image]] if architecture == "idefics2" else [image]


@dataclass
class PixelPipeline:
    """``x`` (3, H, W) in [0, 1] → ``pixel_values`` shaped like the processor's for one sample."""

    size: tuple[int, int]
    crops: list[tuple[int, int, int, int]]  # (top, left, height, width) of each sub-image, in x
    padded: tuple[int, int] | None  # (H, W) every sub-image is zero-padded to; None = no sub-image axis
    scale: float  # multiplies x to reach the processor's rescaled range (255 · rescale_factor)
    mean: Any  # (3, 1, 1) or None
    std: Any
    pixel_attention_mask: Any = None  # (1, n, H, W) as the processor returns it (IDEFICS2)

    def to(self, device: Any) -> PixelPipeline:
        move = (lambda t: None if t is None else t.to(device))
        return PixelPipeline(self.size, self.crops, self.padded, self.scale, move(self.mean), move(self.std),
                             move(self.pixel_attention_mask))

    def normalise(self, x: Any) -> Any:
        y = x * self.scale
        if self.mean is not None:
            y = (y - self.mean.to(y.dtype)) / self.std.to(y.dtype)
        return y

    def __call__(self, x: Any) -> Any:
        import torch

        y = self.normalise(x)
        if self.padded is None:
            top, left, h, w = self.crops[0]
            return y[:, top:top + h, left:left + w].unsqueeze(0)
        subs = []
        for top, left, h, w in self.crops:
            crop = y[:, top:top + h, left:left + w]
            pad_h, pad_w = self.padded[0] - h, self.padded[1] - w
            if pad_h or pad_w:  # the processor pads *after* normalising, with zeros
                crop = torch.nn.functional.pad(crop, (0, pad_w, 0, pad_h))
            subs.append(crop)
        return torch.stack(subs).unsqueeze(0)


def to_pil(x: Any) -> Any:
    """(3, H, W) float in [0, 1] → RGB PIL image (rounded to the 1/255 grid)."""
    import torch
    from PIL import Image

    arr = (x.detach().float().cpu().clamp(0, 1) * 255).round().to(dtype=torch.uint8)
    return Image.fromarray(arr.permute(1, 2, 0).numpy(), mode="RGB")


def from_pil(image: Any) -> Any:
    """RGB PIL image → (3, H, W) float32 in [0, 1]."""
    import numpy as np
    import torch

    arr = np.asarray(image.convert("RGB"), dtype=np.uint8).copy()
    return torch.from_numpy(arr).permute(2, 0, 1).float() / 255.0


def _quadrants(h: int, w: int) -> list[tuple[int, int, int, int]]:
    """IDEFICS2's ``split_images``: four equal quadrants, then the whole image."""
    mh, mw = h // 2, w // 2
    return [(0, 0, mh, mw), (0, mw, mh, w - mw), (mh, 0, h - mh, mw), (mh, mw, h - mh, w - mw), (0, 0, h, w)]


def _as_tensor(value: Any) -> Any:
    import torch

    return value if isinstance(value, torch.Tensor) else torch.as_tensor(value)


def resized_clean_image(image_processor: Any, architecture: str, image: Any) -> tuple[Any, Any]:
    """The processor's own resize of ``image``: ``(x (3,H,W) in [0,1], raw BatchFeature)``."""
    raw = image_processor(images=processor_images(architecture, image), do_rescale=False, do_normalize=False,
                          return_tensors="pt")
    pv = _as_tensor(raw["pixel_values"]).float()
    if pv.ndim == 4:  # (1, 3, H, W)
        return pv[0] / 255.0, raw
    # (1, n, 3, H, W): the last sub-image is the whole image (IDEFICS2 puts it after the crops)
    whole = pv[0, -1]
    mask = raw.get("pixel_attention_mask")
    if mask is not None:
        m = _as_tensor(mask)[0, -1].bool()
        h, w = int(m.any(dim=1).sum()), int(m.any(dim=0).sum())
        whole = whole[:, :h, :w]
    return whole / 255.0, raw


def build_pipeline(image_processor: Any, architecture: str, source_image: Any) -> tuple[PixelPipeline, Any, float]:
    """Resize ``source_image`` once; return ``(pipeline, x_clean, max |ours − processor|)`` (checked)."""
    import torch

    x, raw = resized_clean_image(image_processor, architecture, source_image)
    if (x * 255 - (x * 255).round()).abs().max() > 1e-4:
        raise UserError(f"{type(image_processor).__name__}'s resize does not return 8-bit pixels; the attack "
                        "cannot work on its resized image", field="model.model_id")
    x = (x * 255).round() / 255.0
    h, w = x.shape[-2:]
    rescale = float(getattr(image_processor, "rescale_factor", 1 / 255)) if getattr(
        image_processor, "do_rescale", True) else 1.0
    mean = std = None
    if getattr(image_processor, "do_normalize", True):
        mean = torch.tensor(image_processor.image_mean, dtype=torch.float32).view(-1, 1, 1)
        std = torch.tensor(image_processor.image_std, dtype=torch.float32).view(-1, 1, 1)
    pv = _as_tensor(raw["pixel_values"]).float()
    mask = raw.get("pixel_attention_mask")
    if pv.ndim == 4:
        pipeline = PixelPipeline((h, w), [(0, 0, h, w)], None, 255.0 * rescale, mean, std)
    else:
        n = pv.shape[1]
        crops = [(0, 0, h, w)] if n == 1 else _quadrants(h, w) if n == 5 else None
        if crops is None:
            raise UserError(f"the image processor turns one image into {n} sub-images; only 1 (no splitting) or "
                            "IDEFICS2's 4 crops + whole image are supported", field="model.model_id")
        for j, (top, left, ch, cw) in enumerate(crops):  # the crops must be exact, not resampled
            got = pv[0, j, :, :ch, :cw]
            want = x[:, top:top + ch, left:left + cw] * 255
            if got.shape != want.shape or (got - want).abs().max() > 1e-3:
                raise UserError(
                    f"the image processor resamples its split crops ({h}x{w} image → crop {j} is not a plain "
                    f"{ch}x{cw} cut), which the attack cannot differentiate exactly. Set image_size to a size whose "
                    "half-size crops need no resize (e.g. [980, 980] for IDEFICS2), or use a processor without "
                    "image splitting", field="image_size")
        pipeline = PixelPipeline((h, w), crops, tuple(pv.shape[-2:]), 255.0 * rescale, mean, std,
                                 _as_tensor(mask) if mask is not None else None)
    diff = check_pipeline(pipeline, image_processor, architecture, source_image, x)
    return pipeline, x, diff


def check_pipeline(pipeline: PixelPipeline, image_processor: Any, architecture: str, source_image: Any,
                   x: Any) -> float:
    """Max |ours − processor| on the clean image and on its PNG round trip; raise above :data:`TOLERANCE`."""
    ours = pipeline(x)
    worst = 0.0
    for what, image in (("the clean image", source_image), ("the resized image saved as PNG", to_pil(x))):
        ref = _as_tensor(image_processor(images=processor_images(architecture, image),
                                         return_tensors="pt")["pixel_values"]).float()
        if ref.shape != ours.shape:
            raise UserError(f"differentiable preprocessing gives {tuple(ours.shape)} but the processor gives "
                            f"{tuple(ref.shape)} for {what}", field="model.model_id")
        diff = float((ref - ours).abs().max()) if ref.numel() else 0.0
        if not diff <= TOLERANCE:
            raise UserError(f"differentiable preprocessing differs from the processor by {diff:.2e} (> "
                            f"{TOLERANCE:g}) on {what}; the attack would optimise a different input than the "
                            "model receives", field="model.model_id")
        worst = max(worst, diff)
    return worst
