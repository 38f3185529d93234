"""HPSv2 / HPSv2.1: open_clip ViT-H/14 with the HPS checkpoint, built directly (no `hpsv2` package).

Score as the reference (HPSv2 `img_score.py`) computes it: the diagonal of normalized image features
times normalized text features, i.e. the image-text cosine (typically ~0.2-0.35), no logit scale.
"""

from __future__ import annotations

import functools
import itertools
from pathlib import Path

import torch

from .embedding import EmbeddingReward
from .errors import RewardFileInvalidError
from .loading import read_state_dict
from .preprocess import CLIP_MEAN, CLIP_STD, LongestSidePad
from .specs import RewardSpec

HPS_ARCHITECTURE = "ViT-H-14"


class HPSReward(EmbeddingReward):
    def __init__(self, kind, model, tokenizer, preprocess, chunk_size=None):
        super().__init__(kind, model, preprocess, chunk_size)
        self.tokenizer = tokenizer

    def encode_images(self, pixels):
        return self.module.encode_image(pixels, normalize=True)

    def encode_texts(self, prompts):
        device, _ = self.placement()
        return self.module.encode_text(self.tokenizer(prompts).to(device), normalize=True)

    def combine(self, image_features, text_features):
        return (image_features * text_features).sum(-1)


def open_clip_config(model_config: str | dict) -> dict:
    """An open_clip model config: a registered name (default ViT-H-14, shipped inside open_clip) or a dict."""
    import open_clip

    if isinstance(model_config, dict):
        return model_config
    config = open_clip.get_model_config(model_config)
    if config is None:
        raise ValueError(f"open_clip has no model config named {model_config!r}")
    return config


def load_hps(
    spec: RewardSpec, path: Path, device, dtype, model_config: str | dict = HPS_ARCHITECTURE, chunk_size=None
) -> HPSReward:
    """`model_config` describes the architecture the checkpoint was trained with (ViT-H-14 for HPS)."""
    import open_clip

    config = open_clip_config(model_config)
    arch_name = model_config if isinstance(model_config, str) else "(custom config)"
    state = read_state_dict(path, spec.source)
    # Built without allocating or initializing weights (ViT-H random init alone takes ~20 s on 2 cores);
    # the checkpoint's tensors are then assigned in place.
    with torch.device("meta"):
        model = open_clip.CLIP(
            embed_dim=config["embed_dim"],
            vision_cfg=config["vision_cfg"],
            text_cfg=config["text_cfg"],
            quick_gelu=config.get("quick_gelu", False),
        )
    try:
        model.load_state_dict(state, assign=True)
    except RuntimeError as error:
        raise RewardFileInvalidError(
            f"{path} does not match the open_clip architecture {arch_name}"
            f" ({str(error)[:500]}). Get the HPS checkpoint from {spec.source}"
        ) from error
    # The causal text mask is a non-persistent buffer, never in checkpoints: rebuild it as open_clip does.
    context = model.attn_mask.shape[0]
    model.attn_mask = torch.full((context, context), float("-inf")).triu(1)
    tensors = itertools.chain(model.named_parameters(), model.named_buffers())
    unmaterialized = [name for name, tensor in tensors if tensor.is_meta]
    if unmaterialized:
        raise RewardFileInvalidError(f"{path} left {unmaterialized[:5]} uninitialized")
    model = model.to(device=device, dtype=dtype)
    # open_clip's own CLIP BPE tokenizer (its vocabulary ships inside the package), as HPSv2 uses.
    context_length = config["text_cfg"].get("context_length", 77)
    tokenizer = functools.partial(open_clip.tokenize, context_length=context_length)
    preprocess = LongestSidePad(size=config["vision_cfg"]["image_size"], mean=CLIP_MEAN, std=CLIP_STD)
    return HPSReward(spec.kind, model, tokenizer, preprocess, chunk_size)
