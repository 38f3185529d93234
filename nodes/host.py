"""Everything that talks to ComfyUI's modules, imported lazily so node definitions load without a host.

Inside ComfyUI every function here works; outside it (CI) only the fallbacks used by INPUT_TYPES do.
"""

from __future__ import annotations

import logging
import os
import time

import torch

from .common import REWARDS_FOLDER, RewardSet

log = logging.getLogger("srsoup")

# ComfyUI's scheduler names at v0.3.64, used only when the host is absent (node definitions in CI).
FALLBACK_SCHEDULERS = (
    "simple",
    "sgm_uniform",
    "karras",
    "exponential",
    "ddim_uniform",
    "beta",
    "normal",
    "linear_quadratic",
    "kl_optimal",
)


def scheduler_names() -> list[str]:
    try:
        import comfy.samplers

        return list(comfy.samplers.SCHEDULER_NAMES)
    except ImportError:
        return list(FALLBACK_SCHEDULERS)


# ---------------------------------------------------------------------------------------------
# The models/rewards folder


def register_rewards_folder() -> None:
    """Register models/rewards with folder_paths (keeps folders mapped in extra_model_paths.yaml)."""
    try:
        import folder_paths
    except ImportError:
        return
    default = os.path.join(folder_paths.models_dir, REWARDS_FOLDER)
    folder_paths.add_model_folder_path(REWARDS_FOLDER, default, is_default=True)
    paths, exts = folder_paths.folder_names_and_paths[REWARDS_FOLDER]
    if not exts:
        folder_paths.folder_names_and_paths[REWARDS_FOLDER] = (
            paths,
            set(folder_paths.supported_pt_extensions),
        )


def reward_roots() -> list[str]:
    try:
        import folder_paths
    except ImportError:
        return []
    register_rewards_folder()
    return folder_paths.get_folder_paths(REWARDS_FOLDER)


# ---------------------------------------------------------------------------------------------
# Model management


def reward_devices(device: str):
    """(load_device, offload_device) for a reward: 'auto' follows ComfyUI, 'cpu' keeps it on the CPU."""
    import comfy.model_management as mm

    if device == "cpu":
        return torch.device("cpu"), torch.device("cpu")
    return mm.get_torch_device(), mm.unet_offload_device()


def reward_dtype(dtype: str, load_device) -> torch.dtype:
    if dtype == "float32":
        return torch.float32
    if dtype == "float16":
        return torch.float16
    if dtype == "bfloat16":
        return torch.bfloat16
    import comfy.model_management as mm

    if load_device.type != "cpu" and mm.should_use_fp16(load_device, prioritize_performance=False):
        return torch.float16
    return torch.float32


class RewardWeights(torch.nn.Module):
    """Holds a reward's module for ComfyUI's ModelPatcher, which sets `.device` and bookkeeping attributes
    on the module it manages (transformers models have a read-only `device`). The reward keeps using
    its own module: moving this holder moves the same parameters."""

    def __init__(self, module: torch.nn.Module):
        super().__init__()
        self.reward = module


def make_patcher(module, load_device, offload_device):
    import comfy.model_patcher

    holder = RewardWeights(module)
    return comfy.model_patcher.ModelPatcher(holder, load_device=load_device, offload_device=offload_device)


def ensure_fully_loaded(patchers) -> None:
    """Reward nets are plain torch modules: unlike ComfyUI's own layers they cannot run with part of
    their weights left on the offload device. Where VRAM was short and ComfyUI loaded one partially,
    load it completely (ComfyUI may then offload part of the UNet, whose layers support that)."""
    import comfy.model_management as mm

    for p in patchers:
        if torch.device(p.load_device).type == "cpu":
            continue
        if p.loaded_size() < p.model_size():
            log.info(
                "SRSoup: loading reward weights completely (%d of %d bytes were loaded)",
                p.loaded_size(),
                p.model_size(),
            )
            mm.load_models_gpu([p], force_full_load=True)


def load_rewards_for_scoring(rewards: RewardSet) -> None:
    import comfy.model_management as mm

    if rewards.patchers:
        mm.load_models_gpu(rewards.patchers)
        ensure_fully_loaded(rewards.patchers)


# ---------------------------------------------------------------------------------------------
# The sampler


def detect_parameterization(model_sampling) -> str:
    """'flow' for CONST (SD3, Flux, ...), 'eps' for the VE form (EPS, V_PREDICTION, EDM, X0)."""
    import comfy.model_sampling as ms

    if isinstance(model_sampling, ms.CONST):
        return "flow"
    if isinstance(model_sampling, ms.V_PREDICTION) or isinstance(model_sampling, ms.EPS):
        return "eps"
    raise ValueError(
        f"SRSoup supports eps, v-prediction and flow (CONST) models; this model samples with "
        f"{type(model_sampling).__name__}, whose noise form it does not know"
    )


def prediction_type(model_sampling) -> str:
    """The model_sampling's prediction class name (EPS, V_PREDICTION, EDM, X0, CONST, ...)."""
    import comfy.model_sampling as ms

    for name in ("CONST", "EDM", "V_PREDICTION", "X0", "IMG_TO_IMG", "COSMOS_RFLOW", "EPS"):
        cls = getattr(ms, name, None)
        if cls is not None and isinstance(model_sampling, cls):
            return name
    return type(model_sampling).__name__


