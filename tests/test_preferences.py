"""Weight vectors: validation, grids, parsing, the paper's sets."""

import math

import numpy as np
import pytest
import torch

from sampler_core.preferences import (
    PAPER_WEIGHTS_2,
    PAPER_WEIGHTS_3,
    is_one_hot,
    parse_weight_list,
    simplex_grid,
    validate_weights,
)


# ---------------------------------------------------------------- validate_weights
def test_validate_accepts_lists_tensors_and_arrays():
    rows = [[0.25, 0.75], [1.0, 0.0]]
    for given in (rows, torch.tensor(rows, dtype=torch.float64), np.array(rows)):
        w = validate_weights(given, 2)
        assert w.dtype == torch.float32
        assert w.shape == (2, 2)
        assert torch.equal(w, torch.tensor(rows, dtype=torch.float32))


def test_validate_returns_a_copy():
    src = torch.tensor([[0.5, 0.5]])
    w = validate_weights(src, 2)
    w[0, 0] = 7.0
    assert src[0, 0] == 0.5


def test_validate_tolerates_rounding_noise_only():
    w = validate_weights([[1.0 + 1e-9, -1e-9]], 2)  # e.g. 1 - 0.7 - 0.3 computed in floats
    assert (w >= 0).all() and w[0, 1] == 0.0
    validate_weights([[0.33333, 0.33333, 0.33334]], 3)
    validate_weights([[0.50004, 0.49999]], 2)  # sum 1.00003, inside 1e-4


@pytest.mark.parametrize(
    "weights, n, fragment",
    [
        ([0.5, 0.5], 2, "2-D"),
        ([[[0.5, 0.5]]], 2, "2-D"),
        (torch.zeros(0, 2), 2, "empty"),
        ([[0.5, 0.5]], 3, "one column per reward"),
        ([[0.2, 0.3, 0.5]], 2, "one column per reward"),
        ([[float("nan"), 1.0]], 2, "non-finite"),
        ([[float("inf"), 0.0]], 2, "non-finite"),
        ([[1.5, -0.5]], 2, "negative"),
        ([[0.5, 0.5], [0.6, 0.6]], 2, "row 1"),
        ([[0.4, 0.4]], 2, "sums to 0.8"),
        ([[0.5, 0.5], [0.3]], 2, "rectangular"),
        ("abc", 2, "rectangular"),
    ],
)
def test_validate_errors(weights, n, fragment):
    with pytest.raises(ValueError, match=fragment):
        validate_weights(weights, n)


@pytest.mark.parametrize("n", [0, -1, 2.0, True, "2"])
def test_validate_rejects_bad_n_rewards(n):
    with pytest.raises(ValueError, match="n_rewards"):
        validate_weights([[1.0]], n)


def test_validate_sum_message_names_row_and_sum():
    with pytest.raises(ValueError) as err:
        validate_weights([[1.0, 0.0], [0.7, 0.7]], 2)
    msg = str(err.value)
    assert "row 1" in msg and "1.4" in msg and "sum to 1" in msg


# ---------------------------------------------------------------- simplex_grid
@pytest.mark.parametrize(
    "m, step", [(1, 0.5), (2, 0.2), (2, 0.25), (3, 0.1), (3, 1 / 3), (4, 0.25), (2, 1.0)]
)
def test_grid_size_sums_and_multiples(m, step):
    g = simplex_grid(m, step)
    n = round(1 / step)
    assert g.shape == (math.comb(n + m - 1, m - 1), m)
    assert g.dtype == torch.float32
    assert torch.allclose(g.double().sum(1), torch.ones(len(g), dtype=torch.float64), atol=1e-6)
    assert (g >= 0).all()
    k = g.double() * n
    assert torch.allclose(k, k.round(), atol=1e-5)
    assert len({tuple(r) for r in k.round().long().tolist()}) == len(g)  # no duplicates
    validate_weights(g, m)


def test_grid_order_two_rewards_matches_paper():
    g = simplex_grid(2, 0.2)
    assert torch.equal(g, torch.tensor(PAPER_WEIGHTS_2, dtype=torch.float32))


def test_grid_order_is_lexicographic_first_weight_increasing():
    g = simplex_grid(3, 0.25).tolist()
    assert g == sorted(g)
    assert g[0] == [0.0, 0.0, 1.0] and g[-1] == [1.0, 0.0, 0.0]
    assert simplex_grid(3, 0.5).tolist() == [
        [0, 0, 1], [0, 0.5, 0.5], [0, 1, 0], [0.5, 0, 0.5], [0.5, 0.5, 0], [1, 0, 0]
    ]


