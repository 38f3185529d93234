"""Tiny random models for the host tests, built with ComfyUI's own classes (imported lazily)."""

from __future__ import annotations

import torch

CONTEXT_DIM = 64


def _init_normal(module: torch.nn.Module, seed: int, std: float) -> None:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in sorted(module.named_parameters()):
            if name.endswith("bias"):
                p.zero_()
            elif "norm" in name and p.ndim == 1:
                p.fill_(1.0)
            else:
                p.copy_(torch.randn(p.shape, generator=gen) * std)


def tiny_unet_model(seed: int = 0):
    """A random SD1.5-shaped eps model (32 channels, context 64) in a ModelPatcher."""
    import comfy.model_management
    import comfy.model_patcher
    import comfy.supported_models

    unet_config = {
        "image_size": 32,
        "in_channels": 4,
        "out_channels": 4,
        "model_channels": 32,
        "num_res_blocks": [1, 1],
        "channel_mult": [1, 2],
        "transformer_depth": [1, 1],
        "transformer_depth_output": [1, 1, 1, 1],
        "transformer_depth_middle": 1,
        "context_dim": CONTEXT_DIM,
        "use_linear_in_transformer": False,
        "adm_in_channels": None,
        "use_spatial_transformer": True,
        "legacy": False,
        "use_temporal_attention": False,
        "use_temporal_resblock": False,
        "use_checkpoint": False,
    }
    model = comfy.supported_models.SD15(unet_config).get_model({})
    _init_normal(model.diffusion_model, seed, 0.05)
    device = comfy.model_management.get_torch_device()
    return comfy.model_patcher.ModelPatcher(model, load_device=device, offload_device=torch.device("cpu"))


def tiny_vae(seed: int = 1):
    """A random TAESD-shaped VAE (8x upsampling) through comfy.sd.VAE's own state-dict detection."""
    import comfy.sd
    import comfy.taesd.taesd

    net = comfy.taesd.taesd.TAESD(latent_channels=4)
    _init_normal(net, seed, 0.05)
    sd = {k: v.clone() for k, v in net.state_dict().items()}
    return comfy.sd.VAE(sd=sd)


def tiny_conditioning(seed: int):
    gen = torch.Generator().manual_seed(seed)
    return [[torch.randn(1, 77, CONTEXT_DIM, generator=gen), {}]]