def per_query_bytes(base_model, decoder, latent_shape) -> float:
    """Rough memory of one query: a CFG model call (2 rows) plus a decode, both at batch 1."""
    shape = [1] + list(latent_shape[1:])
    total = 0.0
    try:
        total += float(base_model.memory_required([2] + shape[1:]))
    except Exception:  # noqa: BLE001 - an estimate only; some models need cond shapes
        total += 4.0 * 1024**2
    try:
        total += float(decoder.memory_used_decode(shape, decoder.vae_dtype))
    except Exception:  # noqa: BLE001
        total += 256.0 * 1024**2
    return total


def make_decode(base_model, decoder):
    """latents x0 (sampler space) -> images (N, H, W, 3) float in [0, 1]."""

    def decode(x0: torch.Tensor) -> torch.Tensor:
        latents = base_model.process_latent_out(x0.to(torch.float32))
        images = decoder.decode(latents)
        if images.ndim == 5:  # video VAEs: (B, T, H, W, C) -> frames
            images = images.reshape(-1, *images.shape[-3:])
        return images[..., :3].float().clamp(0.0, 1.0)

    return decode


def make_srsoup_sampler_function(
    *,
    vae,
    query_vae,
    rewards: RewardSet,
    weights: torch.Tensor,
    prompt: str,
    n_queries: int,
    soup_steps: int,
    query_x0: str,
    step_rule: str,
    correction: str,
    query_chunk: int,
    record: dict | None = None,
):
    """The function a KSAMPLER calls: srsoup_sample with ComfyUI's decode, rewards, memory and interrupt."""
    bound = rewards.bound(prompt)
    decoder = query_vae if query_vae is not None else vae

    def sample_srsoup(model, x, sigmas, extra_args=None, callback=None, disable=None):
        import comfy.model_management as mm

        from ..sampler_core import srsoup_sample

        guider = model.inner_model
        base = guider.inner_model
        patcher = getattr(guider, "model_patcher", None)
        model_sampling = (
            patcher.get_model_object("model_sampling") if patcher is not None else base.model_sampling
        )
        parameterization = detect_parameterization(model_sampling)
        if (extra_args or {}).get("denoise_mask") is not None and x.shape[0] > 1:
            raise ValueError(
                f"SRSoup with a noise mask (inpainting) needs a latent batch of 1; got {x.shape[0]}. "
                "Use one latent, or drop the mask"
            )

        # Reward nets and the query decoder are used at every step: load them with the UNet, not mid-loop.
        # SRSoupKSampler registered them as additional models (already loaded by now); as a SAMPLER in
        # SamplerCustomAdvanced they are loaded here, together with the guider's model.
        extra = [decoder.patcher] + rewards.patchers
        loaded = {id(m) for m in mm.loaded_models()}
        if patcher is not None and any(id(m) not in loaded for m in extra):
            mm.load_models_gpu([patcher] + extra)
        ensure_fully_loaded(rewards.patchers)
        chunk = query_chunk
        if not chunk or chunk <= 0:
            from .common import auto_query_chunk

            chunk = auto_query_chunk(mm.get_free_memory(x.device), per_query_bytes(base, decoder, x.shape))
        seed = (extra_args or {}).get("seed")
        start = time.perf_counter()
        result = srsoup_sample(
            model,
            x,
            sigmas,
            extra_args=extra_args,
            callback=callback,
            disable=disable,
            rewards=bound,
            weights=weights,
            decode=make_decode(base, decoder),
            n_queries=n_queries,
            soup_steps=soup_steps,
            parameterization=parameterization,
            generator=int(seed) if seed is not None else 0,
            query_x0=query_x0,
            step_rule=step_rule,
            correction=correction,
            query_chunk=int(chunk),
            interrupt=mm.throw_exception_if_processing_interrupted,
        )
        elapsed = time.perf_counter() - start
        stats = result.stats.to_dict() if hasattr(result.stats, "to_dict") else dict(vars(result.stats))
        info = {
            "parameterization": parameterization,
            "model_sampling": prediction_type(model_sampling),
            "query_chunk": int(chunk),
            "seed": seed,
            "query_decoder": "query_vae" if query_vae else "vae",
        }
        if record is not None:
            record.update(stats=stats, info=info, time_s=elapsed)
        log.info(
            "SRSoup: %s sampling, %d weight vector(s), %.1f s, stats %s",
            parameterization,
            int(weights.shape[0]),
            elapsed,
            stats,
        )
        return result.samples

    return sample_srsoup


def make_ksampler(function):
    import comfy.samplers

    return comfy.samplers.KSAMPLER(function)


def compute_sigmas(model, scheduler: str, steps: int, denoise: float) -> torch.Tensor:
    """ComfyUI's BasicScheduler: `steps` steps of a longer schedule when denoise < 1."""
    import comfy.samplers

    if denoise <= 0.0:
        raise ValueError(
            "denoise must be above 0: with denoise 0 nothing is sampled and no weight vector is applied"
        )
    total = steps if denoise >= 0.9999 else int(steps / denoise)
    sigmas = comfy.samplers.calculate_sigmas(model.get_model_object("model_sampling"), scheduler, total).cpu()
    return sigmas[-(steps + 1) :]
