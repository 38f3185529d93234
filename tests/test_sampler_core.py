"""sampler_core on the analytic Gaussian-mixture problem (exact denoiser, rewards with known gradients)."""

import math

import pytest
import torch

import sampler_core as sc
from bench.analytic import (
    ConstantReward,
    GaussianMixture,
    LinearReward,
    NaNReward,
    QuadraticReward,
    default_sigmas,
    three_reward_problem,
    two_reward_problem,
)
from sampler_core import directions as dirs
from sampler_core.ancestral import ancestral_mean, step_noise

FORMS = ["eps", "flow"]
SWEEP = [[1.0, 0.0], [0.75, 0.25], [0.5, 0.5], [0.25, 0.75], [0.0, 1.0]]


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny tensors: one thread avoids oversubscribing a shared 2-core machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def gen(seed):
    return torch.Generator().manual_seed(seed)


def start(mix, n, sigmas, form, seed=0):
    """Exact draws of the noisy marginal at sigmas[0]."""
    return mix.sample_marginal(n, float(sigmas[0]), form, gen(seed))


def scores(rewards, samples, n_rows):
    """Mean of each reward per weight row: (L, M). samples are (L * B, D), index l * B + b."""
    per = torch.stack([r.value(samples.reshape(samples.shape[0], -1)) for r in rewards], dim=1)
    return per.reshape(n_rows, -1, len(rewards)).mean(1)


class Recorder:
    """Wraps the real model and records the batch size of every call."""

    def __init__(self, model):
        self.model = model
        self.sizes = []
        self.kwargs = []

    def __call__(self, x, sigma, **kw):
        assert sigma.shape == (x.shape[0],)
        self.sizes.append(x.shape[0])
        self.kwargs.append(kw)
        return self.model(x, sigma)


class StepCounter:
    """A callback that snapshots the rewards' item counters at every step."""

    def __init__(self, rewards):
        self.rewards = rewards
        self.snapshots = []
        self.calls = []

    def __call__(self, info):
        self.calls.append(info)
        self.snapshots.append([r.items for r in self.rewards])


# --------------------------------------------------------------------------------------------------
# mu and s: unguided sampling reproduces the exact marginals
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("sampler", ["ancestral_sample", "srsoup_fallback"])
@pytest.mark.parametrize("form,sig0,sig1", [("eps", 8.0, 2.5), ("eps", 1.0, 0.3), ("flow", 1.0, 0.5),
                                            ("flow", 0.6, 0.1)])
def test_one_plain_step_maps_the_exact_marginal_to_the_next(sampler, form, sig0, sig1):
    """With (nearly) point-mass data, x0_hat = x0, so one plain ancestral step from the exact marginal at
    sig0 gives exactly the marginal at sig1, however large the step: checks mu and s in both forms."""
    mix = GaussianMixture(torch.tensor([[0.7, -1.2, 0.3, 2.0]]), 1e-12)
    n = 20000
    x = mix.sample_marginal(n, sig0, form, gen(1))
    sigmas = torch.tensor([sig0, sig1, 0.0])
    seen = {}

    def grab(info):
        seen[info["i"]] = info["x"].clone()

    if sampler == "ancestral_sample":
        sc.ancestral_sample(mix.model(form), x, sigmas, callback=grab, parameterization=form, generator=2)
    else:  # a constant reward gives no direction: every step falls back to the plain step with z_1
        res = sc.srsoup_sample(mix.model(form), x, sigmas, callback=grab, rewards=[ConstantReward()],
                               weights=[[1.0]], n_queries=2, parameterization=form, generator=2)
        assert res.stats.fallbacks == n
    x1 = seen[1].double()
    mean, cov = mix.marginal_moments(sig1, form)
    assert (x1.mean(0) - mean).abs().max() < 5 * sig1 / math.sqrt(n)
    assert (x1.var(0) - cov.diag()).abs().max() < 6 * sig1**2 * math.sqrt(2 / n)


@pytest.mark.parametrize("form", FORMS)
def test_unguided_sampling_reproduces_the_data_moments(form):
    mix = two_reward_problem(dim=2).mixture
    sigmas = default_sigmas(form, 60)
    n = 20000
    out = sc.ancestral_sample(mix.model(form), start(mix, n, sigmas, form), sigmas,
                              parameterization=form, generator=3).double()
    mean, cov = mix.marginal_moments(0.0, form)
    assert (out.mean(0) - mean).abs().max() < 0.03
    assert (torch.cov(out.T) - cov).abs().max() < 0.04  # discretization error O(1/T) + MC noise
    assert cov.diag().min() > 0.5  # (the tolerance is well below the variances themselves)


