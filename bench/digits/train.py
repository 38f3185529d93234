"""Train the embedded digits model and classifier (seeded, CPU) and write their safetensors weights.

    python -m bench.digits.train                 # both, then a preview grid of unguided samples
    python -m bench.digits.train --only classifier
    python -m bench.digits.train --steps 200 --out /tmp/w   # a quick smoke run elsewhere

Everything is seeded (data order, timesteps, noise, init) and runs on one thread by default; a rerun
with the same torch build reproduces the committed weights bit for bit (checked for the classifier;
other CPUs or thread counts may round differently). The training time is stored in the safetensors
metadata ("train_seconds").
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from sampler_core import ancestral_sample

from .classifier import CLASSIFIER_WEIGHTS, DigitClassifier
from .data import load_digits_tensors, split_indices
from .model import (
    DEFAULT_CONFIG,
    UNET_WEIGHTS,
    DigitsUNet,
    DiscreteSchedule,
    decode,
    sigma_schedule,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_PREVIEW = REPO_ROOT / "docs" / "demo_unguided_samples.png"


def _random_shift(x: torch.Tensor, g: torch.Generator, max_shift: int = 1) -> torch.Tensor:
    """Shift each image by up to ``max_shift`` pixels (padding with background -1)."""
    n = x.shape[0]
    pad = F.pad(x, (max_shift,) * 4, value=-1.0)
    dx = torch.randint(0, 2 * max_shift + 1, (n,), generator=g)
    dy = torch.randint(0, 2 * max_shift + 1, (n,), generator=g)
    h, w = x.shape[-2:]
    return torch.stack([pad[i, :, dy[i] : dy[i] + h, dx[i] : dx[i] + w] for i in range(n)])


def train_classifier(seed: int = 0, epochs: int = 30, log=print) -> tuple[DigitClassifier, dict]:
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    images, labels = load_digits_tensors()
    train_idx, test_idx = split_indices(len(labels), seed=seed)
    net = DigitClassifier()
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    t0 = time.perf_counter()
    xs, ys = images[train_idx], labels[train_idx]
    for epoch in range(epochs):
        net.train()
        perm = torch.randperm(len(ys), generator=g)
        for start in range(0, len(ys), 64):
            idx = perm[start : start + 64]
            x = _random_shift(xs[idx], g)
            x = x + 0.1 * torch.randn(x.shape, generator=g)
            loss = F.cross_entropy(net(x), ys[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        if (epoch + 1) % 10 == 0:
            net.eval()
            with torch.no_grad():
                acc = (net(images[test_idx]).argmax(1) == labels[test_idx]).float().mean().item()
            log(f"classifier epoch {epoch + 1}/{epochs}: loss {loss.item():.4f}, held-out accuracy {acc:.4f}")
    net.eval()
    with torch.no_grad():
        test_acc = (net(images[test_idx]).argmax(1) == labels[test_idx]).float().mean().item()
    info = {
        "seed": seed,
        "epochs": epochs,
        "held_out_accuracy": round(test_acc, 4),
        "n_train": len(train_idx),
        "n_test": len(test_idx),
        "train_seconds": round(time.perf_counter() - t0, 1),
    }
    return net, info


def train_diffusion(
    seed: int = 0, steps: int = 4000, batch: int = 64, lr: float = 2e-3, ema_decay: float = 0.999, log=print
) -> tuple[DigitsUNet, dict]:
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed + 1)
    images, _ = load_digits_tensors()
    alphas_cumprod = DiscreteSchedule().alphas_cumprod.float()
    n_t = alphas_cumprod.shape[0]
    net = DigitsUNet(**{**DEFAULT_CONFIG, "channels": tuple(DEFAULT_CONFIG["channels"])})
    ema = copy.deepcopy(net)
    for p in ema.parameters():
        p.requires_grad_(False)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=0.0)
    warmup = 200
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt,
        lambda i: min(1.0, (i + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(i, steps) / steps)),
    )
    t0 = time.perf_counter()
    running = None
    for step in range(steps):
        idx = torch.randint(0, images.shape[0], (batch,), generator=g)
        x0 = images[idx]
        t = torch.randint(0, n_t, (batch,), generator=g)
        eps = torch.randn(x0.shape, generator=g)
        ab = alphas_cumprod[t][:, None, None, None]
        xt = ab.sqrt() * x0 + (1 - ab).sqrt() * eps
        loss = F.mse_loss(net(xt, t), eps)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        sched.step()
        with torch.no_grad():
            decay = min(ema_decay, (1 + step) / (10 + step))
            for pe, p in zip(ema.parameters(), net.parameters(), strict=True):
                pe.mul_(decay).add_(p.detach(), alpha=1 - decay)
        running = loss.item() if running is None else 0.98 * running + 0.02 * loss.item()
        if (step + 1) % 500 == 0 or step == 0:
            log(
                f"diffusion step {step + 1}/{steps}: loss (EMA of batches) {running:.4f}, "
                f"{time.perf_counter() - t0:.0f} s"
            )
    for be, b in zip(ema.buffers(), net.buffers(), strict=True):
        be.copy_(b)
    ema.eval()
    info = {
        "seed": seed,
        "steps": steps,
        "batch": batch,
        "lr": lr,
        "ema_decay": ema_decay,
        "final_loss": round(running, 5),
        "train_seconds": round(time.perf_counter() - t0, 1),
        "threads": torch.get_num_threads(),
    }
    return ema, info


def save_preview(denoiser, classifier, path: Path, n: int = 64, steps: int = 20, seed: int = 0, log=print):
    """Grid of unguided samples with the classifier's label and confidence under each."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .classifier import classify

    sigmas = sigma_schedule(steps)
    g = torch.Generator().manual_seed(seed)
    x = torch.randn((n, *denoiser.latent_shape), generator=g) * sigmas[0]
    images = decode(ancestral_sample(denoiser, x, sigmas, generator=g))
    probs = classify(classifier, images)
    conf, label = probs.max(dim=1)
    cols = 8
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.1, rows * 1.3))
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            ax.imshow(images[i].numpy(), vmin=0, vmax=1)
            ax.set_title(f"{int(label[i])} ({conf[i]:.2f})", fontsize=8)
    fig.suptitle(
        f"Unguided samples ({steps} Euler-ancestral steps, seed {seed}); classifier label (confidence); "
        f"mean confidence {conf.mean():.2f}",
        fontsize=8,
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    log(f"preview: {path} (mean classifier confidence {conf.mean():.3f})")


def main(argv=None):
    from safetensors.torch import save_file

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", choices=["classifier", "diffusion"], default=None)
    p.add_argument("--steps", type=int, default=4000, help="diffusion training steps (default 4000)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads (default 1: how the committed weights were made)",
    )
    p.add_argument("--out", type=Path, default=None, help="weights folder (default bench/digits/weights)")
    p.add_argument(
        "--preview",
        type=lambda text: False if text.lower() == "none" else Path(text),
        default=None,
        help="unguided sample grid (PNG), or 'none' (default: docs/demo_unguided_samples.png for the "
        "committed weights, unguided_samples.png in --out otherwise)",
    )
    args = p.parse_args(argv)
    if args.preview is None:
        # a run into another folder must not overwrite the README's picture of the committed weights
        args.preview = args.out / "unguided_samples.png" if args.out else DEFAULT_PREVIEW
    if args.steps < 1:
        raise ValueError(f"--steps must be positive; got {args.steps}")
    if args.threads < 1:
        raise ValueError(f"--threads must be positive; got {args.threads}")
    torch.set_num_threads(args.threads)
    unet_path = (args.out / UNET_WEIGHTS.name) if args.out else UNET_WEIGHTS
    clf_path = (args.out / CLASSIFIER_WEIGHTS.name) if args.out else CLASSIFIER_WEIGHTS
    unet_path.parent.mkdir(parents=True, exist_ok=True)
    if args.only in (None, "classifier"):
        clf, info = train_classifier(seed=args.seed)
        print("classifier:", json.dumps(info))
        save_file(clf.state_dict(), str(clf_path), metadata={"training": json.dumps(info)})
    if args.only in (None, "diffusion"):
        unet, info = train_diffusion(seed=args.seed, steps=args.steps)
        print("diffusion:", json.dumps(info))
        state = {k: v.contiguous() for k, v in unet.state_dict().items()}
        save_file(
            state,
            str(unet_path),
            metadata={"config": json.dumps(DEFAULT_CONFIG), "training": json.dumps(info)},
        )
    if args.preview and clf_path.is_file() and unet_path.is_file():
        from .classifier import load_classifier
        from .model import load_denoiser

        save_preview(load_denoiser(unet_path), load_classifier(clf_path), args.preview)


if __name__ == "__main__":
    main()
