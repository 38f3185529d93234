"""Preference (weight) vectors on the probability simplex.

Every weight matrix in this project has shape (L, M): one row per weight vector, one column per
reward, non-negative entries, rows summing to 1. The helpers here build, parse and check such
matrices; all of them return a float32 CPU tensor (``validate_weights`` keeps a tensor's device).

- ``validate_weights(weights, n_rewards)``: check a tensor / nested list and return it as a tensor.
- ``simplex_grid(n_rewards, step)``: every vector whose entries are multiples of ``step``.
- ``parse_weight_list(text, n_rewards)``: a user-typed list, one vector per line or ';'-separated.
- ``PAPER_WEIGHTS_2`` / ``PAPER_WEIGHTS_3``: the paper's two- and three-reward weight sets.
- ``is_one_hot(weights)``: which rows are exemplars (a single reward with weight 1).

Errors are ``ValueError`` with a message that says what to change.
"""

from __future__ import annotations

import itertools
import math
import re
from fractions import Fraction

import torch

__all__ = [
    "PAPER_WEIGHTS_2",
    "PAPER_WEIGHTS_3",
    "SUM_TOLERANCE",
    "MAX_GRID_ROWS",
    "validate_weights",
    "simplex_grid",
    "parse_weight_list",
    "is_one_hot",
]

SUM_TOLERANCE = 1e-4
"""How far a row's sum may be from 1."""

NEGATIVE_TOLERANCE = 1e-6
"""Entries in (-NEGATIVE_TOLERANCE, 0) are rounding noise and are set to 0; anything lower is an error."""

MAX_GRID_ROWS = 100_000
"""``simplex_grid`` refuses to build more rows than this."""

# Two rewards: the six vectors of the paper's Figure 1 / Section 5, first reward's weight increasing.
PAPER_WEIGHTS_2: tuple[tuple[float, float], ...] = (
    (0.0, 1.0),
    (0.2, 0.8),
    (0.4, 0.6),
    (0.6, 0.4),
    (0.8, 0.2),
    (1.0, 0.0),
)

# Three rewards: the 13 vectors of the paper's Appendix D, in the paper's order
# (the three exemplars first).
_THIRD = 1.0 / 3.0
PAPER_WEIGHTS_3: tuple[tuple[float, float, float], ...] = (
    (1.0, 0.0, 0.0),
    (0.0, 1.0, 0.0),
    (0.0, 0.0, 1.0),
    (_THIRD, _THIRD, _THIRD),
    (0.1, 0.1, 0.8),
    (0.1, 0.8, 0.1),
    (0.8, 0.1, 0.1),
    (0.2, 0.2, 0.6),
    (0.2, 0.6, 0.2),
    (0.6, 0.2, 0.2),
    (0.4, 0.4, 0.2),
    (0.4, 0.2, 0.4),
    (0.2, 0.4, 0.4),
)


def _check_n_rewards(n_rewards) -> int:
    if isinstance(n_rewards, bool) or not isinstance(n_rewards, int) or n_rewards < 1:
        raise ValueError(f"n_rewards must be a positive integer (the number of rewards); got {n_rewards!r}")
    return n_rewards


def validate_weights(weights, n_rewards: int) -> torch.Tensor:
    """Check a weight matrix and return it as a float32 tensor of shape (L, M).

    ``weights``: a tensor, numpy array or nested list, one row per weight vector and one column per
    reward (M == ``n_rewards``). Entries must be finite and non-negative (values above
    ``-NEGATIVE_TOLERANCE`` are taken as 0) and each row must sum to 1 within ``SUM_TOLERANCE``.
    The result is a new tensor (never a view of the input), on the input tensor's device.
    """
    n_rewards = _check_n_rewards(n_rewards)
    try:
        if isinstance(weights, torch.Tensor):
            w = weights.detach().to(dtype=torch.float32).clone()
        else:
            w = torch.tensor(weights, dtype=torch.float32)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise ValueError(
            "weights must be a rectangular table of numbers, one row per weight vector, "
            f"e.g. [[0.2, 0.8], [0.5, 0.5]]; could not read it: {exc}"
        ) from None
    if w.dim() != 2:
        hint = " (wrap a single vector in a list, e.g. [[0.5, 0.5]])" if w.dim() == 1 else ""
        raise ValueError(
            f"weights must be 2-D, shape (L, M): one row per weight vector and one column per reward; "
            f"got shape {tuple(w.shape)}{hint}"
        )
    if w.shape[0] == 0:
        raise ValueError("weights is empty: give at least one weight vector (one row)")
    if w.shape[1] != n_rewards:
        raise ValueError(
            f"weights has {w.shape[1]} column(s) but there are {n_rewards} reward(s): "
            "give one column per reward"
        )
    finite = torch.isfinite(w)
    if not bool(finite.all()):
        row = int((~finite).any(dim=1).nonzero()[0, 0])
        raise ValueError(f"weights row {row} has a non-finite entry {w[row].tolist()}: use finite numbers")
    too_negative = w < -NEGATIVE_TOLERANCE
    if bool(too_negative.any()):
        row = int(too_negative.any(dim=1).nonzero()[0, 0])
        raise ValueError(
            f"weights row {row} has a negative entry {w[row].tolist()}: weights must be >= 0"
        )
    w = w.clamp_min(0.0)
    sums = w.double().sum(dim=1)
    bad = (sums - 1.0).abs() > SUM_TOLERANCE
    if bool(bad.any()):
        row = int(bad.nonzero()[0, 0])
        raise ValueError(
            f"weights row {row} {w[row].tolist()} sums to {float(sums[row]):.6g}, not 1: "
            "each row must sum to 1 (within 1e-4)"
        )
    return w


