"""Reward models behind one scoring interface, loaded from local files only (no ComfyUI, no network).

    from rewards import load_reward, REWARD_KINDS, list_candidates
    reward = load_reward("aesthetic", models_root="ComfyUI/models/rewards")
    scores = reward.score(images, prompts)     # images float (B, H, W, 3) in [0, 1] -> float32 (B,)
    guide = reward.bind(prompt)                # images -> scores, for sampler_core

The expected files and their public sources are in `rewards/specs.py` and `REWARD_KINDS[kind].source`.
"""

from .base import BoundReward, Reward
from .errors import RewardFileInvalidError, RewardFileMissingError, RewardLoadError
from .loading import load_reward, read_state_dict
from .specs import REWARD_KINDS, RewardSpec, list_candidates

__all__ = [
    "REWARD_KINDS",
    "BoundReward",
    "Reward",
    "RewardFileInvalidError",
    "RewardFileMissingError",
    "RewardLoadError",
    "RewardSpec",
    "list_candidates",
    "load_reward",
    "read_state_dict",
]
