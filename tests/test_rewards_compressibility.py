import pytest
import torch

from rewards import REWARD_KINDS, list_candidates, load_reward


def test_flat_image_scores_higher_than_noise_in_kilobytes():
    reward = load_reward("compressibility")
    generator = torch.Generator().manual_seed(0)
    flat = torch.full((1, 64, 64, 3), 0.5)
    noise = torch.rand(1, 64, 64, 3, generator=generator)
    scores = reward.score(torch.cat([flat, noise]))
    assert scores.dtype == torch.float32 and scores.shape == (2,)
    assert scores[0] > scores[1]
    # A 64x64 flat JPEG is well under 2 kB; 64x64x3 bytes of noise compress to roughly 5-13 kB.
    assert -2.0 < scores[0] < 0
    assert -13.0 < scores[1] < -5.0


def test_incompressibility_is_the_opposite():
    images = torch.rand(3, 32, 32, 3, generator=torch.Generator().manual_seed(1))
    compress = load_reward("compressibility").score(images)
    incompress = load_reward("incompressibility").score(images)
    torch.testing.assert_close(incompress, -compress)


def test_batch_equals_one_by_one_and_bind_ignores_prompt():
    reward = load_reward("compressibility")
    images = torch.rand(4, 32, 32, 3, generator=torch.Generator().manual_seed(2))
    batched = reward.score(images)
    single = torch.cat([reward.score(image[None]) for image in images])
    torch.testing.assert_close(batched, single)
    torch.testing.assert_close(reward.bind("a prompt")(images), batched)
    assert not reward.needs_prompt and reward.module is None
    assert not REWARD_KINDS["compressibility"].needs_weights
    assert list_candidates("compressibility", None) == []


def test_grayscale_images_are_accepted():
    images = torch.rand(2, 32, 32, 1, generator=torch.Generator().manual_seed(3))
    scores = load_reward("compressibility").score(images)
    assert scores.shape == (2,) and torch.isfinite(scores).all()


@pytest.mark.parametrize("bad", [torch.rand(2, 3, 32, 32), torch.rand(32, 32, 3)])
def test_wrong_layout_is_rejected(bad):
    with pytest.raises(ValueError, match=r"\(B, H, W, 3\)"):
        load_reward("compressibility").score(bad)
