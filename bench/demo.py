"""The main job: SRSoup on the embedded digits model with real black-box rewards, end to end on a CPU.

    bash scripts/run_demo.sh                      # sets up .venv, then runs this with the defaults
    .venv/bin/python -m bench.demo --quick        # a smaller run (~20 s)
    .venv/bin/python -m bench.demo --digit 3 --rewards digit,compressibility --weights 0.25

One initial noise per seed; from it SRSoup samples one digit per preference weight vector (L = 6 by
default: w = (w_digit, w_compress) in {0, .2, ..., 1}). For comparison the same noises are sampled by
weighted-sum (WS) guidance (the paper's baseline, same N) and unguided. Writes, under --out:

- pareto_grid.png: rows = seeds, columns = unguided then SRSoup's weight vectors;
- ws_grid.png: the same for weighted-sum guidance;
- reward_plane.png: every image's rewards and the per-weight means (SRSoup, WS, unguided);
- summary.txt / summary.json: reward queries, model evaluations, wall time, hypervolume.

The model is unconditional, so there are no text prompts: the classifier's target digit (--digit)
plays the prompt's role.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from bench.digits.model import decode, load_denoiser, sigma_schedule  # noqa: E402
from bench.digits.problem import (  # noqa: E402
    build_rewards,
    initial_noise,
    pick_threads,
    reference_point,
    score,
)
from bench.figure1_analytic import ws_matched_n  # noqa: E402  (the paper's matched-budget N)

DEFAULT_OUT = REPO_ROOT / "bench" / "results" / "demo_digits"


# --------------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------------
def _positive_int(name):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be an integer; got {text!r}") from None
        if value < 1:
            raise argparse.ArgumentTypeError(f"{name} must be >= 1; got {value}")
        return value

    return parse


def parse_seeds(text: str) -> list[int]:
    """'4' -> [0, 1, 2, 3]; '3,7,11' -> [3, 7, 11]."""
    text = str(text).strip()
    try:
        if "," in text:
            seeds = [int(s) for s in text.split(",") if s.strip()]
        else:
            n = int(text)
            if n < 1:
                raise ValueError(f"--seeds: the number of seeds must be >= 1; got {n}")
            seeds = list(range(n))
    except ValueError as exc:
        if "--seeds" in str(exc):
            raise
        raise ValueError(
            f"--seeds takes a count (e.g. 4) or a comma-separated list (e.g. 0,5,9); got {text!r}"
        ) from None
    if not seeds:
        raise ValueError("--seeds: give at least one seed")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"--seeds: seeds must be distinct; got {seeds}")
    return seeds


def parse_weights(text: str, n_rewards: int) -> torch.Tensor:
    """A grid step ('0.2' -> the simplex grid) or explicit vectors ('1,0; .5,.5; 0,1')."""
    from sampler_core.preferences import parse_weight_list, simplex_grid

    text = str(text).strip()
    if ";" in text or "\n" in text or "," in text or " " in text:
        return parse_weight_list(text, n_rewards)
    try:
        step = float(text)
    except ValueError:
        raise ValueError(
            f"--weights takes a grid step (e.g. 0.2) or vectors like '1,0; 0.5,0.5; 0,1'; got {text!r}"
        ) from None
    return simplex_grid(n_rewards, step)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench.demo", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--seeds", default="4", help="number of seeds (0..n-1) or a list like 0,5,9 (default 4)")
    p.add_argument(
        "--digit", type=int, default=8, help="target class of the classifier reward, 0..9 (default 8)"
    )
    p.add_argument(
        "--rewards",
        default="digit,compressibility",
        help="comma-separated rewards: digit, digit=K, compressibility, incompressibility "
        "(default digit,compressibility)",
    )
    p.add_argument(
        "--weights", default="0.2", help="grid step (default 0.2: L=6) or vectors '1,0; .5,.5; 0,1'"
    )
    p.add_argument(
        "--n-queries", type=_positive_int("--n-queries"), default=30, help="N per reward and step (30)"
    )
    p.add_argument("--soup-steps", type=int, default=None, help="K soup steps (default: 40%% of --steps)")
    p.add_argument("--steps", type=_positive_int("--steps"), default=20, help="sampling steps T (default 20)")
    p.add_argument("--scheduler", choices=["normal", "karras"], default="normal")
    p.add_argument(
        "--ws-n-queries",
        type=_positive_int("--ws-n-queries"),
        default=None,
        help="N of the weighted-sum baseline (default: same as --n-queries)",
    )
    p.add_argument("--query-x0", choices=["tweedie", "reuse"], default="tweedie")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output folder (default {DEFAULT_OUT})")
    p.add_argument("--quick", action="store_true", help="smaller run: 2 seeds, T=10, N=12")
    p.add_argument(
        "--threads",
        type=_positive_int("--threads"),
        default=None,
        help="torch CPU threads (default: the idle cores, i.e. CPU count minus load average, at least 1)",
    )
    p.add_argument("--no-baselines", action="store_true", help="skip the weighted-sum run")
    return p


def resolve_args(argv=None):
    args = build_parser().parse_args(argv)
    if args.quick:
        if args.seeds == "4":
            args.seeds = "2"
        if args.steps == 20:
            args.steps = 10
        if args.n_queries == 30:
            args.n_queries = 12
    args.seed_list = parse_seeds(args.seeds)
    if not 0 <= args.digit <= 9:
        raise ValueError(f"--digit must be 0..9; got {args.digit}")
    if args.n_queries < 2:
        raise ValueError("--n-queries must be >= 2 (rewards are z-scored over the queries)")
    if args.soup_steps is None:
        args.soup_steps = round(0.4 * args.steps)
    if args.soup_steps < 0:
        raise ValueError(f"--soup-steps must be >= 0; got {args.soup_steps}")
    if args.ws_n_queries is None:
        args.ws_n_queries = args.n_queries
    return args


# --------------------------------------------------------------------------------------------------
# Running
# --------------------------------------------------------------------------------------------------
class Progress:
    """Prints one line per sampling step: method, step, sigma, elapsed seconds."""

    def __init__(self, label: str, steps: int):
        self.label, self.steps, self.t0 = label, steps, time.perf_counter()

    def __call__(self, info):
        i = int(info["i"]) + 1
        if i == 1 or i == self.steps or i % max(1, self.steps // 10) == 0:
            sigma = float(torch.as_tensor(info["sigma"]).reshape(-1)[0])
            print(
                f"  {self.label:<8} step {i:>3}/{self.steps}  sigma {sigma:8.3f}  "
                f"{time.perf_counter() - self.t0:6.1f} s",
                flush=True,
            )


def run_demo(args) -> dict:
    from sampler_core import ancestral_sample, srsoup_sample
    from sampler_core.pareto import hypervolume

    t_start = time.perf_counter()
    threads = pick_threads(args.threads)
    print("[1/5] loading the embedded digits model and the rewards", flush=True)
    denoiser = load_denoiser()
    rewards = build_rewards(args.rewards, digit=args.digit)
    denoiser(torch.zeros(1, *denoiser.latent_shape), 1.0)  # warm-up: first-call set-up is not timed below
    weights = parse_weights(args.weights, len(rewards))
    seeds = args.seed_list
    sigmas = sigma_schedule(args.steps, args.scheduler)
    x = initial_noise(seeds, denoiser.latent_shape) * sigmas[0]
    n_seed, n_w = len(seeds), weights.shape[0]
    reward_fns = [r.reward.bind() for r in rewards]
    print(
        f"      rewards: {', '.join(r.label for r in rewards)}; L={n_w} weight vectors; seeds {seeds}; "
        f"T={args.steps} ({args.scheduler}), N={args.n_queries}, K={args.soup_steps}; "
        f"{threads} torch thread(s)",
        flush=True,
    )

    common = dict(
        rewards=reward_fns,
        weights=weights,
        decode=decode,
        query_x0=args.query_x0,
        query_chunk=max(256, args.n_queries * n_seed),
    )

    print("[2/5] unguided ancestral sampling", flush=True)
    t0 = time.perf_counter()
    unguided = ancestral_sample(
        denoiser, x, sigmas, generator=1000 + seeds[0], callback=Progress("unguided", args.steps)
    )
    t_unguided = time.perf_counter() - t0

    print(f"[3/5] SRSoup (N={args.n_queries}, K={args.soup_steps})", flush=True)
    soup = srsoup_sample(
        denoiser,
        x,
        sigmas,
        n_queries=args.n_queries,
        soup_steps=args.soup_steps,
        generator=seeds[0],
        callback=Progress("SRSoup", args.steps),
        **common,
    )
    runs = {"SRSoup": soup}
    n_by_method = {"SRSoup": args.n_queries, "WS": args.ws_n_queries}
    if not args.no_baselines:
        print(f"[4/5] weighted-sum guidance (N={args.ws_n_queries}, K=0)", flush=True)
        runs["WS"] = srsoup_sample(
            denoiser,
            x,
            sigmas,
            n_queries=args.ws_n_queries,
            soup_steps=0,
            generator=seeds[0],
            callback=Progress("WS", args.steps),
            **common,
        )
        # WS at SRSoup's query budget (the paper's matched-budget comparison, Appendix D).
        t_guided = int((sigmas[1:] > 0).sum())
        n_match = max(
            2, ws_matched_n(min(args.soup_steps, t_guided), t_guided, n_w, len(rewards), args.n_queries)
        )
        if n_match != args.ws_n_queries:
            print(f"      weighted-sum at SRSoup's budget (N={n_match}, K=0)", flush=True)
            runs["WS-matched"] = srsoup_sample(
                denoiser,
                x,
                sigmas,
                n_queries=n_match,
                soup_steps=0,
                generator=seeds[0],
                callback=Progress("WS@budget", args.steps),
                **common,
            )
        n_by_method["WS-matched"] = n_match
    else:
        print("[4/5] weighted-sum baselines skipped (--no-baselines)", flush=True)

    print("[5/5] scoring the final images and writing the figures", flush=True)
    scores = {name: score(rewards, r.samples).reshape(n_w, n_seed, -1) for name, r in runs.items()}
    scores["unguided"] = score(rewards, unguided).reshape(1, n_seed, -1)
    means = {name: s.mean(dim=1).numpy() for name, s in scores.items()}  # (L or 1, M)
    ref = reference_point(np.concatenate([m for m in means.values()]))
    hv = {name: hypervolume(m, ref) for name, m in means.items()}

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    images = {
        name: decode(r.samples).reshape(n_w, n_seed, *decode(r.samples[:1]).shape[1:])
        for name, r in runs.items()
    }
    unguided_images = decode(unguided)
    save_grid(
        out / "pareto_grid.png",
        images["SRSoup"],
        unguided_images,
        scores["SRSoup"],
        scores["unguided"],
        weights,
        seeds,
        rewards,
        f"SRSoup (N={args.n_queries}, K={args.soup_steps}, T={args.steps})",
    )
    if "WS" in runs:
        save_grid(
            out / "ws_grid.png",
            images["WS"],
            unguided_images,
            scores["WS"],
            scores["unguided"],
            weights,
            seeds,
            rewards,
            f"Weighted sum (N={args.ws_n_queries}, T={args.steps})",
        )
    names = {
        name: f"{name} N={n_by_method[name]}"
        + (f" K={args.soup_steps}" if name == "SRSoup" else "")
        + f" ({r.stats.total_reward_queries} queries)"
        for name, r in runs.items()
    }
    save_reward_plane(out / "reward_plane.png", scores, means, weights, rewards, ref, hv, names)

    wall = time.perf_counter() - t_start
    summary = {
        "command": "python -m bench.demo " + " ".join(sys.argv[1:]) if __name__ == "__main__" else None,
        "rewards": [r.key for r in rewards],
        "weights": weights.tolist(),
        "seeds": seeds,
        "steps": args.steps,
        "scheduler": args.scheduler,
        "n_queries": args.n_queries,
        "soup_steps": args.soup_steps,
        "ws_n_queries": args.ws_n_queries,
        "n_queries_by_method": {k: v for k, v in n_by_method.items() if k in runs},
        "query_x0": args.query_x0,
        "hv_reference": ref.tolist(),
        "hypervolume": hv,
        "mean_rewards": {k: v.tolist() for k, v in means.items()},
        "stats": {name: r.stats.to_dict() for name, r in runs.items()},
        "time_unguided_s": t_unguided,
        "wall_time_s": wall,
        "torch_threads": torch.get_num_threads(),
    }
    text = format_summary(summary, rewards)
    (out / "summary.txt").write_text(text)
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    print()
    print(text)
    print(f"wrote {out / 'pareto_grid.png'}, {out / 'reward_plane.png'}, {out / 'summary.txt'}", flush=True)
    return summary


# --------------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------------
def _wlabel(w) -> str:
    return "(" + ", ".join(f"{float(v):.2g}" for v in w) + ")"


def _score_text(s, rewards) -> str:
    parts = []
    for v, r in zip(s.tolist(), rewards, strict=True):
        if r.key.startswith("digit"):
            parts.append(f"p={math.exp(v):.2f}")
        else:
            parts.append(f"{abs(v):.2f}kB")
    return " ".join(parts)


def save_grid(path, images, unguided, scores, unguided_scores, weights, seeds, rewards, title):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n_w, n_seed = images.shape[:2]
    cols = n_w + 1
    fig, axes = plt.subplots(n_seed, cols, figsize=(1.45 * cols, 1.6 * n_seed + 0.6), squeeze=False)
    keys = ",".join(r.key for r in rewards)
    for b in range(n_seed):
        for c in range(cols):
            ax = axes[b, c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                img, s = unguided[b], unguided_scores[0, b]
                if b == 0:
                    ax.set_title("unguided", fontsize=8)
                ax.set_ylabel(f"seed {seeds[b]}", fontsize=8)
            else:
                img, s = images[c - 1, b], scores[c - 1, b]
                if b == 0:
                    ax.set_title(f"w={_wlabel(weights[c - 1])}", fontsize=7)
            ax.imshow(img.numpy(), vmin=0, vmax=1)
            ax.set_xlabel(_score_text(s, rewards), fontsize=6.5)
    fig.suptitle(f"{title}; w = ({keys}); under each: classifier p, JPEG size", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def save_reward_plane(path, scores, means, weights, rewards, ref, hv, names=None):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if len(rewards) != 2:
        # Only the first two rewards fit in a plane; say so in the title.
        note = f" (first two of {len(rewards)} rewards)"
    else:
        note = ""
    fig, ax = plt.subplots(figsize=(6.4, 4.8))
    styles = {
        "SRSoup": ("tab:red", "o"),
        "WS": ("tab:blue", "s"),
        "WS-matched": ("tab:cyan", "^"),
        "unguided": ("gray", "*"),
    }
    for name, s in scores.items():
        color, marker = styles[name]
        pts = s.reshape(-1, s.shape[-1]).numpy()
        if name != "WS-matched":
            ax.scatter(pts[:, 1], pts[:, 0], s=10, color=color, alpha=0.25, marker=marker)
        m = means[name]
        label = f"{(names or {}).get(name, name)}: HV {hv[name]:.3g}"
        if m.shape[0] > 1:
            ls = "--" if name == "WS-matched" else "-"
            ax.plot(m[:, 1], m[:, 0], ls + marker, color=color, label=label, ms=7)
            if name == "SRSoup":
                for j, (w, p) in enumerate(zip(weights.tolist(), m, strict=True)):
                    ax.annotate(
                        _wlabel(w),
                        (p[1], p[0]),
                        fontsize=6.5,
                        color=color,
                        xytext=(-10, 8) if j % 2 else (4, -10),
                        textcoords="offset points",
                    )
        else:
            ax.plot(m[:, 1], m[:, 0], marker, color=color, ms=14, label=label + ", mean")
    ax.axvline(ref[1], color="k", lw=0.6, ls=":")
    ax.axhline(ref[0], color="k", lw=0.6, ls=":", label=f"HV reference ({ref[0]:.3g}, {ref[1]:.3g})")
    ax.set_xlabel(rewards[1].label + " (higher = more compressible)")
    ax.set_ylabel(rewards[0].label)
    ax.set_title("Reward plane: faint = single images, lines = mean over seeds per weight" + note, fontsize=9)
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def format_summary(s: dict, rewards) -> str:
    lines = [
        "SRSoup demo on the embedded digits model (16x16 eps-prediction UNet, decoded to 64x64 RGB)",
        f"rewards: {', '.join(s['rewards'])}; L={len(s['weights'])} weights; seeds {s['seeds']}; "
        f"T={s['steps']} ({s['scheduler']}), query x0: {s['query_x0']}",
        "",
        f"{'method':<10} {'N':>3} {'K':>3} {'reward queries':>15} {'per seed':>9} {'paper formula':>14} "
        f"{'model evals':>12} {'time (s)':>9} {'HV':>9}",
    ]
    n_seed = len(s["seeds"])
    for name in ("SRSoup", "WS", "WS-matched"):
        if name not in s["stats"]:
            continue
        st = s["stats"][name]
        n = s["n_queries_by_method"][name]
        k = s["soup_steps"] if name == "SRSoup" else 0
        lines.append(
            f"{name:<10} {n:>3} {k:>3} {st['total_reward_queries']:>15} "
            f"{st['total_reward_queries'] // n_seed:>9} "
            f"{st['paper_formula_queries']:>14} {st['model_evaluations']:>12} {st['time_total']:>9.1f} "
            f"{s['hypervolume'][name]:>9.4g}"
        )
    lines.append(
        f"{'unguided':<10} {'-':>3} {'-':>3} {0:>15} {0:>9} {'-':>14} {s['steps'] * n_seed:>12} "
        f"{s['time_unguided_s']:>9.1f} {s['hypervolume']['unguided']:>9.4g}"
    )
    if "WS" in s["stats"]:
        q_soup = s["stats"]["SRSoup"]["total_reward_queries"]
        q_ws = s["stats"]["WS"]["total_reward_queries"]
        lines.append(
            f"SRSoup used {q_soup / q_ws:.2f}x the reward queries of WS ({q_ws / q_soup:.2f}x fewer); "
            "WS-matched: weighted sum with N chosen for SRSoup's query budget."
        )
    lines += [
        "",
        f"HV: hypervolume (maximization) of the per-weight mean reward points, reference point "
        f"({', '.join(f'{v:.4g}' for v in s['hv_reference'])}) = worst mean seen minus 5% of the range.",
        "mean rewards per weight vector (" + ", ".join(s["rewards"]) + "):",
    ]
    for i, w in enumerate(s["weights"]):
        row = f"  w={_wlabel(w):<12}"
        for name in ("SRSoup", "WS", "WS-matched"):
            if name in s["mean_rewards"]:
                row += f"  {name}: " + ", ".join(f"{v:7.3f}" for v in s["mean_rewards"][name][i])
        lines.append(row)
    lines.append("  unguided:       " + ", ".join(f"{v:8.3f}" for v in s["mean_rewards"]["unguided"][0]))
    lines += [
        "",
        f"wall time (whole demo, incl. loading and figures): {s['wall_time_s']:.1f} s "
        f"on {s['torch_threads']} torch threads",
    ]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    try:
        args = resolve_args(argv)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        run_demo(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
