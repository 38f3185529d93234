"""Images per second of each reward at its real architecture size, on this machine's CPU.

Random weights (speed does not depend on their values), saved in the real file formats and layout under
a temporary models/rewards/ folder and loaded through `rewards.load_reward`, so load time is measured on
the same path real files take. Pass --models-root to time real weights instead.

    .venv/bin/python bench/rewards_speed.py [--kinds aesthetic hpsv2 ...] [--batches 1 8]
        [--dtypes fp32 bf16] [--image-size 512] [--repeats 1] [--models-root DIR]

Each model reward is loaded once in fp32, timed, then moved to bf16 with `module.to(...)` (as a host
would) and timed again. Each timing follows one warm-up call (which also fills the text cache).
Preprocessing from --image-size (512, an SD 1.5 output) is included. HPSv2.1 has HPSv2's architecture
and is not timed separately. On a shared machine wall time varies with other load, so the table also
gives this process's CPU seconds, the load average, and model GFLOP per image (counted once, machine
independent), which the closing "dominant" line uses. Writes bench/results/rewards_speed.{json,csv,txt}.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from bench.cpu_torchvision import declare_torchvision_ops_on_cpu_torch  # noqa: E402

declare_torchvision_ops_on_cpu_torch()

from bench.reporting import format_table, write_json_csv  # noqa: E402
from rewards import REWARD_KINDS, load_reward  # noqa: E402

RESULTS = REPO_ROOT / "bench" / "results"
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}
PROMPT = "a photograph of an astronaut riding a horse on the moon, highly detailed"
ARCHITECTURES = {
    "compressibility": "JPEG q95 (PIL)",
    "aesthetic": "CLIP ViT-L/14 + MLP",
    "clipscore": "CLIP ViT-L/14",
    "pickscore": "CLIP ViT-H/14 (HF)",
    "hpsv2": "open_clip ViT-H-14",
}
# Published sizes: openai/clip-vit-large-patch14 and laion/CLIP-ViT-H-14 (PickScore_v1's base).
CLIP_L = dict(
    text=dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12),
    vision=dict(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24, num_attention_heads=16),
    projection_dim=768,
    hidden_act="quick_gelu",
)
CLIP_H = dict(
    text=dict(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24, num_attention_heads=16),
    vision=dict(hidden_size=1280, intermediate_size=5120, num_hidden_layers=32, num_attention_heads=16),
    projection_dim=1024,
    hidden_act="gelu",
)


def clip_tokenizer():
    """The real CLIP BPE tokenizer, rebuilt from the vocabulary open_clip ships (no download)."""
    from open_clip import SimpleTokenizer
    from transformers import CLIPTokenizer

    bpe = SimpleTokenizer()
    merges = [pair for pair, _ in sorted(bpe.bpe_ranks.items(), key=lambda item: item[1])]
    return CLIPTokenizer(vocab=dict(bpe.encoder), merges=merges)


def save_clip_folder(folder: Path, sizes: dict) -> None:
    from transformers import CLIPConfig, CLIPModel

    tokenizer = clip_tokenizer()
    common = dict(hidden_act=sizes["hidden_act"])
    config = CLIPConfig(
        text_config=dict(vocab_size=len(tokenizer), max_position_embeddings=77, **sizes["text"], **common),
        vision_config=dict(image_size=224, patch_size=14, **sizes["vision"], **common),
        projection_dim=sizes["projection_dim"],
    )
    CLIPModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    (folder / "preprocessor_config.json").write_text(json.dumps({
        "crop_size": {"height": 224, "width": 224}, "size": {"shortest_edge": 224},
        "image_mean": [0.48145466, 0.4578275, 0.40821073], "image_std": [0.26862954, 0.26130258, 0.27577711],
    }))


def save_random_weights(kind: str, root: Path) -> None:
    """The files `load_reward(kind, models_root=root)` expects, at real size, with random weights."""
    if kind in ("aesthetic", "clipscore") and not (root / "clip-vit-large-patch14").exists():
        save_clip_folder(root / "clip-vit-large-patch14", CLIP_L)
    if kind == "aesthetic":
        widths = [768, 1024, 128, 64, 16, 1]
        head = {}
        for index, d_in, d_out in zip((0, 2, 4, 6, 7), widths[:-1], widths[1:], strict=True):
            head[f"layers.{index}.weight"] = torch.randn(d_out, d_in) / d_in**0.5
            head[f"layers.{index}.bias"] = torch.zeros(d_out)
        torch.save(head, root / REWARD_KINDS["aesthetic"].default_name)
    elif kind == "pickscore":
        save_clip_folder(root / "PickScore_v1", CLIP_H)
    elif kind == "hpsv2":
        import open_clip

        model = open_clip.CLIP(**open_clip.get_model_config("ViT-H-14"))
        torch.save({"state_dict": model.state_dict()}, root / REWARD_KINDS["hpsv2"].default_name)


def time_call(function, repeats: int) -> tuple[float, float]:
    """Best wall time and this process's CPU time for that run (wall >> CPU / threads: a busy machine)."""
    best = (float("inf"), float("inf"))
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        function()
        best = min(best, (time.perf_counter() - wall, time.process_time() - cpu))
    return best


