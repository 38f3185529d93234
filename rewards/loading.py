"""`load_reward`: resolve local weight paths, read them safely, build the reward. No network access."""

from __future__ import annotations

import pickle
from pathlib import Path

import torch

from .base import Reward
from .errors import RewardFileInvalidError, RewardFileMissingError
from .specs import WEIGHT_FILE_EXTENSIONS, RewardSpec, get_spec


def load_reward(
    kind: str,
    path: str | Path | None = None,
    models_root: str | Path | None = None,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    **options,
) -> Reward:
    """Load reward `kind` from local files.

    `path` is a file/folder path, or a name relative to `models_root` (ComfyUI's models/rewards/);
    with `path=None` the kind's default name under `models_root` is used. `options` go to the
    reward's loader (e.g. `chunk_size`, `clip_path` for aesthetic, `model_config` for HPS).
    """
    spec = get_spec(kind)
    if kind in ("compressibility", "incompressibility"):
        from .compressibility import CompressibilityReward

        if options:
            raise TypeError(f"{kind} takes no options, got {sorted(options)}")
        return CompressibilityReward(incompressible=kind == "incompressibility")

    weights = resolve_path(spec, path, models_root)
    common = dict(device=torch.device(device), dtype=dtype, **options)
    if kind == "aesthetic":
        from .clip_rewards import load_aesthetic

        return load_aesthetic(weights, models_root=models_root, **common)
    if kind == "clipscore":
        from .clip_rewards import load_clipscore

        return load_clipscore(weights, **common)
    if kind == "pickscore":
        from .clip_rewards import load_pickscore

        return load_pickscore(weights, **common)
    from .hps import load_hps

    return load_hps(spec, weights, **common)


def resolve_path(spec: RewardSpec, path: str | Path | None, models_root: str | Path | None) -> Path:
    """The existing file/folder for `spec`, or RewardFileMissingError listing every place looked at."""
    name = Path(path) if path is not None else Path(spec.default_name)
    tried = []
    if path is not None and (name.is_absolute() or models_root is None):
        tried.append(name)
    elif models_root is not None:
        tried.append(Path(models_root) / name)
        if path is not None:
            tried.append(name)  # a relative path that is not under models_root
    if path is None and not spec.is_folder:
        # The same weights converted to safetensors are accepted under the same stem.
        stems = list(tried)
        tried += [p.with_suffix(ext) for p in stems for ext in WEIGHT_FILE_EXTENSIONS if p.suffix != ext]
    for candidate in tried:
        if candidate.is_dir() if spec.is_folder else candidate.is_file():
            return candidate
    where = ", ".join(str(p) for p in tried) or f"models/rewards/{spec.default_name} (no models_root given)"
    kind_of = "folder" if spec.is_folder else "file"
    raise RewardFileMissingError(
        f"{spec.display_name}: weight {kind_of} not found; looked for {where}. Get it from {spec.source}"
    )


def read_state_dict(path: Path, source: str = "") -> dict[str, torch.Tensor]:
    """Tensors of a .safetensors file, or of a .pt/.pth/.bin read with `weights_only=True`.

    Checkpoints wrapped as {'state_dict': ...} are unwrapped and DataParallel `module.` prefixes removed.
    """
    path = Path(path)
    if not path.is_file():
        raise RewardFileMissingError(f"weight file not found: {path}. Get it from {source}")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path), device="cpu")
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise RewardFileInvalidError(
            f"refused to load {path}: it is not a plain tensor checkpoint and unpickling it could run code "
            f"({error}). Use the original file from {source}, or a .safetensors conversion"
        ) from error
    except Exception as error:
        raise RewardFileInvalidError(f"cannot read {path} ({error}). Get it from {source}") from error
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise RewardFileInvalidError(f"{path} holds no tensor state dict. Get it from {source}")
    return {key.removeprefix("module."): value for key, value in state.items()}
