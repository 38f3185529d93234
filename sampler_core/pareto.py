"""Pareto fronts and hypervolume, for maximization.

- ``pareto_front_mask(points)``: which points no other point dominates.
- ``hypervolume(points, reference)``: the exact Lebesgue measure of the region dominated by the
  points and dominating the reference point, in any number of objectives. Points that do not beat
  the reference in every coordinate add nothing. 1-D and 2-D are closed form / a sweep; M >= 3 uses
  hypervolume by slicing objectives (HSO): sort by the last objective and sum slabs, each the
  (M-1)-D hypervolume of the points above it. Fine for the tens of points a Pareto plot has
  (cost grows like n^(M-1) log n).

Inputs may be tensors, numpy arrays or nested lists of shape (n, M); computation is in float64.
"""

from __future__ import annotations

import numpy as np

__all__ = ["hypervolume", "pareto_front_mask"]


def _as_points(points, name: str = "points") -> np.ndarray:
    if hasattr(points, "detach"):
        points = points.detach().cpu().double().numpy()
    p = np.asarray(points, dtype=np.float64)
    if p.ndim == 1 and p.size == 0:
        p = p.reshape(0, 0)
    if p.ndim != 2:
        raise ValueError(f"{name} must be 2-D, shape (n_points, n_objectives); got shape {p.shape}")
    return p


def pareto_front_mask(points) -> np.ndarray:
    """Bool array (n,): True for points that no other point dominates (maximization).

    ``a`` dominates ``b`` when ``a >= b`` in every coordinate and ``a > b`` in at least one, so exact
    duplicates are all kept. Points with a NaN are never on the front and dominate nothing.
    """
    p = _as_points(points)
    n = p.shape[0]
    valid = ~np.isnan(p).any(axis=1)
    mask = valid.copy()
    for i in range(n):
        if not valid[i]:
            continue
        others = p[valid]
        dominated = np.any(np.all(others >= p[i], axis=1) & np.any(others > p[i], axis=1))
        if dominated:
            mask[i] = False
    return mask


def _hv2d(p: np.ndarray, ref: np.ndarray) -> float:
    # Sort by the first objective, descending; sweep keeping the best second objective so far.
    order = np.argsort(-p[:, 0], kind="stable")
    volume = 0.0
    best_y = ref[1]
    for x, y in p[order]:
        if y > best_y:
            volume += (x - ref[0]) * (y - best_y)
            best_y = y
    return volume


def _hv(p: np.ndarray, ref: np.ndarray) -> float:
    # All points here strictly beat ref in every coordinate.
    n, m = p.shape
    if n == 0:
        return 0.0
    if m == 1:
        return float(p[:, 0].max() - ref[0])
    if m == 2:
        return _hv2d(p, ref)
    # Slice along the last objective: between consecutive distinct values z_i > z_{i+1} the
    # cross-section is the (M-1)-D hypervolume of the points whose last coordinate is >= z_i.
    p = p[pareto_front_mask(p)]
    order = np.argsort(-p[:, -1], kind="stable")
    p = p[order]
    volume = 0.0
    for i in range(p.shape[0]):
        upper = p[i, -1]
        lower = p[i + 1, -1] if i + 1 < p.shape[0] else ref[-1]
        if upper > lower:
            volume += (upper - lower) * _hv(p[: i + 1, :-1], ref[:-1])
    return volume


def hypervolume(points, reference) -> float:
    """Exact hypervolume (maximization) of ``points`` (n, M) with respect to ``reference`` (M,).

    The region counted is the union over points ``p`` of the boxes ``[reference, p]``. Points that
    are not strictly better than the reference in every coordinate (or contain NaN) contribute 0.
    Returns a Python float (0.0 for no contributing points).
    """
    p = _as_points(points)
    ref = _as_points(np.asarray(reference, dtype=np.float64).reshape(1, -1), "reference")[0]
    if not np.all(np.isfinite(ref)):
        raise ValueError(f"reference must be finite; got {ref.tolist()}")
    if p.shape[0] == 0:
        return 0.0
    if p.shape[1] != ref.shape[0]:
        raise ValueError(
            f"points have {p.shape[1]} objective(s) but the reference point has {ref.shape[0]}: "
            "give one reference value per objective"
        )
    keep = np.all(p > ref, axis=1)  # NaN compares False
    return float(_hv(p[keep], ref))
