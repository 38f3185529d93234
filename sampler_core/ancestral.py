"""The plain ancestral step (eta = 1) split into a mean ``mu`` and a step noise ``s`` (ALGORITHM.md §2).

A plain ancestral step is ``x_next = mu + s * z`` with ``z ~ N(0, I)``; SRSoup keeps ``mu`` and ``s`` and only
replaces ``z`` by a reward-guided direction. The formulas mirror ComfyUI's ``get_ancestral_step`` /
``sample_euler_ancestral`` (VE form: eps and v models) and ``sample_euler_ancestral_RF`` (flow form),
re-implemented here so the core does not import ComfyUI.
"""

from __future__ import annotations

import math

PARAMETERIZATIONS = ("eps", "flow")


def ve_ancestral_sigmas(sigma: float, sigma_next: float) -> tuple[float, float]:
    """VE form: ``(sigma_down, sigma_up)`` of an eta = 1 ancestral step (ComfyUI ``get_ancestral_step``)."""
    sigma_up = min(sigma_next, math.sqrt(max(sigma_next**2 * (sigma**2 - sigma_next**2) / sigma**2, 0.0)))
    sigma_down = math.sqrt(max(sigma_next**2 - sigma_up**2, 0.0))
    return sigma_down, sigma_up


def flow_ancestral_sigmas(sigma: float, sigma_next: float) -> tuple[float, float, float]:
    """Flow form: ``(sigma_down, alpha_ratio, s)`` of an eta = 1 step (ComfyUI ``sample_euler_ancestral_RF``).

    ``alpha_ratio = (1 - sigma_next) / (1 - sigma_down)`` rescales the Euler step to ``sigma_down``, and
    ``s`` is the renoise coefficient: the standard deviation of the fresh noise.
    """
    if sigma_next == 0:
        return 0.0, 1.0, 0.0
    sigma_down = sigma_next * (sigma_next / sigma)
    alpha_ratio = (1.0 - sigma_next) / (1.0 - sigma_down)
    s = math.sqrt(max(sigma_next**2 - sigma_down**2 * alpha_ratio**2, 0.0))
    return sigma_down, alpha_ratio, s


def step_noise(sigma: float, sigma_next: float, parameterization: str) -> float:
    """``s``: the standard deviation of the noise an ancestral step adds (0 on the last step)."""
    if parameterization == "eps":
        return ve_ancestral_sigmas(sigma, sigma_next)[1]
    return flow_ancestral_sigmas(sigma, sigma_next)[2]


def ancestral_mean(x, x0_hat, sigma: float, sigma_next: float, parameterization: str):
    """``mu``: the deterministic part of the ancestral step from ``x`` at ``sigma`` to ``sigma_next``."""
    eps_hat = (x - x0_hat) / sigma
    if parameterization == "eps":
        sigma_down = ve_ancestral_sigmas(sigma, sigma_next)[0]
        return x0_hat + sigma_down * eps_hat
    sigma_down, alpha_ratio, _ = flow_ancestral_sigmas(sigma, sigma_next)
    return alpha_ratio * (x0_hat + sigma_down * eps_hat)


def ancestral_split(x, x0_hat, sigma: float, sigma_next: float, parameterization: str):
    """``(mu, s)`` with ``x_next = mu + s * z`` the plain ancestral step; ``s == 0``: ``mu == x0_hat``."""
    return ancestral_mean(x, x0_hat, sigma, sigma_next, parameterization), step_noise(
        sigma, sigma_next, parameterization
    )


def reuse_x0(x_query, x, x0_hat, sigma: float, sigma_next: float):
    """``x0_hat`` of a query at ``sigma_next`` without a model call: reuse the current noise estimate.

    ``x0(x^n) ~= x^n - sigma_next * (x - x0_hat) / sigma``; the same formula holds in VE and flow form.
    Overwrites and returns ``x_query`` (the sampler's own fresh query latents: no second large tensor).
    """
    return x_query.sub_(sigma_next * ((x - x0_hat) / sigma))
