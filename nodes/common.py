"""Node-layer logic that needs no ComfyUI: custom types, preference building, checks, folder listing.

Everything here is importable without the host so that it can be tested in CI; the node classes
that touch `comfy` import it lazily.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

import torch

from ..sampler_core.preferences import (
    PAPER_WEIGHTS_2,
    PAPER_WEIGHTS_3,
    parse_weight_list,
    simplex_grid,
    validate_weights,
)

CATEGORY = "SRSoup"
REWARDS_TYPE = "SRSOUP_REWARDS"
PREFERENCES_TYPE = "SRSOUP_PREFERENCES"
REPORT_TYPE = "SRSOUP_REPORT"

REWARDS_FOLDER = "rewards"
NO_FILE = "(none)"
MAX_REWARDS = 4

PREFERENCE_MODES = ("simplex grid", "explicit list", "paper weights")
QUERY_X0_MODES = ("tweedie", "reuse")
STEP_RULES = ("norm", "paper")
CORRECTIONS = ("paper", "official", "none")

BATCH_ORDER = "weight-major, seed fastest: output index = l * B + b (l = weight row, b = input batch index)"


# ---------------------------------------------------------------------------------------------
# Reward sets


@dataclass(frozen=True)
class RewardEntry:
    """One loaded reward and, inside ComfyUI, the ModelPatcher that manages its weights."""

    reward: object  # rewards.Reward
    patcher: object = None  # comfy.model_patcher.ModelPatcher, or None for weight-free rewards
    kind: str = ""
    file: str | None = None

    @property
    def name(self) -> str:
        return str(getattr(self.reward, "name", "") or self.kind)

    @property
    def needs_prompt(self) -> bool:
        return bool(getattr(self.reward, "needs_prompt", False))


@dataclass(frozen=True)
class RewardSet:
    """What flows along an SRSOUP_REWARDS wire: 1..4 rewards, in the order they were chained."""

    entries: tuple[RewardEntry, ...] = field(default_factory=tuple)

    def __len__(self) -> int:
        return len(self.entries)

    def check_room(self) -> None:
        if len(self.entries) >= MAX_REWARDS:
            raise ValueError(
                f"a reward set holds at most {MAX_REWARDS} rewards; this RewardLoader would add a "
                f"{len(self.entries) + 1}th. Remove a loader from the chain"
            )

    def appended(self, entry: RewardEntry) -> RewardSet:
        self.check_room()
        return RewardSet(self.entries + (entry,))

    @property
    def names(self) -> list[str]:
        return unique_names([e.name for e in self.entries])

    @property
    def patchers(self) -> list:
        return [e.patcher for e in self.entries if e.patcher is not None]

    def bound(self, prompt: str) -> list:
        """One callable images -> scores per reward, with the prompt fixed (what sampler_core takes)."""
        check_prompt(self, prompt)
        text = prompt if prompt.strip() else None
        return [e.reward.bind(text) if e.needs_prompt else e.reward.bind(None) for e in self.entries]

    def score(self, images: torch.Tensor, prompt: str) -> torch.Tensor:
        """Scores (n_images, M) float32 on the CPU, one column per reward."""
        fns = self.bound(prompt)
        cols = [fn(images).detach().float().cpu().reshape(-1) for fn in fns]
        return torch.stack(cols, dim=1)


def unique_names(names: list[str]) -> list[str]:
    """Disambiguate repeated reward names ('aesthetic', 'aesthetic#2') so report columns stay apart."""
    seen: dict[str, int] = {}
    out = []
    for n in names:
        seen[n] = seen.get(n, 0) + 1
        out.append(n if seen[n] == 1 else f"{n}#{seen[n]}")
    return out


def check_prompt(rewards: RewardSet, prompt: str) -> None:
    needing = [e.name for e in rewards.entries if e.needs_prompt]
    if needing and not (prompt or "").strip():
        raise ValueError(
            f"reward(s) {', '.join(needing)} score images against the prompt text, but 'prompt' is empty: "
            "type the prompt (the same text as the positive conditioning) into the 'prompt' input"
        )


def check_reward_set(rewards) -> RewardSet:
    if not isinstance(rewards, RewardSet) or len(rewards) == 0:
        raise ValueError(
            "'rewards' is empty: connect a RewardLoader (chain 1 to 4 loaders for 1 to 4 rewards)"
        )
    return rewards


# ---------------------------------------------------------------------------------------------
# Preferences


@dataclass(frozen=True)
class Preferences:
    """What flows along an SRSOUP_PREFERENCES wire: weights (L, M) on the simplex and a label per row."""

    weights: torch.Tensor
    labels: tuple[str, ...]
    mode: str = ""

    @property
    def n_rewards(self) -> int:
        return int(self.weights.shape[1])

    def __len__(self) -> int:
        return int(self.weights.shape[0])


def format_weight(v: float) -> str:
    text = f"{v:.3f}".rstrip("0").rstrip(".")
    return text if text not in ("", "-0") else "0"


def weight_label(row) -> str:
    return "(" + ", ".join(format_weight(float(v)) for v in row) + ")"


def build_preferences(n_rewards: int, mode: str, step: float = 0.2, text: str = "") -> Preferences:
    """The PreferenceGrid node's logic; raises ValueError with a message for the node."""
    if isinstance(n_rewards, bool) or not isinstance(n_rewards, int) or not 1 <= n_rewards <= MAX_REWARDS:
        raise ValueError(
            f"n_rewards must be 1 to {MAX_REWARDS} (one per chained RewardLoader); got {n_rewards!r}"
        )
    if mode == "simplex grid":
        try:
            w = simplex_grid(n_rewards, step)
        except ValueError as exc:
            raise ValueError(f"simplex grid: {exc}") from None
    elif mode == "explicit list":
        try:
            w = parse_weight_list(text, n_rewards)
        except ValueError as exc:
            raise ValueError(f"weight list: {exc}") from None
    elif mode == "paper weights":
        if n_rewards == 2:
            w = validate_weights([list(r) for r in PAPER_WEIGHTS_2], 2)
        elif n_rewards == 3:
            w = validate_weights([list(r) for r in PAPER_WEIGHTS_3], 3)
        else:
            raise ValueError(
                f"the paper's weight sets exist for 2 and 3 rewards, not {n_rewards}: "
                "use mode 'simplex grid' or 'explicit list'"
            )
    else:
        raise ValueError(f"unknown mode {mode!r}; choose one of {', '.join(PREFERENCE_MODES)}")
    return Preferences(weights=w, labels=tuple(weight_label(r) for r in w.tolist()), mode=mode)


