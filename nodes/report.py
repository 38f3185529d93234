"""The SRSOUP_REPORT dict: built by the sampler and RewardScore, read by the Pareto report node.

Pure Python + torch + PIL (no ComfyUI), JSON-serializable throughout. Layout:

    {
      "source": "SRSoupKSampler" | "RewardScore",
      "reward_names": [M names], "weights": [[L x M]], "labels": [L strings],
      "batch_size": B, "order": BATCH_ORDER,
      "images": [{"index", "weight_index", "seed_index", "weights": [M], "scores": [M] | None}, ...],
      "points": [[L x M]] | None,           # per weight vector: mean score over the B seeds
      "stats": {...},                       # sampler_core's SRSoupStats.to_dict() (queries, calls, ...)
      "settings": {...}, "timing_s": {...}, "prompt": "..."
    }
"""

from __future__ import annotations

import json
import math

import numpy as np

from .common import BATCH_ORDER, format_weight, weight_label


def _clean(value):
    """Make a value JSON-friendly: tensors/arrays to lists, non-finite floats to None."""
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, (str, int, bool)) or value is None:
        return value
    return str(value)


def build_report(
    *,
    source: str,
    reward_names,
    weights,
    batch_size: int,
    scores=None,
    stats=None,
    settings=None,
    timing=None,
    prompt: str = "",
) -> dict:
    """A report for L*B images in the sampler's order (index l*B + b).

    `weights`: (L, M); `scores`: (L*B, M) or None; `stats`: a dict (e.g. SRSoupStats.to_dict()).
    """
    w = np.asarray(_clean(weights), dtype=np.float64)
    if w.ndim != 2:
        raise ValueError(f"weights must be (L, M); got shape {w.shape}")
    n_weights, n_rewards = w.shape
    names = [str(n) for n in reward_names]
    if len(names) != n_rewards:
        raise ValueError(f"{len(names)} reward name(s) for {n_rewards} weight column(s)")
    b = int(batch_size)
    s = None
    if scores is not None:
        s = np.asarray(_clean(scores), dtype=np.float64)
        if s.shape != (n_weights * b, n_rewards):
            raise ValueError(
                f"scores must be ({n_weights * b}, {n_rewards}) (L*B images x M rewards); got {s.shape}"
            )
    images = []
    for idx in range(n_weights * b):
        l_idx, b_idx = divmod(idx, b)
        images.append(
            {
                "index": idx,
                "weight_index": l_idx,
                "seed_index": b_idx,
                "weights": w[l_idx].tolist(),
                "scores": None if s is None else s[idx].tolist(),
            }
        )
    points = None
    if s is not None:
        points = s.reshape(n_weights, b, n_rewards).mean(axis=1).tolist()
    return _clean(
        {
            "source": source,
            "reward_names": names,
            "weights": w.tolist(),
            "labels": [weight_label(r) for r in w.tolist()],
            "batch_size": b,
            "order": BATCH_ORDER,
            "images": images,
            "points": points,
            "stats": dict(stats or {}),
            "settings": dict(settings or {}),
            "timing_s": dict(timing or {}),
            "prompt": prompt,
        }
    )


def check_report(report) -> dict:
    if not isinstance(report, dict) or "weights" not in report or "images" not in report:
        raise ValueError("'report' must come from SRSoupKSampler or RewardScore")
    return report


def has_scores(report: dict) -> bool:
    return bool(report["images"]) and all(img.get("scores") is not None for img in report["images"])


def report_to_json(report: dict) -> str:
    return json.dumps(_clean(report), indent=2, allow_nan=False)


def _fmt(v) -> str:
    if v is None:
        return "nan"
    if isinstance(v, float):
        return f"{v:.4f}"
    return str(v)


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=False)]
    out = ["  ".join(str(c).ljust(wd) for c, wd in zip(header, widths, strict=False)).rstrip()]
    out += ["  ".join(str(c).ljust(wd) for c, wd in zip(r, widths, strict=False)).rstrip() for r in rows]
    return out


def _scalar_items(d: dict, prefix: str = "") -> list[tuple[str, object]]:
    items = []
    for k, v in d.items():
        if isinstance(v, dict):
            items += _scalar_items(v, f"{prefix}{k}.")
        elif isinstance(v, (int, float, str, bool)) or v is None:
            items.append((f"{prefix}{k}", v))
    return items


def hypervolume_of(report: dict, reference=None):
    """(hv, reference) of the per-weight mean points, or (None, None) without scores."""
    if not report.get("points"):
        return None, None
    from ..sampler_core.pareto import hypervolume

    pts = np.asarray(report["points"], dtype=np.float64)
    if not np.all(np.isfinite(pts)):
        return None, None
    if reference is None:
        span = np.maximum(pts.max(axis=0) - pts.min(axis=0), 1e-6)
        reference = pts.min(axis=0) - 0.1 * span
    reference = np.asarray(reference, dtype=np.float64)
    return float(hypervolume(pts, reference)), reference.tolist()


