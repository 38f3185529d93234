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


def tiny_unet_model(seed: int = 0, arch: str = "sd15"):
    """A random SD1.5-shaped eps model (32 channels, context 64) in a ModelPatcher; `arch="sdxl"`: the
    SDXL class (ADM conditioning on a 1280-d pooled text embedding plus size embeddings)."""
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
    if arch == "sdxl":
        unet_config.update(adm_in_channels=2816, num_classes="sequential", use_linear_in_transformer=True)
        config = comfy.supported_models.SDXL(unet_config)
        config.unet_config["num_head_channels"] = 16
    else:
        config = comfy.supported_models.SD15(unet_config)
    model = config.get_model({})
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


def tiny_conditioning(seed: int, pooled: bool = False):
    gen = torch.Generator().manual_seed(seed)
    extra = {"pooled_output": torch.randn(1, 1280, generator=gen)} if pooled else {}
    return [[torch.randn(1, 77, CONTEXT_DIM, generator=gen), extra]]


REWARD_IMAGE_SIZE = 32


def _byte_tokenizer():
    """A CLIP tokenizer whose vocabulary is the 256 byte symbols (no merges): offline and small."""
    from transformers import CLIPTokenizer
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    symbols = list(bytes_to_unicode().values())
    vocab = {s: i for i, s in enumerate(symbols)}
    vocab.update({s + "</w>": len(symbols) + i for i, s in enumerate(symbols)})
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    return CLIPTokenizer(vocab=vocab, merges=[])


def _save_clip_folder(folder, seed: int) -> None:
    import json

    from transformers import CLIPConfig, CLIPModel

    tok = _byte_tokenizer()
    text = dict(
        vocab_size=len(tok),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        max_position_embeddings=77,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    vision = dict(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        image_size=REWARD_IMAGE_SIZE,
        patch_size=8,
    )
    torch.manual_seed(seed)
    CLIPModel(CLIPConfig(text_config=text, vision_config=vision, projection_dim=16)).save_pretrained(folder)
    tok.save_pretrained(folder)
    (folder / "preprocessor_config.json").write_text(
        json.dumps(
            {
                "crop_size": {"height": REWARD_IMAGE_SIZE, "width": REWARD_IMAGE_SIZE},
                "size": {"shortest_edge": REWARD_IMAGE_SIZE},
                "image_mean": [0.48145466, 0.4578275, 0.40821073],
                "image_std": [0.26862954, 0.26130258, 0.27577711],
            }
        )
    )


def make_rewards_root(root):
    """A models/rewards/ folder with tiny random weights under the real names: a CLIP ViT-L/14 folder
    (aesthetic's backbone, CLIPScore), a PickScore folder and the aesthetic head file."""
    root.mkdir(parents=True, exist_ok=True)
    _save_clip_folder(root / "clip-vit-large-patch14", seed=1)
    _save_clip_folder(root / "PickScore_v1", seed=2)
    gen = torch.Generator().manual_seed(3)
    widths = [16, 24, 12, 8, 4, 1]
    head = {}
    for index, d_in, d_out in zip((0, 2, 4, 6, 7), widths[:-1], widths[1:], strict=True):
        head[f"layers.{index}.weight"] = torch.randn(d_out, d_in, generator=gen) / d_in**0.5
        head[f"layers.{index}.bias"] = torch.randn(d_out, generator=gen) * 0.1
    torch.save(head, root / "sac+logos+ava1-l14-linearMSE.pth")
    return root
