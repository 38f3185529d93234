"""End-to-end benchmark on the embedded digits model with its real rewards (the paper's Fig. 1 and Table 4).

    .venv/bin/python -m bench.e2e_benchmark            # full run (a few minutes on 2 CPU cores)
    .venv/bin/python -m bench.e2e_benchmark --quick    # smoke run, not for conclusions

Protocol (paper Section 5.3 / Appendix D, scaled to the CPU): T guided steps, L = 6 weight vectors
(w_digit, w_compress) in {0, .2, ..., 1}, rewards log p(digit) and JPEG compressibility of the decoded
64x64 image.

- SRSoup with N = 30 and K in {T, 0.8T, 0.6T, 0.4T, 0.2T} soup steps;
- weighted-sum guidance (WS, K = 0) with N matched to each SRSoup budget (N T M (L-M+1) equal to
  SRSoup's N T M (L-M+1) - N K M (L-M): 6, 11, 16, 21, 26 for N=30, L=6, M=2), plus WS N=30 (the paper's
  WS column of Table 4) and a few more budgets so the WS curve brackets SRSoup's HV;
- unguided ancestral sampling.

Each repeat ("seed") uses its own B initial noises (one per image, the paper's "prompts") and its own
query noise; every method in a repeat starts from the same noises. HV: of the L per-weight mean reward
points over the B images, against one reference point for all runs (slightly worse than the worst mean
seen, as in the paper). Query counts are the sampler's own counts per image ("per prompt").

Writes bench/results/e2e_digits.{json,csv,png}; the tables are printed last.
"""

from __future__ import annotations

import argparse
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

# The matched-budget N and the matched-HV ratio are the analytic Figure-1 benchmark's (same protocol).
from bench.figure1_analytic import matched_ratios, ws_matched_n  # noqa: E402
from bench.reporting import fmt_mean_std, mean_std, print_table, write_json_csv  # noqa: E402
from sampler_core import ancestral_sample, srsoup_sample  # noqa: E402
from sampler_core.pareto import hypervolume  # noqa: E402
from sampler_core.preferences import PAPER_WEIGHTS_2  # noqa: E402

N_SOUP = 30
K_FRACTIONS = (1.0, 0.8, 0.6, 0.4, 0.2)
EXTRA_WS_N = (2, 3, 4, 45)
DEFAULT_OUT = REPO_ROOT / "bench" / "results" / "e2e_digits"


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        prog="python -m bench.e2e_benchmark",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--seeds", type=int, default=3, help="repeats, each with its own noises (default 3)")
    p.add_argument("--batch", type=int, default=4, help="images (initial noises) per repeat (default 4)")
    p.add_argument("--steps", type=int, default=21, help="sampling steps; guided T = steps - 1 (default 21)")
    p.add_argument("--digit", type=int, default=8, help="classifier target digit (default 8)")
    p.add_argument("--rewards", default="digit,compressibility")
    p.add_argument("--query-x0", choices=["tweedie", "reuse"], default="tweedie")
    p.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help="output stem (default bench/results/e2e_digits)"
    )
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: the idle cores)")
    p.add_argument(
        "--quick", action="store_true", help="2 repeats of 2 images, 11 steps, no extra WS budgets"
    )
    args = p.parse_args(argv)
    if args.quick:
        args.seeds, args.batch, args.steps = min(args.seeds, 2), min(args.batch, 2), min(args.steps, 11)
    for name in ("seeds", "batch"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name} must be >= 1; got {getattr(args, name)}")
    if args.steps < 3:
        raise ValueError(f"--steps must be >= 3; got {args.steps}")
    return args


def methods_for(t: int, n_weights: int, n_rewards: int, quick: bool):
    ks = sorted({max(1, round(f * t)) for f in K_FRACTIONS}, reverse=True)
    soup = [
        {"method": "SRSoup", "n": N_SOUP, "k": k, "k_label": "T" if k == t else f"{k / t:.1f}T"} for k in ks
    ]
    matched = [ws_matched_n(k, t, n_weights, n_rewards) for k in ks]
    ws_ns = sorted(set(matched) | {N_SOUP} | (set() if quick else set(EXTRA_WS_N)))
    ws = [{"method": "WS", "n": n, "k": 0, "k_label": "0"} for n in ws_ns]
    return soup, ws, dict(zip(ks, matched, strict=True))


