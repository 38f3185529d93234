"""The SRSoup sampling loop (the paper's Algorithm 2 in the host's coordinates, ALGORITHM.md §2-7).

Read next to Algorithm 2. Per step ``i`` (``sigma -> sigma_next``):

1. denoise every trajectory once: ``x0_hat = model(x, sigma)`` (line 9 / 14);
2. split the plain ancestral step into ``mu`` and ``s`` (``ancestral.py``); if ``s == 0`` (last step) the
   trajectory becomes ``mu = x0_hat``;
3. draw the query noise ``z_1..z_N`` once per batch element, shared by all trajectories and rewards (line 7);
4. exemplars (one-hot rows) query their own reward around their own mean (line 10); during the first K
   guided steps the other rows interpolate the exemplars' directions without queries (line 15, Eq. 11),
   afterwards they query all their rewards around their own mean (weighted sum, Eq. 9);
5. step: ``x_next = mu + s * d`` (line 11 / 16), or the plain step with ``z_1`` when a trajectory's
   rewards carry no direction (fallback).

Layout: internal state ``(P, B, D)``: P trajectories (exemplars of the one-hot rows, then the distinct mixed
rows, then hidden exemplars), B input batch elements, D latent elements. Queries are flattened
``n * (Q * B) + q * B + b`` (query-major, batch index fastest) and processed in chunks whose size is a
multiple of B, so row ``i`` of every model call belongs to batch element ``i % B``. Outputs are
``l * B + b`` (weight-major, batch index fastest).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial

import torch

from .ancestral import PARAMETERIZATIONS, ancestral_mean, reuse_x0, step_noise
from .directions import (
    CORRECTIONS,
    STEP_RULES,
    guided_step,
    is_degenerate,
    mc_weights,
    overlap_ess,
    search_direction,
    soup_direction,
    usable,
    weighted_sum_weights,
    zscore,
)
from .preferences import is_one_hot, validate_weights
from .stats import Clock, SRSoupStats, paper_query_count

QUERY_X0_MODES = ("tweedie", "reuse")


@dataclass
class SRSoupResult:
    """``samples``: final x0 latents ``(L * B, ...)``, index ``l * B + b``; ``stats``: SRSoupStats."""

    samples: torch.Tensor
    stats: SRSoupStats


# --------------------------------------------------------------------------------------------------
# Input checks: every message says what to change
# --------------------------------------------------------------------------------------------------
def _check_int(name: str, value, minimum: int, hint: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}{hint}; got {value!r}")
    return value


def _check_choice(name: str, value, choices) -> str:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(repr(c) for c in choices)}; got {value!r}")
    return value


def _check_x(x) -> None:
    if not isinstance(x, torch.Tensor) or x.dim() < 2 or x.shape[0] < 1 or x[0].numel() < 1:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"x must be a tensor of noisy latents (B, ...) with B >= 1; got {shape}")
    if not x.is_floating_point():
        raise ValueError(f"x must be a floating-point tensor; got dtype {x.dtype}")
    if not bool(torch.isfinite(x).all()):
        raise ValueError("x has non-finite values (NaN or inf): pass finite noisy latents")


def _check_sigmas(sigmas, parameterization: str) -> list[float]:
    try:
        sig = torch.as_tensor(sigmas).detach().to("cpu", torch.float64).reshape(-1)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise ValueError(f"sigmas must be a 1-D sequence of numbers: {exc}") from None
    if sig.numel() < 2:
        raise ValueError("sigmas must have at least 2 values (one step), decreasing to 0")
    if not bool(torch.isfinite(sig).all()):
        raise ValueError("sigmas has non-finite values: give a finite schedule decreasing to 0")
    if not bool((sig[1:] < sig[:-1]).all()):
        raise ValueError(f"sigmas must be strictly decreasing; got {sig.tolist()}")
    if float(sig[-1]) != 0.0:
        raise ValueError(
            "sigmas must end at 0 (the final step outputs the denoised latents); "
            f"last value is {float(sig[-1])}"
        )
    if parameterization == "flow" and float(sig[0]) > 1.0:
        raise ValueError(f"flow sigmas must lie in [0, 1]; the first is {float(sig[0])}")
    return [float(v) for v in sig]


def _check_rewards(rewards) -> list:
    if callable(rewards):
        rewards = [rewards]
    try:
        rewards = list(rewards)
    except TypeError:
        raise ValueError("rewards must be a sequence of callables images -> Tensor[B]") from None
    if not rewards:
        raise ValueError("rewards is empty: give at least one reward callable")
    for j, r in enumerate(rewards):
        if not callable(r):
            raise ValueError(f"rewards[{j}] is not callable: give callables images -> Tensor[B]")
    return rewards


def make_generator(generator) -> torch.Generator:
    """A torch.Generator from a generator, an int seed, or None (seeded from torch's global RNG)."""
    if isinstance(generator, torch.Generator):
        return generator
    if generator is None:
        seed = int(torch.randint(0, 2**62, (1,)).item())
    elif isinstance(generator, bool) or not isinstance(generator, int):
        raise ValueError(f"generator must be a torch.Generator, an int seed or None; got {generator!r}")
    else:
        seed = generator
    return torch.Generator().manual_seed(seed)


def _randn(shape, generator: torch.Generator, dtype, device) -> torch.Tensor:
    """Standard normal noise drawn on the generator's device (CPU by default), moved to ``device``."""
    return torch.randn(shape, generator=generator, dtype=dtype, device=generator.device).to(device)


# --------------------------------------------------------------------------------------------------
# Trajectory plan: which internal trajectory serves which row
# --------------------------------------------------------------------------------------------------
@dataclass
class _Plan:
    ex_reward: list  # reward of each exemplar trajectory (visible first, then hidden)
    n_visible_ex: int
    mixed: torch.Tensor  # (P_mix, M) weights of the distinct mixed rows
    row_traj: list  # internal trajectory of each weight row (L)

    @property
    def n_ex(self) -> int:
        return len(self.ex_reward)

    @property
    def n_hidden(self) -> int:
        return self.n_ex - self.n_visible_ex

    def traj_index(self, kind: str, j: int) -> int:
        """Internal index: visible exemplars, mixed rows, hidden exemplars."""
        if kind == "mixed":
            return self.n_visible_ex + j
        return j if j < self.n_visible_ex else j + self.mixed.shape[0]


def _plan(w: torch.Tensor, soup_will_run: bool) -> _Plan:
    """One trajectory per distinct row: one-hot rows are the exemplars (Definition 2), the other rows
    are mixed. When soup steps will run, a reward weighted by some mixed row but without a one-hot row
    gets a hidden exemplar (its interpolation needs the exemplar's queries)."""
    one_hot = is_one_hot(w)
    n_rewards = w.shape[1]
    ex_of_reward, ex_reward, mixed_rows, mixed_key = {}, [], [], {}
    row_ref = []
    for l, row in enumerate(w):
        if bool(one_hot[l]):
            m = int(row.argmax())
            if m not in ex_of_reward:
                ex_of_reward[m] = len(ex_reward)
                ex_reward.append(m)
            row_ref.append(("ex", ex_of_reward[m]))
        else:
            key = tuple(row.tolist())
            if key not in mixed_key:
                mixed_key[key] = len(mixed_rows)
                mixed_rows.append(row)
            row_ref.append(("mixed", mixed_key[key]))
    n_visible = len(ex_reward)
    mixed = torch.stack(mixed_rows) if mixed_rows else w.new_zeros((0, n_rewards))
    if soup_will_run and mixed_rows:
        for m in range(n_rewards):
            if m not in ex_of_reward and bool((mixed[:, m] > 0).any()):
                ex_of_reward[m] = len(ex_reward)
                ex_reward.append(m)
    plan = _Plan(ex_reward, n_visible, mixed, [])
    plan.row_traj = [plan.traj_index(kind, j) for kind, j in row_ref]
    return plan


# --------------------------------------------------------------------------------------------------
# The sampler
# --------------------------------------------------------------------------------------------------
class _Runner:
    """State of one run: the calls to model / decode / rewards, chunked, counted and timed."""

    def __init__(self, model, extra_args, decode, rewards, shape, batch, chunk, stats, clock, interrupt):
        self.model, self.extra_args, self.decode, self.rewards = model, extra_args, decode, rewards
        self.shape, self.batch, self.stats, self.clock = shape, batch, stats, clock
        self.chunk = max(1, chunk // batch) * batch  # a multiple of B keeps rows aligned with conds
        self.interrupt = interrupt

    def check_interrupt(self) -> None:
        if self.interrupt is not None:
            self.interrupt()

    def denoise(self, x_flat: torch.Tensor, sigma: float) -> torch.Tensor:
        """``model(x, sigma)`` on (n, D) latents, in chunks; returns (n, D) in x's dtype."""
        outs = []
        for start in range(0, x_flat.shape[0], self.chunk):
            if start:
                self.check_interrupt()
            xc = x_flat[start : start + self.chunk]
            n = xc.shape[0]
            xin = xc.reshape((n,) + self.shape)
            with self.clock.timing("time_model"):
                out = self.model(xin, xin.new_full((n,), sigma), **self.extra_args)
            self.stats.model_calls += 1
            self.stats.model_evaluations += n
            outs.append(out.reshape(n, -1).to(x_flat.dtype))
        return torch.cat(outs) if len(outs) > 1 else outs[0]

    def score(self, n_total: int, make_x0, need: torch.Tensor) -> torch.Tensor:
        """Rewards of ``n_total`` queries, built chunk by chunk by ``make_x0(start, stop) -> (n, D)`` x0
        latents, so no more than one chunk of queries is denoised, decoded or scored at a time.
        Reward m only where ``need[:, m]``. Returns (n_total, M) float64 on CPU, NaN where not scored
        or not finite (the latter counted as dropped)."""
        scores = [[] for _ in self.rewards]  # per reward: its scores of the needed rows, in order
        for start in range(0, n_total, self.chunk):
            self.check_interrupt()
            stop = min(start + self.chunk, n_total)
            n = stop - start
            latents = make_x0(start, stop).reshape((n,) + self.shape)
            if self.decode is None:
                images = latents
            else:
                with self.clock.timing("time_decode"):
                    images = self.decode(latents)
                self.stats.decode_calls += 1
                self.stats.decodes += n
            for m, reward in enumerate(self.rewards):
                rows = need[start:stop, m].nonzero().squeeze(1)
                k = rows.numel()
                if k == 0:
                    continue
                batch = images if k == n else images.index_select(0, rows.to(images.device))
                with self.clock.timing("time_reward"):
                    vals = reward(batch)
                vals = torch.as_tensor(vals).detach()
                if vals.numel() != k:
                    raise ValueError(
                        f"reward {m} returned {vals.numel()} values for {k} images: "
                        "a reward must return one score per image (Tensor[B])"
                    )
                self.stats.reward_queries[m] += k
                self.stats.reward_calls[m] += 1
                scores[m].append(vals.reshape(-1).to("cpu", torch.float64))
        # One table write per reward and step, not per chunk.
        table = torch.full((n_total, len(self.rewards)), math.nan, dtype=torch.float64)
        for m, vals in enumerate(scores):
            if vals:
                table[:, m][need[:, m]] = torch.cat(vals)
        self.stats.dropped_queries += int(need.sum()) - int(torch.isfinite(table).sum())
        return table


def _query_x0(start, stop, *, run, mu_q, x_q, x0_q, z, s, sigma, sigma_next, mode):
    """x0 latents of the flattened queries ``start..stop-1``; query ``r = n * (Q * B) + q * B + b`` is
    ``x^n = mu_qb + s z_nb`` (Algorithm 1, line 2). mu_q, x_q, x0_q: (Q, B, D); z: (N, B, D).
    Broadcasts only the (n, q) blocks the chunk touches (no index tensors, at most the chunk plus
    2 (Q - 1) B latents), then slices the chunk; start and stop are multiples of B."""
    n_q, n_batch = mu_q.shape[:2]
    per_n = n_q * n_batch
    n0, n1 = start // per_n, -(-stop // per_n)
    first, last = start - n0 * per_n, stop - n0 * per_n  # the chunk's rows from the start of n-row n0
    q0, q1 = (0, n_q) if n1 - n0 > 1 else (first // n_batch, last // n_batch)
    x_query = mu_q[q0:q1] + s * z[n0:n1, None]  # (n1 - n0, q1 - q0, B, D)
    rows = slice(first - q0 * n_batch, last - q0 * n_batch)
    if mode == "tweedie":  # one more model call per query, batched
        return run.denoise(x_query.reshape(-1, x_query.shape[-1])[rows], sigma_next)
    x0 = reuse_x0(x_query, x_q[q0:q1], x0_q[q0:q1], sigma, sigma_next)
    return x0.reshape(-1, x0.shape[-1])[rows]


def _query_rewards(run, mu_q, x_q, x0_q, z, s, sigma, sigma_next, row_w, query_x0) -> torch.Tensor:
    """Rewards of the N queries ``x^n = mu + s z_n`` around each querying trajectory (Algorithm 1, lines
    2-3): trajectory q scores reward m iff ``row_w[q, m] > 0``. mu_q, x_q, x0_q: (Q, B, D); z: (N, B, D).
    Returns (N, Q, B, M) float64 on CPU, NaN where not scored or not finite."""
    n_queries, n_batch = z.shape[:2]
    n_q, n_rewards = row_w.shape
    make_x0 = partial(_query_x0, run=run, mu_q=mu_q, x_q=x_q, x0_q=x0_q, z=z, s=s, sigma=sigma,
                      sigma_next=sigma_next, mode=query_x0)
    need = (row_w > 0)[None, :, None, :].expand(n_queries, n_q, n_batch, n_rewards)
    table = run.score(n_queries * n_q * n_batch, make_x0, need.reshape(-1, n_rewards))
    return table.reshape(n_queries, n_q, n_batch, n_rewards)


def _search_directions(table, row_w, z):
    """Exemplar (one-hot row) and weighted-sum directions from a reward table (N, Q, B, M).

    Per step, trajectory and reward the rewards are z-scored (ALGORITHM.md §5), weighted by the row
    (Eq. 8-9) and turned into ``v = sum_n a_n z_n`` (Algorithm 1, line 4). Returns ``v`` (Q, B, D),
    ``informative`` (Q, B) and the per-reward Monte Carlo weights ``a_m`` (N, Q, B, M) for the soup."""
    r_tilde, n_valid, _ = zscore(table, dim=0)
    a_m = mc_weights(r_tilde, n_valid, dim=0)
    a = weighted_sum_weights(a_m, row_w)  # (N, Q, B)
    return search_direction(a.to(z.device), z), ~is_degenerate(a).to(z.device), a_m


@dataclass
class _Soup:
    """The fixed part of the soup steps (Eq. 11), built once per run: ``w`` (Pm, M) the mixed rows'
    weights (0 where a reward has no exemplar), ``ex`` the exemplar of each reward (any, where w = 0),
    ``weighted`` (Pm, M, 1) ``w > 0``, ``active`` flat indices into (M, Pm, B) of the pairs the
    diagnostics average over."""

    w: torch.Tensor
    ex: list
    weighted: torch.Tensor
    active: torch.Tensor


def _soup_plan(plan, n_batch, device, dtype) -> _Soup:
    """The soup rows' weights and exemplars: fixed while soup steps run (hidden exemplars included)."""
    n_rewards = plan.mixed.shape[1]
    ex_of = {m: j for j, m in enumerate(plan.ex_reward)}
    has_ex = torch.tensor([m in ex_of for m in range(n_rewards)], device=device)
    w = plan.mixed.to(device, dtype) * has_ex  # every weighted reward has an exemplar when soup runs
    weighted = w > 0
    active = weighted.T[:, :, None].expand(-1, -1, n_batch).reshape(-1).nonzero().squeeze(1)
    return _Soup(w, [ex_of.get(m, 0) for m in range(n_rewards)], weighted[:, :, None], active)


def _soup_directions(soup, a_m, v_ex, ok_ex, mu_ex, mu_mix, z, s, correction):
    """Soup directions of the mixed rows from the exemplars' rewards at this step (Eq. 11).

    ``a_m``, ``v_ex``, ``ok_ex``: the exemplars' Monte Carlo weights (N, E, B, M), directions (E, B, D)
    and informative flags (E, B); ``mu_ex`` (E, B, D), ``mu_mix`` (Pm, B, D) the means. Returns the
    directions (Pm, B, D), informative flags (Pm, B), and the mean overlap ESS and shift ||c^m - mu^l|| / s.
    """
    order = soup.ex
    a_ex = torch.stack([a_m[:, j, :, m] for m, j in enumerate(order)], dim=1).to(z.device)  # (N, M, B)
    delta = mu_ex[order][:, None] - mu_mix[None]  # c^m - mu^l: (M, Pm, B, D)
    v = soup_direction(soup.w, a_ex, v_ex[order], delta, z, s, correction)
    informative = (soup.weighted & ok_ex[order][None]).any(1)
    ess = float(overlap_ess(z, delta, s).take(soup.active).mean())
    shift = float((delta.norm(dim=-1) / s).take(soup.active).mean())
    return v, informative, ess, shift


def _callback(callback, i, sigmas, state, x0_hat, out_index, shape) -> None:
    """k-diffusion's per-step callback, with the returned rows only, in output order (l * B + b)."""
    rows = state.shape[0] * state.shape[1]
    callback({
        "x": state.reshape(rows, -1)[out_index].reshape((-1,) + shape),
        "i": i,
        "sigma": sigmas[i],
        "sigma_hat": sigmas[i],
        "denoised": x0_hat.reshape(rows, -1)[out_index].reshape((-1,) + shape),
    })


def srsoup_sample(
    model,
    x,
    sigmas,
    extra_args=None,
    callback=None,
    disable=None,
    *,
    rewards,
    weights,
    decode=None,
    n_queries: int = 30,
    soup_steps: int = 20,
    parameterization: str = "eps",
    generator=None,
    query_x0: str = "tweedie",
    step_rule: str = "norm",
    correction: str = "paper",
    query_chunk: int = 32,
    interrupt=None,
) -> SRSoupResult:
    """Sample Reward Soups: one sample per weight row and input batch element, all from ``x``.

    ``model(x, sigma_batch, **extra_args) -> x0_hat``; ``x``: noisy latents at ``sigmas[0]`` (B, ...);
    ``sigmas``: strictly decreasing, ending at 0. ``rewards``: M callables ``images -> Tensor[B]``
    (higher is better); ``weights``: (L, M) rows on the simplex; ``decode``: latents -> images (identity
    when None). ``soup_steps`` K: soup interpolation for the first K guided steps, weighted sum afterwards
    (0: pure weighted sum). See README for every option. Returns ``SRSoupResult(samples, stats)`` with
    ``samples`` of shape ``(L * B, ...)`` at index ``l * B + b``.
    """
    rewards = _check_rewards(rewards)
    n_rewards = len(rewards)
    w = validate_weights(weights, n_rewards).cpu()
    n_queries = _check_int("n_queries", n_queries, 2, " (at least 2 queries per step to z-score rewards)")
    soup_steps = _check_int("soup_steps", soup_steps, 0, " (0 = pure weighted sum)")
    query_chunk = _check_int("query_chunk", query_chunk, 1, "")
    _check_choice("parameterization", parameterization, PARAMETERIZATIONS)
    _check_choice("query_x0", query_x0, QUERY_X0_MODES)
    _check_choice("step_rule", step_rule, STEP_RULES)
    _check_choice("correction", correction, CORRECTIONS)
    if decode is not None and not callable(decode):
        raise ValueError("decode must be a callable latents -> images, or None")
    _check_x(x)
    sig = _check_sigmas(sigmas, parameterization)
    gen = make_generator(generator)
    extra_args = {} if extra_args is None else extra_args

    stats = SRSoupStats(n_queries=n_queries, n_rewards=n_rewards, n_weights=w.shape[0], batch_size=x.shape[0])
    stats.reward_queries = [0] * n_rewards
    stats.reward_calls = [0] * n_rewards
    clock = Clock(stats, x.is_cuda)
    t_start = clock.now()

    n_batch, shape = x.shape[0], tuple(x.shape[1:])
    dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
    device = x.device
    noise = [step_noise(sig[i], sig[i + 1], parameterization) for i in range(len(sig) - 1)]
    n_guided = sum(1 for s in noise if s > 0)
    k_soup = min(soup_steps, n_guided)
    plan = _plan(w, k_soup > 0)
    n_mixed = plan.mixed.shape[0]
    stats.trajectories = plan.n_ex + n_mixed
    stats.hidden_exemplars = plan.n_hidden
    formula = paper_query_count(n_queries, n_guided, n_rewards, w.shape[0], k_soup)
    stats.paper_formula_queries = n_batch * formula
    run = _Runner(model, extra_args, decode, rewards, shape, n_batch, query_chunk, stats, clock, interrupt)

    # Output rows l * B + b read internal rows traj(l) * B + b.
    out_index = torch.tensor(
        [p * n_batch + b for p in plan.row_traj for b in range(n_batch)], dtype=torch.long, device=device
    )
    # Row weight vectors of the trajectories that query: the exemplars (one-hot) on soup steps, every
    # trajectory (visible exemplars, then mixed rows: the internal order) on weighted-sum steps.
    eye = torch.eye(n_rewards, dtype=torch.float64)
    ex_w = eye[plan.ex_reward] if plan.n_ex else torch.zeros(0, n_rewards, dtype=torch.float64)
    ws_w = torch.cat([ex_w[: plan.n_visible_ex], plan.mixed.double()])
    ex_idx = [plan.traj_index("ex", j) for j in range(plan.n_ex)]
    mix_idx = [plan.traj_index("mixed", j) for j in range(n_mixed)]
    ex_sel, mix_sel = (torch.tensor(idx, dtype=torch.long, device=device) for idx in (ex_idx, mix_idx))
    soup = _soup_plan(plan, n_batch, device, dtype) if k_soup and n_mixed else None

    # Algorithm 2, line 3: every trajectory of batch element b starts from x[b].
    n_traj = plan.n_ex + n_mixed
    state = x.detach().to(dtype).reshape(1, n_batch, -1).repeat(n_traj, 1, 1)  # (P, B, D)

    guided = 0
    for i in range(len(sig) - 1):
        sigma, sigma_next, s = sig[i], sig[i + 1], noise[i]
        run.check_interrupt()
        soup_now = s > 0 and guided < k_soup and n_mixed > 0
        if plan.n_hidden and not soup_now:  # hidden exemplars are only needed for soup steps
            n_keep = plan.n_visible_ex + n_mixed
            state = state[:n_keep]
            plan.ex_reward = plan.ex_reward[: plan.n_visible_ex]
        n_traj = state.shape[0]

        x0_hat = run.denoise(state.reshape(n_traj * n_batch, -1), sigma).reshape(state.shape)
        if callback is not None:
            with clock.timing("time_callback"):
                _callback(callback, i, sigmas, state, x0_hat, out_index, shape)
        mu = ancestral_mean(state, x0_hat, sigma, sigma_next, parameterization)  # (P, B, D)
        stats.steps += 1
        if s <= 0:  # the last step (sigma_next = 0) cannot be guided: mu = x0_hat
            state = mu
            continue

        # Algorithm 2, line 7: query noise shared by every trajectory and reward of batch element b.
        z = _randn((n_queries, n_batch) + shape, gen, dtype, device).reshape(n_queries, n_batch, -1)

        if soup_now:  # exemplars query (Algorithm 2, line 10); mixed rows interpolate (line 15, Eq. 11)
            mu_ex = mu[ex_sel]
            table = _query_rewards(
                run, mu_ex, state[ex_sel], x0_hat[ex_sel], z, s, sigma, sigma_next, ex_w, query_x0
            )
            v_q, ok_q, a_m = _search_directions(table, ex_w, z)
            v_s, ok_s, ess, shift = _soup_directions(
                soup, a_m, v_q, ok_q, mu_ex, mu[mix_sel], z, s, correction
            )
            v = torch.empty_like(mu)
            informative = torch.empty(n_traj, n_batch, dtype=torch.bool, device=device)
            v[ex_sel], informative[ex_sel] = v_q, ok_q
            v[mix_sel], informative[mix_sel] = v_s, ok_s
            stats.ess_per_soup_step.append(ess)
            stats.shift_per_soup_step.append(shift)
            stats.soup_steps += 1
        else:  # weighted sum (Eq. 9): every trajectory queries the rewards its row weights
            table = _query_rewards(run, mu, state, x0_hat, z, s, sigma, sigma_next, ws_w, query_x0)
            v, informative, _ = _search_directions(table, ws_w, z)

        ok = usable(v, informative)
        stats.fallbacks += int((~ok).sum())
        state = guided_step(mu, s, v, z[0], ok, step_rule)
        guided += 1

    stats.guided_steps = guided
    stats.total_reward_queries = sum(stats.reward_queries)
    samples = state.reshape(-1, state.shape[-1])[out_index].reshape((-1,) + shape).to(x.dtype)
    stats.time_total = clock.now() - t_start
    stats.time_other = (
        stats.time_total - stats.time_model - stats.time_decode - stats.time_reward - stats.time_callback
    )
    return SRSoupResult(samples, stats)


def weighted_sum_sample(
    model, x, sigmas, extra_args=None, callback=None, disable=None, **kwargs
) -> SRSoupResult:
    """Pure weighted-sum guidance (the paper's baseline, Section 4.2): ``srsoup_sample`` with K = 0."""
    kwargs["soup_steps"] = 0
    return srsoup_sample(model, x, sigmas, extra_args, callback, disable, **kwargs)


def ancestral_sample(
    model, x, sigmas, extra_args=None, callback=None, disable=None, *, parameterization="eps", generator=None
) -> torch.Tensor:
    """Plain unguided ancestral sampling (eta = 1): the baseline, direction = fresh noise every step.

    Same conventions as ``srsoup_sample``; returns the final x0 latents (B, ...).
    """
    _check_choice("parameterization", parameterization, PARAMETERIZATIONS)
    _check_x(x)
    sig = _check_sigmas(sigmas, parameterization)
    gen = make_generator(generator)
    extra_args = {} if extra_args is None else extra_args
    dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
    state = x.detach().to(dtype)
    for i in range(len(sig) - 1):
        sigma, sigma_next = sig[i], sig[i + 1]
        x0_hat = model(state, sigma * state.new_ones([state.shape[0]]), **extra_args).to(dtype)
        if callback is not None:
            callback({"x": state, "i": i, "sigma": sigmas[i], "sigma_hat": sigmas[i], "denoised": x0_hat})
        mu = ancestral_mean(state, x0_hat, sigma, sigma_next, parameterization)
        s = step_noise(sigma, sigma_next, parameterization)
        state = mu + s * _randn(state.shape, gen, dtype, state.device) if s > 0 else mu
    return state.to(x.dtype)