def test_grid_entries_are_nearest_floats_to_decimals():
    g = simplex_grid(2, 0.1)
    expected = torch.tensor([[i / 10, 1 - i / 10] for i in range(11)], dtype=torch.float32)
    assert torch.equal(g, expected)


@pytest.mark.parametrize(
    "step, fragment",
    [
        (0.3, "does not divide 1"),
        (0.0, r"\(0, 1\]"),
        (-0.2, r"\(0, 1\]"),
        (1.5, r"\(0, 1\]"),
        (float("nan"), r"\(0, 1\]"),
        ("x", "number"),
    ],
)
def test_grid_errors(step, fragment):
    with pytest.raises(ValueError, match=fragment):
        simplex_grid(2, step)


def test_grid_refuses_huge():
    with pytest.raises(ValueError, match="larger step"):
        simplex_grid(8, 0.01)


# ---------------------------------------------------------------- parse_weight_list
def test_parse_lines_commas_spaces_semicolons_fractions_comments():
    text = "1 0\n0.5, 0.5 ; [0, 1]\n\n  (1/3, 2/3)  # a comment\n# only a comment\n.25,.75"
    w = parse_weight_list(text, 2)
    expected = torch.tensor([[1, 0], [0.5, 0.5], [0, 1], [1 / 3, 2 / 3], [0.25, 0.75]], dtype=torch.float32)
    assert torch.equal(w, expected)


def test_parse_three_rewards_round_trip_paper_set():
    text = "\n".join(" ".join(repr(v) for v in row) for row in PAPER_WEIGHTS_3)
    w = parse_weight_list(text, 3)
    assert torch.allclose(w, torch.tensor(PAPER_WEIGHTS_3, dtype=torch.float32))


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("1 0\n0.5 0.4", "line 2.*sums to 0.9"),
        ("1 0\n0.5 0.5 0", "line 2.*3 number"),
        ("1 0; 0.5 0.5; 1", "line 1, item 3.*1 number"),
        ("1 0\nabc def", "line 2.*not a list of numbers"),
        ("1 0\n1/0 1", "line 2.*not a list of numbers"),
        ("1.5 -0.5", "line 1.*negative"),
        ("nan 1", "line 1.*non-finite"),
        ("0.333 0.333 0.333", "line 1.*sums to 0.999.*1/3"),
        ("", "empty"),
        ("\n  # nothing\n ; ", "empty"),
    ],
)
def test_parse_errors_name_the_line(text, fragment):
    n = 3 if text.startswith("0.333") else 2
    with pytest.raises(ValueError, match=fragment):
        parse_weight_list(text, n)


def test_parse_does_not_normalize():
    with pytest.raises(ValueError):
        parse_weight_list("2 2", 2)


def test_parse_rejects_non_text():
    with pytest.raises(ValueError, match="text"):
        parse_weight_list([[0.5, 0.5]], 2)


# ---------------------------------------------------------------- paper sets and is_one_hot
def test_paper_sets():
    assert len(PAPER_WEIGHTS_2) == 6 and len(PAPER_WEIGHTS_3) == 13
    assert [row[0] for row in PAPER_WEIGHTS_2] == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    w3 = validate_weights(PAPER_WEIGHTS_3, 3)
    assert len({tuple(r) for r in w3.tolist()}) == 13
    # The 13 vectors: three exemplars, the centre, and the permutations of (.1,.1,.8), (.2,.2,.6), (.4,.4,.2).
    multisets = sorted(tuple(sorted(round(v, 4) for v in row)) for row in PAPER_WEIGHTS_3)
    assert multisets.count((0.0, 0.0, 1.0)) == 3
    assert multisets.count((0.1, 0.1, 0.8)) == 3
    assert multisets.count((0.2, 0.2, 0.6)) == 3
    assert multisets.count((0.2, 0.4, 0.4)) == 3
    assert multisets.count((0.3333, 0.3333, 0.3333)) == 1


def test_is_one_hot():
    assert is_one_hot(PAPER_WEIGHTS_2).tolist() == [True, False, False, False, False, True]
    assert is_one_hot(PAPER_WEIGHTS_3).tolist() == [True] * 3 + [False] * 10
    assert is_one_hot(torch.tensor([[1.0, 1.0], [0.5, 0.5]])).tolist() == [False, False]
    with pytest.raises(ValueError):
        is_one_hot([1.0, 0.0])
