"""An analytic diffusion problem: a Gaussian mixture whose exact denoiser is known in closed form.

Used by the tests of ``sampler_core`` and by the benchmarks as a stand-in for a real diffusion model:
everything is exact, cheap and vectorized, so the sampler's maths can be checked against known answers.

Data distribution (dimension ``D``, ``K`` components, isotropic variances ``v_k > 0``)::

    x0 ~ sum_k pi_k N(m_k, v_k I)

Noising, in the two forms the sampler supports (``form`` / ``parameterization``):

- ``"eps"`` (VE form, eps and v models):  ``x = x0 + sigma * eps``,            sigma in (0, inf)
- ``"flow"`` (rectified flow, SD3/Flux):  ``x = (1 - sigma) * x0 + sigma * eps``, sigma in (0, 1]

Write ``a = 1`` (eps) or ``a = 1 - sigma`` (flow). Given component k, ``x ~ N(a m_k, (a^2 v_k + sigma^2) I)``
and ``E[x0 | x, k] = m_k + a v_k / (a^2 v_k + sigma^2) * (x - a m_k)``; the exact denoiser
``E[x0 | x, sigma]`` mixes these with the posterior responsibilities of the components.

API
---
``GaussianMixture(means[K, D], variances[K] | float, probs[K] | None)``
    ``.dim``, ``.sample(n, generator)`` (data x0), ``.denoise(x, sigma, form)`` (exact E[x0 | x]),
    ``.model(form)`` -> ``ExactDenoiser`` (a ``model(x, sigma_batch, **extra) -> x0_hat`` callable that
    counts its calls), ``.marginal_moments(sigma, form)`` -> ``(mean[D], cov[D, D])`` (float64; sigma=0
    gives the data moments), ``.sample_marginal(n, sigma, form, generator)`` (exact noisy samples).
``ExactDenoiser``: ``.calls`` (invocations), ``.evaluations`` (latents denoised); ``.reset()``.
    Latents may have any shape ``(B, ...)`` with ``D`` elements per item.
Schedules (all end with an appended 0, decreasing, float32):
    ``karras_sigmas(n_steps, sigma_min=0.02, sigma_max=20.0, rho=7.0)`` (VE),
    ``ve_linear_sigmas(n_steps, sigma_max=20.0)`` (linear in sigma),
    ``flow_sigmas(n_steps, shift=1.0)`` (linear from 1 to 0, optionally time-shifted like SD3),
    ``default_sigmas(form, n_steps)``.
Rewards, callables ``images -> Tensor[B]`` (images = x0 latents when the sampler's ``decode`` is None; any
shape ``(B, ...)``, flattened per item), with known gradients and call counters (``.calls``,
``.items``, ``.reset()``):
    ``LinearReward(direction)``: ``r(x) = a . x``, ``grad = a``;
    ``QuadraticReward(target, scale=1.0)``: ``r(x) = -scale * ||x - t||^2``, ``grad = -2 scale (x - t)``;
    ``ConstantReward(value)`` and ``NaNReward(base, every=k)`` (fallback tests).
Ready-made problems (``AnalyticProblem(mixture, rewards, name)`` with ``.model(form)``):
    ``two_reward_problem(dim=4)``: two conflicting quadratic rewards with targets on opposite sides of
    the data; ``three_reward_problem(dim=4)``: three quadratic rewards with targets 120 degrees apart.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

__all__ = [
    "AnalyticProblem",
    "ConstantReward",
    "ExactDenoiser",
    "GaussianMixture",
    "LinearReward",
    "NaNReward",
    "QuadraticReward",
    "default_sigmas",
    "flow_sigmas",
    "karras_sigmas",
    "three_reward_problem",
    "two_reward_problem",
    "ve_linear_sigmas",
]

FORMS = ("eps", "flow")


def _check_form(form: str) -> str:
    if form not in FORMS:
        raise ValueError(f"form must be one of {FORMS}; got {form!r}")
    return form


def _scale(sigma: torch.Tensor, form: str) -> torch.Tensor:
    """Signal scale ``a`` of x = a x0 + sigma eps."""
    return torch.ones_like(sigma) if form == "eps" else 1.0 - sigma


# --------------------------------------------------------------------------------------------------
# Data distribution and exact denoiser
# --------------------------------------------------------------------------------------------------
class GaussianMixture:
    """Isotropic Gaussian mixture in R^D with an exact denoiser for the VE and flow forms."""

    def __init__(self, means, variances=0.05, probs=None):
        self.means = torch.as_tensor(means, dtype=torch.float64)
        if self.means.dim() != 2:
            raise ValueError(f"means must be (K, D); got shape {tuple(self.means.shape)}")
        k = self.means.shape[0]
        v = torch.as_tensor(variances, dtype=torch.float64)
        self.variances = v.expand(k).clone() if v.dim() == 0 else v.clone()
        if self.variances.shape != (k,) or bool((self.variances <= 0).any()):
            raise ValueError("variances must be a positive number or K positive numbers")
        p = torch.full((k,), 1.0 / k, dtype=torch.float64) if probs is None else torch.as_tensor(
            probs, dtype=torch.float64
        )
        if p.shape != (k,) or bool((p <= 0).any()):
            raise ValueError("probs must be K positive numbers")
        self.probs = p / p.sum()

    @property
    def dim(self) -> int:
        return self.means.shape[1]

    # -- sampling ----------------------------------------------------------------------------------
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n draws of x0 from the data distribution, float32 (n, D)."""
        comp = torch.multinomial(self.probs, n, replacement=True, generator=generator)
        noise = torch.randn(n, self.dim, generator=generator, dtype=torch.float64)
        x0 = self.means[comp] + self.variances[comp].sqrt()[:, None] * noise
        return x0.float()

    def sample_marginal(self, n: int, sigma: float, form: str = "eps", generator=None) -> torch.Tensor:
        """n exact draws of the noisy x at noise level sigma, float32 (n, D)."""
        _check_form(form)
        x0 = self.sample(n, generator).double()
        eps = torch.randn(n, self.dim, generator=generator, dtype=torch.float64)
        a = 1.0 if form == "eps" else 1.0 - float(sigma)
        return (a * x0 + float(sigma) * eps).float()

    # -- moments -----------------------------------------------------------------------------------
    def marginal_moments(self, sigma: float = 0.0, form: str = "eps"):
        """Exact mean (D,) and covariance (D, D) of x at noise level sigma (float64)."""
        _check_form(form)
        s = float(sigma)
        a = 1.0 if form == "eps" else 1.0 - s
        p, m, v = self.probs, self.means, self.variances
        mean = p @ m
        centered = m - mean
        between = (centered.T * p) @ centered
        within = float(p @ v)
        cov = a * a * (between + within * torch.eye(self.dim, dtype=torch.float64))
        cov = cov + s * s * torch.eye(self.dim, dtype=torch.float64)
        return a * mean, cov

    # -- denoiser ----------------------------------------------------------------------------------
    def denoise(self, x: torch.Tensor, sigma, form: str = "eps") -> torch.Tensor:
        """Exact E[x0 | x, sigma]. x: (B, ...) with D elements per item; sigma: scalar or (B,)."""
        _check_form(form)
        shape, dtype = x.shape, x.dtype
        xf = x.reshape(shape[0], -1).to(torch.float64)
        if xf.shape[1] != self.dim:
            raise ValueError(f"latents have {xf.shape[1]} elements per item, the mixture has D={self.dim}")
        sig = torch.as_tensor(sigma, dtype=torch.float64, device=x.device).reshape(-1)
        sig = sig.expand(shape[0]) if sig.numel() == 1 else sig
        a = _scale(sig, form)[:, None]  # (B, 1)
        m = self.means.to(x.device)  # (K, D)
        v = self.variances.to(x.device)[None, :]  # (1, K)
        var = a * a * v + sig[:, None] ** 2  # (B, K) variance of x given the component
        diff = xf[:, None, :] - a[:, :, None] * m[None]  # (B, K, D)
        sq = (diff * diff).sum(-1)  # (B, K)
        logp = self.probs.to(x.device).log()[None] - 0.5 * sq / var - 0.5 * self.dim * var.log()
        resp = torch.softmax(logp, dim=1)  # (B, K)
        gain = (a * v / var)[:, :, None]  # (B, K, 1)
        cond_mean = m[None] + gain * diff  # (B, K, D)
        x0 = (resp[:, :, None] * cond_mean).sum(1)
        return x0.to(dtype).reshape(shape)

    def model(self, form: str = "eps") -> ExactDenoiser:
        """A ``model(x, sigma_batch, **extra_args) -> x0_hat`` callable for ``sampler_core``."""
        return ExactDenoiser(self, _check_form(form))