def simplex_grid(n_rewards: int, step: float) -> torch.Tensor:
    """All weight vectors whose entries are multiples of ``step`` and sum to 1.

    ``step`` must divide 1 (1/step an integer within 1e-6), e.g. 0.5, 0.25, 0.2, 0.1, 1/3.
    Returns a float32 tensor (L, n_rewards), L = C(n + M - 1, M - 1) with n = 1/step. Entries are
    k/n rounded to 10 decimals before the float32 conversion (0.2 is float32's nearest to 0.2).

    Order: lexicographic in the first M-1 entries, ascending, so the first reward's weight
    increases slowest-first; the last entry is the remainder. For M=2, step 0.2:
    [0, 1], [.2, .8], [.4, .6], [.6, .4], [.8, .2], [1, 0]. For M=3, step 0.5:
    [0, 0, 1], [0, .5, .5], [0, 1, 0], [.5, 0, .5], [.5, .5, 0], [1, 0, 0].
    """
    n_rewards = _check_n_rewards(n_rewards)
    try:
        step = float(step)
    except (TypeError, ValueError):
        raise ValueError(f"step must be a number that divides 1 (e.g. 0.2); got {step!r}") from None
    if not math.isfinite(step) or step <= 0 or step > 1:
        raise ValueError(f"step must be in (0, 1] and divide 1 (e.g. 0.2, 0.25, 0.1); got {step!r}")
    n = round(1.0 / step)
    if n < 1 or abs(n * step - 1.0) > 1e-6:
        raise ValueError(
            f"step {step!r} does not divide 1 (1/step = {1.0 / step:.6g} is not an integer): "
            f"use e.g. {1.0 / max(n, 1):.6g}"
        )
    n_rows = math.comb(n + n_rewards - 1, n_rewards - 1)
    if n_rows > MAX_GRID_ROWS:
        raise ValueError(
            f"simplex_grid({n_rewards}, {step}) would have {n_rows} rows "
            f"(limit {MAX_GRID_ROWS}): use a larger step"
        )
    rows = []
    for head in itertools.product(range(n + 1), repeat=n_rewards - 1):
        rest = n - sum(head)
        if rest < 0:
            continue
        rows.append([round(k / n, 10) for k in (*head, rest)])
    return torch.tensor(rows, dtype=torch.float32)


_NUMBER_SPLIT = re.compile(r"[,\s]+")


def _parse_number(token: str) -> float:
    if "/" in token:
        num, _, den = token.partition("/")
        return float(Fraction(int(num), int(den)))
    return float(token)


def parse_weight_list(text: str, n_rewards: int) -> torch.Tensor:
    """Parse a user-typed list of weight vectors; returns a float32 tensor (L, n_rewards).

    One vector per line, or several per line separated by ';'. Numbers are separated by commas
    and/or spaces; fractions such as ``1/3`` are allowed, surrounding brackets ``[]()`` are ignored,
    blank lines and anything after '#' are ignored. Rows are NOT normalized: each must have
    ``n_rewards`` entries, all >= 0, summing to 1 (within 1e-4). Errors name the line (and the
    ';'-item) that is wrong.

    Example: ``"1 0\\n0.5, 0.5\\n0 1"`` or ``"1,0; .5,.5; 0,1"``.
    """
    n_rewards = _check_n_rewards(n_rewards)
    if not isinstance(text, str):
        raise ValueError(f"the weight list must be text; got {type(text).__name__}")
    rows: list[list[float]] = []
    for line_no, raw_line in enumerate(text.splitlines(), start=1):
        line = raw_line.split("#", 1)[0]
        items = line.split(";")
        for item_no, item in enumerate(items, start=1):
            where = f"line {line_no}" + (f", item {item_no}" if len(items) > 1 else "")
            cleaned = item.strip().strip("[]()").strip()
            if not cleaned:
                continue
            tokens = [t for t in _NUMBER_SPLIT.split(cleaned) if t]
            try:
                values = [_parse_number(t) for t in tokens]
            except (ValueError, ZeroDivisionError):
                raise ValueError(
                    f"{where}: {item.strip()!r} is not a list of numbers; write e.g. '0.2, 0.8' or '0.2 0.8'"
                ) from None
            if len(values) != n_rewards:
                raise ValueError(
                    f"{where}: {item.strip()!r} has {len(values)} number(s), expected {n_rewards} "
                    "(one per reward)"
                )
            if not all(math.isfinite(v) for v in values):
                raise ValueError(f"{where}: {item.strip()!r} has a non-finite number; use finite numbers")
            if any(v < 0 for v in values):
                raise ValueError(f"{where}: {item.strip()!r} has a negative weight; weights must be >= 0")
            total = math.fsum(values)
            if abs(total - 1.0) > SUM_TOLERANCE:
                raise ValueError(
                    f"{where}: {item.strip()!r} sums to {total:.6g}, not 1; make the weights sum to 1 "
                    "(fractions like 1/3 are allowed)"
                )
            rows.append(values)
    if not rows:
        raise ValueError("the weight list is empty: give at least one weight vector, e.g. '0.5, 0.5'")
    return validate_weights(rows, n_rewards)


def is_one_hot(weights, atol: float = 1e-6) -> torch.Tensor:
    """Bool tensor (L,): True where a row is a one-hot vector (an exemplar: one reward, weight 1)."""
    w = weights if isinstance(weights, torch.Tensor) else torch.tensor(weights, dtype=torch.float32)
    if w.dim() != 2:
        raise ValueError(f"weights must be 2-D (L, M); got shape {tuple(w.shape)}")
    near_one = (w - 1.0).abs() <= atol
    near_zero = w.abs() <= atol
    return (near_one.sum(dim=1) == 1) & ((near_one | near_zero).all(dim=1))
