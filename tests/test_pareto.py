"""Hypervolume and Pareto fronts (maximization), against hand-computed and Monte Carlo values."""

import numpy as np
import pytest
import torch

from sampler_core.pareto import hypervolume, pareto_front_mask


def _monte_carlo_hv(points, ref, upper, n, seed):
    rng = np.random.default_rng(seed)
    points, ref, upper = map(np.asarray, (points, ref, upper))
    u = ref + rng.random((n, len(ref))) * (upper - ref)
    dominated = (u[:, None, :] <= points[None]).all(-1).any(1)
    return dominated.mean() * np.prod(upper - ref)


def test_single_box():
    assert hypervolume([[3.0, 2.0]], [1.0, -1.0]) == pytest.approx(2.0 * 3.0)
    assert hypervolume([[3.0, 2.0, 5.0]], [1.0, -1.0, 4.5]) == pytest.approx(2.0 * 3.0 * 0.5)
    assert hypervolume([[4.0]], [1.5]) == pytest.approx(2.5)


def test_two_overlapping_boxes_2d():
    a, b, ref = (4.0, 1.0), (2.0, 3.0), (0.0, 0.0)
    union = a[0] * a[1] + b[0] * b[1] - min(a[0], b[0]) * min(a[1], b[1])
    assert hypervolume([a, b], ref) == pytest.approx(union)
    assert hypervolume([b, a], ref) == pytest.approx(union)  # order does not matter


def test_two_overlapping_boxes_3d():
    a, b = np.array([2.0, 1.0, 3.0]), np.array([1.0, 2.0, 1.0])
    union = a.prod() + b.prod() - np.minimum(a, b).prod()
    assert hypervolume([a, b], [0, 0, 0]) == pytest.approx(union)


def test_dominated_and_duplicate_points_add_nothing():
    front = [[4.0, 1.0], [3.0, 2.0], [1.0, 4.0]]
    base = hypervolume(front, [0, 0])
    assert hypervolume(front + [[2.0, 1.5], [3.0, 2.0], [0.5, 0.5]], [0, 0]) == pytest.approx(base)
    front3 = [[3, 1, 1], [1, 3, 1], [1, 1, 3]]
    base3 = hypervolume(front3, [0, 0, 0])
    assert hypervolume(front3 + [[1, 1, 1], [2, 1, 0.5]], [0, 0, 0]) == pytest.approx(base3)


def test_points_not_beating_reference_contribute_nothing():
    ref = [1.0, 1.0]
    assert hypervolume([[0.5, 5.0], [5.0, 1.0], [float("nan"), 3.0]], ref) == 0.0
    assert hypervolume([[0.5, 5.0], [2.0, 2.0]], ref) == pytest.approx(1.0)
    assert hypervolume(np.zeros((0, 2)), ref) == 0.0


def test_three_staircase_by_hand():
    # Three points, volume by inclusion-exclusion over all subsets.
    pts = np.array([[3.0, 1.0, 2.0], [1.0, 3.0, 2.0], [2.0, 2.0, 3.0]])
    total = 0.0
    for mask in range(1, 8):
        idx = [i for i in range(3) if mask >> i & 1]
        total += (-1) ** (len(idx) + 1) * pts[idx].min(axis=0).prod()
    assert hypervolume(pts, [0, 0, 0]) == pytest.approx(total)


@pytest.mark.parametrize("m, n", [(2, 25), (3, 20), (4, 10)])
def test_against_monte_carlo(m, n):
    rng = np.random.default_rng(m * 100 + n)
    # Points near a concave front so that many are non-dominated.
    raw = rng.random((n, m)) + 0.1
    pts = raw / np.linalg.norm(raw, axis=1, keepdims=True) * rng.uniform(0.8, 1.0, (n, 1))
    ref = np.full(m, -0.1)
    exact = hypervolume(pts, ref)
    estimate = _monte_carlo_hv(pts, ref, np.full(m, 1.0), 100_000, seed=1)
    box = 1.1**m
    assert abs(exact - estimate) < 4 * np.sqrt(0.25 / 100_000) * box + 1e-9  # ~4 sigma of the MC estimate


def test_2d_general_equals_slicing_on_3d_embedding():
    # A 2-D set lifted to 3-D with a constant third coordinate: volume scales by the slab height.
    rng = np.random.default_rng(3)
    pts = rng.random((30, 2))
    lifted = np.hstack([pts, np.full((30, 1), 2.5)])
    assert hypervolume(lifted, [0, 0, 0.5]) == pytest.approx(2.0 * hypervolume(pts, [0, 0]))


def test_accepts_tensors_and_checks_shapes():
    t = torch.tensor([[2.0, 2.0]])
    assert hypervolume(t, torch.tensor([0.0, 1.0])) == pytest.approx(2.0)
    with pytest.raises(ValueError, match="one reference value per objective"):
        hypervolume([[1.0, 2.0]], [0.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="2-D"):
        hypervolume([1.0, 2.0], [0.0, 0.0])
    with pytest.raises(ValueError, match="finite"):
        hypervolume([[1.0, 2.0]], [0.0, float("nan")])


def test_pareto_front_mask():
    pts = [[4, 1], [3, 2], [2, 1], [1, 4], [3, 2], [0, 0], [4, 0.5]]
    assert pareto_front_mask(pts).tolist() == [True, True, False, True, True, False, False]
    assert pareto_front_mask([[1, float("nan")], [0, 0]]).tolist() == [False, True]
    pts3 = np.array([[1, 2, 3], [3, 2, 1], [1, 1, 1], [2, 2, 2]])
    assert pareto_front_mask(pts3).tolist() == [True, True, False, True]
    assert pareto_front_mask(np.zeros((0, 3))).tolist() == []
