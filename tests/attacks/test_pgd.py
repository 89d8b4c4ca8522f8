"""PGD mechanics without a model: projection, valid pixels, the 1/255 grid, RNG-driven choices."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lam3.attacks.config import PGDConfig
from lam3.attacks.pgd import grid, initial_state, project, run_pgd, sample_targets, start_point, update


def _image(seed: int) -> torch.Tensor:
    return grid(torch.rand((3, 6, 5), generator=torch.Generator().manual_seed(seed)))


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), eps=st.sampled_from([1, 4, 16, 64, None]), step=st.integers(1, 8),
       momentum=st.sampled_from([0.0, 0.9]), n=st.integers(1, 6))
def test_steps_stay_in_ball_range_and_grid(seed: int, eps: int | None, step: int, momentum: float, n: int) -> None:
    cfg = PGDConfig(epsilon=eps, step_size=min(step, eps or step), momentum=momentum)
    x0 = _image(seed)
    g = torch.Generator().manual_seed(seed + 1)
    x, mom = start_point(x0, cfg, 1, g), None
    for _ in range(n):
        grad = torch.randn(x0.shape, generator=g) * 10
        x, mom = update(x, grad, mom, x0, cfg)
        levels = torch.round(x * 255)
        assert torch.equal(levels / 255, x)  # on the grid: the PNG holds exactly this image
        assert 0 <= float(x.min()) and float(x.max()) <= 1
        if eps is not None:
            assert int((levels - torch.round(x0 * 255)).abs().max()) <= eps


def test_unquantised_projection_respects_fractional_eps() -> None:
    cfg = PGDConfig(epsilon=2.5, step_size=0.5, quantize=False)
    x0 = _image(0)
    x = project(x0 + 1.0, x0, cfg)
    assert float((x - x0).abs().max()) <= 2.5 / 255 + 1e-7
    assert float(x.max()) <= 1.0


def test_sign_step_moves_against_the_gradient() -> None:
    cfg = PGDConfig(epsilon=None, step_size=3)
    x0 = torch.full((3, 2, 2), 0.5)
    grad = torch.tensor([1.0, -1.0, 0.0]).view(3, 1, 1).expand(3, 2, 2)
    x, _ = update(x0, grad, None, x0, cfg)
    assert torch.allclose(x[0], grid(torch.tensor(0.5 - 3 / 255)).expand(2, 2))
    assert torch.allclose(x[1], grid(torch.tensor(0.5 + 3 / 255)).expand(2, 2))
    assert torch.equal(x[2], grid(x0[2]))


def test_momentum_accumulates_normalised_gradients() -> None:
    cfg = PGDConfig(epsilon=None, momentum=0.5)
    x0 = torch.full((3, 1, 1), 0.5)
    g1 = torch.tensor([2.0, -4.0, 6.0]).view(3, 1, 1)
    _, m1 = update(x0, g1, None, x0, cfg)
    assert torch.allclose(m1, g1 / 4.0)
    g2 = torch.tensor([-10.0, 0.0, 0.0]).view(3, 1, 1)
    _, m2 = update(x0, g2, m1, x0, cfg)
    assert torch.allclose(m2, 0.5 * m1 + g2 / (10.0 / 3))
    # channel 1 keeps its old direction although its new gradient is zero
    assert float(m2[0]) < 0 and float(m2[1]) < 0


def test_starts_and_target_sampling_follow_the_seed() -> None:
    x0 = _image(1)
    cfg = PGDConfig(epsilon=8, random_start=True, targets_per_step=3)
    a, b, c = (initial_state(x0, cfg, s) for s in (5, 5, 6))
    assert torch.equal(a.x, b.x) and not torch.equal(a.x, c.x)
    assert int((torch.round(a.x * 255) - torch.round(x0 * 255)).abs().max()) <= 8
    assert torch.equal(initial_state(x0, PGDConfig(epsilon=8), 5).x, x0)  # no random start: the clean image
    picks = [sample_targets(10, cfg, torch.Generator().manual_seed(7)) for _ in range(2)]
    assert picks[0] == picks[1] and len(set(picks[0])) == 3
    assert sample_targets(10, PGDConfig(targets_per_step=None), torch.Generator()) == list(range(10))


def test_run_pgd_keeps_the_restart_with_the_lowest_final_loss() -> None:
    cfg = PGDConfig(epsilon=None, step_size=4, steps=3, restarts=3)
    x0 = torch.full((3, 2, 2), 0.5)
    target = torch.full((3, 2, 2), 0.2)
    losses = {}

    def grad_fn(x, indices, step):
        return 2 * (x - target), {"loss": float(((x - target) ** 2).sum()), "target_loss": 0.0,
                                  "attention_weight": 0.0}

    def final_loss(x):
        value = [10.0, 1.0, 5.0][len(losses)]
        losses[len(losses)] = value
        return value

    state = run_pgd(initial_state(x0, cfg, 0), x0, cfg, 4, grad_fn, final_loss)
    assert state.done and state.best_restart == 1 and state.best_loss == 1.0
    assert len(state.history) == 9 and [r[0] for r in state.history] == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    # restart 0 starts at the clean image and descends towards the target
    assert state.history[0][2] > state.history[2][2]


@pytest.mark.parametrize("eps", [None, 16])
def test_unconstrained_restart_draws_fresh_noise(eps: int | None) -> None:
    x0 = torch.full((3, 8, 8), 0.5)
    x = start_point(x0, PGDConfig(epsilon=eps), 1, torch.Generator().manual_seed(0))
    spread = float((x - x0).abs().max()) * 255
    assert spread > (100 if eps is None else 8) and (eps is None or spread <= eps)