# --------------------------------------------------------------------------------------------------
# Search directions
# --------------------------------------------------------------------------------------------------
def test_zscore_drops_non_finite_and_flags_constant_rewards():
    r = torch.tensor([[1.0, 5.0, 2.0], [3.0, 5.0, math.nan], [math.inf, 5.0, math.nan], [5.0, 5.0, 4.0]],
                     dtype=torch.float64)
    rt, n_valid, informative = dirs.zscore(r, dim=0)
    assert n_valid.tolist() == [3, 4, 2]
    assert informative.tolist() == [True, False, True]
    torch.testing.assert_close(rt[:, 0], torch.tensor([-1.0, 0.0, 0.0, 1.0], dtype=torch.float64) * 1.5**0.5,
                               rtol=1e-6, atol=1e-6)
    assert rt[:, 1].abs().max() == 0 and rt[2, 0] == 0 and rt[1, 2] == 0
    assert bool(torch.isfinite(rt).all())


def test_search_direction_aligns_with_the_linear_gradient():
    dim, n = 16, 4096
    a = torch.randn(dim, generator=gen(4))
    z = torch.randn(n, 1, dim, generator=gen(5))
    mu = torch.randn(1, dim, generator=gen(6))
    r = LinearReward(a)((mu + 0.3 * z).reshape(n, dim)).double().reshape(n, 1, 1)
    rt, n_valid, _ = dirs.zscore(r)
    v = dirs.search_direction(dirs.mc_weights(rt, n_valid), z)[0, 0]
    assert torch.cosine_similarity(v, a, dim=0) > 0.99
    # the literal Monte Carlo estimate (1/N) sum r~ z of a unit-std linear reward is the unit gradient
    assert v.norm() == pytest.approx(1.0, abs=0.05)


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("step_rule", ["norm", "paper"])
def test_single_reward_step_follows_the_true_gradient(form, step_rule):
    """End to end: the guided step's direction (x1 - mu) / s aligns with the reward's gradient.
    'reuse' queries of a linear reward have exactly that gradient; 'norm' steps have norm sqrt(D),
    'paper' steps the norm of the unit gradient estimate."""
    dim = 8
    mix = GaussianMixture(torch.randn(3, dim, generator=gen(7)), 0.2)
    a = torch.randn(dim, generator=gen(8))
    sigmas = default_sigmas(form, 4)[1:] if form == "eps" else torch.tensor([0.7, 0.4, 0.0])
    x = start(mix, 1, sigmas, form, seed=9)
    seen = {}
    sc.srsoup_sample(mix.model(form), x, sigmas, callback=lambda info: seen.setdefault(info["i"], info),
                     rewards=[LinearReward(a)], weights=[[1.0]], n_queries=3000, parameterization=form,
                     generator=10, query_x0="reuse", step_rule=step_rule)
    sig0, sig1 = float(sigmas[0]), float(sigmas[1])
    mu = ancestral_mean(x, mix.denoise(x, sig0, form), sig0, sig1, form)
    d = ((seen[1]["x"] - mu) / step_noise(sig0, sig1, form))[0]
    assert torch.cosine_similarity(d, a, dim=0) > 0.98
    expected_norm = math.sqrt(dim) if step_rule == "norm" else 1.0
    assert d.norm() == pytest.approx(expected_norm, rel=0.06)


def test_tweedie_queries_follow_the_smoothed_gradient_through_the_denoiser():
    """With 'tweedie' the reward sees D(x^n, sig1): the direction estimates E_z grad_y f(D(mu + s z))."""
    dim, form = 6, "eps"
    mix = GaussianMixture(torch.randn(4, dim, generator=gen(11)), 0.3)
    reward = QuadraticReward(torch.full((dim,), 2.0))
    sigmas = torch.tensor([1.5, 0.8, 0.0])
    x = start(mix, 1, sigmas, form, seed=12)
    seen = {}
    sc.srsoup_sample(mix.model(form), x, sigmas, callback=lambda info: seen.setdefault(info["i"], info),
                     rewards=[reward], weights=[[1.0]], n_queries=4000, generator=13)
    mu = ancestral_mean(x, mix.denoise(x, 1.5, form), 1.5, 0.8, form)
    s = step_noise(1.5, 0.8, form)
    y = (mu + s * torch.randn(4000, dim, generator=gen(14))).double().requires_grad_(True)
    grad = torch.autograd.grad(reward.value(mix.denoise(y, 0.8, form)).sum(), y)[0].mean(0)
    d = ((seen[1]["x"] - mu) / s)[0].double()
    assert torch.cosine_similarity(d, grad, dim=0) > 0.95