def gflop_per_image(reward, image, prompt) -> float | None:
    """Model FLOPs of scoring one image (text features already cached): independent of machine load."""
    if reward.module is None:
        return None
    from torch.utils.flop_counter import FlopCounterMode

    # nn.MultiheadAttention's inference fast path (open_clip) is one fused op the counter cannot see.
    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with FlopCounterMode(display=False) as counter:
            reward.score(image, prompt)
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
    return counter.get_total_flops() / 1e9


def bench_kind(kind, root, batches, dtypes, image_size, repeats):
    generator = torch.Generator().manual_seed(0)
    images = torch.rand(max(batches), image_size, image_size, 3, generator=generator)
    start = time.perf_counter()
    reward = load_reward(kind, models_root=root)
    load_s = time.perf_counter() - start
    prompt = PROMPT if reward.needs_prompt else None
    rows = []
    gflop = None
    for dtype_name in dtypes if reward.module is not None else ["-"]:
        if reward.module is not None:
            reward.module.to(DTYPES[dtype_name])
        reward.score(images[:1], prompt)  # warm-up; fills the text cache
        if gflop is None:
            gflop = gflop_per_image(reward, images[:1], prompt)
        for batch in batches:
            seconds, cpu_seconds = time_call(lambda b=batch: reward.score(images[:b], prompt), repeats)
            row = dict(reward=kind, architecture=ARCHITECTURES[kind],
                       gflop_per_image=None if gflop is None else round(gflop, 1), load_s=round(load_s, 2),
                       dtype=dtype_name, batch=batch, s_per_batch=round(seconds, 3),
                       cpu_s_per_batch=round(cpu_seconds, 3), images_per_s=round(batch / seconds, 3))
            rows.append(row)
            print(f"{kind} {dtype_name} batch {batch}: {seconds:.3f} s", flush=True)
    return rows


def dominance(rows) -> str:
    """Which reward dominates a query's cost: by model FLOPs (load-independent) and by measured time."""

    def listing(values, unit):
        return ", ".join(f"{k} {v:.3g} {unit}" for k, v in sorted(values.items(), key=lambda kv: -kv[1]))

    wall, cpu = {}, {}
    for row in rows:
        if row["dtype"] in ("fp32", "-"):
            key = row["reward"]
            wall[key] = min(wall.get(key, float("inf")), row["s_per_batch"] / row["batch"])
            cpu[key] = min(cpu.get(key, float("inf")), row["cpu_s_per_batch"] / row["batch"])
    lines = [
        f"Wall seconds per image (fp32, best batch): {listing(wall, 's')}.",
        f"CPU seconds per image (fp32, best batch; less sensitive to other load): {listing(cpu, 's')}.",
    ]
    flops = {row["reward"]: row["gflop_per_image"] for row in rows if row["gflop_per_image"]}
    if flops:
        most = max(flops.values())
        heaviest = [kind for kind, value in flops.items() if value >= 0.95 * most]  # ties: same architecture
        share, ratio = 100 * most / sum(flops.values()), most / min(flops.values())
        lines.insert(0, f"Model cost per image: {listing(flops, 'GFLOP')}. Dominant: "
                        f"{' and '.join(heaviest)}, each {share:.0f}% of the FLOPs of scoring one image with "
                        f"every reward above and {ratio:.1f}x the lightest model reward.")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kinds", nargs="+", default=list(ARCHITECTURES), choices=list(ARCHITECTURES))
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 8])
    parser.add_argument("--dtypes", nargs="+", default=["fp32", "bf16"], choices=list(DTYPES))
    parser.add_argument("--image-size", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--models-root", type=Path, help="time real weights from this folder instead")
    args = parser.parse_args()

    meta = dict(
        torch=torch.__version__,
        threads=torch.get_num_threads(),
        cpu=platform.processor() or platform.machine(),
        cpu_capability=torch.backends.cpu.get_cpu_capability(),
        image_size=args.image_size,
        repeats=args.repeats,
        weights="real" if args.models_root else "random",
        load_average_start=os.getloadavg(),
    )
    rows = []
    with tempfile.TemporaryDirectory(prefix="rewards-bench-") as scratch:
        for kind in args.kinds:
            root = args.models_root
            if root is None and REWARD_KINDS[kind].needs_weights:
                root = Path(scratch)
                save_random_weights(kind, root)
            rows += bench_kind(kind, root, args.batches, args.dtypes, args.image_size, args.repeats)
    meta["load_average_end"] = os.getloadavg()
    summary = dominance(rows)
    title = (f"Reward scoring speed ({meta['threads']} threads, {meta['cpu_capability']}, "
             f"{args.image_size}px inputs, {meta['weights']} weights)")
    table = format_table(rows, title=title)
    start, end = meta["load_average_start"], meta["load_average_end"]
    loads = f"load average (1/5/15 min): {start} at start, {end} at end"
    text = f"{table}\n\n{summary}\n{loads}\n"
    print("\n" + text)
    RESULTS.mkdir(parents=True, exist_ok=True)
    write_json_csv(RESULTS / "rewards_speed", rows, meta={**meta, "summary": summary})
    (RESULTS / "rewards_speed.txt").write_text(text)


if __name__ == "__main__":
    main()
