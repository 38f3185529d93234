"""Reward-guided search directions (ALGORITHM.md §5-6, the paper's Algorithm 1, Eq. 9 and Eq. 11).

Shapes: latents are flattened to ``D`` elements. ``N`` queries, ``P`` trajectories, ``B`` input batch
elements, ``M`` rewards. The query noise ``z`` is ``(N, B, D)``: shared by every trajectory and reward of
batch element ``b``. Reward tables are ``(N, ..., M)`` float64 with NaN where nothing was (or could be)
scored.

Every direction is first built as an unnormalized Monte Carlo sum ``v = sum_n a_n u_n`` with
``a_n = r~_n / N_valid`` (Algorithm 1, line 4, up to the factor ``1/s``); the step rule then either
rescales it to the norm of a standard normal draw (``"norm"``) or takes it literally (``"paper"``).
"""

from __future__ import annotations

import math

import torch

STEP_RULES = ("norm", "paper")
CORRECTIONS = ("paper", "official", "none")

ZSCORE_EPS = 1e-8  # r~ = (r - mean) / (std + ZSCORE_EPS), as the official code
CONSTANT_RTOL = 1e-6  # rewards whose std <= CONSTANT_RTOL * |mean| + CONSTANT_ATOL count as constant
CONSTANT_ATOL = 1e-12
DEGENERATE_TOL = 1e-6  # a combined weight vector whose std * N is below this carries no direction


def zscore(rewards: torch.Tensor, dim: int = 0):
    """Z-score rewards along ``dim`` over the finite entries only (biased std, as the official code).

    Returns ``(r_tilde, n_valid, informative)``: ``r_tilde`` is 0 where the reward was not finite (a
    dropped query gets weight 0) and everywhere when the rewards carry no information (fewer than two
    finite values, or a (near-)constant reward: ``std <= 1e-6 |mean| + 1e-12``).
    """
    valid = torch.isfinite(rewards)
    n_valid = valid.sum(dim)
    count = n_valid.clamp_min(1).to(rewards.dtype)
    mean = torch.where(valid, rewards, 0.0).sum(dim) / count
    dev = torch.where(valid, rewards - mean.unsqueeze(dim), 0.0)
    std = ((dev * dev).sum(dim) / count).sqrt()
    informative = (n_valid >= 2) & (std > CONSTANT_RTOL * mean.abs() + CONSTANT_ATOL)
    r_tilde = dev / (std + ZSCORE_EPS).unsqueeze(dim) * informative.unsqueeze(dim)
    return r_tilde, n_valid, informative


def mc_weights(r_tilde: torch.Tensor, n_valid: torch.Tensor, dim: int = 0) -> torch.Tensor:
    """Monte Carlo weights ``a_n = r~_n / N_valid`` of the search gradient (Algorithm 1, line 4)."""
    return r_tilde / n_valid.clamp_min(1).to(r_tilde.dtype).unsqueeze(dim)


