"""The SRSOUP_REPORT: layout, JSON, text table, hypervolume and the PIL plot (no ComfyUI)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from test_nodes_logic import ALL, load_pack_module

report_mod = load_pack_module("nodes.report")
pareto = load_pack_module("sampler_core.pareto")

WEIGHTS = [[0.0, 1.0], [0.5, 0.5], [1.0, 0.0]]
B = 2


def _scores():
    # image l*B + b: reward 1 grows with the weight on reward 1, reward 2 falls; seeds differ a little.
    rows = []
    for l_idx in range(3):
        for b in range(B):
            rows.append([float(l_idx) + 0.1 * b, 2.0 - l_idx + 0.05 * b])
    return torch.tensor(rows)


def _report(**kw):
    args = dict(
        source="SRSoupKSampler",
        reward_names=["aesthetic", "compressibility"],
        weights=WEIGHTS,
        batch_size=B,
        scores=_scores(),
        stats={"total_reward_queries": 96, "time_total": 1.5, "reward_queries": [48, 48]},
        settings={"n_queries": 4},
        timing={"sampling": 1.25},
        prompt="a cat",
    )
    args.update(kw)
    return report_mod.build_report(**args)


def test_layout_is_weight_major_seed_fastest():
    rep = _report()
    assert [(i["index"], i["weight_index"], i["seed_index"]) for i in rep["images"]] == [
        (0, 0, 0),
        (1, 0, 1),
        (2, 1, 0),
        (3, 1, 1),
        (4, 2, 0),
        (5, 2, 1),
    ]
    assert [i["weights"] for i in rep["images"]][::B] == WEIGHTS
    assert rep["labels"] == ["(0, 1)", "(0.5, 0.5)", "(1, 0)"]
    assert np.allclose(rep["points"], [[0.05, 2.025], [1.05, 1.025], [2.05, 0.025]])
    assert "l * B + b" in rep["order"]


def test_json_round_trip_and_non_finite_values():
    scores = _scores()
    scores[3, 1] = float("nan")
    rep = _report(scores=scores, stats={"x": float("inf"), "t": torch.tensor([1.0, 2.0])})
    text = report_mod.report_to_json(rep)  # strict JSON: would raise on NaN
    back = json.loads(text)
    assert back["images"][3]["scores"] == [pytest.approx(1.1), None]
    assert back["stats"] == {"x": None, "t": [1.0, 2.0]}


def test_shape_errors():
    with pytest.raises(ValueError, match=r"\(6, 2\)"):
        _report(scores=torch.zeros(5, 2))
    with pytest.raises(ValueError, match="reward name"):
        _report(reward_names=["only one"])


def test_text_table_has_images_means_hypervolume_queries_and_time():
    rep = _report()
    text = report_mod.report_to_text(rep)
    assert "3 weight vector(s) x 2 seed(s) = 6 image(s)" in text
    assert "prompt: a cat" in text
    lines = text.splitlines()
    header = next(line for line in lines if line.startswith("image"))
    assert header.split() == ["image", "l", "b", "weights", "aesthetic", "compressibility"]
    assert any(line.split()[:3] == ["5", "2", "1"] for line in lines)
    pts = np.asarray(rep["points"])
    ref = pts.min(axis=0) - 0.1 * (pts.max(axis=0) - pts.min(axis=0))
    hv = pareto.hypervolume(pts, ref)
    assert f"hypervolume {hv:.6g}" in text
    assert "total_reward_queries: 96" in text and "time_total: 1.5000" in text
    assert "time: sampling 1.2500 s" in text


def test_report_without_scores():
    rep = _report(scores=None)
    assert rep["points"] is None and not report_mod.has_scores(rep)
    text = report_mod.report_to_text(rep)
    assert "hypervolume" not in text and "nan" in text
    plot = report_mod.render_plot(rep, 0, 1, 300, 200)
    assert plot.shape == (200, 300, 3) and plot.min() < 255  # the message is drawn


def test_plot_draws_every_point_in_its_colour():
    rep = _report()
    plot = report_mod.render_plot(rep, 0, 1, 400, 300)
    assert plot.shape == (300, 400, 3) and plot.dtype == np.uint8
    # Weight (0, 1) is drawn blue-ish, (1, 0) red-ish: both colours appear.
    red = (plot[..., 0] > 200) & (plot[..., 2] < 80)
    blue = (plot[..., 2] > 200) & (plot[..., 0] < 80)
    assert red.sum() > 20 and blue.sum() > 20
    # Swapping the axes gives a different picture.
    assert not np.array_equal(plot, report_mod.render_plot(rep, 1, 0, 400, 300))
    with pytest.raises(ValueError, match="out of range"):
        report_mod.render_plot(rep, 0, 2, 400, 300)


def test_single_reward_plot():
    rep = report_mod.build_report(
        source="RewardScore",
        reward_names=["compressibility"],
        weights=[[1.0]],
        batch_size=4,
        scores=torch.arange(4.0).reshape(4, 1),
    )
    plot = report_mod.render_plot(rep, 0, 1, 256, 256)
    assert plot.shape == (256, 256, 3)
    assert "hypervolume" not in report_mod.report_to_text(rep)


def test_pareto_node_outputs():
    node = ALL["SRSoupParetoReport"]()
    image, table, text = node.report(_report(), 1, 2, 320, 256)
    assert image.shape == (1, 256, 320, 3) and image.dtype == torch.float32
    assert 0.0 <= float(image.min()) and float(image.max()) <= 1.0
    assert table == report_mod.report_to_text(_report())
    assert json.loads(text)["reward_names"] == ["aesthetic", "compressibility"]
    with pytest.raises(ValueError, match="SRSoupKSampler or RewardScore"):
        node.report({"not": "a report"}, 1, 2, 320, 256)