def run_one(denoiser, rewards, weights, sigmas, m, seeds, rep, query_x0):
    x = initial_noise(seeds, denoiser.latent_shape) * sigmas[0]
    t0, c0 = time.perf_counter(), time.process_time()
    res = srsoup_sample(
        denoiser,
        x,
        sigmas,
        rewards=[r.reward.bind() for r in rewards],
        weights=weights,
        decode=decode,
        n_queries=m["n"],
        soup_steps=m["k"],
        generator=10_000 + rep,
        query_x0=query_x0,
        query_chunk=max(256, m["n"] * len(seeds)),
    )
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    s = score(rewards, res.samples).reshape(weights.shape[0], len(seeds), -1)
    st = res.stats.to_dict()
    b = len(seeds)
    return {
        "points": s.mean(dim=1).numpy(),
        "queries": st["total_reward_queries"] / b,
        "formula": st["paper_formula_queries"] / b,
        "model_evals": st["model_evaluations"] / b,
        "wall": wall,
        "cpu": cpu,
        "time_model": st["time_model"],
        "time_decode": st["time_decode"],
        "time_reward": st["time_reward"],
        "fallbacks": st["fallbacks"],
    }


def main(argv=None):
    try:
        args = parse_args(argv)
        rewards = build_rewards(args.rewards, digit=args.digit)
        pick_threads(args.threads)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if len(rewards) != 2:
        print("error: the Figure-1 protocol here is for two rewards", file=sys.stderr)
        return 2
    t_start = time.perf_counter()
    denoiser = load_denoiser()
    denoiser(torch.zeros(1, *denoiser.latent_shape), 1.0)  # warm-up, not timed
    weights = torch.tensor(PAPER_WEIGHTS_2, dtype=torch.float32)
    n_weights, n_rewards = weights.shape
    sigmas = sigma_schedule(args.steps)
    t = args.steps - 1  # the last step (to sigma = 0) cannot be guided
    soup, ws, matched = methods_for(t, n_weights, n_rewards, args.quick)
    methods = soup + ws
    print(
        f"e2e digits benchmark: rewards {[r.key for r in rewards]}, L={n_weights}, T={t} guided steps "
        f"({args.steps} sampling steps), {args.seeds} repeats x {args.batch} images, "
        f"{len(methods)} guided configurations + unguided, torch threads {torch.get_num_threads()}",
        flush=True,
    )

    runs = {i: [] for i in range(len(methods))}
    unguided = []
    for rep in range(args.seeds):
        seeds = list(range(rep * args.batch, (rep + 1) * args.batch))
        x = initial_noise(seeds, denoiser.latent_shape) * sigmas[0]
        t0 = time.perf_counter()
        u = score(rewards, ancestral_sample(denoiser, x, sigmas, generator=10_000 + rep))
        unguided.append({"points": u.mean(dim=0, keepdim=True).numpy(), "wall": time.perf_counter() - t0})
        for i, m in enumerate(methods):
            r = run_one(denoiser, rewards, weights, sigmas, m, seeds, rep, args.query_x0)
            runs[i].append(r)
            print(
                f"  repeat {rep + 1}/{args.seeds}  {m['method']:<6} N={m['n']:>2} K={m['k']:>2}  "
                f"{r['queries']:>7.0f} queries/image  {r['wall']:6.1f} s  "
                f"(elapsed {time.perf_counter() - t_start:5.0f} s)",
                flush=True,
            )

    all_points = [r["points"] for rs in runs.values() for r in rs] + [u["points"] for u in unguided]
    ref = reference_point(np.concatenate(all_points))
    for rs in runs.values():
        for r in rs:
            r["hv"] = hypervolume(r["points"], ref)
    for u in unguided:
        u["hv"] = hypervolume(u["points"], ref)

    summary = []
    for i, m in enumerate(methods):
        rs = runs[i]
        hv_m, hv_s = mean_std(r["hv"] for r in rs)
        wall_m, wall_s = mean_std(r["wall"] for r in rs)
        cpu_m, cpu_s = mean_std(r["cpu"] for r in rs)
        summary.append(
            {
                **m,
                "queries": float(np.mean([r["queries"] for r in rs])),
                "formula": float(np.mean([r["formula"] for r in rs])),
                "model_evals": float(np.mean([r["model_evals"] for r in rs])),
                "hv_mean": hv_m,
                "hv_std": hv_s,
                "hv_per_seed": [r["hv"] for r in rs],
                "wall_mean": wall_m,
                "wall_std": wall_s,
                "cpu_mean": cpu_m,
                "cpu_std": cpu_s,
                "time_model": float(np.mean([r["time_model"] for r in rs])),
                "time_decode": float(np.mean([r["time_decode"] for r in rs])),
                "time_reward": float(np.mean([r["time_reward"] for r in rs])),
                "fallbacks": int(sum(r["fallbacks"] for r in rs)),
                "points_mean": np.mean([r["points"] for r in rs], axis=0).tolist(),
            }
        )
    hv_u = mean_std(u["hv"] for u in unguided)

    ws_rows = sorted((s for s in summary if s["method"] == "WS"), key=lambda s: s["queries"])
    ratios = []
    for s in (s for s in summary if s["method"] == "SRSoup"):
        (ratio, bound), per_seed = matched_ratios(ws_rows, s, args.seeds)
        w_match = next(w for w in ws_rows if w["n"] == matched[s["k"]])
        finite = [r for r, b in per_seed if b == "" and math.isfinite(r)]
        ratios.append(
            {
                "K": s["k_label"],
                "srsoup_queries": s["queries"],
                "srsoup_hv": s["hv_mean"],
                "srsoup_hv_std": s["hv_std"],
                "ws_N_same_budget": w_match["n"],
                "ws_queries": w_match["queries"],
                "ws_hv": w_match["hv_mean"],
                "ws_hv_std": w_match["hv_std"],
                "matched_hv_ratio": f"{bound}{ratio:.2f}x",
                "ratio_value": ratio,
                "ratio_bound": bound,
                "per_seed": " ".join(f"{b}{r:.2f}x" for r, b in per_seed),
                "per_seed_mean_std": fmt_mean_std(finite, ".2f") if finite else "-",
            }
        )

    out = Path(args.out)
    plot(out.with_suffix(".png"), summary, hv_u, ratios, ref, rewards, t, args)
    meta = {
        "rewards": [r.key for r in rewards],
        "weights": weights.tolist(),
        "steps": args.steps,
        "guided_steps": t,
        "repeats": args.seeds,
        "batch": args.batch,
        "query_x0": args.query_x0,
        "hv_reference": ref.tolist(),
        "unguided_hv_mean": hv_u[0],
        "unguided_hv_std": hv_u[1],
        "torch_threads": torch.get_num_threads(),
        "wall_time_s": time.perf_counter() - t_start,
        "command": "python -m bench.e2e_benchmark " + " ".join(sys.argv[1:] if argv is None else argv),
    }
    records = [{"table": "runs", **{k: v for k, v in s.items()}} for s in summary]
    records += [{"table": "ratio", **r} for r in ratios]
    write_json_csv(out, records, meta)

    # ---- tables, last ----
    print()
    print(
        f"HV reference point ({rewards[0].key}, {rewards[1].key}) = ({ref[0]:.4g}, {ref[1]:.4g}); "
        f"unguided HV {hv_u[0]:.4g} ± {hv_u[1]:.2g}; {args.seeds} repeats x {args.batch} images; "
        f"T={t} guided steps, L={n_weights}"
    )
    print_table(
        [
            {
                "method": s["method"],
                "N": s["n"],
                "K": s["k_label"],
                "queries/image": round(s["queries"]),
                "HV (mean ± std)": f"{s['hv_mean']:.4g} ± {s['hv_std']:.2g}",
                "HV per repeat": " ".join(f"{h:.3g}" for h in s["hv_per_seed"]),
            }
            for s in summary
        ],
        title="HV against query budget (Fig. 1 protocol)",
    )
    print_table(
        [
            {
                "method": s["method"] + (f" K={s['k_label']}" if s["method"] == "SRSoup" else f" N={s['n']}"),
                "N": s["n"],
                "#query/image": round(s["queries"]),
                "paper formula": round(s["formula"]),
                "model evals/image": round(s["model_evals"]),
                "wall s/run": f"{s['wall_mean']:.2f} ± {s['wall_std']:.2f}",
                "CPU s/run": f"{s['cpu_mean']:.2f} ± {s['cpu_std']:.2f}",
                "CPU s/image": round(s["cpu_mean"] / args.batch, 3),
                "model/decode/reward (s)": (
                    f"{s['time_model']:.2f}/{s['time_decode']:.2f}/{s['time_reward']:.2f}"
                ),
            }
            for s in summary
            if s["method"] == "SRSoup" or s["n"] == N_SOUP
        ],
        title=f"Table-4 style: reward queries and time (N={N_SOUP}, T={t}, L={n_weights}; one run = "
        f"{args.batch} images x {n_weights} weights; CPU = process time, robust to other load on the "
        f"machine; model/decode/reward = the sampler's wall-time split)",
    )
    print_table(
        [
            {
                k: r[k]
                for k in (
                    "K",
                    "srsoup_queries",
                    "srsoup_hv",
                    "ws_N_same_budget",
                    "ws_queries",
                    "ws_hv",
                    "matched_hv_ratio",
                    "per_seed",
                )
            }
            for r in ratios
        ],
        title="Matched-HV query ratio = (WS queries/image needed to reach SRSoup's mean HV) / (SRSoup's); "
        "'>' = no WS budget reached it (lower bound)",
    )
    print(
        f"wrote {out.with_suffix('.json')}, {out.with_suffix('.csv')}, {out.with_suffix('.png')}; "
        f"total {time.perf_counter() - t_start:.0f} s"
    )
    return 0