class ExactDenoiser:
    """Callable exact denoiser of a GaussianMixture, counting invocations and latents evaluated."""

    def __init__(self, mixture: GaussianMixture, form: str):
        self.mixture = mixture
        self.form = form
        self.calls = 0
        self.evaluations = 0

    def reset(self) -> None:
        self.calls = 0
        self.evaluations = 0

    def __call__(self, x: torch.Tensor, sigma, **extra_args) -> torch.Tensor:
        self.calls += 1
        self.evaluations += x.shape[0]
        return self.mixture.denoise(x, sigma, self.form)


# --------------------------------------------------------------------------------------------------
# Schedules
# --------------------------------------------------------------------------------------------------
def _append_zero(s: torch.Tensor) -> torch.Tensor:
    return torch.cat([s, s.new_zeros(1)]).float()


def karras_sigmas(n_steps: int, sigma_min: float = 0.02, sigma_max: float = 20.0, rho: float = 7.0):
    """Karras et al. (2022) VE schedule: n_steps + 1 sigmas from sigma_max down to sigma_min, then 0."""
    ramp = torch.linspace(0, 1, n_steps, dtype=torch.float64)
    lo, hi = sigma_min ** (1 / rho), sigma_max ** (1 / rho)
    return _append_zero((hi + ramp * (lo - hi)) ** rho)


