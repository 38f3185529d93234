"""SRSoup's algorithm in pure torch (no ComfyUI, no reward-model libraries).

Public API: ``srsoup_sample`` (Sample Reward Soups, a KSAMPLER-style sampler function),
``weighted_sum_sample`` (the weighted-sum baseline, ``soup_steps=0``), ``ancestral_sample`` (unguided
eta = 1 ancestral sampling), ``SRSoupResult``, ``SRSoupStats``. The small step functions live in
``ancestral`` (mu and s of the plain step), ``directions`` (z-scoring, search, weighted-sum and soup
directions, step rules) and ``stats``.
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
