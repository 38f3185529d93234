"""Tensor preprocessing against references computed independently (by hand, PIL, CLIPImageProcessor)."""

import numpy as np
import pytest
import torch
from PIL import Image

from rewards.preprocess import CLIP_MEAN, CLIP_STD, LongestSidePad, ShortestSideCenterCrop

MEAN = torch.tensor(CLIP_MEAN).view(3, 1, 1)
STD = torch.tensor(CLIP_STD).view(3, 1, 1)


def smooth_image(height, width):
    """An 8-bit-exact (H, W, 3) image with smooth structure, so resampling kernels agree closely."""
    y = torch.linspace(0, 1, height).view(-1, 1)
    x = torch.linspace(0, 1, width).view(1, -1)
    image = torch.stack([x * y, 0.5 + 0.4 * torch.sin(20 * x + 9 * y), 1 - 0.8 * y + 0 * x], dim=-1)
    return (image * 255).round() / 255


def to_uint8(image):
    return (image * 255).round().to(torch.uint8).numpy()


def test_pad_geometry_by_hand_when_no_resize_is_needed():
    # Longest side already 24: the content is copied as is and centered with black padding.
    image = torch.rand(17, 24, 3, generator=torch.Generator().manual_seed(0))
    out = LongestSidePad(size=24)(image[None])[0]
    expected = torch.zeros(3, 24, 24)  # black pixels, normalized below like the content
    top = (24 - 17) // 2  # 3 rows above, 4 below
    expected[:, top : top + 17, :] = image.permute(2, 0, 1)
    torch.testing.assert_close(out, (expected - MEAN) / STD)


@pytest.mark.parametrize(("height", "width"), [(31, 50), (50, 31)])
def test_resize_longest_side_then_pad_layout(height, width):
    # A flat image stays flat under resizing, so the padded layout can be written down exactly:
    # scale 24/50, the short side becomes round(31 * 0.48) = 15, padding 9 split 4 / 5.
    out = LongestSidePad(size=24)(torch.full((1, height, width, 3), 0.6))[0]
    content = torch.zeros(24, 24, dtype=torch.bool)
    if height < width:
        content[4:19, :] = True
    else:
        content[:, 4:19] = True
    torch.testing.assert_close(out[:, content], ((0.6 - MEAN) / STD).expand(3, 24, 24)[:, content])
    torch.testing.assert_close(out[:, ~content], ((0 - MEAN) / STD).expand(3, 24, 24)[:, ~content])


def test_longest_side_pad_matches_the_pil_reference():
    # HPSv2's ResizeMaxSize: PIL bicubic resize of the longest side to 224, black padding, normalize.
    image = smooth_image(300, 451)
    scale = 224 / 451
    new_h, new_w = round(300 * scale), round(451 * scale)
    resized = Image.fromarray(to_uint8(image)).resize((new_w, new_h), Image.BICUBIC)
    canvas = Image.new("RGB", (224, 224))
    canvas.paste(resized, ((224 - new_w) // 2, (224 - new_h) // 2))
    reference = torch.from_numpy(np.array(canvas)).permute(2, 0, 1).float() / 255
    out = LongestSidePad(size=224)(image[None])[0] * STD + MEAN  # back to pixel values
    assert (out - reference).abs().max() < 2 / 255


def test_center_crop_by_hand_when_no_resize_is_needed():
    image = torch.rand(24, 40, 3, generator=torch.Generator().manual_seed(1))
    out = ShortestSideCenterCrop(size=24, crop=24)(image[None])[0]
    expected = image[:, 8:32].permute(2, 0, 1)  # left = (40 - 24) // 2
    torch.testing.assert_close(out, (expected - MEAN) / STD)


@pytest.mark.parametrize(("height", "width"), [(300, 451), (451, 300)])
def test_shortest_side_center_crop_matches_clip_image_processor(height, width):
    from transformers import CLIPImageProcessor

    image = smooth_image(height, width)
    processor = CLIPImageProcessor(size={"shortest_edge": 224}, crop_size={"height": 224, "width": 224},
                                   image_mean=list(CLIP_MEAN), image_std=list(CLIP_STD))
    reference = processor(images=to_uint8(image), return_tensors="pt")["pixel_values"][0]
    out = ShortestSideCenterCrop()(image[None])[0]
    assert out.shape == reference.shape == (3, 224, 224)
    assert ((out - reference) * STD).abs().max() < 2 / 255


def test_grayscale_is_repeated_to_rgb():
    gray = torch.rand(1, 24, 24, 1, generator=torch.Generator().manual_seed(2))
    pad = LongestSidePad(size=24)
    torch.testing.assert_close(pad(gray), pad(gray.expand(-1, -1, -1, 3)))
