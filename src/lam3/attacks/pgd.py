"""Projected sign-gradient descent on one image, with restarts, momentum and a resumable state.

All randomness (random starts, which targets each step sees) comes from one CPU
``torch.Generator`` whose state is part of :class:`PGDState`, so a run is a function of its
seed and a checkpointed run resumes bit-identically. The state is replaced as a whole after each
step, so whatever is saved (also on Ctrl-C) is a consistent step boundary.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from lam3.attacks.config import PGDConfig


@dataclass(frozen=True)
class PGDState:
    """Everything needed to continue an attack: image, optimiser and RNG state, best-so-far, history."""

    restart: int
    step: int  # steps done in this restart
    x: Any  # (3, H, W) float32 in [0, 1], CPU
    momentum: Any  # same shape, or None
    rng: Any  # torch.Generator state (ByteTensor)
    best_x: Any = None
    best_loss: float | None = None
    best_restart: int | None = None
    history: list[list[float]] = field(default_factory=list)  # rows: restart, step, loss, target_loss, λ, masses…
    done: bool = False

    def rows_done(self, steps: int) -> int:
        """How many history rows belong to this state (later rows are from an interrupted step)."""
        return self.restart * steps + self.step


def grid(x: Any) -> Any:
    """Round to the 1/255 grid (what a PNG can hold)."""
    return (x * 255.0).round() / 255.0


def project(x: Any, x0: Any, cfg: PGDConfig) -> Any:
    """Into the ε-ball around ``x0`` (if constrained), then into [0, 1], then (optionally) onto the grid."""
    import torch

    if cfg.epsilon is not None:
        eps = cfg.epsilon / 255.0
        x = torch.max(torch.min(x, x0 + eps), x0 - eps)
    x = x.clamp(0.0, 1.0)
    if cfg.quantize:
        # x0 is on the grid and ε is a whole number of levels, so rounding stays inside the ball
        x = grid(x)
    return x


def start_point(x0: Any, cfg: PGDConfig, restart: int, generator: Any) -> Any:
    """Restart ``restart``'s starting image (random for restart > 0 or with random_start)."""
    import torch

    if restart == 0 and not cfg.random_start:
        return x0.clone()
    if cfg.epsilon is None:
        return project(torch.rand(x0.shape, generator=generator), x0, cfg)
    eps = cfg.epsilon / 255.0
    noise = (torch.rand(x0.shape, generator=generator) * 2 - 1) * eps
    return project(x0 + noise, x0, cfg)


def initial_state(x0: Any, cfg: PGDConfig, seed: int) -> PGDState:
    import torch

    generator = torch.Generator().manual_seed(seed)
    x = start_point(x0, cfg, 0, generator)
    return PGDState(restart=0, step=0, x=x, momentum=None, rng=generator.get_state())


def sample_targets(n_targets: int, cfg: PGDConfig, generator: Any) -> list[int]:
    """Which targets this step sees: a random subset without replacement (all when targets_per_step is None)."""
    import torch

    k = cfg.targets_per_step
    if k is None or k >= n_targets:
        return list(range(n_targets))
    return sorted(torch.randperm(n_targets, generator=generator)[:k].tolist())


def update(x: Any, grad: Any, momentum: Any, x0: Any, cfg: PGDConfig) -> tuple[Any, Any]:
    """One descent step: sign of the (momentum-accumulated) gradient, then projection."""
    x, grad = x.detach(), grad.detach()
    if cfg.momentum > 0:
        normed = grad / grad.abs().mean().clamp_min(1e-12)  # MI-FGSM: L1-normalised gradient
        momentum = normed if momentum is None else cfg.momentum * momentum + normed
        direction = momentum
    else:
        direction = grad
    x = x - (cfg.step_size / 255.0) * direction.sign()
    return project(x, x0, cfg), momentum


StepFn = Callable[[Any, list[int], int], tuple[Any, dict[str, float]]]
"""``(x, target indices, step) -> (grad of the loss w.r.t. x, logged floats)``."""


def run_pgd(state: PGDState, x0: Any, cfg: PGDConfig, n_targets: int, grad_fn: StepFn,
            final_loss: Callable[[Any], float], *, on_step: Callable[[PGDState], None] | None = None,
            on_restart_end: Callable[[PGDState], None] | None = None) -> PGDState:
    """Continue ``state`` until every restart has run ``cfg.steps`` steps; return the final state.

    ``final_loss(x)`` scores a restart's last image (lower is better) to pick the best restart.
    ``on_step`` sees each new state (checkpointing, progress); an exception there stops the run
    with the last state intact for the caller.
    """
    import torch

    generator = torch.Generator()
    while not state.done:
        generator.set_state(state.rng)
        if state.step < cfg.steps:
            indices = sample_targets(n_targets, cfg, generator)
            grad, logged = grad_fn(state.x, indices, state.step)
            x, momentum = update(state.x, grad.detach().float().cpu(), state.momentum, x0, cfg)
            # appended in place (copying would be quadratic); savers keep rows up to the state's step
            state.history.append([float(state.restart), float(state.step), *logged.values()])
            state = replace(state, step=state.step + 1, x=x, momentum=momentum, rng=generator.get_state())
            if on_step:
                on_step(state)
            continue
        # a restart is finished: keep it if it beats the best so far, then start the next one
        loss = final_loss(state.x)
        best = state.best_loss is None or loss < state.best_loss
        state = replace(state, best_x=state.x.clone() if best else state.best_x,
                        best_loss=loss if best else state.best_loss,
                        best_restart=state.restart if best else state.best_restart)
        if state.restart + 1 < cfg.restarts:
            x = start_point(x0, cfg, state.restart + 1, generator)
            state = replace(state, restart=state.restart + 1, step=0, x=x, momentum=None,
                            rng=generator.get_state())
        else:
            state = replace(state, done=True, rng=generator.get_state())
        if on_restart_end:
            on_restart_end(state)
    return state
