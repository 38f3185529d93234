"""What each reward kind needs on disk, under ComfyUI's `models/rewards/`, and where users get it.

Expected layout (names are the defaults; any name can be passed as `path`):

    models/rewards/
      sac+logos+ava1-l14-linearMSE.pth    aesthetic head (or .safetensors)
      clip-vit-large-patch14/              CLIP ViT-L/14, transformers folder: aesthetic and clipscore
      PickScore_v1/                        PickScore, transformers folder (with tokenizer files)
      HPS_v2_compressed.pt                 HPSv2 (or .safetensors)
      HPS_v2.1_compressed.pt               HPSv2.1 (or .safetensors)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

WEIGHT_FILE_EXTENSIONS = (".safetensors", ".pth", ".pt", ".bin")
CLIP_L_FOLDER = "clip-vit-large-patch14"
CLIP_L_SOURCE = (
    "Hugging Face openai/clip-vit-large-patch14: config.json, model.safetensors, preprocessor_config.json, "
    "tokenizer.json, tokenizer_config.json, vocab.json, merges.txt, special_tokens_map.json"
)


@dataclass(frozen=True)
class RewardSpec:
    kind: str
    display_name: str
    needs_prompt: bool
    # File or folder name under models/rewards/; None when the reward has no weights.
    default_name: str | None = None
    is_folder: bool = False
    source: str = ""

    @property
    def needs_weights(self) -> bool:
        return self.default_name is not None


REWARD_KINDS: dict[str, RewardSpec] = {
    spec.kind: spec
    for spec in (
        RewardSpec("compressibility", "Compressibility (-JPEG kB)", needs_prompt=False),
        RewardSpec("incompressibility", "Incompressibility (JPEG kB)", needs_prompt=False),
        RewardSpec(
            "aesthetic",
            "LAION Aesthetic v2",
            needs_prompt=False,
            default_name="sac+logos+ava1-l14-linearMSE.pth",
            source=(
                "GitHub christophschuhmann/improved-aesthetic-predictor: sac+logos+ava1-l14-linearMSE.pth; "
                f"plus the CLIP ViT-L/14 folder '{CLIP_L_FOLDER}/' next to it, from {CLIP_L_SOURCE}"
            ),
        ),
        RewardSpec(
            "hpsv2",
            "HPSv2",
            needs_prompt=True,
            default_name="HPS_v2_compressed.pt",
            source="Hugging Face xswu/HPSv2: HPS_v2_compressed.pt",
        ),
        RewardSpec(
            "hpsv2.1",
            "HPSv2.1",
            needs_prompt=True,
            default_name="HPS_v2.1_compressed.pt",
            source="Hugging Face xswu/HPSv2: HPS_v2.1_compressed.pt",
        ),
        RewardSpec(
            "pickscore",
            "PickScore",
            needs_prompt=True,
            default_name="PickScore_v1",
            is_folder=True,
            source=(
                "Hugging Face yuvalkirstain/PickScore_v1: config.json, model.safetensors (or "
                "pytorch_model.bin); tokenizer files (tokenizer.json, vocab.json, merges.txt, ...) from "
                "laion/CLIP-ViT-H-14-laion2B-s32B-b79K if the folder lacks them"
            ),
        ),
        RewardSpec(
            "clipscore",
            "CLIPScore (ViT-L/14)",
            needs_prompt=True,
            default_name=CLIP_L_FOLDER,
            is_folder=True,
            source=CLIP_L_SOURCE,
        ),
    )
}


def get_spec(kind: str) -> RewardSpec:
    try:
        return REWARD_KINDS[kind]
    except KeyError:
        raise ValueError(f"unknown reward kind {kind!r}; known: {', '.join(REWARD_KINDS)}") from None


def is_hf_folder(path: Path) -> bool:
    return path.is_dir() and (path / "config.json").is_file()


def list_candidates(kind: str, models_root: str | Path | None) -> list[str]:
    """Names under `models_root` that `load_reward(kind, path=name, models_root=...)` could load.

    Folder kinds list transformers folders (with a config.json); file kinds list weight files outside
    such folders. The kind's default name comes first when present. Weight-free kinds give [].
    """
    spec = get_spec(kind)
    if not spec.needs_weights or models_root is None or not Path(models_root).is_dir():
        return []
    root = Path(models_root)
    names = []
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        inside_hf_folder = any(is_hf_folder(root / p) for p in relative.parents if p != Path("."))
        if spec.is_folder:
            matches = is_hf_folder(path) and not inside_hf_folder
        else:
            matches = path.is_file() and path.suffix in WEIGHT_FILE_EXTENSIONS and not inside_hf_folder
        if matches:
            names.append(relative.as_posix())
    if spec.default_name in names:
        names.remove(spec.default_name)
        names.insert(0, spec.default_name)
    return names
