"""What a sampling run really did: query, call and fallback counts, and where the time went."""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field


@dataclass
class SRSoupStats:
    """Counters of one ``srsoup_sample`` run (all counts summed over the input batch).

    reward_queries         images actually scored, per reward (list of M ints)
    reward_calls           invocations, per reward
    total_reward_queries   sum of reward_queries: the paper's "reward queries"
    paper_formula_queries  the paper's N T M (L - M + 1) - N K M (L - M), times B, with T = guided_steps
                           and K = min(soup_steps option, guided_steps); equals total_reward_queries when
                           the M one-hot rows are present, the rows are distinct and every mixed row
                           gives every reward a positive weight
    model_calls            model invocations; model_evaluations: latents evaluated (sum of batch sizes)
    decodes                images decoded (0 when decode is None); decode_calls: invocations
    fallbacks              (trajectory, batch element, step) triples that took a plain ancestral step
    dropped_queries        (query, reward) scores that were not finite and got weight 0
    steps                  sampling steps run; guided_steps: steps with s > 0 (the last one is not)
    soup_steps             guided steps that used soup interpolation (0 when there is no mixed row)
    trajectories           internal trajectories per batch element (distinct rows + hidden exemplars)
    hidden_exemplars       exemplars added for rewards without a one-hot row (not returned)
    ess_per_soup_step      mean effective sample size (1..N) of the exemplars' queries seen from the
                           soup rows, per soup step: an overlap diagnostic (N = perfect overlap)
    shift_per_soup_step    mean ||c^m - mu^l|| / s over soup rows and exemplars, per soup step
    time_model, time_decode, time_reward  seconds inside model / decode / reward calls
    time_callback          seconds inside the host's callback (e.g. ComfyUI's latent previews)
    time_total             the whole run; time_other = total - model - decode - reward - callback:
                           the core's own overhead
    """

    n_queries: int = 0
    n_rewards: int = 0
    n_weights: int = 0
    batch_size: int = 0
    reward_queries: list = field(default_factory=list)
    reward_calls: list = field(default_factory=list)
    total_reward_queries: int = 0
    paper_formula_queries: int = 0
    model_calls: int = 0
    model_evaluations: int = 0
    decodes: int = 0
    decode_calls: int = 0
    fallbacks: int = 0
    dropped_queries: int = 0
    steps: int = 0
    guided_steps: int = 0
    soup_steps: int = 0
    trajectories: int = 0
    hidden_exemplars: int = 0
    ess_per_soup_step: list = field(default_factory=list)
    shift_per_soup_step: list = field(default_factory=list)
    time_model: float = 0.0
    time_decode: float = 0.0
    time_reward: float = 0.0
    time_callback: float = 0.0
    time_total: float = 0.0
    time_other: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


def paper_query_count(n_queries: int, n_steps: int, n_rewards: int, n_weights: int, soup_steps: int) -> int:
    """The paper's reward-query count per prompt: ``N T M (L - M + 1) - N K M (L - M)`` (Section 4.2, C.6)."""
    n, t, m, ell, k = n_queries, n_steps, n_rewards, n_weights, soup_steps
    return n * t * m * (ell - m + 1) - n * k * m * (ell - m)


class Clock:
    """Accumulates wall time into a stats field; synchronizes CUDA first so the time is real."""

    def __init__(self, stats: SRSoupStats, cuda: bool):
        self.stats = stats
        self.cuda = cuda

    def now(self) -> float:
        if self.cuda:
            import torch

            torch.cuda.synchronize()
        return time.perf_counter()

    @contextmanager
    def timing(self, name: str):
        start = self.now()
        try:
            yield
        finally:
            setattr(self.stats, name, getattr(self.stats, name) + self.now() - start)