def check_preferences(preferences, rewards: RewardSet) -> torch.Tensor:
    """The (L, M) weights, after checking that M equals the number of rewards."""
    if not isinstance(preferences, Preferences):
        raise ValueError("'preferences' must come from a PreferenceGrid node")
    m = preferences.n_rewards
    if m != len(rewards):
        raise ValueError(
            f"the preferences have {m} weight(s) per vector but {len(rewards)} reward(s) are connected "
            f"({', '.join(rewards.names)}): set n_rewards = {len(rewards)} on the PreferenceGrid, or chain "
            f"{'more' if m > len(rewards) else 'fewer'} RewardLoaders"
        )
    return validate_weights(preferences.weights, m)


# ---------------------------------------------------------------------------------------------
# Settings


def check_batch_layout(n_images: int, n_weights: int) -> int:
    """Input batch size B for n_images = L * B images in the sampler's order."""
    if n_weights <= 0 or n_images % n_weights != 0:
        raise ValueError(
            f"{n_images} image(s) cannot be split over {n_weights} weight vector(s): SRSoup outputs "
            f"L*B images (L = weight vectors, B = seeds); give the images straight from the sampler"
        )
    return n_images // n_weights


def auto_query_chunk(
    free_bytes: float, per_query_bytes: float, floor: int = 1, ceiling: int = 64, fraction: float = 0.6
) -> int:
    """Queries per model/decode/reward call that fit into `fraction` of the free memory."""
    if not (per_query_bytes > 0) or not math.isfinite(per_query_bytes) or not math.isfinite(free_bytes):
        return ceiling
    n = int(max(free_bytes, 0.0) * fraction // per_query_bytes)
    return max(floor, min(ceiling, n))


def resolve_query_chunk(override: int, free_bytes: float, per_query_bytes: float) -> int:
    if override and override > 0:
        return int(override)
    return auto_query_chunk(free_bytes, per_query_bytes)


# ---------------------------------------------------------------------------------------------
# Reward files


def list_reward_names(roots: list[str], kinds) -> list[str]:
    """Every file or folder under the rewards folders that some reward kind can load, '(none)' first.

    Weight files (.safetensors/.pth/.pt/.bin) outside transformers folders, and transformers folders
    (a folder with a config.json) themselves: ComfyUI's own `get_filename_list` lists files only.
    """
    from ..rewards import list_candidates

    names: list[str] = []
    for root in roots:
        if not os.path.isdir(root):
            continue
        for kind in kinds:
            for name in list_candidates(kind, root):
                if name not in names:
                    names.append(name)
    return [NO_FILE] + sorted(names)


def find_reward_root(name: str, roots: list[str]) -> str | None:
    """The first rewards folder that holds `name` (file or folder), or None."""
    for root in roots:
        if os.path.exists(os.path.join(root, name)):
            return root
    return None


def missing_reward_message(kind: str, name: str, roots: list[str], detail: str = "") -> str:
    where = ", ".join(roots) if roots else "models/rewards"
    text = (
        f"RewardLoader ({kind}): '{name}' was not found in the rewards folder(s) {where}. "
        "Put the file or folder there (or map 'rewards' in extra_model_paths.yaml), then refresh the node"
    )
    return f"{text}. {detail}" if detail else text
