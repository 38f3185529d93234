"""The training data: scikit-learn's bundled 8x8 digits, upsampled to 16x16 (no download needed)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

RESOLUTION = 16
"""Side of the images the model and the classifier work on."""


def load_digits_tensors(resolution: int = RESOLUTION) -> tuple[torch.Tensor, torch.Tensor]:
    """All 1,797 digits as float32 (n, 1, res, res) in [-1, 1] (ink = +1) and their labels (n,) int64.

    The 8x8 images (values 0..16) are upsampled bilinearly; scikit-learn ships them, so this works
    offline.
    """
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = torch.tensor(bunch.images, dtype=torch.float32).unsqueeze(1) / 16.0
    if resolution != 8:
        images = F.interpolate(images, size=(resolution, resolution), mode="bilinear", align_corners=False)
    images = images.clamp(0.0, 1.0) * 2.0 - 1.0
    labels = torch.tensor(bunch.target, dtype=torch.int64)
    return images, labels


def split_indices(n: int, test_fraction: float = 0.2, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A fixed, seeded train/test split of range(n)."""
    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(n, generator=g)
    n_test = int(round(n * test_fraction))
    return perm[n_test:], perm[:n_test]
