"""SRSoup's algorithm in pure torch (no ComfyUI, no reward-model libraries). ALGORITHM.md §2-7.

Public API
----------
``srsoup_sample(model, x, sigmas, extra_args=None, callback=None, disable=None, *, rewards, weights,
decode=None, n_queries=30, soup_steps=20, parameterization="eps", generator=None, query_x0="tweedie",
step_rule="norm", correction="paper", query_chunk=32, interrupt=None) -> SRSoupResult``

- ``model(x, sigma * x.new_ones([n]), **extra_args) -> x0_hat`` (classifier-free guidance applied);
  ``x``: noisy latents at ``sigmas[0]``, shape (B, ...); ``sigmas``: strictly decreasing, ending at 0
  (flow: within [0, 1]). ``callback``: called once per step with k-diffusion's dict
  ``{"x", "i", "sigma", "sigma_hat", "denoised"}`` (returned rows only, output order); ``disable`` is
  ignored (KSAMPLER passes it).
- ``rewards``: M callables ``images -> Tensor[n]`` (higher is better), called with at most one chunk of
  images; ``weights``: (L, M) rows on the simplex (tensor or nested lists); ``decode``: latents (x0) ->
  images, shared by all rewards (None: rewards see the x0 latents).
- ``n_queries`` N >= 2 queries per trajectory and step. ``soup_steps`` K: the first K guided steps use
  soup interpolation for the rows that are not one-hot, the rest the weighted sum (0: pure weighted sum;
  >= number of guided steps: pure soup).
- ``parameterization``: ``"eps"`` (VE form ``x = x0 + sigma eps``: eps- and v-prediction models) or
  ``"flow"`` (``x = (1 - sigma) x0 + sigma eps``).
- ``generator``: torch.Generator, int seed, or None (seeded from torch's global RNG). All noise is drawn
  on the generator's device (CPU by default) and moved to ``x.device``: same seed, same inputs -> the same
  output, bit for bit on CPU, whatever ``query_chunk``.
- ``query_x0``: ``"tweedie"`` (one model call per query: ``x0_hat(x^n) = model(x^n, sigma_next)``) or
  ``"reuse"`` (no model call: ``x^n - sigma_next * (x - x0_hat) / sigma``).
- ``step_rule``: ``"norm"`` (``x_next = mu + s d`` with ``||d|| = sqrt(D)``: official code) or ``"paper"``
  (the literal ``mu + beta g`` of Algorithm 1: ``mu + s * (1/N) sum_n r~_n u_n``).
- ``correction`` (soup steps): ``"paper"`` (Eq. 11: ``u_{m,n} = z_n + (c^m - mu^l)/s``; with z-scored
  rewards the correction sums to 0), ``"official"`` (``u = sqrt(D) unit(z_n + c^m - mu^l)``) or ``"none"``
  (``u = z_n``).
- ``query_chunk``: the most queries (latents / images) per model, decode and reward call, rounded down
  to a multiple of B (at least B) so that row i of every call belongs to input element ``i % B``, which
  is how ComfyUI tiles conditioning. Memory for queries is bounded by the chunk, not by L * N.
- ``interrupt()``: called between steps and between query chunks; may raise to stop the run.

``SRSoupResult.samples``: final x0 latents (L * B, ...), row ``l * B + b`` = weight row l, input element b
(weight-major, batch index fastest). ``SRSoupResult.stats``: ``SRSoupStats`` (see ``stats.py``;
``.to_dict()``): ``reward_queries`` and ``reward_calls`` per reward, ``total_reward_queries``,
``paper_formula_queries`` (N T M (L - M + 1) - N K M (L - M), times B, with T = guided steps),
``model_calls``, ``model_evaluations``, ``decodes``, ``decode_calls``, ``fallbacks``, ``dropped_queries``,
``steps``, ``guided_steps``, ``soup_steps``, ``trajectories``, ``hidden_exemplars``,
``ess_per_soup_step``, ``shift_per_soup_step``, ``time_model``, ``time_decode``, ``time_reward``,
``time_callback``, ``time_total``, ``time_other``, and the run's ``n_queries``, ``n_rewards``,
``n_weights``, ``batch_size``.

``weighted_sum_sample(...)``: the weighted-sum baseline (``srsoup_sample`` with ``soup_steps=0``).
``ancestral_sample(model, x, sigmas, extra_args=None, callback=None, disable=None, *,
parameterization="eps", generator=None) -> Tensor``: plain eta = 1 ancestral sampling, the unguided
baseline.

Behaviour
---------
- All L trajectories of input element b start from ``x[b]``; each step draws z of shape (N, B, ...) once,
  shared by all trajectories and rewards of element b (the paper's two overlap strategies).
- One-hot rows are the exemplars: they query only their own reward at every guided step. Duplicate rows
  share one trajectory. When soup steps run and a reward with positive weight in some row has no
  one-hot row, a hidden exemplar is added for it (not returned, its queries counted) and dropped once
  the soup steps are over. Mixed rows query only the rewards they weight (> 0) on weighted-sum steps.
- Steps with ``s > 0`` can be guided; the last step (to sigma 0) returns ``x0_hat``.
- Rewards are z-scored per step, trajectory and reward over the finite query scores (biased std,
  ``(r - mean) / (std + 1e-8)``). A non-finite score gets weight 0 and counts in ``dropped_queries``.
  A reward with fewer than 2 finite scores or (near-)zero std (``<= 1e-6 |mean| + 1e-12``) contributes
  nothing; in a weighted sum the other rewards still steer. A trajectory whose combined weights carry no
  direction (all contributions vanish, or they cancel) takes the plain ancestral step with ``z_1`` and
  counts in ``fallbacks``; a soup row falls back when none of its weighted exemplars is informative.

Modules: ``ancestral`` (mu and s of the plain step, VE and flow), ``directions`` (z-scoring, search,
weighted-sum and soup directions, overlap ESS, step rules), ``sampler`` (the loop), ``stats``;
``preferences`` and ``pareto`` (weight grids, hypervolume).
"""

from .sampler import SRSoupResult, ancestral_sample, make_generator, srsoup_sample, weighted_sum_sample
from .stats import SRSoupStats, paper_query_count

__all__ = [
    "SRSoupResult",
    "SRSoupStats",
    "ancestral_sample",
    "make_generator",
    "paper_query_count",
    "srsoup_sample",
    "weighted_sum_sample",
]