# --------------------------------------------------------------------------------------------------
# Guidance works: rewards rise, the weight sweep traces a front
# --------------------------------------------------------------------------------------------------
VARIANTS = {
    "default": {},
    "paper_step": {"step_rule": "paper"},
    "reuse": {"query_x0": "reuse"},
    "official": {"correction": "official"},
    "no_correction": {"correction": "none", "step_rule": "paper", "query_x0": "reuse"},
}


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("soup_steps,variant", [(0, "default"), (4, "default"), (100, "default"),
                                                (0, "paper_step"), (4, "paper_step"), (4, "reuse"),
                                                (100, "official"), (100, "no_correction")])
def test_guidance_raises_rewards_and_the_sweep_is_monotone(form, soup_steps, variant):
    prob = two_reward_problem(dim=4)
    sigmas = default_sigmas(form, 12)
    x = start(prob.mixture, 24, sigmas, form, seed=15)
    base = sc.ancestral_sample(prob.model(form), x, sigmas, parameterization=form, generator=16)
    base_mean = scores(prob.rewards, base, 1)[0]
    res = sc.srsoup_sample(prob.model(form), x, sigmas, rewards=prob.rewards, weights=SWEEP, n_queries=12,
                           soup_steps=soup_steps, parameterization=form, generator=17, **VARIANTS[variant])
    mean = scores(prob.rewards, res.samples, len(SWEEP))  # (L, 2)
    span = base_mean.abs().max()
    assert mean[0, 0] > base_mean[0] + 0.5 * span  # the r1 exemplar beats unguided sampling on r1
    assert mean[-1, 1] > base_mean[1] + 0.5 * span  # the r2 exemplar on r2
    tol = 0.05 * span
    assert bool((mean[1:, 0] <= mean[:-1, 0] + tol).all()), mean  # r1 falls as its weight falls
    assert bool((mean[1:, 1] >= mean[:-1, 1] - tol).all()), mean  # r2 rises
    assert mean[0, 0] - mean[-1, 0] > span and mean[-1, 1] - mean[0, 1] > span
    assert bool(torch.isfinite(res.samples).all()) and res.stats.fallbacks == 0


def test_three_rewards_each_exemplar_wins_its_own_reward():
    prob = three_reward_problem(dim=4)
    sigmas = default_sigmas("eps", 10)
    weights = [[1, 0, 0], [0, 1, 0], [0, 0, 1], [1 / 3, 1 / 3, 1 / 3], [0.6, 0.2, 0.2]]
    res = sc.srsoup_sample(prob.model(), start(prob.mixture, 16, sigmas, "eps", 18), sigmas,
                           rewards=prob.rewards, weights=weights, n_queries=12, soup_steps=4, generator=19)
    mean = scores(prob.rewards, res.samples, len(weights))
    for m in range(3):
        assert int(mean[:, m].argmax()) == m
    assert mean[4, 0] > mean[3, 0]  # more weight on r1, more r1


# --------------------------------------------------------------------------------------------------
# Weighted sum and soup: exactness and query accounting
# --------------------------------------------------------------------------------------------------
def reference_weighted_sum(model, x, sigmas, rewards, weights, n_queries, form, seed):
    """The weighted-sum sampler written plainly, one weight row at a time (ALGORITHM.md §2-6)."""
    g = torch.Generator().manual_seed(seed)
    n_batch, dim = x.shape
    sig = [float(v) for v in sigmas]
    states = [x.clone() for _ in weights]
    for i in range(len(sig) - 1):
        x0s = [model(st, sig[i] * st.new_ones([n_batch])) for st in states]
        mus = [ancestral_mean(st, x0, sig[i], sig[i + 1], form) for st, x0 in zip(states, x0s, strict=True)]
        s = step_noise(sig[i], sig[i + 1], form)
        if s == 0:
            states = mus
            continue
        z = torch.randn((n_queries, n_batch, dim), generator=g)
        for row, w in enumerate(weights):
            xq = (mus[row][None] + s * z).reshape(-1, dim)
            x0q = model(xq, sig[i + 1] * xq.new_ones([xq.shape[0]]))
            a = torch.zeros(n_queries, n_batch, dtype=torch.float64)
            for m, reward in enumerate(rewards):
                if w[m] > 0:
                    r = reward(x0q).double().reshape(n_queries, n_batch)
                    rt = (r - r.mean(0)) / (r.std(0, unbiased=False) + 1e-8)
                    a = a + w[m] * rt / n_queries
            v = torch.einsum("nb,nbd->bd", a.float(), z)
            states[row] = mus[row] + s * (math.sqrt(dim) * v / v.norm(dim=-1, keepdim=True))
    return torch.cat(states)