def report_to_text(report: dict) -> str:
    """A plain-text table: one row per image, then the per-weight means, queries and time."""
    report = check_report(report)
    names = report["reward_names"]
    n_w, b = len(report["weights"]), report["batch_size"]
    lines = [
        f"SRSoup report ({report['source']}): {n_w} weight vector(s) x {b} seed(s) = {n_w * b} image(s); "
        f"rewards: {', '.join(names)}",
        f"order: {report['order']}",
    ]
    if report.get("prompt"):
        lines.append(f"prompt: {report['prompt']}")
    rows = []
    for img in report["images"]:
        sc = img["scores"] or [None] * len(names)
        rows.append(
            [
                str(img["index"]),
                str(img["weight_index"]),
                str(img["seed_index"]),
                "(" + ", ".join(format_weight(v) for v in img["weights"]) + ")",
            ]
            + [_fmt(v) for v in sc]
        )
    lines += [""] + _table(["image", "l", "b", "weights"] + names, rows)
    if report.get("points"):
        lines += ["", "mean over seeds, per weight vector:"]
        prow = [[report["labels"][i]] + [_fmt(v) for v in p] for i, p in enumerate(report["points"])]
        lines += _table(["weights"] + names, prow)
        hv, ref = hypervolume_of(report)
        if hv is not None and len(names) >= 2:
            lines.append(f"hypervolume {hv:.6g} (reference {', '.join(f'{r:.4g}' for r in ref)})")
    settings = _scalar_items(report.get("settings") or {})
    if settings:
        lines += ["", "settings: " + ", ".join(f"{k} {_fmt(v)}" for k, v in settings)]
    stats = _scalar_items(report.get("stats") or {})
    if stats:
        lines += ["", "sampler statistics:"] + [f"  {k}: {_fmt(v)}" for k, v in stats]
    timing = report.get("timing_s") or {}
    if timing:
        lines += ["", "time: " + ", ".join(f"{k} {_fmt(v)} s" for k, v in timing.items())]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Plot (PIL only: ComfyUI does not ship matplotlib)


def _nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if not hi > lo:
        return [lo]
    raw = (hi - lo) / max(n - 1, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = min((m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw), default=raw)
    start = math.ceil(lo / step) * step
    ticks, t = [], start
    while t <= hi + 1e-9 * step:
        ticks.append(round(t, 10))
        t += step
    return ticks


def render_plot(
    report: dict, x_reward: int = 0, y_reward: int = 1, width: int = 768, height: int = 512
) -> np.ndarray:
    """An RGB uint8 (H, W, 3) scatter of the images' reward points, labelled with their weight vectors.

    Small dots: every image; large dots joined by a line: the mean per weight vector, in weight order.
    With one reward the x axis is the weight vector's index.
    """
    from PIL import Image, ImageDraw, ImageFont

    report = check_report(report)
    names = report["reward_names"]
    m = len(names)
    img = Image.new("RGB", (int(width), int(height)), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default()
    if not has_scores(report):
        draw.text(
            (20, height // 2),
            "no scores in this report: enable score_final on the sampler, or use RewardScore",
            fill=(0, 0, 0),
            font=font,
        )
        return np.asarray(img)
    for r in (x_reward, y_reward):
        if m >= 2 and not 0 <= r < m:
            raise ValueError(
                f"reward index {r + 1} is out of range: the report has {m} reward(s) ({', '.join(names)})"
            )
    weights = report["weights"]
    one = m == 1
    pts_all = np.array(
        [
            [
                img_["weight_index"] if one else img_["scores"][x_reward],
                img_["scores"][0 if one else y_reward],
            ]
            for img_ in report["images"]
        ],
        dtype=np.float64,
    )
    means = np.array(
        [[i if one else p[x_reward], p[0 if one else y_reward]] for i, p in enumerate(report["points"])],
        dtype=np.float64,
    )
    finite = pts_all[np.all(np.isfinite(pts_all), axis=1)]
    if finite.size == 0:
        finite = np.zeros((1, 2))
    lo, hi = finite.min(axis=0), finite.max(axis=0)
    pad = np.maximum((hi - lo) * 0.08, 1e-3)
    lo, hi = lo - pad, hi + pad
    left, right, top, bottom = 70, 20, 30, 50
    pw, ph = width - left - right, height - top - bottom

    def to_px(p):
        return (
            left + (p[0] - lo[0]) / (hi[0] - lo[0]) * pw,
            top + (1 - (p[1] - lo[1]) / (hi[1] - lo[1])) * ph,
        )

    axis = (60, 60, 60)
    draw.rectangle([left, top, left + pw, top + ph], outline=axis)
    for t in _nice_ticks(lo[0], hi[0]):
        x, _ = to_px((t, lo[1]))
        draw.line([x, top + ph, x, top + ph + 4], fill=axis)
        draw.text((x - 12, top + ph + 6), f"{t:.4g}", fill=axis, font=font)
    for t in _nice_ticks(lo[1], hi[1]):
        _, y = to_px((lo[0], t))
        draw.line([left - 4, y, left, y], fill=axis)
        draw.text((4, y - 6), f"{t:.4g}", fill=axis, font=font)
    xlabel = "weight vector index" if one else names[x_reward]
    ylabel = names[0 if one else y_reward]
    draw.text((left + pw // 2 - 3 * len(xlabel), height - 20), xlabel, fill=(0, 0, 0), font=font)
    draw.text((left, 8), f"{ylabel} (up) vs {xlabel} (right)", fill=(0, 0, 0), font=font)

    def colour(l_idx):
        t = weights[l_idx][x_reward] if (m >= 2) else l_idx / max(len(weights) - 1, 1)
        return (int(40 + 200 * t), 60, int(240 - 200 * t))

    for img_, p in zip(report["images"], pts_all, strict=False):
        if np.all(np.isfinite(p)):
            x, y = to_px(p)
            draw.ellipse([x - 2, y - 2, x + 2, y + 2], fill=colour(img_["weight_index"]))
    line = [to_px(p) for p in means if np.all(np.isfinite(p))]
    if len(line) >= 2:
        draw.line(line, fill=(150, 150, 150), width=1)
    for l_idx, p in enumerate(means):
        if not np.all(np.isfinite(p)):
            continue
        x, y = to_px(p)
        draw.ellipse([x - 5, y - 5, x + 5, y + 5], fill=colour(l_idx), outline=(0, 0, 0))
        draw.text((x + 7, y - 12), report["labels"][l_idx], fill=(0, 0, 0), font=font)
    return np.asarray(img)
