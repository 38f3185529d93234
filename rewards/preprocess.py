"""Image preprocessing on tensors (no PIL round trip), matching the reference pipelines.

Inputs are ComfyUI IMAGE batches, float (B, H, W, C) in [0, 1]; outputs are normalized (B, 3, S, S).
The references resize uint8 PIL images; here the float image is resized directly (bicubic, antialiased)
and clamped to [0, 1] as PIL's uint8 output would be, so results agree up to 8-bit rounding.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

# Mean/std of OpenAI CLIP, used by CLIP ViT-L/14, the LAION ViT-H/14 processor (PickScore) and HPSv2.
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def to_channels_first(images: torch.Tensor) -> torch.Tensor:
    """(B, H, W, C) -> (B, 3, H, W) float32; grayscale is repeated to three channels."""
    pixels = images.movedim(-1, 1).float()
    return pixels.expand(-1, 3, -1, -1) if pixels.shape[1] == 1 else pixels


def resize(pixels: torch.Tensor, height: int, width: int) -> torch.Tensor:
    if pixels.shape[-2:] == (height, width):
        return pixels
    resized = F.interpolate(pixels, size=(height, width), mode="bicubic", align_corners=False, antialias=True)
    return resized.clamp(0, 1)


def normalize(pixels: torch.Tensor, mean, std) -> torch.Tensor:
    mean = torch.tensor(mean, device=pixels.device, dtype=pixels.dtype).view(1, -1, 1, 1)
    std = torch.tensor(std, device=pixels.device, dtype=pixels.dtype).view(1, -1, 1, 1)
    return (pixels - mean) / std


@dataclass(frozen=True)
class ShortestSideCenterCrop:
    """CLIP's processor: shortest side to `size`, center crop `crop`, normalize (CLIPImageProcessor)."""

    size: int = 224
    crop: int = 224
    mean: tuple = CLIP_MEAN
    std: tuple = CLIP_STD

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        pixels = to_channels_first(images)
        height, width = pixels.shape[-2:]
        short, long = sorted((height, width))
        # The long side is truncated, as CLIPImageProcessor's get_resize_output_image_size does.
        new_long = int(self.size * long / short)
        new_h, new_w = (self.size, new_long) if height <= width else (new_long, self.size)
        pixels = resize(pixels, new_h, new_w)
        top, left = (new_h - self.crop) // 2, (new_w - self.crop) // 2
        pixels = pixels[..., top : top + self.crop, left : left + self.crop]
        return normalize(pixels, self.mean, self.std)

    @classmethod
    def from_folder(cls, folder: Path) -> ShortestSideCenterCrop:
        """Sizes and statistics from a transformers folder's preprocessor_config.json, if it has one."""
        config_file = Path(folder) / "preprocessor_config.json"
        if not config_file.is_file():
            return cls()
        config = json.loads(config_file.read_text())
        size, crop = config.get("size", 224), config.get("crop_size", 224)
        size = size.get("shortest_edge", 224) if isinstance(size, dict) else size
        crop = crop.get("height", 224) if isinstance(crop, dict) else crop
        return cls(
            size=int(size),
            crop=int(crop),
            mean=tuple(config.get("image_mean", CLIP_MEAN)),
            std=tuple(config.get("image_std", CLIP_STD)),
        )


@dataclass(frozen=True)
class LongestSidePad:
    """HPSv2's inference transform (ResizeMaxSize): longest side to `size`, zero-pad to a centered square.

    Padding is black pixels, applied before normalization as in the reference. Unlike the reference,
    an image whose longest side already equals `size` is still padded, so every output is square.
    """

    size: int = 224
    mean: tuple = CLIP_MEAN
    std: tuple = CLIP_STD

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        pixels = to_channels_first(images)
        height, width = pixels.shape[-2:]
        scale = self.size / max(height, width)
        new_h, new_w = round(height * scale), round(width * scale)
        pixels = resize(pixels, new_h, new_w)
        pad_h, pad_w = self.size - new_h, self.size - new_w
        pixels = F.pad(pixels, (pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2), value=0.0)
        return normalize(pixels, self.mean, self.std)
