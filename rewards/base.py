"""The scoring interface shared by every reward.

Images follow ComfyUI's IMAGE layout: float (B, H, W, 3) in [0, 1]. Scores are float32 on the CPU,
one per image, higher is better.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


class Reward:
    """A reward model behind one interface: `score(images, prompts)` and `bind(prompt)`."""

    kind: str = ""
    name: str = ""
    needs_prompt: bool = False
    # Holds every weight so a host can move it between devices; None for weight-free rewards.
    module: torch.nn.Module | None = None

    def score(self, images: torch.Tensor, prompts: str | Sequence[str] | None = None) -> torch.Tensor:
        images = check_images(images)
        prompt_list = self._prompts_for(prompts, images.shape[0])
        with torch.no_grad():
            scores = self._score(images, prompt_list)
        return scores.detach().to(device="cpu", dtype=torch.float32)

    def bind(self, prompt: str | Sequence[str] | None = None) -> BoundReward:
        """A callable images -> scores with the prompt fixed, as `sampler_core` takes rewards."""
        if self.needs_prompt and prompt is None:
            raise ValueError(f"reward {self.name!r} needs a prompt to bind")
        return BoundReward(self, prompt)

    def prompt_cache_info(self) -> dict[str, int]:
        """Text-feature cache counters (all zero for rewards that ignore the prompt)."""
        return {"hits": 0, "misses": 0, "size": 0}

    def _score(self, images: torch.Tensor, prompts: list[str] | None) -> torch.Tensor:
        raise NotImplementedError

    def _prompts_for(self, prompts, batch: int) -> list[str] | None:
        if not self.needs_prompt:
            return None
        if prompts is None:
            raise ValueError(f"reward {self.name!r} needs a prompt")
        if isinstance(prompts, str):
            return [prompts] * batch
        prompts = list(prompts)
        if len(prompts) == 1:
            return prompts * batch
        if len(prompts) != batch:
            raise ValueError(f"got {len(prompts)} prompts for {batch} images")
        return prompts

    def __repr__(self) -> str:
        return f"{type(self).__name__}(kind={self.kind!r}, name={self.name!r})"


class BoundReward:
    """`reward.score(images, prompt)` with the prompt fixed."""

    def __init__(self, reward: Reward, prompt):
        self.reward = reward
        self.prompt = prompt
        self.name = reward.name

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        return self.reward.score(images, self.prompt)

    def __repr__(self) -> str:
        return f"BoundReward({self.reward!r}, prompt={self.prompt!r})"


def check_images(images: torch.Tensor) -> torch.Tensor:
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"images must be a torch.Tensor, got {type(images).__name__}")
    if images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise ValueError(
            f"images must be (B, H, W, 3) (ComfyUI IMAGE layout), got shape {tuple(images.shape)}"
        )
    if not images.is_floating_point():
        raise TypeError(f"images must be float in [0, 1], got {images.dtype}")
    return images