def ve_linear_sigmas(n_steps: int, sigma_max: float = 20.0):
    """VE schedule linear in sigma: sigma_max, ..., sigma_max / n_steps, 0 (n_steps + 1 values)."""
    return torch.linspace(sigma_max, 0.0, n_steps + 1, dtype=torch.float64).float()


def flow_sigmas(n_steps: int, shift: float = 1.0):
    """Flow schedule: t linear from 1 to 0 in n_steps, sigma = shift t / (1 + (shift - 1) t)."""
    t = torch.linspace(1.0, 0.0, n_steps + 1, dtype=torch.float64)
    return (shift * t / (1 + (shift - 1) * t)).float()


def default_sigmas(form: str, n_steps: int):
    """A reasonable schedule for the form: Karras (eps) or linear (flow)."""
    return karras_sigmas(n_steps) if _check_form(form) == "eps" else flow_sigmas(n_steps)


# --------------------------------------------------------------------------------------------------
# Rewards with known gradients
# --------------------------------------------------------------------------------------------------
class _CountingReward:
    """Base: counts invocations (``calls``) and items scored (``items``)."""

    name = "reward"

    def __init__(self):
        self.calls = 0
        self.items = 0

    def reset(self) -> None:
        self.calls = 0
        self.items = 0

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        self.items += images.shape[0]
        flat = images.reshape(images.shape[0], -1).to(torch.float32)
        return self.value(flat)

    def value(self, flat: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError


class LinearReward(_CountingReward):
    """r(x) = a . x; grad = a."""

    name = "linear"

    def __init__(self, direction):
        super().__init__()
        self.direction = torch.as_tensor(direction, dtype=torch.float32).reshape(-1)

    def value(self, flat):
        return flat @ self.direction.to(flat.device)

    def grad(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(x.shape[0], -1)
        return self.direction.to(flat).expand_as(flat).reshape(x.shape)


class QuadraticReward(_CountingReward):
    """r(x) = -scale * ||x - t||^2 (concave); grad = -2 scale (x - t)."""

    name = "quadratic"

    def __init__(self, target, scale: float = 1.0):
        super().__init__()
        self.target = torch.as_tensor(target, dtype=torch.float32).reshape(-1)
        self.scale = float(scale)

    def value(self, flat):
        d = flat - self.target.to(flat.device)
        return -self.scale * (d * d).sum(-1)

    def grad(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(x.shape[0], -1)
        return (-2.0 * self.scale * (flat - self.target.to(flat))).reshape(x.shape)


class ConstantReward(_CountingReward):
    """The same value for every image (no information: the sampler must fall back to plain steps)."""

    name = "constant"

    def __init__(self, value: float = 1.0):
        super().__init__()
        self.constant = float(value)

    def value(self, flat):
        return torch.full((flat.shape[0],), self.constant, dtype=flat.dtype, device=flat.device)


class NaNReward(_CountingReward):
    """Wraps a reward and returns NaN for every ``every``-th item it scores (counted over all calls)."""

    name = "nan"

    def __init__(self, base: _CountingReward, every: int = 5, value: float = math.nan):
        super().__init__()
        self.base = base
        self.every = int(every)
        self.bad_value = float(value)
        self.bad = 0  # items returned as non-finite

    def value(self, flat):
        out = self.base.value(flat).clone()
        idx = torch.arange(self.items - flat.shape[0], self.items, device=flat.device)
        mask = (idx % self.every) == 0
        out[mask] = self.bad_value
        self.bad += int(mask.sum())
        return out


# --------------------------------------------------------------------------------------------------
# Ready-made problems
# --------------------------------------------------------------------------------------------------
@dataclass
class AnalyticProblem:
    mixture: GaussianMixture
    rewards: list = field(default_factory=list)
    name: str = "analytic"

    def model(self, form: str = "eps") -> ExactDenoiser:
        return self.mixture.model(form)

    def reset_counts(self) -> None:
        for r in self.rewards:
            r.reset()


def _ring_means(dim: int, k: int, radius: float) -> torch.Tensor:
    """k component means on a circle in the first two coordinates, plus small offsets elsewhere."""
    means = torch.zeros(k, dim, dtype=torch.float64)
    ang = torch.arange(k, dtype=torch.float64) * (2 * math.pi / k) + math.pi / k
    means[:, 0] = radius * ang.cos()
    means[:, 1] = radius * ang.sin()
    if dim > 2:
        g = torch.Generator().manual_seed(1234)
        means[:, 2:] = 0.3 * torch.randn(k, dim - 2, generator=g, dtype=torch.float64)
    return means


def two_reward_problem(dim: int = 4, radius: float = 1.0, variance: float = 0.05,
                       target_distance: float = 1.5) -> AnalyticProblem:
    """Two conflicting rewards on a 4-component mixture: ``-||x - t1||^2`` and ``-||x - t2||^2`` with
    ``t1 = +target_distance e_0`` and ``t2 = -target_distance e_0`` on opposite sides of the data."""
    if dim < 2:
        raise ValueError("dim must be >= 2")
    mix = GaussianMixture(_ring_means(dim, 4, radius), variance)
    t1 = torch.zeros(dim)
    t1[0] = target_distance
    return AnalyticProblem(mix, [QuadraticReward(t1), QuadraticReward(-t1)], "two_quadratic")


def three_reward_problem(dim: int = 4, radius: float = 1.0, variance: float = 0.05,
                         target_distance: float = 1.5) -> AnalyticProblem:
    """Three quadratic rewards with targets 120 degrees apart in the first two coordinates."""
    if dim < 2:
        raise ValueError("dim must be >= 2")
    mix = GaussianMixture(_ring_means(dim, 6, radius), variance)
    rewards = []
    for j in range(3):
        t = torch.zeros(dim)
        t[0] = target_distance * math.cos(2 * math.pi * j / 3)
        t[1] = target_distance * math.sin(2 * math.pi * j / 3)
        rewards.append(QuadraticReward(t))
    return AnalyticProblem(mix, rewards, "three_quadratic")