def stepwise_weighted_sum(model, x, sigmas, rewards, weights, n_queries, form, seed):
    """The same weighted-sum sampler, one row and one reward at a time, built from the core's step
    functions: a bit-for-bit reference for the batched loop (layout, chunking, exemplar routing)."""
    g = torch.Generator().manual_seed(seed)
    n_batch, dim = x.shape
    sig = [float(v) for v in sigmas]
    states = [x.clone() for _ in weights]
    for i in range(len(sig) - 1):
        mus = [ancestral_mean(st, model(st, sig[i] * st.new_ones([n_batch])), sig[i], sig[i + 1], form)
               for st in states]
        s = step_noise(sig[i], sig[i + 1], form)
        if s == 0:
            states = mus
            continue
        z = torch.randn((n_queries, n_batch, dim), generator=g)
        for row, w in enumerate(weights):
            xq = (mus[row][None] + s * z).reshape(-1, dim)
            x0q = model(xq, sig[i + 1] * xq.new_ones([xq.shape[0]]))
            table = torch.full((n_queries, 1, n_batch, len(rewards)), math.nan, dtype=torch.float64)
            for m, reward in enumerate(rewards):
                if w[m] > 0:
                    table[:, 0, :, m] = reward(x0q).double().reshape(n_queries, n_batch)
            rt, n_valid, _ = dirs.zscore(table)
            w_row = torch.tensor([w], dtype=torch.float32).double()  # weights are validated to float32
            a = dirs.weighted_sum_weights(dirs.mc_weights(rt, n_valid), w_row)
            v = dirs.search_direction(a, z)
            ok = ~dirs.is_degenerate(a)
            states[row] = dirs.guided_step(mus[row][None], s, v, z[0], ok)[0]
    return torch.cat(states)


@pytest.mark.parametrize("form", FORMS)
def test_soup_steps_zero_is_the_weighted_sum_sampler(form):
    prob = two_reward_problem(dim=4)
    sigmas = default_sigmas(form, 6)
    x = start(prob.mixture, 3, sigmas, form, seed=20)
    weights = [[1.0, 0.0], [0.7, 0.3], [0.0, 1.0], [0.2, 0.8]]
    kw = dict(rewards=prob.rewards, n_queries=8, parameterization=form, generator=21)
    res = sc.srsoup_sample(prob.model(form), x, sigmas, weights=weights, soup_steps=0, **kw)
    ref = reference_weighted_sum(prob.model(form), x, sigmas, prob.rewards, weights, 8, form, 21)
    torch.testing.assert_close(res.samples, ref, rtol=1e-5, atol=1e-5)
    exact = stepwise_weighted_sum(prob.model(form), x, sigmas, prob.rewards, weights, 8, form, 21)
    assert torch.equal(res.samples, exact)
    # bit for bit: a WS row does not depend on the other rows, the chunking or the soup-only options
    alone = sc.srsoup_sample(prob.model(form), x, sigmas, weights=[[0.7, 0.3]], soup_steps=0, **kw)
    assert torch.equal(alone.samples, res.samples[3:6])
    other = sc.srsoup_sample(prob.model(form), x, sigmas, weights=weights, soup_steps=0,
                             correction="official", query_chunk=5, **kw)
    assert torch.equal(other.samples, res.samples)
    ws = sc.weighted_sum_sample(prob.model(form), x, sigmas, weights=weights, **kw)
    assert torch.equal(ws.samples, res.samples)


