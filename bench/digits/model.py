"""A tiny eps-prediction diffusion model for 16x16 digits, seen through ComfyUI's coordinates.

- ``DigitsUNet``: a small UNet (16 -> 8 -> 4 and back), eps prediction, timestep t in [0, 1000).
- ``DiscreteSchedule``: the DDPM linear-beta schedule and the sigma <-> t mapping of ComfyUI's
  ``ModelSamplingDiscrete`` (sigma = sqrt((1 - alpha_bar) / alpha_bar), t from log-sigma interpolation).
- ``DigitsDenoiser``: the k-diffusion-style denoiser ``D(x, sigma) -> x0`` in the VE form
  ``x = x0 + sigma * eps`` that ``sampler_core.srsoup_sample`` takes:
  ``x0 = x - sigma * eps_hat(x / sqrt(1 + sigma^2), t(sigma))``.
- ``sigma_schedule(kind, steps)``: "normal" or "karras" schedules with ``steps`` steps ending at 0.
- ``decode``: latents (B, 1, 16, 16) in [-1, 1] -> images (B, S, S, 3) in [0, 1], nearest-upscaled.
- ``load_denoiser()``: the committed weights (``weights/digits_unet.safetensors``).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
UNET_WEIGHTS = WEIGHTS_DIR / "digits_unet.safetensors"

DEFAULT_CONFIG = {"channels": [16, 32, 64], "time_dim": 128, "resolution": 16}

NUM_TRAIN_TIMESTEPS = 1000
BETA_START = 1e-4
BETA_END = 0.02

DECODE_SIZE = 64
"""Side of the decoded RGB image (16x16 upscaled 4x, nearest): what the rewards see."""


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=1)


class ResBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, time_dim: int):
        super().__init__()
        self.norm1 = nn.GroupNorm(8, c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.time = nn.Linear(time_dim, c_out)
        self.norm2 = nn.GroupNorm(8, c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x, emb):
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.time(emb)[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return h + self.skip(x)


class DigitsUNet(nn.Module):
    """eps_hat(x_t, t) for 1-channel images whose side is divisible by 4."""

    def __init__(self, channels=(16, 32, 64), time_dim: int = 128, resolution: int = 16):
        super().__init__()
        c0, c1, c2 = channels
        self.resolution = resolution
        self.time_dim = time_dim
        self.time_mlp = nn.Sequential(nn.Linear(time_dim, time_dim), nn.SiLU(), nn.Linear(time_dim, time_dim))
        self.conv_in = nn.Conv2d(1, c0, 3, padding=1)
        self.down0 = ResBlock(c0, c0, time_dim)
        self.pool0 = nn.Conv2d(c0, c1, 3, stride=2, padding=1)
        self.down1 = ResBlock(c1, c1, time_dim)
        self.pool1 = nn.Conv2d(c1, c2, 3, stride=2, padding=1)
        self.mid1 = ResBlock(c2, c2, time_dim)
        self.mid2 = ResBlock(c2, c2, time_dim)
        self.up1 = ResBlock(c2 + c1, c1, time_dim)
        self.up0 = ResBlock(c1 + c0, c0, time_dim)
        self.norm_out = nn.GroupNorm(8, c0)
        self.conv_out = nn.Conv2d(c0, 1, 3, padding=1)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        emb = self.time_mlp(timestep_embedding(t, self.time_dim))
        h0 = self.down0(self.conv_in(x), emb)  # res
        h1 = self.down1(self.pool0(h0), emb)  # res/2
        h = self.mid2(self.mid1(self.pool1(h1), emb), emb)  # res/4
        h = F.interpolate(h, scale_factor=2.0, mode="nearest")
        h = self.up1(torch.cat([h, h1], dim=1), emb)
        h = F.interpolate(h, scale_factor=2.0, mode="nearest")
        h = self.up0(torch.cat([h, h0], dim=1), emb)
        return self.conv_out(F.silu(self.norm_out(h)))


class DiscreteSchedule:
    """DDPM linear betas over 1000 steps and ComfyUI's ModelSamplingDiscrete sigma <-> t mapping."""

    def __init__(
        self, n: int = NUM_TRAIN_TIMESTEPS, beta_start: float = BETA_START, beta_end: float = BETA_END
    ):
        betas = torch.linspace(beta_start, beta_end, n, dtype=torch.float64)
        self.alphas_cumprod = torch.cumprod(1.0 - betas, dim=0)
        self.sigmas = ((1.0 - self.alphas_cumprod) / self.alphas_cumprod).sqrt()
        self.log_sigmas = self.sigmas.log()

    @property
    def sigma_min(self) -> float:
        return float(self.sigmas[0])

    @property
    def sigma_max(self) -> float:
        return float(self.sigmas[-1])

    def sigma_to_t(self, sigma: torch.Tensor) -> torch.Tensor:
        """Continuous timestep for each sigma (linear interpolation in log sigma), as ComfyUI does."""
        log_sigma = sigma.double().clamp_min(1e-10).log()
        dists = log_sigma[:, None] - self.log_sigmas.to(sigma.device)[None]
        low = dists.ge(0).cumsum(dim=1).argmax(dim=1).clamp(max=self.log_sigmas.shape[0] - 2)
        high = low + 1
        lo, hi = self.log_sigmas.to(sigma.device)[low], self.log_sigmas.to(sigma.device)[high]
        w = ((lo - log_sigma) / (lo - hi)).clamp(0, 1)
        return ((1 - w) * low + w * high).to(torch.float32)

    def t_to_sigma(self, t: torch.Tensor) -> torch.Tensor:
        t = t.double().clamp(0, self.log_sigmas.shape[0] - 1)
        low = t.floor().long()
        high = t.ceil().long()
        w = t.frac()
        return ((1 - w) * self.log_sigmas[low] + w * self.log_sigmas[high]).exp()


