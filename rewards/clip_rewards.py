"""Rewards on transformers CLIP folders: LAION aesthetic v2, CLIPScore (ViT-L/14) and PickScore (ViT-H/14)."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from .embedding import EmbeddingReward, unit
from .errors import RewardFileInvalidError, RewardFileMissingError
from .loading import read_state_dict
from .preprocess import ShortestSideCenterCrop
from .specs import CLIP_L_FOLDER, CLIP_L_SOURCE, REWARD_KINDS, is_hf_folder

TOKENIZER_FILES = ("tokenizer.json", "vocab.json")


def projected(output) -> torch.Tensor:
    """transformers 5.x returns an output object (projected embedding in pooler_output); 4.x a tensor."""
    return output if isinstance(output, torch.Tensor) else output.pooler_output


def load_clip_folder(folder: Path, source: str, dtype: torch.dtype, device: torch.device):
    """A transformers CLIPModel from a local folder; never looks anything up online."""
    from transformers import CLIPModel

    if not is_hf_folder(folder):
        raise RewardFileMissingError(f"{folder} is not a transformers model folder (no config.json). "
                                     f"Get it from {source}")
    try:
        model = CLIPModel.from_pretrained(str(folder), local_files_only=True)
    except Exception as error:  # transformers reports bad files through many exception types
        raise RewardFileInvalidError(f"cannot load a CLIP model from {folder} ({error}). "
                                     f"Get it from {source}") from error
    return model.to(device=device, dtype=dtype)


def load_tokenizer(folder: Path, source: str):
    from transformers import AutoTokenizer

    if not any((folder / name).is_file() for name in TOKENIZER_FILES):
        expected = ", ".join(str(folder / name) for name in TOKENIZER_FILES)
        raise RewardFileMissingError(f"no tokenizer in {folder}: expected {expected} (with merges.txt). "
                                     f"Get it from {source}")
    return AutoTokenizer.from_pretrained(str(folder), local_files_only=True)


class CLIPTextImageReward(EmbeddingReward):
    """`scale * cos(image, text)` with a transformers CLIPModel: CLIPScore (scale 1) and PickScore."""

    def __init__(self, kind, model, tokenizer, preprocess, use_logit_scale: bool, chunk_size=None):
        super().__init__(kind, model, preprocess, chunk_size)
        self.tokenizer = tokenizer
        self.use_logit_scale = use_logit_scale
        self.max_length = model.config.text_config.max_position_embeddings

    def encode_texts(self, prompts):
        device, _ = self.placement()
        tokens = self.tokenizer(prompts, padding=True, truncation=True, max_length=self.max_length,
                                return_tensors="pt").to(device)
        return unit(projected(self.module.get_text_features(**tokens)).float())

    def encode_images(self, pixels):
        return projected(self.module.get_image_features(pixel_values=pixels))

    def combine(self, image_features, text_features):
        cosine = (unit(image_features) * text_features).sum(-1)
        if self.use_logit_scale:  # PickScore: logit_scale.exp() * cosine, as its reference computes it
            return self.module.logit_scale.float().exp() * cosine
        return cosine


def aesthetic_head(state: dict[str, torch.Tensor]) -> nn.Sequential:
    """The improved-aesthetic-predictor MLP; layer widths are read from the checkpoint (768-1024-128-64-16-1).

    Dropout layers sit at the indices the checkpoint skips (1, 3, 5), so keys `layers.{0,2,4,6,7}` match.
    """
    try:
        widths = [state[f"layers.{i}.weight"].shape for i in (0, 2, 4, 6, 7)]
    except KeyError as error:
        raise RewardFileInvalidError(f"not an aesthetic head: missing key {error}") from None
    (h1, d), (h2, _), (h3, _), (h4, _), (out, _) = widths
    return nn.Sequential(
        nn.Linear(d, h1), nn.Dropout(0.2),
        nn.Linear(h1, h2), nn.Dropout(0.2),
        nn.Linear(h2, h3), nn.Dropout(0.1),
        nn.Linear(h3, h4),
        nn.Linear(h4, out),
    )


class AestheticModel(nn.Module):
    """CLIP vision tower + projection, L2-normalized embedding, then the MLP head: one module for the host."""

    def __init__(self, vision_model: nn.Module, visual_projection: nn.Module, head: nn.Sequential):
        super().__init__()
        self.vision_model = vision_model
        self.visual_projection = visual_projection
        self.layers = head

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        embedding = self.visual_projection(self.vision_model(pixel_values=pixels).pooler_output)
        return self.layers(unit(embedding)).squeeze(-1)


class AestheticReward(EmbeddingReward):
    def encode_images(self, pixels):
        return self.module(pixels)

    def combine(self, image_features, text_features):
        return image_features


def load_aesthetic(head_path: Path, device, dtype, clip_path=None, chunk_size=None, models_root=None):
    """Head file `head_path`; CLIP ViT-L/14 folder `clip_path`, by default `clip-vit-large-patch14/`
    next to the head, else under `models_root`."""
    source = REWARD_KINDS["aesthetic"].source
    if clip_path is not None:
        candidates = [Path(clip_path)]
    else:
        candidates = [head_path.parent / CLIP_L_FOLDER]
        if models_root is not None:
            candidates.append(Path(models_root) / CLIP_L_FOLDER)
    clip_folder = next((folder for folder in candidates if folder.is_dir()), None)
    if clip_folder is None:
        looked = ", ".join(str(folder) for folder in candidates)
        raise RewardFileMissingError(f"LAION aesthetic needs the CLIP ViT-L/14 folder; looked for {looked}. "
                                     f"Get it from {CLIP_L_SOURCE}")
    state = read_state_dict(head_path, source)
    head = aesthetic_head(state)
    try:
        head.load_state_dict({key.removeprefix("layers."): value for key, value in state.items()})
    except RuntimeError as error:
        raise RewardFileInvalidError(f"{head_path} is not an aesthetic MLP head ({error})") from error
    clip = load_clip_folder(clip_folder, CLIP_L_SOURCE, dtype=torch.float32, device=torch.device("cpu"))
    if clip.visual_projection.out_features != head[0].in_features:
        raise RewardFileInvalidError(
            f"{head_path} expects {head[0].in_features}-d CLIP embeddings but {clip_folder} gives "
            f"{clip.visual_projection.out_features}-d: the head belongs with CLIP ViT-L/14"
        )
    module = AestheticModel(clip.vision_model, clip.visual_projection, head).to(device=device, dtype=dtype)
    return AestheticReward("aesthetic", module, ShortestSideCenterCrop.from_folder(clip_folder), chunk_size)


def load_clipscore(folder: Path, device, dtype, chunk_size=None) -> CLIPTextImageReward:
    source = REWARD_KINDS["clipscore"].source
    model = load_clip_folder(folder, source, dtype, device)
    preprocess = ShortestSideCenterCrop.from_folder(folder)
    return CLIPTextImageReward("clipscore", model, load_tokenizer(folder, source), preprocess,
                               use_logit_scale=False, chunk_size=chunk_size)


def load_pickscore(folder: Path, device, dtype, tokenizer_path=None, chunk_size=None) -> CLIPTextImageReward:
    """PickScore_v1 folder; its processor (tokenizer files) from the same folder or from `tokenizer_path`."""
    source = REWARD_KINDS["pickscore"].source
    model = load_clip_folder(folder, source, dtype, device)
    processor_folder = Path(tokenizer_path) if tokenizer_path is not None else folder
    preprocess = ShortestSideCenterCrop.from_folder(processor_folder)
    return CLIPTextImageReward("pickscore", model, load_tokenizer(processor_folder, source), preprocess,
                               use_logit_scale=True, chunk_size=chunk_size)