@pytest.mark.parametrize("n_rewards,soup_steps", [(2, 0), (2, 3), (2, 100), (3, 0), (3, 2), (3, 100)])
@pytest.mark.parametrize("query_x0", ["tweedie", "reuse"])
def test_stats_count_every_call_and_match_the_paper_formula(n_rewards, soup_steps, query_x0):
    prob = two_reward_problem(dim=3) if n_rewards == 2 else three_reward_problem(dim=3)
    weights = ([[1, 0], [0.8, 0.2], [0.5, 0.5], [0.1, 0.9], [0, 1]] if n_rewards == 2 else
               [[1, 0, 0], [0, 1, 0], [0, 0, 1], [0.2, 0.3, 0.5], [0.6, 0.2, 0.2]])
    n_rows, n_batch, n_q, n_steps = len(weights), 2, 5, 7
    sigmas = default_sigmas("eps", n_steps)
    model = prob.model()
    counter = StepCounter(prob.rewards)
    res = sc.srsoup_sample(model, start(prob.mixture, n_batch, sigmas, "eps", 22), sigmas, callback=counter,
                           rewards=prob.rewards, weights=weights, n_queries=n_q, soup_steps=soup_steps,
                           generator=23, query_x0=query_x0, query_chunk=8)
    st = res.stats
    guided, k = n_steps - 1, min(soup_steps, n_steps - 1)
    assert (st.steps, st.guided_steps, st.soup_steps) == (n_steps, guided, k)
    assert st.reward_queries == [r.items for r in prob.rewards]
    assert st.reward_calls == [r.calls for r in prob.rewards]
    assert st.total_reward_queries == sum(r.items for r in prob.rewards)
    paper = n_q * guided * n_rewards * (n_rows - n_rewards + 1) - n_q * k * n_rewards * (n_rows - n_rewards)
    assert st.paper_formula_queries == n_batch * paper == st.total_reward_queries
    # per step: a soup step queries only the M exemplars, N per reward and batch element
    snaps = counter.snapshots
    per_step = [[b - a for a, b in zip(s0, s1, strict=True)]
                for s0, s1 in zip(snaps, snaps[1:], strict=False)]
    for i, counts in enumerate(per_step):
        expected = n_q * n_batch * (1 if i < k else 1 + sum(1 for w in weights if max(w) < 1))
        assert counts == [expected] * n_rewards
    assert (st.model_calls, st.model_evaluations) == (model.calls, model.evaluations)
    query_evals = n_q * n_batch * (k * n_rewards + (guided - k) * n_rows) if query_x0 == "tweedie" else 0
    assert st.model_evaluations == n_steps * n_rows * n_batch + query_evals
    assert st.fallbacks == 0 and st.dropped_queries == 0 and st.hidden_exemplars == 0
    assert len(counter.calls) == n_steps


def test_pure_soup_first_step_has_full_overlap_and_ess_is_reported():
    prob = two_reward_problem(dim=4)
    sigmas = default_sigmas("eps", 8)
    res = sc.srsoup_sample(prob.model(), start(prob.mixture, 2, sigmas, "eps", 24), sigmas,
                           rewards=prob.rewards, weights=SWEEP, n_queries=10, soup_steps=100, generator=25)
    ess = res.stats.ess_per_soup_step
    assert len(ess) == res.stats.soup_steps == 7 == len(res.stats.shift_per_soup_step)
    assert ess[0] == pytest.approx(10.0)  # shared initial noise: every mean coincides at the first step
    assert res.stats.shift_per_soup_step[0] == 0.0
    assert all(1.0 <= e <= 10.0 + 1e-9 for e in ess) and min(ess) < 10.0


def test_hidden_exemplars_serve_mixed_rows_without_one_hot_rows():
    prob = two_reward_problem(dim=4)
    sigmas = default_sigmas("eps", 6)
    n_batch, n_q, k = 2, 6, 3
    model = prob.model()
    res = sc.srsoup_sample(model, start(prob.mixture, n_batch, sigmas, "eps", 26), sigmas,
                           rewards=prob.rewards, weights=[[0.5, 0.5], [0.3, 0.7]], n_queries=n_q,
                           soup_steps=k, generator=27, query_x0="reuse")
    st = res.stats
    assert res.samples.shape == (2 * n_batch, 4)
    assert st.hidden_exemplars == 2 and st.trajectories == 4 and st.soup_steps == k
    # soup steps: the two hidden exemplars query their own reward; WS steps: both rows query both
    expected = n_q * n_batch * (k + 2 * (5 - k))
    assert st.reward_queries == [expected, expected] == [r.items for r in prob.rewards]
    # the hidden exemplars are dropped once the soup steps are over
    assert st.model_evaluations == model.evaluations == n_batch * (4 * k + 2 * (6 - k))


