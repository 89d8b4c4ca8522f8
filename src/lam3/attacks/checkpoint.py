"""Attack checkpoints and image outputs, written atomically and read back without pickle.

A checkpoint holds tensors and plain types only (image, momentum, RNG state, best restart,
loss history, metadata) and is loaded with ``torch.load(weights_only=True)``, so a checkpoint
from elsewhere cannot run code. Every file is written with :func:`lam3.store.atomic_write`: a kill
at any moment leaves either the old or the new file, never half of one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lam3.attacks.pgd import PGDState
from lam3.errors import UserError
from lam3.store import atomic_write

FORMAT = "lam3.attack.checkpoint"
VERSION = 1


def save_checkpoint(path: str | Path, state: PGDState, *, steps: int, settings_hash: str, columns: list[str],
                    meta: dict[str, Any]) -> Path:
    """Write ``state`` (history cut to the rows its step accounts for)."""
    import torch

    rows = state.history[:state.rows_done(steps)]
    history = torch.tensor(rows, dtype=torch.float64) if rows else torch.zeros((0, len(columns)),
                                                                                dtype=torch.float64)
    payload = {
        "format": FORMAT, "version": VERSION, "settings_hash": settings_hash, "meta": dict(meta),
        "restart": int(state.restart), "step": int(state.step), "done": bool(state.done),
        "x": state.x.detach().float().cpu().contiguous(),
        "momentum": None if state.momentum is None else state.momentum.detach().float().cpu().contiguous(),
        "rng": state.rng.clone(),
        "best_x": None if state.best_x is None else state.best_x.detach().float().cpu().contiguous(),
        "best_loss": None if state.best_loss is None else float(state.best_loss),
        "best_restart": None if state.best_restart is None else int(state.best_restart),
        "history": history, "columns": list(columns),
    }
    return atomic_write(path, lambda fh: torch.save(payload, fh))


def load_checkpoint(path: str | Path, settings_hash: str | None = None) -> tuple[PGDState, dict[str, Any]]:
    """Read a checkpoint (no pickle); refuse one written with other settings. Returns (state, payload)."""
    import torch

    path = Path(path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is a user-facing error
        raise UserError(f"unreadable attack checkpoint ({type(exc).__name__}: {exc}); delete it to start over",
                        path=path) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise UserError("not a LAM3 attack checkpoint", path=path)
    if payload.get("version") != VERSION:
        raise UserError(f"checkpoint version {payload.get('version')} is not supported (expected {VERSION})",
                        path=path)
    if settings_hash is not None and payload["settings_hash"] != settings_hash:
        raise UserError("this output directory holds a checkpoint of an attack with different settings; use "
                        "another output_dir (--out) or delete the directory to start over", path=path)
    state = PGDState(restart=payload["restart"], step=payload["step"], x=payload["x"], momentum=payload["momentum"],
                     rng=payload["rng"], best_x=payload["best_x"], best_loss=payload["best_loss"],
                     best_restart=payload["best_restart"], history=payload["history"].tolist(),
                     done=payload["done"])
    return state, payload


def save_image(directory: str | Path, stem: str, x: Any) -> tuple[Path, Path]:
    """Save ``x`` (3, H, W) in [0, 1] as ``stem.png`` (8-bit RGB) and ``stem.pt`` (float tensor)."""
    import torch

    from lam3.attacks.preprocess import to_pil

    directory = Path(directory)
    png = atomic_write(directory / f"{stem}.png", lambda fh: to_pil(x).save(fh, format="PNG"))
    pt = atomic_write(directory / f"{stem}.pt",
                      lambda fh: torch.save(x.detach().float().cpu().contiguous(), fh))
    return png, pt
