"""The embedded digits model, its classifier and rewards, and the demo's command line.

Everything runs on the committed weights through the same loaders the demo uses; no mocks.
"""

import math

import pytest
import torch

from bench.digits.classifier import DigitConfidenceReward, classify, load_classifier
from bench.digits.data import load_digits_tensors, split_indices
from bench.digits.model import (
    DigitsDenoiser,
    DiscreteSchedule,
    decode,
    images_to_ink,
    load_denoiser,
    sigma_schedule,
)
from bench.digits.problem import build_rewards, initial_noise, reference_point, score
from sampler_core import ancestral_sample


@pytest.fixture(scope="module", autouse=True)
def idle_cores_only():
    """Use only idle cores while this module runs (as the demo does); restore the thread count after."""
    from bench.digits.problem import pick_threads

    before = torch.get_num_threads()
    pick_threads()
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def denoiser():
    return load_denoiser()


@pytest.fixture(scope="module")
def classifier():
    return load_classifier()


@pytest.fixture(scope="module")
def unguided(denoiser):
    """32 unguided samples (15 steps) from seeds 0..31."""
    sigmas = sigma_schedule(15)
    x = initial_noise(range(32), denoiser.latent_shape) * sigmas[0]
    return ancestral_sample(denoiser, x, sigmas, generator=torch.Generator().manual_seed(123))


def test_committed_weights_load_and_are_small(denoiser, classifier):
    from bench.digits.classifier import CLASSIFIER_WEIGHTS
    from bench.digits.model import UNET_WEIGHTS

    assert isinstance(denoiser, DigitsDenoiser)
    assert denoiser.latent_shape == (1, 16, 16)
    for path in (UNET_WEIGHTS, CLASSIFIER_WEIGHTS):
        assert path.suffix == ".safetensors"
        assert path.stat().st_size < 4_000_000
    assert not any(p.requires_grad for p in denoiser.parameters())


def test_missing_weights_give_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="bench.digits.train"):
        load_denoiser(tmp_path / "nope.safetensors")


def test_denoiser_returns_finite_x0_of_the_right_shape(denoiser):
    g = torch.Generator().manual_seed(0)
    for sigma in (0.02, 1.0, 14.0, 150.0):
        x = torch.randn(5, 1, 16, 16, generator=g) * math.sqrt(1 + sigma**2)
        out = denoiser(x, torch.full((5,), sigma))
        assert out.shape == x.shape
        assert torch.isfinite(out).all()
    # A scalar sigma works too; a wrongly shaped one is refused.
    assert denoiser(x, 1.0).shape == x.shape
    with pytest.raises(ValueError, match="sigma"):
        denoiser(x, torch.ones(3))


def test_denoiser_removes_noise_from_real_digits(denoiser):
    """VE convention x = x0 + sigma * eps: D(x, sigma) is closer to the clean digit than x is."""
    images, _ = load_digits_tensors()
    x0 = images[:64]
    g = torch.Generator().manual_seed(1)
    for sigma in (0.3, 1.0):
        x = x0 + sigma * torch.randn(x0.shape, generator=g)
        err_noisy = (x - x0).pow(2).mean()
        err_denoised = (denoiser(x, sigma) - x0).pow(2).mean()
        assert err_denoised < 0.5 * err_noisy, (sigma, float(err_denoised), float(err_noisy))


def test_sigma_schedules_are_decreasing_and_end_at_zero():
    sched = DiscreteSchedule()
    for kind in ("normal", "karras"):
        s = sigma_schedule(12, kind)
        assert s.shape == (13,)
        assert s[-1] == 0
        assert (s[:-1] > s[1:]).all()
        assert math.isclose(float(s[0]), sched.sigma_max, rel_tol=1e-4)
    t = torch.tensor([0.0, 10.5, 500.0, 999.0])
    assert torch.allclose(sched.sigma_to_t(sched.t_to_sigma(t).float()), t, atol=1e-2)
    with pytest.raises(ValueError, match="schedule"):
        sigma_schedule(10, "linear")


def test_decode_layout_and_round_trip_to_the_classifier_input():
    lat = torch.rand(3, 1, 16, 16) * 2 - 1
    img = decode(lat)
    assert img.shape == (3, 64, 64, 3)
    assert img.min() >= 0 and img.max() <= 1
    assert torch.allclose(images_to_ink(img), lat, atol=1e-5)


def test_unguided_samples_are_confidently_classified_digits(unguided, classifier):
    probs = classify(classifier, decode(unguided))
    conf, label = probs.max(dim=1)
    assert float(conf.mean()) > 0.85, conf
    # Not one mode: the 32 samples cover most classes.
    assert len(set(label.tolist())) >= 6, label.tolist()


