"""The paper's Figure 1 (Section 5.3) on the analytic Gaussian-mixture problem.

SRSoup (N=30 queries per reward and step, the first K guided steps by soup interpolation) against
weighted-sum (WS) guidance whose N is chosen to match SRSoup's query budget (the paper's protocol,
Appendix D), plus unguided ancestral sampling. For every method and budget: the hypervolume (HV) of
the L mean-reward points (one per weight vector, mean over the batch of B initial noises), over
several seeds; the WS budget that reaches SRSoup's HV (matched-HV query ratio); ablations of the
soup correction, the step rule and the query x0 mode; tables printed last.

    .venv/bin/python bench/figure1_analytic.py            # full run (703 s measured on 2 shared cores)
    .venv/bin/python bench/figure1_analytic.py --quick    # smoke run (~15 s), not for conclusions

Writes bench/results/figure1_analytic.{json,csv,png,txt} (txt: the printed tables; ``--out`` to change
the stem).

Cases: "eps-2" (VE form, two conflicting quadratic rewards, the paper's 6 weights), "eps-3" (VE form,
three rewards 120 degrees apart, the paper's 13 weights), "flow-2" (flow form, two rewards).
Query counts are the sampler's own counts (images actually scored, ``sum(stats.reward_queries)``) per
batch item, i.e. per "prompt" as in the paper, not the formula (the formula is reported next to them).
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

from bench import analytic  # noqa: E402
from bench.reporting import mean_std, print_table, write_json_csv  # noqa: E402
from sampler_core import ancestral_sample, srsoup_sample  # noqa: E402
from sampler_core.pareto import hypervolume  # noqa: E402
from sampler_core.preferences import PAPER_WEIGHTS_2, PAPER_WEIGHTS_3  # noqa: E402

N_SOUP = 30
K_FRACTIONS = (1.0, 0.8, 0.6, 0.4, 0.2)  # K = all, 0.8T, 0.6T, 0.4T, 0.2T
EXTRA_WS_N = (2, 3, 4, 45)  # WS budgets beyond the matched ones, so the WS curve brackets SRSoup's HV


# --------------------------------------------------------------------------------------------------
# Problem set-up
# --------------------------------------------------------------------------------------------------
def make_case(name: str, dim: int, steps: int):
    form, m = name.split("-")
    m = int(m)
    if m == 2:
        problem = analytic.two_reward_problem(dim=dim)
        weights = torch.tensor(PAPER_WEIGHTS_2, dtype=torch.float32)
    else:
        problem = analytic.three_reward_problem(dim=dim)
        weights = torch.tensor(PAPER_WEIGHTS_3, dtype=torch.float32)
    sigmas = analytic.default_sigmas(form, steps)
    return {"name": name, "form": form, "problem": problem, "weights": weights, "sigmas": sigmas, "dim": dim}


def initial_noise(case, batch: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(10_000 + seed)
    z = torch.randn(batch, case["dim"], generator=g)
    # VE form: x = x0 + sigma_0 eps (the sampler expects noise scaled by sigma_0); flow: x = eps at sigma=1.
    return z * float(case["sigmas"][0]) if case["form"] == "eps" else z


def guided_steps(sigmas: torch.Tensor) -> int:
    """Steps whose ancestral noise is non-zero (the last step to sigma=0 cannot be guided)."""
    return int((sigmas[1:] > 0).sum())


def ws_matched_n(k: int, t: int, n_weights: int, n_rewards: int, n_soup: int = N_SOUP) -> int:
    """WS query count N T M (L-M+1) matched to SRSoup's N T M (L-M+1) - N K M (L-M) (Appendix D)."""
    lm = n_weights - n_rewards
    return max(1, round(n_soup * (1.0 - k * lm / (t * (lm + 1)))))


# --------------------------------------------------------------------------------------------------
# Running one method
# --------------------------------------------------------------------------------------------------
def _stat(stats, name, default=float("nan")):
    d = stats.to_dict() if hasattr(stats, "to_dict") else dict(stats)
    return d.get(name, default)