def test_soup_corrections_paper_matches_none_and_official_runs():
    prob = two_reward_problem(dim=4)
    sigmas = default_sigmas("flow", 8)
    x = start(prob.mixture, 8, sigmas, "flow", 28)
    kw = dict(rewards=prob.rewards, weights=SWEEP, n_queries=10, soup_steps=100, parameterization="flow",
              generator=29)
    out = {c: sc.srsoup_sample(prob.model("flow"), x, sigmas, correction=c, **kw).samples
           for c in ("paper", "none", "official")}
    # z-scored rewards sum to 0, so the paper's first-order correction vanishes (up to rounding)
    torch.testing.assert_close(out["paper"], out["none"], rtol=1e-4, atol=1e-4)
    assert not torch.allclose(out["official"], out["none"])
    mean = scores(prob.rewards, out["official"], len(SWEEP))
    assert mean[0, 0] > mean[2, 0] > mean[4, 0] and mean[0, 1] < mean[2, 1] < mean[4, 1]


# --------------------------------------------------------------------------------------------------
# Fallbacks and robustness
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("soup_steps", [0, 100])
def test_constant_rewards_fall_back_to_plain_steps(soup_steps):
    prob = two_reward_problem(dim=4)
    sigmas = default_sigmas("eps", 6)
    n_batch = 3
    res = sc.srsoup_sample(prob.model(), start(prob.mixture, n_batch, sigmas, "eps", 30), sigmas,
                           rewards=[ConstantReward(2.0), ConstantReward(-7.0)], weights=SWEEP, n_queries=6,
                           soup_steps=soup_steps, generator=31)
    assert res.stats.fallbacks == len(SWEEP) * n_batch * 5
    rows = res.samples.reshape(len(SWEEP), n_batch, -1)
    assert bool((rows == rows[:1]).all())  # every row took the same plain steps (shared z_1)
    assert bool(torch.isfinite(res.samples).all())


@pytest.mark.parametrize("soup_steps", [0, 100])
def test_one_constant_reward_leaves_the_other_in_charge(soup_steps):
    prob = two_reward_problem(dim=4)
    sigmas = default_sigmas("eps", 6)
    rewards = [ConstantReward(1.0), prob.rewards[1]]
    res = sc.srsoup_sample(prob.model(), start(prob.mixture, 4, sigmas, "eps", 32), sigmas, rewards=rewards,
                           weights=[[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]], n_queries=8, soup_steps=soup_steps,
                           generator=33)
    assert res.stats.fallbacks == 4 * 5  # only the constant reward's exemplar falls back
    rows = res.samples.reshape(3, 4, -1)
    torch.testing.assert_close(rows[1], rows[2]) if soup_steps else None  # soup: r2's direction only
    r2 = prob.rewards[1].value(res.samples).reshape(3, 4).mean(1)
    assert r2[1] > r2[0] + 1.0 and r2[2] > r2[0] + 1.0


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_non_finite_rewards_are_dropped_and_counted(bad):
    prob = two_reward_problem(dim=4)
    sigmas = default_sigmas("flow", 6)
    rewards = [NaNReward(prob.rewards[0], every=7, value=bad),
               NaNReward(prob.rewards[1], every=3, value=bad)]
    res = sc.srsoup_sample(prob.model("flow"), start(prob.mixture, 4, sigmas, "flow", 34), sigmas,
                           rewards=rewards, weights=SWEEP, n_queries=10, soup_steps=2,
                           parameterization="flow", generator=35)
    assert res.stats.dropped_queries == sum(r.bad for r in rewards) > 0
    assert res.stats.fallbacks == 0
    assert bool(torch.isfinite(res.samples).all())
    mean = scores(prob.rewards, res.samples, len(SWEEP))
    assert mean[0, 0] > mean[-1, 0] and mean[-1, 1] > mean[0, 1]


def test_rewards_that_are_all_nan_fall_back_and_stay_finite():
    prob = two_reward_problem(dim=4)
    sigmas = default_sigmas("eps", 5)
    rewards = [ConstantReward(math.nan), prob.rewards[1]]
    res = sc.srsoup_sample(prob.model(), start(prob.mixture, 2, sigmas, "eps", 36), sigmas, rewards=rewards,
                           weights=[[1.0, 0.0], [0.0, 1.0]], n_queries=4, generator=37)
    assert res.stats.fallbacks == 2 * 4 and res.stats.dropped_queries == 4 * 2 * 4
    assert bool(torch.isfinite(res.samples).all())