def test_classifier_is_accurate_on_held_out_digits(classifier):
    images, labels = load_digits_tensors()
    _, test_idx = split_indices(len(labels))
    pages = decode(images[test_idx])  # through the same image layout the rewards see
    acc = (classify(classifier, pages).argmax(1) == labels[test_idx]).float().mean()
    assert acc > 0.95


def test_digit_reward_is_a_log_probability(unguided, classifier):
    images = decode(unguided)
    total = torch.zeros(images.shape[0])
    for k in range(10):
        r = DigitConfidenceReward(k, classifier).score(images)
        assert r.shape == (images.shape[0],) and r.dtype == torch.float32
        assert (r <= 0).all() and torch.isfinite(r).all()
        total += r.exp()
    assert torch.allclose(total, torch.ones_like(total), atol=1e-4)
    with pytest.raises(ValueError, match="digit"):
        DigitConfidenceReward(10, classifier)


def test_reward_specs_parse_and_reject_bad_input(classifier):
    specs = build_rewards("digit=3,compressibility", classifier=classifier)
    assert [s.key for s in specs] == ["digit=3", "compressibility"]
    for bad in ("digit", "digit,blur", "digit=12,compressibility", "digit,digit"):
        with pytest.raises(ValueError):
            build_rewards(bad, classifier=classifier)


def test_reference_point_is_worse_than_every_point():
    pts = [[-1.0, -2.0], [-0.5, -3.0]]
    ref = reference_point(pts)
    assert (ref < torch.tensor(pts).min(0).values.numpy()).all()


def test_guidance_raises_each_reward_and_the_two_conflict(denoiser, classifier):
    """A short SRSoup run: the classifier exemplar beats unguided on log p(8), the compressibility
    exemplar makes smaller JPEGs than the classifier exemplar (the rewards pull apart)."""
    from sampler_core import ancestral_sample, srsoup_sample

    rewards = build_rewards("digit=8,compressibility", classifier=classifier)
    sigmas = sigma_schedule(10)
    seeds = list(range(6))
    x = initial_noise(seeds, denoiser.latent_shape) * sigmas[0]
    res = srsoup_sample(
        denoiser,
        x,
        sigmas,
        rewards=[r.reward.bind() for r in rewards],
        weights=[[1.0, 0.0], [0.0, 1.0]],
        decode=decode,
        n_queries=12,
        soup_steps=4,
        generator=0,
        query_chunk=512,
    )
    s = score(rewards, res.samples).reshape(2, len(seeds), 2)
    base = score(rewards, ancestral_sample(denoiser, x, sigmas, generator=0))
    assert s[0, :, 0].mean() > base[:, 0].mean() + 0.5  # log p(8) up
    assert s[0, :, 0].mean() > s[1, :, 0].mean()  # the compressibility exemplar gives up on the digit
    assert s[1, :, 1].mean() > s[0, :, 1].mean()  # ... and gets smaller JPEGs
    assert res.stats.total_reward_queries > 0


def test_demo_cli_rejects_bad_input():
    from bench.demo import parse_seeds, parse_weights, resolve_args

    assert parse_seeds("3") == [0, 1, 2]
    assert parse_seeds("4,9") == [4, 9]
    for bad in ("0", "x", "1,1"):
        with pytest.raises(ValueError, match="--seeds"):
            parse_seeds(bad)
    assert parse_weights("0.2", 2).shape == (6, 2)
    with pytest.raises(ValueError):
        parse_weights("0.3", 2)
    with pytest.raises(ValueError):
        parse_weights("1,0; 0.5,0.6", 2)
    with pytest.raises(ValueError, match="soup-steps"):
        resolve_args(["--soup-steps", "-1"])
    with pytest.raises(SystemExit):
        resolve_args(["--n-queries", "0"])


def test_demo_runs_end_to_end_and_writes_its_outputs(tmp_path):
    from bench.demo import resolve_args, run_demo

    args = resolve_args(
        ["--seeds", "2", "--steps", "4", "--n-queries", "4", "--weights", "0.5", "--out", str(tmp_path)]
    )
    summary = run_demo(args)
    for name in ("pareto_grid.png", "ws_grid.png", "reward_plane.png", "summary.txt", "summary.json"):
        assert (tmp_path / name).stat().st_size > 0
    st = summary["stats"]
    assert 0 < st["SRSoup"]["total_reward_queries"] < st["WS"]["total_reward_queries"]
    assert "HV" in (tmp_path / "summary.txt").read_text()