def run_method(case, method: dict, batch: int, seed: int, query_chunk: int):
    """Run one method on one seed; returns per-weight mean rewards (L, M), per-item query counts etc."""
    problem, weights = case["problem"], case["weights"]
    n_weights, n_rewards = weights.shape
    x = initial_noise(case, batch, seed)
    model = problem.model(case["form"])
    problem.reset_counts()
    t0 = time.perf_counter()
    if method["kind"] == "unguided":
        samples, stats = _unguided(model, x, case, seed)
        samples = samples.repeat(n_weights, *([1] * (samples.dim() - 1)))  # same image for every weight
    else:
        result = srsoup_sample(
            model,
            x,
            case["sigmas"],
            rewards=problem.rewards,
            weights=weights,
            n_queries=method["n"],
            soup_steps=method["k"],
            parameterization=case["form"],
            generator=seed,
            query_x0=method.get("query_x0", "tweedie"),
            step_rule=method.get("step_rule", "norm"),
            correction=method.get("correction", "paper"),
            query_chunk=query_chunk,
        )
        samples, stats = result.samples, result.stats
    wall = time.perf_counter() - t0
    with torch.no_grad():
        scores = torch.stack(
            [r.value(samples.reshape(samples.shape[0], -1).float()) for r in problem.rewards], 1
        )
    points = scores.reshape(n_weights, batch, n_rewards).mean(1).double().numpy()  # index l*B + b
    out = {
        "points": points,
        "wall_s": wall,
        # Real count: images actually scored, summed over rewards (the stats' total is cross-checked).
        "queries": sum(_stat(stats, "reward_queries", [0])) / batch,
        "stats_total_queries": _stat(stats, "total_reward_queries", 0) / batch,
        "formula_queries": _stat(stats, "paper_formula_queries", float("nan")) / batch,
        "model_evals": _stat(stats, "model_evaluations", model.evaluations) / batch,
        "fallbacks": _stat(stats, "fallbacks", 0),
    }
    return out


def _unguided(model, x, case, seed):
    samples = ancestral_sample(model, x, case["sigmas"], parameterization=case["form"], generator=seed)
    return samples, {"reward_queries": [0], "total_reward_queries": 0, "model_evaluations": model.evaluations}


# --------------------------------------------------------------------------------------------------
# Methods per case
# --------------------------------------------------------------------------------------------------
def main_methods(case):
    n_weights, n_rewards = case["weights"].shape
    t = guided_steps(case["sigmas"])
    methods = [{"method": "unguided", "kind": "unguided", "n": 0, "k": 0}]
    ws_ns = set(EXTRA_WS_N) | {N_SOUP}
    for frac in K_FRACTIONS:
        k = max(1, round(frac * t))
        label = "all" if frac == 1.0 else f"{frac:.1f}T"
        methods.append({"method": "srsoup", "kind": "srsoup", "n": N_SOUP, "k": k, "k_label": label})
        ws_ns.add(ws_matched_n(k, t, n_weights, n_rewards))
    for n in sorted(ws_ns):
        methods.append({"method": "ws", "kind": "srsoup", "n": n, "k": 0, "k_label": "0"})
    return methods


def ablation_methods(case):
    t = guided_steps(case["sigmas"])
    out = []
    for k_label, k in (("all", t), ("0.4T", max(1, round(0.4 * t)))):
        for corr in ("paper", "official", "none"):
            out.append(
                {
                    "method": "srsoup",
                    "kind": "srsoup",
                    "n": N_SOUP,
                    "k": k,
                    "k_label": k_label,
                    "correction": corr,
                    "ablation": f"correction={corr}",
                }
            )
    for k_label, k, name in (("all", t, "srsoup"), ("0", 0, "ws")):
        for rule in ("norm", "paper"):
            out.append(
                {
                    "method": name,
                    "kind": "srsoup",
                    "n": N_SOUP,
                    "k": k,
                    "k_label": k_label,
                    "step_rule": rule,
                    "ablation": f"step_rule={rule}",
                }
            )
        for q in ("tweedie", "reuse"):
            out.append(
                {
                    "method": name,
                    "kind": "srsoup",
                    "n": N_SOUP,
                    "k": k,
                    "k_label": k_label,
                    "query_x0": q,
                    "ablation": f"query_x0={q}",
                }
            )
    return out


