"""Shared machinery for rewards computed by a torch module from image (and text) embeddings."""

from __future__ import annotations

from collections.abc import Callable

import torch

from .base import Reward
from .specs import get_spec

DEFAULT_CHUNK_SIZE = 8
# Cached prompts (a few kB each); the oldest is dropped beyond this, so a long host session stays bounded.
TEXT_CACHE_SIZE = 1024


class EmbeddingReward(Reward):
    """Chunked image encoding and a per-prompt text-feature cache, on the module's current device/dtype.

    Subclasses implement `encode_images(pixels) -> (B, D)`, optionally `encode_texts(prompts) -> (P, D)`,
    and `combine(image_features, text_features or None) -> (B,)`.
    """

    def __init__(self, kind: str, module: torch.nn.Module, preprocess: Callable, chunk_size=None):
        spec = get_spec(kind)
        self.kind, self.name, self.needs_prompt = kind, spec.display_name, spec.needs_prompt
        self.module = module.eval().requires_grad_(False)
        self.preprocess = preprocess
        self.chunk_size = int(chunk_size or DEFAULT_CHUNK_SIZE)
        if self.chunk_size < 1:
            raise ValueError(f"chunk_size must be positive, got {chunk_size}")
        # Text features do not depend on the device, so they stay cached (as float32 on the CPU)
        # when the host moves the module between calls.
        self._text_cache: dict[str, torch.Tensor] = {}
        self._cache_hits = 0
        self._cache_misses = 0

    def placement(self) -> tuple[torch.device, torch.dtype]:
        """Where the weights are right now: a host may have moved them since loading."""
        parameter = next(self.module.parameters())
        return parameter.device, parameter.dtype

    def prompt_cache_info(self) -> dict[str, int]:
        return {"hits": self._cache_hits, "misses": self._cache_misses, "size": len(self._text_cache)}

    def image_features(self, images: torch.Tensor) -> torch.Tensor:
        device, dtype = self.placement()
        features = []
        for chunk in images.split(self.chunk_size):
            # Preprocess in float32 (bicubic resampling), then run the model in its own dtype.
            pixels = self.preprocess(chunk.to(device=device, dtype=torch.float32)).to(dtype)
            features.append(self.encode_images(pixels).float())
        return torch.cat(features)

    def text_features(self, prompts: list[str]) -> torch.Tensor:
        """Features of each prompt, computing only the distinct prompts not cached yet."""
        distinct = list(dict.fromkeys(prompts))
        missing = [prompt for prompt in distinct if prompt not in self._text_cache]
        self._cache_hits += len(distinct) - len(missing)
        self._cache_misses += len(missing)
        for start in range(0, len(missing), self.chunk_size):
            batch = missing[start : start + self.chunk_size]
            for prompt, feature in zip(batch, self.encode_texts(batch).float().cpu(), strict=True):
                self._text_cache[prompt] = feature
        features = torch.stack([self._text_cache[prompt] for prompt in prompts])
        while len(self._text_cache) > TEXT_CACHE_SIZE:
            self._text_cache.pop(next(iter(self._text_cache)))
        device, _ = self.placement()
        return features.to(device)

    def _score(self, images, prompts):
        image_features = self.image_features(images)
        text_features = self.text_features(prompts) if self.needs_prompt else None
        return self.combine(image_features, text_features)

    def encode_images(self, pixels: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def encode_texts(self, prompts: list[str]) -> torch.Tensor:
        raise NotImplementedError

    def combine(self, image_features: torch.Tensor, text_features: torch.Tensor | None) -> torch.Tensor:
        raise NotImplementedError


def unit(features: torch.Tensor) -> torch.Tensor:
    return features / features.norm(dim=-1, keepdim=True)