def sigma_schedule(
    steps: int, kind: str = "normal", schedule: DiscreteSchedule | None = None
) -> torch.Tensor:
    """``steps + 1`` decreasing sigmas ending at 0 ("normal": evenly spaced timesteps, like ComfyUI's
    "normal" scheduler; "karras": rho = 7 between sigma_max and sigma_min)."""
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer; got {steps!r}")
    schedule = schedule or DiscreteSchedule()
    if kind == "normal":
        t = torch.linspace(schedule.log_sigmas.shape[0] - 1, 0, steps, dtype=torch.float64)
        sigmas = schedule.t_to_sigma(t)
    elif kind == "karras":
        rho = 7.0
        ramp = torch.linspace(0, 1, steps, dtype=torch.float64)
        lo, hi = schedule.sigma_min ** (1 / rho), schedule.sigma_max ** (1 / rho)
        sigmas = (hi + ramp * (lo - hi)) ** rho
    else:
        raise ValueError(f"unknown sigma schedule {kind!r}: use 'normal' or 'karras'")
    return torch.cat([sigmas, sigmas.new_zeros(1)]).to(torch.float32)


class DigitsDenoiser(nn.Module):
    """k-diffusion-style denoiser: ``forward(x, sigma) -> x0`` with ``x = x0 + sigma * eps``.

    ``sigma`` is a scalar or a (B,) tensor. Counts its calls and evaluated rows (``calls``, ``rows``).
    """

    def __init__(self, unet: DigitsUNet, schedule: DiscreteSchedule | None = None):
        super().__init__()
        self.unet = unet
        self.schedule = schedule or DiscreteSchedule()
        self.calls = 0
        self.rows = 0

    @property
    def latent_shape(self) -> tuple[int, int, int]:
        return (1, self.unet.resolution, self.unet.resolution)

    @torch.no_grad()
    def forward(self, x: torch.Tensor, sigma, **kwargs) -> torch.Tensor:
        sigma = torch.as_tensor(sigma, dtype=torch.float32, device=x.device)
        if sigma.dim() == 0:
            sigma = sigma.expand(x.shape[0])
        if sigma.shape != (x.shape[0],):
            raise ValueError(
                f"sigma must be a scalar or have shape ({x.shape[0]},); got {tuple(sigma.shape)}"
            )
        self.calls += 1
        self.rows += x.shape[0]
        s = sigma[:, None, None, None]
        c_in = 1.0 / (s * s + 1.0).sqrt()
        t = self.schedule.sigma_to_t(sigma)
        eps = self.unet(x * c_in, t)
        return x - s * eps


def decode(latents: torch.Tensor, size: int = DECODE_SIZE) -> torch.Tensor:
    """Latents (B, 1, h, w) in the model's data range [-1, 1] -> images (B, size, size, 3) in [0, 1].

    Ink is dark on a white page (like a scan), nearest-neighbour upscaled so the JPEG size reflects
    the strokes.
    """
    if latents.dim() != 4 or latents.shape[1] != 1:
        raise ValueError(f"latents must be (B, 1, H, W); got {tuple(latents.shape)}")
    ink = ((latents.float() + 1.0) * 0.5).clamp(0.0, 1.0)
    page = 1.0 - ink
    if page.shape[-1] != size:
        page = F.interpolate(page, size=(size, size), mode="nearest")
    return page.permute(0, 2, 3, 1).expand(-1, -1, -1, 3).contiguous()


def images_to_ink(images: torch.Tensor, resolution: int = 16) -> torch.Tensor:
    """Inverse of ``decode`` for the classifier: images (B, H, W, 3) in [0, 1] -> (B, 1, r, r) in [-1, 1]."""
    if images.dim() != 4 or images.shape[-1] not in (1, 3):
        raise ValueError(f"images must be (B, H, W, 3); got {tuple(images.shape)}")
    gray = images.float().mean(dim=-1, keepdim=True).permute(0, 3, 1, 2)
    if gray.shape[-1] != resolution or gray.shape[-2] != resolution:
        gray = F.adaptive_avg_pool2d(gray, (resolution, resolution))
    return (1.0 - gray) * 2.0 - 1.0


def load_denoiser(path: str | Path | None = None, device: str = "cpu") -> DigitsDenoiser:
    """Build the UNet from the config stored in the safetensors metadata and load its weights."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    path = Path(path) if path is not None else UNET_WEIGHTS
    if not path.is_file():
        raise FileNotFoundError(
            f"digits model weights not found at {path}: run `python -m bench.digits.train` to create them"
        )
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
    config = json.loads(meta.get("config", json.dumps(DEFAULT_CONFIG)))
    unet = DigitsUNet(tuple(config["channels"]), config["time_dim"], config["resolution"])
    unet.load_state_dict(load_file(str(path)))
    unet.eval().to(device)
    for p in unet.parameters():
        p.requires_grad_(False)
    return DigitsDenoiser(unet)