def method_key(m) -> tuple:
    return (
        m["method"],
        m["n"],
        m["k"],
        m.get("correction", "paper"),
        m.get("step_rule", "norm"),
        m.get("query_x0", "tweedie"),
    )


# --------------------------------------------------------------------------------------------------
# Analysis
# --------------------------------------------------------------------------------------------------
def reference_point(all_points: list[np.ndarray], margin: float = 0.05) -> np.ndarray:
    """Slightly worse than the worst mean reward seen (the paper's rule), rounded down to 2 decimals."""
    p = np.concatenate([a.reshape(-1, a.shape[-1]) for a in all_points])
    lo, hi = p.min(0), p.max(0)
    ref = lo - margin * np.maximum(hi - lo, 1e-6)
    return np.floor(ref * 100) / 100


def matched_query_ratio(ws_q, ws_hv, soup_q, soup_hv):
    """Smallest WS budget whose HV (running best, interpolated linearly in log queries) reaches
    ``soup_hv``, divided by ``soup_q``. Returns (ratio, bound) with bound '' / '>' / '<='."""
    order = np.argsort(ws_q)
    q = np.asarray(ws_q, dtype=float)[order]
    hv = np.maximum.accumulate(np.asarray(ws_hv, dtype=float)[order])
    if soup_q <= 0 or q[0] <= 0:
        return float("nan"), "?"
    if soup_hv <= hv[0]:
        return q[0] / soup_q, "<="
    if soup_hv > hv[-1]:
        return q[-1] / soup_q, ">"
    j = int(np.argmax(hv >= soup_hv))
    lq0, lq1 = math.log(q[j - 1]), math.log(q[j])
    frac = (soup_hv - hv[j - 1]) / (hv[j] - hv[j - 1])
    return math.exp(lq0 + frac * (lq1 - lq0)) / soup_q, ""


def fmt_ratio(ratio, bound) -> str:
    return f"{bound}{ratio:.2f}x"


def matched_ratios(ws_rows, soup_row, n_seeds):
    """``matched_query_ratio`` of one SRSoup summary row against the WS rows, on the mean HV and per seed.
    Rows carry ``queries``, ``hv_mean`` and ``hv_per_seed``. Returns ((ratio, bound), [(ratio, bound)])."""
    ws_q = [w["queries"] for w in ws_rows]
    ws_hv = [w["hv_mean"] for w in ws_rows]
    mean = matched_query_ratio(ws_q, ws_hv, soup_row["queries"], soup_row["hv_mean"])
    per_seed = [
        matched_query_ratio(
            ws_q, [w["hv_per_seed"][i] for w in ws_rows], soup_row["queries"], soup_row["hv_per_seed"][i]
        )
        for i in range(n_seeds)
    ]
    return mean, per_seed


