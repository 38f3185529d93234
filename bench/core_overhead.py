"""The sampler core's own overhead: wall time spent outside model, decode and reward calls.

A model whose call costs about 10 ms: the analytic Gaussian-mixture denoiser (exact, cheap) plus a
calibrated real compute load (fixed-size float32 matmuls, no sleep) so that one call takes ~10 ms
whatever its batch size, like a latency-bound model on an accelerator. Realistic sizes: latent
4x32x32 (D = 4096), L = 6 weight vectors, N = 30 queries, T = 20 steps, batch 1; decode = identity,
rewards = two conflicting quadratic rewards on N(0, I) data (cheap, so the measured fraction is an
upper bound for the core relative to real rewards and decoders).

    .venv/bin/python bench/core_overhead.py [--quick] [--target-ms 10]

The fraction is measured twice: from the sampler's own stats (time_other / time_total) and
independently here (wall time minus the time inside our model/decode/reward wrappers). A cProfile
run lists which functions dominate the remaining time. Target: under 5%.
Writes bench/results/core_overhead.{json,csv,txt} (txt: the printed tables).
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from bench import analytic  # noqa: E402
from bench.reporting import print_table, write_json_csv  # noqa: E402
from sampler_core import srsoup_sample  # noqa: E402
from sampler_core.preferences import PAPER_WEIGHTS_2  # noqa: E402

SHAPE = (4, 32, 32)


class LoadedModel:
    """The exact denoiser followed by ``reps`` fixed-size matmuls (a real, calibrated compute load)."""

    def __init__(self, base, reps: int, size: int = 256):
        self.base = base
        self.reps = reps
        g = torch.Generator().manual_seed(0)
        self.a = torch.randn(size, size, generator=g) / size**0.5
        self.calls = 0
        self.seconds = 0.0

    def load(self):
        y = self.a
        for _ in range(self.reps):
            y = torch.tanh(y @ self.a)
        return y

    def __call__(self, x, sigma, **extra):
        t0 = time.perf_counter()
        out = self.base(x, sigma, **extra)
        self.load()
        self.calls += 1
        self.seconds += time.perf_counter() - t0
        return out


class Timed:
    """Wraps a callable and accumulates the time spent inside it."""

    def __init__(self, fn):
        self.fn = fn
        self.calls = 0
        self.seconds = 0.0

    def __call__(self, *a, **k):
        t0 = time.perf_counter()
        out = self.fn(*a, **k)
        self.calls += 1
        self.seconds += time.perf_counter() - t0
        return out


def _median_ms(fn, n: int) -> float:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times)) * 1e3


def calibrate(base, target_ms: float, batch: int) -> tuple[int, float, float]:
    """Pick the matmul count so that one call on ``batch`` latents takes ``target_ms`` (medians, refined
    three times: other processes may share the CPU); returns (reps, median ms per call, denoiser ms)."""
    x = torch.randn(batch, *SHAPE)
    sig = torch.full((batch,), 1.0)
    probe = LoadedModel(base, reps=0)
    base_ms = _median_ms(lambda: probe(x, sig), 30)
    one = LoadedModel(base, reps=20)
    per_rep_ms = _median_ms(one.load, 30) / 20
    reps = max(0, round((target_ms - base_ms) / per_rep_ms))
    for _ in range(3):
        trial = LoadedModel(base, reps)
        call_ms = _median_ms(lambda trial=trial: trial(x, sig), 20)
        if abs(call_ms - target_ms) < 0.1 * target_ms:
            break
        reps = max(0, round(reps * (target_ms - base_ms) / max(call_ms - base_ms, 1e-3)))
    final = LoadedModel(base, reps)
    return reps, _median_ms(lambda: final(x, sig), 20), base_ms


def run_config(problem, reps, sigmas, cfg, seed=0, profiler=None):
    model = LoadedModel(problem.model("eps"), reps)
    rewards = [Timed(r) for r in problem.rewards]
    decode = Timed(lambda z: z)
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(1, *SHAPE, generator=g) * float(sigmas[0])
    if profiler is not None:
        profiler.enable()
    t0 = time.perf_counter()
    res = srsoup_sample(
        model,
        x,
        sigmas,
        rewards=rewards,
        weights=PAPER_WEIGHTS_2,
        decode=decode,
        n_queries=cfg["n"],
        soup_steps=cfg["k"],
        parameterization="eps",
        generator=seed,
        query_x0=cfg["query_x0"],
        query_chunk=cfg.get("query_chunk", 32),
    )
    wall = time.perf_counter() - t0
    if profiler is not None:
        profiler.disable()
    st = res.stats.to_dict()
    inside = model.seconds + decode.seconds + sum(r.seconds for r in rewards)
    return {
        "config": cfg["name"],
        "n": cfg["n"],
        "k": cfg["k"],
        "query_x0": cfg["query_x0"],
        "query_chunk": cfg.get("query_chunk", 32),
        "model_calls": model.calls,
        "decode_calls": decode.calls,
        "reward_calls": sum(r.calls for r in rewards),
        "wall_s": wall,
        "model_s": model.seconds,
        "decode_s": decode.seconds,
        "reward_s": sum(r.seconds for r in rewards),
        "other_s": wall - inside,
        "other_frac": (wall - inside) / wall,
        "other_ms_per_step": 1e3 * (wall - inside) / max(st.get("steps", 0), 1),
        # The same run with every model call costing exactly 10 ms (the core's time as measured).
        "other_frac_at_10ms": (wall - inside)
        / ((wall - inside) + decode.seconds + sum(r.seconds for r in rewards) + 0.010 * model.calls),
        "stats_time_total": st.get("time_total"),
        "stats_time_other": st.get("time_other"),
        "stats_other_frac": (st["time_other"] / st["time_total"]) if st.get("time_total") else None,
        "stats": st,
    }


def profile_other(problem, reps, sigmas, cfg, top=12):
    """cProfile one run; the functions with the most own time, excluding our model/reward/decode code."""
    prof = cProfile.Profile()
    res = run_config(problem, reps, sigmas, cfg, profiler=prof)
    st = pstats.Stats(prof)
    rows = []
    total = res["wall_s"]  # profiled wall time (cProfile slows Python-heavy code down somewhat)
    inside_files = ("core_overhead.py", "analytic.py")

    def excluded(file):
        return any(file.endswith(f) for f in inside_files)

    for (file, line, func), (_cc, nc, tt, _ct, callers) in st.stats.items():
        if excluded(file):
            continue
        if callers and all(excluded(c[0]) for c in callers):  # builtins called only by our model/rewards
            continue
        rows.append(
            {
                "function": f"{Path(file).name}:{line}:{func}" if line else func,
                "calls": nc,
                "own_s": tt,
                "share_of_wall": tt / total,
            }
        )
    rows.sort(key=lambda r: -r["own_s"])
    return rows[:top]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="T=6 steps, one repeat")
    p.add_argument("--target-ms", type=float, default=10.0)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument(
        "--threads", type=int, default=1, help="torch threads (1: stabler on a shared 2-core machine)"
    )
    p.add_argument("--out", default=str(REPO_ROOT / "bench" / "results" / "core_overhead"))
    args = p.parse_args(argv)
    if args.quick:
        args.steps, args.repeats = 6, 1
        if args.out == p.get_default("out"):
            args.out += "_quick"
    torch.set_num_threads(args.threads)
    d = int(np.prod(SHAPE))
    # Data N(0, I) in D = 4096 (a one-component mixture: its exact denoiser is cheap, so the calibrated
    # load is nearly all of a model call) and the two conflicting quadratic rewards of the analytic problem.
    target = torch.full((d,), 0.5)
    problem = analytic.AnalyticProblem(
        analytic.GaussianMixture(torch.zeros(1, d), 1.0),
        [analytic.QuadraticReward(target), analytic.QuadraticReward(-target)],
        "gaussian_4096",
    )
    sigmas = analytic.karras_sigmas(args.steps)
    t = int((sigmas[1:] > 0).sum())
    reps, call_ms, base_ms = calibrate(problem.model("eps"), args.target_ms, batch=32)
    print(
        f"model call: {call_ms:.1f} ms at batch 32 (analytic denoiser {base_ms:.1f} ms + {reps} 256x256 "
        "matmuls); "
        f"latent {SHAPE}, L=6, N=30, T={args.steps}",
        flush=True,
    )
    configs = [
        {"name": "SRSoup K=all, tweedie", "n": 30, "k": t, "query_x0": "tweedie"},
        {"name": "SRSoup K=0.4T, tweedie", "n": 30, "k": round(0.4 * t), "query_x0": "tweedie"},
        {"name": "WS N=30, tweedie", "n": 30, "k": 0, "query_x0": "tweedie"},
        {"name": "SRSoup K=all, reuse", "n": 30, "k": t, "query_x0": "reuse"},
        {"name": "WS N=30, reuse", "n": 30, "k": 0, "query_x0": "reuse"},
        {"name": "WS N=30, reuse, chunk 512", "n": 30, "k": 0, "query_x0": "reuse", "query_chunk": 512},
    ]
    run_config(problem, reps, sigmas, configs[0])  # warm-up
    results = []
    for cfg in configs:
        reps_out = [run_config(problem, reps, sigmas, cfg, seed=i) for i in range(args.repeats)]
        best = min(reps_out, key=lambda r: r["wall_s"])  # least-disturbed repeat
        best["repeats_other_frac"] = [r["other_frac"] for r in reps_out]
        results.append(best)
        print(
            f"  {cfg['name']}: wall {best['wall_s']:.2f}s other {100 * best['other_frac']:.1f}%", flush=True
        )
    prof_rows = profile_other(problem, reps, sigmas, configs[3])
    meta = {
        "model_call_ms": call_ms,
        "denoiser_ms": base_ms,
        "load_average_at_end": os.getloadavg(),
        "matmul_reps": reps,
        "latent": SHAPE,
        "weights": PAPER_WEIGHTS_2,
        "steps": args.steps,
        "threads": args.threads,
        "torch": torch.__version__,
    }
    json_path, csv_path = write_json_csv(
        args.out,
        [dict(r, table="overhead") for r in results] + [dict(r, table="profile") for r in prof_rows],
        meta,
    )
    print(f"\nwrote {json_path}, {csv_path}\n")
    tables: list[str] = []

    def show(*a, **k):
        tables.append(print_table(*a, **k))

    show(
        [
            {
                "config": r["config"],
                "model calls": r["model_calls"],
                "ms/call": 1e3 * r["model_s"] / max(r["model_calls"], 1),
                "wall s": r["wall_s"],
                "model s": r["model_s"],
                "decode s": r["decode_s"],
                "reward s": r["reward_s"],
                "other s": r["other_s"],
                "other %": 100 * r["other_frac"],
                "other ms/step": r["other_ms_per_step"],
                "other % @10ms": 100 * r["other_frac_at_10ms"],
                "stats other %": None if r["stats_other_frac"] is None else 100 * r["stats_other_frac"],
            }
            for r in results
        ],
        title=f"Core overhead (time outside model/decode/reward calls); model call {call_ms:.1f} ms; "
        "target < 5%",
        floatfmt=".3g",
    )
    show(
        prof_rows,
        title=f"Where the non-model time goes ({configs[3]['name']}; cProfile own time, "
        "model/decode/reward code excluded)",
        floatfmt=".3g",
    )

    Path(str(args.out) + ".txt").write_text("\n\n".join(tables) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
