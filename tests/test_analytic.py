"""The analytic test problem (bench/analytic.py) is itself right: exact denoiser, moments, gradients."""

import math

import pytest
import torch

from bench.analytic import (
    GaussianMixture,
    LinearReward,
    NaNReward,
    QuadraticReward,
    flow_sigmas,
    karras_sigmas,
    three_reward_problem,
    two_reward_problem,
    ve_linear_sigmas,
)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny tensors: one thread avoids oversubscribing a shared 2-core machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def log_density(mix: GaussianMixture, x: torch.Tensor, sigma: float, form: str) -> torch.Tensor:
    a = 1.0 if form == "eps" else 1.0 - sigma
    var = a * a * mix.variances + sigma * sigma  # (K,)
    diff = x[:, None, :] - a * mix.means[None]
    logn = -0.5 * (diff * diff).sum(-1) / var - 0.5 * mix.dim * torch.log(2 * math.pi * var)
    return torch.logsumexp(mix.probs.log() + logn, dim=1)


@pytest.mark.parametrize("form,sigma", [("eps", 0.3), ("eps", 2.0), ("flow", 0.2), ("flow", 0.7)])
def test_denoiser_matches_tweedie_formula(form, sigma):
    """E[x0 | x] = (x + sigma^2 grad log p_sigma(x)) / a, with the score from autograd of the density."""
    mix = three_reward_problem(dim=3).mixture
    g = torch.Generator().manual_seed(0)
    x = mix.sample_marginal(64, sigma, form, g).double().requires_grad_(True)
    score = torch.autograd.grad(log_density(mix, x, sigma, form).sum(), x)[0]
    a = 1.0 if form == "eps" else 1.0 - sigma
    expected = (x.detach() + sigma**2 * score) / a
    got = mix.denoise(x.detach(), sigma, form)
    torch.testing.assert_close(got, expected, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("form,sigma", [("eps", 0.0), ("eps", 1.5), ("flow", 0.5), ("flow", 1.0)])
def test_marginal_moments_match_samples(form, sigma):
    mix = two_reward_problem(dim=3).mixture
    g = torch.Generator().manual_seed(1)
    x = mix.sample_marginal(40000, sigma, form, g).double()
    mean, cov = mix.marginal_moments(sigma, form)
    scale = cov.diag().max().sqrt()
    assert (x.mean(0) - mean).abs().max() < 5 * scale / math.sqrt(40000)
    assert (torch.cov(x.T) - cov).abs().max() < 6 * scale**2 * math.sqrt(2 / 40000)


def test_denoiser_accepts_image_shaped_latents_and_counts_calls():
    mix = GaussianMixture(torch.randn(3, 8, generator=torch.Generator().manual_seed(0)), 0.1)
    model = mix.model("eps")
    x = torch.randn(5, 2, 2, 2)
    out = model(x, torch.full((5,), 0.8))
    assert out.shape == x.shape and out.dtype == x.dtype
    torch.testing.assert_close(out.reshape(5, -1), mix.denoise(x.reshape(5, -1), 0.8))
    assert (model.calls, model.evaluations) == (1, 5)


def test_reward_gradients_match_autograd():
    g = torch.Generator().manual_seed(2)
    x = torch.randn(6, 4, generator=g, requires_grad=True)
    for reward in (LinearReward(torch.tensor([1.0, -2.0, 0.5, 0.0])), QuadraticReward(torch.ones(4), 0.7)):
        auto = torch.autograd.grad(reward(x).sum(), x)[0]
        torch.testing.assert_close(reward.grad(x.detach()), auto)
    assert reward.calls == 1 and reward.items == 6


def test_nan_reward_marks_every_kth_item_across_calls():
    base = LinearReward(torch.ones(2))
    r = NaNReward(base, every=3)
    out = torch.cat([r(torch.ones(4, 2)), r(torch.ones(4, 2))])
    assert torch.isnan(out).tolist() == [i % 3 == 0 for i in range(8)]
    assert r.bad == 3


def test_schedules_decrease_to_zero():
    for sig in (karras_sigmas(7), ve_linear_sigmas(7), flow_sigmas(7), flow_sigmas(7, shift=3.0)):
        assert sig.shape == (8,) and float(sig[-1]) == 0.0
        assert bool((sig[1:] < sig[:-1]).all())
    assert float(flow_sigmas(4)[0]) == 1.0
    assert float(karras_sigmas(4, sigma_max=14.6)[0]) == pytest.approx(14.6)


def test_ready_made_problems_conflict():
    two = two_reward_problem(dim=4)
    x0 = two.mixture.sample(2000, torch.Generator().manual_seed(3))
    r1, r2 = (r(x0) for r in two.rewards)
    assert torch.corrcoef(torch.stack([r1, r2]))[0, 1] < -0.5  # the two rewards pull apart
    three = three_reward_problem(dim=4)
    assert len(three.rewards) == 3 and three.mixture.dim == 4
