"""JPEG compressibility (DDPO, and the SRSoup paper): minus the JPEG size in kB at quality 95."""

from __future__ import annotations

import io

import numpy as np
import torch
from PIL import Image

from .base import Reward

JPEG_QUALITY = 95


def jpeg_kilobytes(images: torch.Tensor) -> torch.Tensor:
    """JPEG size (kB, 1 kB = 1000 bytes) of each float (B, H, W, C) image, quantized to uint8 first."""
    pixels = (images.detach().float() * 255).round().clamp(0, 255).to(torch.uint8).cpu().numpy()
    sizes = []
    for image in pixels:
        # Grayscale (C = 1) is encoded as a single-channel JPEG.
        pil = Image.fromarray(np.ascontiguousarray(image[..., 0] if image.shape[-1] == 1 else image))
        buffer = io.BytesIO()
        pil.save(buffer, format="JPEG", quality=JPEG_QUALITY)
        sizes.append(buffer.tell() / 1000)
    return torch.tensor(sizes, dtype=torch.float32)


class CompressibilityReward(Reward):
    """Weight-free, prompt-free: `module` stays None and `needs_prompt` False."""

    def __init__(self, incompressible: bool = False):
        self.sign = 1.0 if incompressible else -1.0
        self.kind = "incompressibility" if incompressible else "compressibility"
        self.name = "Incompressibility" if incompressible else "Compressibility"

    def _score(self, images, prompts):
        return self.sign * jpeg_kilobytes(images)