# --------------------------------------------------------------------------------------------------
# Plot
# --------------------------------------------------------------------------------------------------
def plot(cases_out, path):
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(cases_out)
    fig, axes = plt.subplots(n, 2, figsize=(11, 5.4 * n), squeeze=False)
    for row, co in enumerate(cases_out):
        ax = axes[row, 0]
        for name, color, marker in (("srsoup", "tab:red", "o"), ("ws", "tab:blue", "s")):
            rows = sorted((r for r in co["summary"] if r["method"] == name), key=lambda r: r["queries"])
            ax.errorbar(
                [r["queries"] for r in rows],
                [r["hv_mean"] for r in rows],
                yerr=[r["hv_std"] for r in rows],
                color=color,
                marker=marker,
                capsize=3,
                label="SRSoup N=30, K varies" if name == "srsoup" else "weighted sum, N varies",
            )
            for r in rows:
                ax.annotate(
                    f"K={r['k_label']}" if name == "srsoup" else f"N={r['n']}",
                    (r["queries"], r["hv_mean"]),
                    fontsize=7,
                    xytext=(3, 3),
                    textcoords="offset points",
                    color=color,
                )
        ung = [r for r in co["summary"] if r["method"] == "unguided"]
        if ung:
            ax.axhline(ung[0]["hv_mean"], color="gray", ls="--", label="unguided")
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_xlabel("reward queries per sample set (per prompt)")
        ax.set_ylabel("hypervolume")
        ax.set_title(f"{co['case']}: HV vs queries (ref {np.round(co['reference'], 2).tolist()})")
        ax.legend(fontsize=8)
        ax = axes[row, 1]
        if co["n_rewards"] == 2:
            cmap = plt.get_cmap("viridis")
            pairs = co["matched_pairs"]
            for i, (soup, ws) in enumerate(pairs):
                c = cmap(i / max(1, len(pairs) - 1))
                ps, pw = np.asarray(soup["points_mean"]), np.asarray(ws["points_mean"])
                ax.plot(
                    ps[:, 0],
                    ps[:, 1],
                    "-o",
                    color=c,
                    ms=4,
                    label=f"SRSoup K={soup['k_label']} ({soup['queries']:.0f} q)",
                )
                ax.plot(
                    pw[:, 0],
                    pw[:, 1],
                    "--s",
                    color=c,
                    ms=4,
                    mfc="none",
                    label=f"WS N={ws['n']} ({ws['queries']:.0f} q)",
                )
            if ung:
                pu = np.asarray(ung[0]["points_mean"])
                ax.plot(pu[:1, 0], pu[:1, 1], "x", color="gray", ms=9, label="unguided")
            ax.set_xlabel("mean reward 1")
            ax.set_ylabel("mean reward 2")
            ax.set_title(f"{co['case']}: fronts, matched budgets (solid SRSoup, dashed WS)")
            ax.legend(fontsize=6, ncol=2, loc="upper center", bbox_to_anchor=(0.5, -0.13))
        else:
            rows = [r for r in co["summary"] if r["method"] != "unguided"]
            labels = [
                f"{r['method']} {'K=' + r['k_label'] if r['method'] == 'srsoup' else 'N=' + str(r['n'])}"
                for r in rows
            ]
            ax.barh(
                range(len(rows)),
                [r["hv_mean"] for r in rows],
                xerr=[r["hv_std"] for r in rows],
                color=["tab:red" if r["method"] == "srsoup" else "tab:blue" for r in rows],
            )
            ax.set_yticks(range(len(rows)), labels, fontsize=7)
            ax.set_xlabel("hypervolume")
            ax.set_title(f"{co['case']}: HV per method (mean ± std over seeds)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# --------------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------------
def summarize(method, runs):
    hv = [r["hv"] for r in runs]
    m, s = mean_std(hv)
    return {
        "method": method["method"],
        "n": method["n"],
        "k": method["k"],
        "k_label": method.get("k_label", "-"),
        "correction": method.get("correction", "paper"),
        "step_rule": method.get("step_rule", "norm"),
        "query_x0": method.get("query_x0", "tweedie"),
        "queries": float(np.mean([r["queries"] for r in runs])),
        "stats_total_queries": float(np.mean([r["stats_total_queries"] for r in runs])),
        "formula_queries": float(np.mean([r["formula_queries"] for r in runs])),
        "model_evals": float(np.mean([r["model_evals"] for r in runs])),
        "fallbacks": float(np.mean([r["fallbacks"] for r in runs])),
        "hv_mean": m,
        "hv_std": s,
        "hv_per_seed": hv,
        "points_mean": np.mean([r["points"] for r in runs], axis=0).tolist(),
        "wall_s": float(np.mean([r["wall_s"] for r in runs])),
    }


def run_case(name, args):
    case = make_case(name, args.dim, args.steps)
    n_weights, n_rewards = case["weights"].shape
    batch = args.batch if n_rewards == 2 else args.batch_3
    t = guided_steps(case["sigmas"])
    print(
        f"[{name}] D={args.dim} T={args.steps} (guided {t}) L={n_weights} M={n_rewards} "
        f"B={batch} seeds={args.seeds}",
        flush=True,
    )
    methods = main_methods(case)
    ablations = ablation_methods(case) if (name in args.ablation_cases) else []
    runs: dict[tuple, list] = {}
    all_methods = {method_key(m): m for m in methods + ablations}
    for key, m in all_methods.items():
        t0 = time.perf_counter()
        runs[key] = [run_method(case, m, batch, seed, args.query_chunk) for seed in range(args.seeds)]
        print(
            f"  {m['method']:8s} N={m['n']:>2} K={m['k']:>2} {m.get('ablation', ''):22s} "
            f"{time.perf_counter() - t0:6.1f}s",
            flush=True,
        )
    ref = reference_point([r["points"] for m in methods for r in runs[method_key(m)]])
    for rs in runs.values():
        for r in rs:
            r["hv"] = hypervolume(r["points"], ref)
    summary = [summarize(m, runs[method_key(m)]) for m in methods]
    abl = [dict(summarize(m, runs[method_key(m)]), ablation=m["ablation"]) for m in ablations]

    # Matched-HV query ratios: mean curves and per seed.
    ws_rows = sorted((r for r in summary if r["method"] == "ws"), key=lambda r: r["queries"])
    ratios = []
    for s in (r for r in summary if r["method"] == "srsoup"):
        (ratio, bound), seed_ratios = matched_ratios(ws_rows, s, args.seeds)
        per_seed = [fmt_ratio(rs, bs) for rs, bs in seed_ratios]
        ws_match = min(ws_rows, key=lambda w: abs(math.log(w["queries"] / max(s["queries"], 1))))
        ratios.append(
            {
                "case": name,
                "K": s["k_label"],
                "srsoup_queries": s["queries"],
                "srsoup_hv": s["hv_mean"],
                "ws_N_at_same_budget": ws_match["n"],
                "ws_queries": ws_match["queries"],
                "ws_hv": ws_match["hv_mean"],
                "matched_hv_ratio": fmt_ratio(ratio, bound),
                "ratio_value": ratio,
                "ratio_bound": bound,
                "per_seed": " ".join(per_seed),
            }
        )
    matched_pairs = []
    for s in (r for r in summary if r["method"] == "srsoup"):
        ws_n = ws_matched_n(s["k"], t, n_weights, n_rewards)
        w = next(r for r in summary if r["method"] == "ws" and r["n"] == ws_n)
        matched_pairs.append((s, w))
    return {
        "case": name,
        "form": case["form"],
        "n_rewards": n_rewards,
        "n_weights": n_weights,
        "weights": case["weights"].tolist(),
        "sigmas": case["sigmas"].tolist(),
        "guided_steps": t,
        "reference": ref.tolist(),
        "batch": batch,
        "summary": summary,
        "ablations": abl,
        "ratios": ratios,
        "matched_pairs": matched_pairs,
    }


def _code_version() -> dict:
    """HEAD commit and whether the sampler / analytic files differ from it (results pin their code)."""
    import subprocess

    def git(*a):
        try:
            return subprocess.run(
                ["git", "-C", str(REPO_ROOT), *a], capture_output=True, text=True, timeout=20
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    return {
        "head": git("rev-parse", "HEAD"),
        "uncommitted": git("status", "--porcelain", "--", "sampler_core", "bench/analytic.py").splitlines(),
    }


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small smoke run (2 seeds, B=4, T=12, eps-2 only)")
    p.add_argument("--cases", nargs="+", default=["eps-2", "eps-3", "flow-2"])
    p.add_argument("--ablation-cases", nargs="*", default=["eps-2"])
    p.add_argument("--dim", type=int, default=64)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--batch", type=int, default=8, help="initial noises per seed (2-reward cases)")
    p.add_argument("--batch-3", type=int, default=4, help="initial noises per seed (3-reward case, L=13)")
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--query-chunk", type=int, default=2048)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default=str(REPO_ROOT / "bench" / "results" / "figure1_analytic"))
    args = p.parse_args(argv)
    if args.quick:
        args.cases, args.seeds, args.batch, args.batch_3, args.steps = ["eps-2"], 2, 4, 4, 12
        if args.out == p.get_default("out"):
            args.out = args.out + "_quick"
    return args


def _int(x):
    return int(round(x)) if isinstance(x, float) and math.isfinite(x) else x


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    cases_out = [run_case(name, args) for name in args.cases]
    elapsed = time.perf_counter() - t0

    records = []
    for co in cases_out:
        for r in co["summary"]:
            records.append(
                {
                    "case": co["case"],
                    "table": "main",
                    **{k: v for k, v in r.items() if k != "points_mean"},
                    "points_mean": r["points_mean"],
                    "reference": co["reference"],
                }
            )
        for r in co["ablations"]:
            records.append({"case": co["case"], "table": "ablation", **r, "reference": co["reference"]})
        for r in co["ratios"]:
            records.append({"table": "ratio", **r})
    meta = {k: v for k, v in vars(args).items()}
    meta.update(
        {
            "elapsed_s": elapsed,
            "torch": torch.__version__,
            "n_soup": N_SOUP,
            "code_version": _code_version(),
            "cases": [
                {
                    k: co[k]
                    for k in (
                        "case",
                        "form",
                        "n_rewards",
                        "n_weights",
                        "weights",
                        "guided_steps",
                        "reference",
                        "batch",
                        "sigmas",
                    )
                }
                for co in cases_out
            ],
        }
    )
    json_path, csv_path = write_json_csv(args.out, records, meta)
    png_path = Path(args.out + ".png")
    plot(cases_out, png_path)

    print(f"\nwrote {json_path}, {csv_path}, {png_path}  ({elapsed:.0f} s)\n")
    tables: list[str] = []

    def show(*a, **k):
        tables.append(print_table(*a, **k))

    for co in cases_out:
        show(
            [
                {
                    "method": r["method"],
                    "N": r["n"],
                    "K": r["k_label"] if r["method"] == "srsoup" else "-",
                    "queries/prompt": _int(r["queries"]),
                    "formula": _int(r["formula_queries"]),
                    "model evals/prompt": _int(r["model_evals"]),
                    "HV mean": r["hv_mean"],
                    "HV std": r["hv_std"],
                    "s/run": r["wall_s"],
                }
                for r in sorted(co["summary"], key=lambda r: (r["method"] != "unguided", r["queries"]))
            ],
            title=f"{co['case']}: hypervolume over {args.seeds} seeds (B={co['batch']} per seed), "
            f"reference point {co['reference']}",
        )
    for co in cases_out:
        if co["ablations"]:
            show(
                [
                    {
                        "ablation": r["ablation"],
                        "method": r["method"],
                        "K": r["k_label"],
                        "queries/prompt": _int(r["queries"]),
                        "model evals/prompt": _int(r["model_evals"]),
                        "HV mean": r["hv_mean"],
                        "HV std": r["hv_std"],
                        "fallbacks": r["fallbacks"],
                    }
                    for r in co["ablations"]
                ],
                title=f"{co['case']}: ablations (N=30), same reference point {co['reference']}",
            )
    show(
        [
            {
                k: _int(r[k]) if k == "srsoup_queries" else r[k]
                for k in (
                    "case",
                    "K",
                    "srsoup_queries",
                    "srsoup_hv",
                    "ws_N_at_same_budget",
                    "ws_hv",
                    "matched_hv_ratio",
                    "per_seed",
                )
            }
            for co in cases_out
            for r in co["ratios"]
        ],
        title="Matched-HV query ratio: (WS queries needed to reach SRSoup's HV) / (SRSoup's queries); "
        "'>' = WS never reaches it in the budgets run, '<=' = WS's smallest budget already does "
        "(paper: 1.8x-2.7x)",
    )

    Path(str(args.out) + ".txt").write_text("\n\n".join(tables) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