def weighted_sum_weights(a: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Weighted-sum rewards (Eq. 8-9): ``a_n = sum_m w_m a_{m,n}``. a: (N, P, B, M), w: (P, M) -> (N, P, B).

    Rewards normalized separately, so a reward with zero std (its ``a_m = 0``) contributes nothing.
    """
    return torch.einsum("npbm,pm->npb", a, w.to(a.dtype))


def is_degenerate(a: torch.Tensor) -> torch.Tensor:
    """True where a weight vector over the N queries (dim 0) carries no direction: (near-)zero std."""
    n = a.shape[0]
    return ~(a.std(dim=0, unbiased=False) * n > DEGENERATE_TOL)


def search_direction(a: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """Single-reward or weighted-sum search direction ``v = sum_n a_n z_n``. a: (N, P, B), z: (N, B, D)."""
    return torch.einsum("npb,nbd->pbd", a.to(z.dtype), z)


def soup_direction(w, a_ex, g_ex, delta, z, s: float, correction: str = "paper"):
    """SRSoup interpolated direction (Algorithm 2, line 15 and Eq. 11): no new queries.

    ``w`` (P, M) the soup rows' weights; ``a_ex`` (N, M, B) exemplar m's Monte Carlo weights;
    ``g_ex`` (M, B, D) exemplar m's own direction ``sum_n a_{m,n} z_n``; ``delta`` (M, P, B, D) the
    exemplar means minus the row's mean, ``c^m - mu^l``; ``z`` (N, B, D); ``s`` the step noise.

    Exemplar m's query ``n`` seen from the row's mean is displaced by ``u_{m,n}``:

    - ``"paper"``: ``u = z_n + (c^m - mu^l) / s`` (the correction term of Eq. 11). With z-scored rewards
      ``sum_n a_{m,n} = 0``, so the correction vanishes up to rounding.
    - ``"official"``: ``u = sqrt(D) * unit(z_n + (c^m - mu^l))`` (official code: no division by s).
    - ``"none"``: ``u = z_n``: plain interpolation of the exemplars' directions.

    Returns ``v = sum_m w_m sum_n a_{m,n} u_{m,n}``, (P, B, D).
    """
    dt = z.dtype
    w = w.to(dt)
    a_ex = a_ex.to(dt)
    if correction == "none":
        return torch.einsum("pm,mbd->pbd", w, g_ex)
    if correction == "paper":
        a_sum = a_ex.sum(0)  # (M, B)
        per_m = g_ex[:, None] + a_sum[:, None, :, None] * delta / s  # (M, P, B, D)
        return torch.einsum("pm,mpbd->pbd", w, per_m)
    if correction == "official":
        dim = z.shape[-1]
        zz = (z * z).sum(-1)  # (N, B)
        zd = torch.einsum("nbd,mpbd->nmpb", z, delta)
        dd = (delta * delta).sum(-1)  # (M, P, B)
        norm = (zz[:, None, None, :] + 2 * zd + dd[None]).clamp_min(0).sqrt()
        k = math.sqrt(dim) / norm.clamp_min(torch.finfo(dt).tiny)  # (N, M, P, B)
        ak = a_ex[:, :, None, :] * k  # (N, M, P, B)
        per_m = torch.einsum("nmpb,nbd->mpbd", ak, z) + ak.sum(0)[..., None] * delta
        return torch.einsum("pm,mpbd->pbd", w, per_m)
    raise ValueError(f"correction must be one of {CORRECTIONS}; got {correction!r}")


def overlap_ess(z: torch.Tensor, delta: torch.Tensor, s: float) -> torch.Tensor:
    """Effective sample size of exemplar m's queries seen from a soup row (ALGORITHM.md §6).

    Self-normalized importance weights ``omega_n ~ exp(-z_n . delta / s - ||delta / s||^2 / 2)`` with
    ``delta = c^m - mu^l``; ESS ``= 1 / sum omega~^2``, between 1 (no overlap) and N (full overlap).
    z: (N, B, D), delta: (M, P, B, D) -> (M, P, B).
    """
    zd = torch.einsum("nbd,mpbd->nmpb", z, delta)
    log_w = -zd / s  # the -||delta/s||^2/2 term is constant in n and cancels after normalization
    p = torch.softmax(log_w.double(), dim=0)
    return 1.0 / (p * p).sum(0)


def unit_direction(v: torch.Tensor) -> torch.Tensor:
    """Rescale each direction (last dim) to the norm of a standard normal draw, ``sqrt(D)``."""
    norm = v.norm(dim=-1, keepdim=True)
    return v * (math.sqrt(v.shape[-1]) / norm)


def usable(v: torch.Tensor, informative: torch.Tensor) -> torch.Tensor:
    """True where a direction can be used: informative rewards and a finite, non-zero norm."""
    norm = v.norm(dim=-1)
    return informative & torch.isfinite(norm) & (norm > 0)


def guided_step(mu, s: float, v, z_plain, ok, step_rule: str = "norm"):
    """``x_next = mu + s * d`` with the guided direction where ``ok``, else the plain step with ``z_plain``.

    ``"norm"``: ``d = sqrt(D) unit(v)`` (official code). ``"paper"``: the literal ``mu + beta g``: with
    ``sqrt(beta) = s`` and ``g = v / s`` this is ``mu + s v``. mu, v: (P, B, D); z_plain: (B, D); ok: (P, B).
    """
    if step_rule == "norm":
        d = unit_direction(v)  # inf / NaN where not ok: replaced by the plain step below
    elif step_rule == "paper":
        d = v
    else:
        raise ValueError(f"step_rule must be one of {STEP_RULES}; got {step_rule!r}")
    d = torch.where(ok[..., None], d, z_plain.to(d.dtype).expand_as(d))
    return mu + s * d.to(mu.dtype)