def test_cancelling_rewards_fall_back_in_weighted_sum():
    """r2 = -r1 with equal weights: the weighted rewards are identically 0, no direction: plain step."""
    a = torch.tensor([1.0, 0.5, 0.0, -1.0])
    prob = two_reward_problem(dim=4)
    sigmas = default_sigmas("eps", 5)
    res = sc.srsoup_sample(prob.model(), start(prob.mixture, 2, sigmas, "eps", 38), sigmas,
                           rewards=[LinearReward(a), LinearReward(-a)], weights=[[0.5, 0.5]], n_queries=6,
                           soup_steps=0, generator=39)
    assert res.stats.fallbacks == 2 * 4


# --------------------------------------------------------------------------------------------------
# Determinism, layout, callbacks, chunking
# --------------------------------------------------------------------------------------------------
def test_same_seed_same_output_and_chunking_does_not_matter():
    prob = two_reward_problem(dim=4)
    sigmas = default_sigmas("eps", 6)
    x = start(prob.mixture, 3, sigmas, "eps", 40)
    kw = dict(rewards=prob.rewards, weights=SWEEP, n_queries=7, soup_steps=2)
    a = sc.srsoup_sample(prob.model(), x, sigmas, generator=41, **kw).samples
    b = sc.srsoup_sample(prob.model(), x, sigmas, generator=torch.Generator().manual_seed(41), **kw).samples
    c = sc.srsoup_sample(prob.model(), x, sigmas, generator=41, query_chunk=1, **kw).samples
    d = sc.srsoup_sample(prob.model(), x, sigmas, generator=42, **kw).samples
    assert torch.equal(a, b) and torch.equal(a, c)
    assert not torch.allclose(a, d)
    torch.manual_seed(0)
    e = sc.srsoup_sample(prob.model(), x, sigmas, **kw).samples
    torch.manual_seed(0)
    assert torch.equal(e, sc.srsoup_sample(prob.model(), x, sigmas, **kw).samples)


def test_batch_layout_is_weight_major_and_calls_are_chunked():
    """Output l * B + b starts from x[b]; model and reward calls never exceed the chunk (a multiple of B)."""
    mix = GaussianMixture(torch.randn(3, 8, generator=gen(43)), 0.1)
    reward_a, reward_b = LinearReward(torch.ones(8)), QuadraticReward(torch.zeros(8))
    n_batch, chunk = 3, 10
    x = mix.sample_marginal(n_batch, 5.0, "eps", gen(44)).reshape(n_batch, 2, 2, 2)  # image-shaped latents
    sigmas = default_sigmas("eps", 5)
    sigmas = sigmas * (5.0 / float(sigmas[0]))
    model = Recorder(mix.model("eps"))
    counter = StepCounter([reward_a, reward_b])
    res = sc.srsoup_sample(model, x, sigmas, {"cond": "tag"}, counter, True, rewards=[reward_a, reward_b],
                           weights=[[1, 0], [0.5, 0.5], [0, 1], [0.9, 0.1]], n_queries=9, soup_steps=1,
                           generator=45, query_chunk=chunk)
    assert all(kw == {"cond": "tag"} for kw in model.kwargs)  # extra_args reach every model call
    assert res.samples.shape == (4 * n_batch, 2, 2, 2)
    first = counter.calls[0]
    assert set(first) == {"x", "i", "sigma", "sigma_hat", "denoised"} and first["i"] == 0
    assert first["x"].shape == res.samples.shape
    for row in range(4):
        assert torch.equal(first["x"][row * n_batch:(row + 1) * n_batch], x)
    assert max(model.sizes) <= 9 and all(size % n_batch == 0 for size in model.sizes)
    assert [c["i"] for c in counter.calls] == list(range(5))
    # row 0 maximizes a . x, row 2 is pulled to 0: the first B outputs are reward a's exemplar
    ra = reward_a.value(res.samples.reshape(12, -1)).reshape(4, n_batch)
    assert bool((ra[0] > ra[2]).all())


def test_decode_is_applied_counted_and_timed():
    prob = two_reward_problem(dim=4)
    sigmas = default_sigmas("eps", 5)
    decoded = []

    def decode(latents):
        decoded.append(latents.shape[0])
        return latents * 2.0 + 1.0  # "images": what the rewards see

    res = sc.srsoup_sample(prob.model(), start(prob.mixture, 2, sigmas, "eps", 46), sigmas,
                           rewards=prob.rewards, weights=SWEEP, decode=decode, n_queries=5, soup_steps=2,
                           generator=47, query_chunk=6)
    st = res.stats
    assert st.decodes == sum(decoded) == 5 * 2 * (2 * 2 + 2 * 5) and st.decode_calls == len(decoded)
    assert max(decoded) <= 6
    for name in ("time_model", "time_decode", "time_reward", "time_total"):
        assert getattr(st, name) > 0
    parts = st.time_model + st.time_decode + st.time_reward + st.time_callback
    assert st.time_other == pytest.approx(st.time_total - parts) and st.time_other >= 0
    d = st.to_dict()
    assert d["total_reward_queries"] == st.total_reward_queries and isinstance(d["reward_queries"], list)


