"""A small CNN digit classifier (trained deterministically on the same bundled digits) as a reward.

``DigitConfidenceReward(digit)`` scores decoded images (B, H, W, 3) in [0, 1] (``model.decode``'s
layout: dark ink on white) with the classifier's log-probability of ``digit``: a value in
(-inf, 0], 0 meaning certainty. It follows the ``rewards`` scoring interface (``score``, ``bind``).
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn

from rewards.base import Reward

from .model import WEIGHTS_DIR, images_to_ink

CLASSIFIER_WEIGHTS = WEIGHTS_DIR / "digits_classifier.safetensors"


class DigitClassifier(nn.Module):
    """Logits (B, 10) for ink images (B, 1, 16, 16) in [-1, 1]."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(0.25), nn.Linear(32 * 4 * 4, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def load_classifier(path: str | Path | None = None, device: str = "cpu") -> DigitClassifier:
    from safetensors.torch import load_file

    path = Path(path) if path is not None else CLASSIFIER_WEIGHTS
    if not path.is_file():
        raise FileNotFoundError(
            f"digit classifier weights not found at {path}: run `python -m bench.digits.train` to create them"
        )
    net = DigitClassifier()
    net.load_state_dict(load_file(str(path)))
    net.eval().to(device)
    for p in net.parameters():
        p.requires_grad_(False)
    return net


@torch.no_grad()
def classify(net: DigitClassifier, images: torch.Tensor) -> torch.Tensor:
    """Class probabilities (B, 10) of decoded images (B, H, W, 3) in [0, 1]."""
    device = next(net.parameters()).device
    return net(images_to_ink(images).to(device)).softmax(dim=1).cpu()


class DigitConfidenceReward(Reward):
    """log p(digit | image) under the committed classifier; range (-inf, 0]."""

    needs_prompt = False

    def __init__(self, digit: int, classifier: DigitClassifier | None = None):
        if isinstance(digit, bool) or not isinstance(digit, int) or not 0 <= digit <= 9:
            raise ValueError(f"digit must be an integer 0..9; got {digit!r}")
        self.digit = digit
        self.kind = "digit_confidence"
        self.name = f"log p(digit={digit})"
        self.module = classifier if classifier is not None else load_classifier()

    def _score(self, images, prompts):
        device = next(self.module.parameters()).device
        logits = self.module(images_to_ink(images).to(device))
        return logits.log_softmax(dim=1)[:, self.digit]