def plot(path, summary, hv_u, ratios, ref, rewards, t, args):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(12, 4.8))
    for name, color, marker in (("SRSoup", "tab:red", "o"), ("WS", "tab:blue", "s")):
        rows = sorted((s for s in summary if s["method"] == name), key=lambda s: s["queries"])
        q = [s["queries"] for s in rows]
        ax.errorbar(
            q,
            [s["hv_mean"] for s in rows],
            yerr=[s["hv_std"] for s in rows],
            color=color,
            marker=marker,
            capsize=3,
            label=f"{name} (N=30, K varied)" if name == "SRSoup" else "WS (N varied)",
        )
        for s in rows:
            lab = f"K={s['k_label']}" if name == "SRSoup" else f"N={s['n']}"
            ax.annotate(
                lab,
                (s["queries"], s["hv_mean"]),
                fontsize=7,
                xytext=(3, 4 if name == "SRSoup" else -10),
                textcoords="offset points",
                color=color,
            )
    ax.axhline(hv_u[0], color="gray", ls="--", label=f"unguided ({hv_u[0]:.3g})")
    ax.set_xscale("log")
    ax.set_xlabel("reward queries per image (sampler's count)")
    ax.set_ylabel("hypervolume (mean ± std over repeats)")
    ax.set_title(
        f"HV vs query budget, digits model, T={t}, L=6, {args.seeds}x{args.batch} images", fontsize=9
    )
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, which="both")
    # Mean fronts at the matched budgets.
    for s in summary:
        if s["method"] == "SRSoup" or s["n"] in {int(r["ws_N_same_budget"]) for r in ratios}:
            p = np.asarray(s["points_mean"])
            is_soup = s["method"] == "SRSoup"
            lab = f"SRSoup K={s['k_label']}" if is_soup else f"WS N={s['n']}"
            ax2.plot(
                p[:, 1],
                p[:, 0],
                "-o" if is_soup else "--s",
                ms=3,
                lw=1,
                color=plt.cm.Reds(0.35 + 0.6 * s["k"] / t) if is_soup else plt.cm.Blues(0.3 + 0.02 * s["n"]),
                label=lab,
            )
    ax2.set_xlabel(rewards[1].label)
    ax2.set_ylabel(rewards[0].label)
    ax2.set_title(f"Mean fronts (mean over repeats); HV ref ({ref[0]:.3g}, {ref[1]:.3g})", fontsize=9)
    ax2.legend(fontsize=6.5, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