def test_interrupt_is_called_between_chunks_and_can_stop_the_run():
    prob = two_reward_problem(dim=4)
    sigmas = default_sigmas("eps", 4)
    x = start(prob.mixture, 1, sigmas, "eps", 48)
    calls = []
    sc.srsoup_sample(prob.model(), x, sigmas, rewards=prob.rewards, weights=SWEEP, n_queries=4,
                     interrupt=lambda: calls.append(1), generator=49, query_chunk=2)
    assert len(calls) > 2 * 4  # more than once per step: also between query chunks

    class Stop(Exception):
        pass

    def stop():
        if len(calls) > 5:
            raise Stop
        calls.append(1)

    calls.clear()
    with pytest.raises(Stop):
        sc.srsoup_sample(prob.model(), x, sigmas, rewards=prob.rewards, weights=SWEEP, n_queries=4,
                         interrupt=stop, generator=49, query_chunk=2)


# --------------------------------------------------------------------------------------------------
# Input validation
# --------------------------------------------------------------------------------------------------
def _bad_inputs():
    sig = default_sigmas("eps", 3)
    return [
        ({"weights": [[0.5, 0.3, 0.2]]}, "column"),
        ({"weights": [[1.2, -0.2]]}, "negative"),
        ({"weights": [[0.5, 0.4]]}, "sum"),
        ({"weights": [0.5, 0.5]}, "2-D"),
        ({"n_queries": 1}, "n_queries"),
        ({"soup_steps": -1}, "soup_steps"),
        ({"sigmas": sig.flip(0)}, "decreasing"),
        ({"sigmas": sig[:-1]}, "end at 0"),
        ({"sigmas": sig.clone().fill_(math.nan)}, "non-finite"),
        ({"x": torch.full((2, 4), math.nan)}, "non-finite"),
        ({"parameterization": "v"}, "parameterization"),
        ({"parameterization": "flow"}, "[0, 1]"),
        ({"step_rule": "big"}, "step_rule"),
        ({"correction": "x"}, "correction"),
        ({"query_x0": "x"}, "query_x0"),
        ({"query_chunk": 0}, "query_chunk"),
        ({"rewards": []}, "reward"),
        ({"rewards": [1, 2]}, "callable"),
        ({"generator": "seed"}, "generator"),
    ]


@pytest.mark.parametrize("change,needle", _bad_inputs())
def test_bad_input_raises_a_value_error_that_says_what_to_change(change, needle):
    prob = two_reward_problem(dim=4)
    args = dict(x=torch.zeros(2, 4), sigmas=default_sigmas("eps", 3), rewards=prob.rewards,
                weights=[[1.0, 0.0], [0.5, 0.5]])
    args.update(change)
    with pytest.raises(ValueError, match=None) as info:
        sc.srsoup_sample(prob.model(), args.pop("x"), args.pop("sigmas"), **args)
    assert needle.lower() in str(info.value).lower()
    assert prob.rewards[0].calls == 0  # nothing ran


def test_reward_returning_the_wrong_number_of_scores_is_reported():
    prob = two_reward_problem(dim=4)
    sigmas = default_sigmas("eps", 3)
    with pytest.raises(ValueError, match="one score per image"):
        sc.srsoup_sample(prob.model(), torch.zeros(2, 4), sigmas, rewards=[lambda im: im.sum()],
                         weights=[[1.0]], n_queries=3)


def test_half_and_double_inputs_keep_their_dtype():
    prob = two_reward_problem(dim=4)
    sigmas = default_sigmas("eps", 4)
    x = start(prob.mixture, 2, sigmas, "eps", 50)
    for dtype in (torch.float16, torch.float64):
        res = sc.srsoup_sample(prob.model(), x.to(dtype), sigmas, rewards=prob.rewards, weights=SWEEP,
                               n_queries=4, generator=51)
        assert res.samples.dtype == dtype and bool(torch.isfinite(res.samples).all())
        base = sc.ancestral_sample(prob.model(), x.to(dtype), sigmas, generator=51)
        assert base.dtype == dtype and base.shape == x.shape
