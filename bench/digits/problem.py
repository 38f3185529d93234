"""The embedded benchmark problem shared by the demo, the end-to-end benchmark and the tests.

The committed digits model, its decoder, and real black-box rewards on the decoded 64x64 images:

- ``digit`` / ``digit=K``: the committed classifier's log p(K | image), in (-inf, 0];
- ``compressibility``: minus the JPEG size (quality 95) in kB (``rewards.load_reward``);
- ``incompressibility``: plus the JPEG size in kB.

Helpers: ``build_rewards``, ``initial_noise`` (one 1x16x16 noise per seed, from ``torch.Generator(seed)``),
``score`` (all rewards of a batch of latents), ``reference_point`` (HV reference: slightly worse
than the worst point seen, as the paper does).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .classifier import DigitConfidenceReward, load_classifier
from .model import decode

REWARD_NAMES = ("digit", "compressibility", "incompressibility")


@dataclass
class RewardSpec:
    key: str  # e.g. "digit=8", "compressibility"
    label: str  # axis label
    reward: object  # rewards.Reward


def build_rewards(spec: str, digit: int = 8, classifier=None) -> list[RewardSpec]:
    """Parse a comma-separated reward list such as ``"digit,compressibility"`` or ``"digit=3,digit=8"``."""
    from rewards import load_reward

    if isinstance(digit, bool) or not isinstance(digit, int) or not 0 <= digit <= 9:
        raise ValueError(f"--digit must be an integer 0..9; got {digit!r}")
    items = [s.strip() for s in str(spec).split(",") if s.strip()]
    if len(items) < 2:
        raise ValueError(
            f"give at least two rewards separated by commas (e.g. 'digit,compressibility'); got {spec!r}"
        )
    out = []
    for item in items:
        name, _, arg = item.partition("=")
        name = name.strip().lower()
        if name == "digit":
            k = digit
            if arg:
                try:
                    k = int(arg)
                except ValueError:
                    raise ValueError(
                        f"reward {item!r}: the digit after '=' must be an integer 0..9"
                    ) from None
                if not 0 <= k <= 9:
                    raise ValueError(f"reward {item!r}: the digit must be 0..9")
            if classifier is None:
                classifier = load_classifier()
            out.append(RewardSpec(f"digit={k}", f"log p(digit={k})", DigitConfidenceReward(k, classifier)))
        elif name in ("compressibility", "incompressibility"):
            if arg:
                raise ValueError(f"reward {item!r} takes no argument")
            sign = "-" if name == "compressibility" else "+"
            out.append(RewardSpec(name, f"{name} ({sign}JPEG kB)", load_reward(name)))
        else:
            raise ValueError(
                f"unknown reward {item!r}: choose from digit, digit=K (K in 0..9), compressibility, "
                "incompressibility"
            )
    keys = [r.key for r in out]
    if len(set(keys)) != len(keys):
        raise ValueError(f"rewards must be distinct; got {keys}")
    return out


def initial_noise(seeds, shape=(1, 16, 16)) -> torch.Tensor:
    """Standard normal noise (len(seeds), *shape); row b from ``torch.Generator().manual_seed(seeds[b])``."""
    rows = [torch.randn(shape, generator=torch.Generator().manual_seed(int(s))) for s in seeds]
    return torch.stack(rows)


@torch.no_grad()
def score(rewards: list[RewardSpec], latents: torch.Tensor) -> torch.Tensor:
    """Rewards (n, M) float64 of final latents (n, 1, 16, 16)."""
    images = decode(latents)
    return torch.stack([r.reward.score(images).double() for r in rewards], dim=1)


def reference_point(points, margin: float = 0.05) -> np.ndarray:
    """Slightly worse than the worst value seen in each coordinate: min - margin * (max - min)."""
    p = np.asarray(points, dtype=np.float64).reshape(-1, np.asarray(points).shape[-1])
    lo, hi = np.nanmin(p, axis=0), np.nanmax(p, axis=0)
    span = np.where(hi > lo, hi - lo, np.maximum(np.abs(lo), 1e-3))
    return lo - margin * span


def pick_threads(requested: int | None = None) -> int:
    """Set and return torch's CPU thread count: ``requested``, or the cores that are idle right now.

    Small models pay heavily for every extra busy-waiting thread on a loaded machine (a 2-thread
    batch of 4 can take 100x longer than 1 thread when other processes hold the cores), so by default
    only the idle cores (CPU count minus the 1-minute load average, at least 1) are used.
    """
    import os

    if requested is not None:
        if requested < 1:
            raise ValueError(f"--threads must be >= 1; got {requested}")
        n = requested
    else:
        cores = os.cpu_count() or 1
        try:
            busy = os.getloadavg()[0]
        except OSError:
            busy = 0.0
        n = max(1, min(torch.get_num_threads(), int(cores - busy + 0.5)))
    torch.set_num_threads(n)
    return n
