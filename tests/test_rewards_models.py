"""Every model reward, with tiny random weights saved in the real file formats and loaded through
`load_reward` exactly as a user's files would be."""

import json

import pytest
import torch
from safetensors.torch import save_file

from rewards import RewardFileMissingError, list_candidates, load_reward

IMAGE_SIZE = 32
TINY_OPEN_CLIP = {
    "embed_dim": 16,
    "vision_cfg": {"image_size": IMAGE_SIZE, "layers": 2, "width": 32, "head_width": 16, "patch_size": 8},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 2},
}
PROMPTS = ["a red cube on a table", "a watercolor fox"]


def char_level_clip_tokenizer():
    """A CLIP BPE tokenizer over single bytes (no merges): small, offline, same code path as the real one."""
    from transformers import CLIPTokenizer
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    symbols = list(bytes_to_unicode().values())
    vocab = {symbol: i for i, symbol in enumerate(symbols + [s + "</w>" for s in symbols])}
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    return CLIPTokenizer(vocab=vocab, merges=[])


def save_tiny_clip_folder(folder, seed, with_tokenizer=True):
    from transformers import CLIPConfig, CLIPModel

    tokenizer = char_level_clip_tokenizer()
    config = CLIPConfig(
        text_config=dict(
            vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
            num_attention_heads=2, max_position_embeddings=77, bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
        ),
        vision_config=dict(
            hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
            image_size=IMAGE_SIZE, patch_size=8,
        ),
        projection_dim=16,
    )
    torch.manual_seed(seed)
    CLIPModel(config).save_pretrained(folder)
    (folder / "preprocessor_config.json").write_text(json.dumps({
        "crop_size": {"height": IMAGE_SIZE, "width": IMAGE_SIZE}, "size": {"shortest_edge": IMAGE_SIZE},
        "image_mean": [0.48145466, 0.4578275, 0.40821073], "image_std": [0.26862954, 0.26130258, 0.27577711],
    }))
    if with_tokenizer:
        tokenizer.save_pretrained(folder)
    return folder


def tiny_aesthetic_head(in_features=16, seed=3):
    torch.manual_seed(seed)
    widths = [in_features, 24, 12, 8, 4, 1]
    layers = {}
    for index, (d_in, d_out) in zip((0, 2, 4, 6, 7), zip(widths, widths[1:], strict=False), strict=True):
        layers[f"layers.{index}.weight"] = torch.randn(d_out, d_in) / d_in**0.5
        layers[f"layers.{index}.bias"] = torch.randn(d_out) * 0.1
    return layers


@pytest.fixture(scope="module")
def models_root(tmp_path_factory):
    """A models/rewards/ folder laid out as the README documents, with tiny random weights."""
    import open_clip

    root = tmp_path_factory.mktemp("rewards")
    save_tiny_clip_folder(root / "clip-vit-large-patch14", seed=1)
    save_tiny_clip_folder(root / "PickScore_v1", seed=2)
    torch.save(tiny_aesthetic_head(), root / "sac+logos+ava1-l14-linearMSE.pth")
    torch.manual_seed(4)
    hps = open_clip.CLIP(**TINY_OPEN_CLIP)
    # The published checkpoints wrap the weights as {'state_dict': ...}; v2.1 also keeps DDP prefixes here.
    torch.save({"state_dict": hps.state_dict()}, root / "HPS_v2_compressed.pt")
    torch.manual_seed(5)
    hps21 = open_clip.CLIP(**TINY_OPEN_CLIP).state_dict()
    torch.save({"state_dict": {"module." + k: v for k, v in hps21.items()}}, root / "HPS_v2.1_compressed.pt")
    return root


MODEL_KINDS = ["aesthetic", "clipscore", "pickscore", "hpsv2", "hpsv2.1"]


def load(kind, models_root, **kwargs):
    if kind.startswith("hps"):
        kwargs.setdefault("model_config", TINY_OPEN_CLIP)
    return load_reward(kind, models_root=models_root, **kwargs)


def random_images(batch, height=IMAGE_SIZE, width=IMAGE_SIZE, seed=0):
    return torch.rand(batch, height, width, 3, generator=torch.Generator().manual_seed(seed))


@pytest.fixture(scope="module")
def loaded(models_root):
    return {kind: load(kind, models_root, chunk_size=3) for kind in MODEL_KINDS}


@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_batch_scores_are_finite_and_match_one_by_one(kind, loaded):
    reward = loaded[kind]
    images = random_images(5, 40, 56)  # non-square, resized by the reward; 5 images over chunks of 3
    prompts = PROMPTS + PROMPTS + PROMPTS[:1]
    scores = reward.score(images, prompts if reward.needs_prompt else None)
    assert scores.shape == (5,) and scores.dtype == torch.float32 and scores.device.type == "cpu"
    assert torch.isfinite(scores).all()
    assert scores.std() > 0  # the images differ, so must their scores
    single = torch.cat([
        reward.score(image[None], [prompt] if reward.needs_prompt else None)
        for image, prompt in zip(images, prompts, strict=True)
    ])
    torch.testing.assert_close(scores, single, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(reward.score(images, prompts if reward.needs_prompt else None), scores,
                               rtol=0, atol=0)  # deterministic


@pytest.mark.parametrize("kind", ["clipscore", "pickscore", "hpsv2"])
def test_repeated_prompt_hits_the_text_cache(kind, models_root):
    reward = load(kind, models_root)
    images = random_images(3, seed=1)
    first = reward.score(images, "a lighthouse at dusk")
    assert reward.prompt_cache_info() == {"hits": 0, "misses": 1, "size": 1}
    second = reward.bind("a lighthouse at dusk")(images)
    assert reward.prompt_cache_info() == {"hits": 1, "misses": 1, "size": 1}
    torch.testing.assert_close(first, second, rtol=0, atol=0)
    other = reward.score(images, "a lighthouse at noon")
    assert reward.prompt_cache_info()["misses"] == 2
    assert not torch.equal(first, other)  # the prompt matters


@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_bf16_weights_and_a_module_moved_after_loading(kind, models_root, loaded):
    images = random_images(2, seed=2)
    prompts = PROMPTS if loaded[kind].needs_prompt else None
    reference = loaded[kind].score(images, prompts)
    bf16 = load(kind, models_root, dtype=torch.bfloat16)
    assert next(bf16.module.parameters()).dtype == torch.bfloat16
    low = bf16.score(images, prompts)
    assert low.dtype == torch.float32
    torch.testing.assert_close(low, reference, rtol=0.1, atol=0.05 * reference.abs().max().item())
    # A host (ComfyUI's ModelPatcher) may move the module after loading: scoring follows it.
    moved = load(kind, models_root)
    moved.module.to(torch.bfloat16)
    torch.testing.assert_close(moved.score(images, prompts), low, rtol=0, atol=0)


def test_clipscore_and_pickscore_match_the_reference_formula(models_root, loaded):
    from transformers import CLIPImageProcessor, CLIPModel

    # 8-bit images at the model's input size: the reference processor (PIL) gives the same pixels.
    images = (random_images(2, seed=3) * 255).round() / 255
    pixels = CLIPImageProcessor.from_pretrained(models_root / "PickScore_v1")(
        images=[(image * 255).round().to(torch.uint8).numpy() for image in images], return_tensors="pt"
    )["pixel_values"]
    tokenizer = char_level_clip_tokenizer()
    for kind, folder, use_scale in [("clipscore", "clip-vit-large-patch14", False),
                                    ("pickscore", "PickScore_v1", True)]:
        model = CLIPModel.from_pretrained(models_root / folder).eval()
        with torch.no_grad():
            image_embeds = model.get_image_features(pixel_values=pixels).pooler_output
            text_embeds = model.get_text_features(**tokenizer(PROMPTS, padding=True, return_tensors="pt")
                                                  ).pooler_output
        image_embeds = image_embeds / image_embeds.norm(dim=-1, keepdim=True)
        text_embeds = text_embeds / text_embeds.norm(dim=-1, keepdim=True)
        expected = torch.diagonal(image_embeds @ text_embeds.T)
        if use_scale:
            expected = model.logit_scale.exp() * expected
        torch.testing.assert_close(loaded[kind].score(images, PROMPTS), expected, rtol=1e-4, atol=1e-5)


def test_hps_matches_open_clip_forward(models_root, loaded):
    import open_clip

    model = open_clip.CLIP(**TINY_OPEN_CLIP, output_dict=True).eval()
    model.load_state_dict(torch.load(models_root / "HPS_v2_compressed.pt", weights_only=True)["state_dict"])
    images = random_images(2, seed=4)  # already 32x32: the reference resize+pad leaves it unchanged
    mean = torch.tensor([0.48145466, 0.4578275, 0.40821073]).view(1, 3, 1, 1)
    std = torch.tensor([0.26862954, 0.26130258, 0.27577711]).view(1, 3, 1, 1)
    with torch.no_grad():
        out = model((images.permute(0, 3, 1, 2) - mean) / std, open_clip.tokenize(PROMPTS))
    expected = torch.diagonal(out["image_features"] @ out["text_features"].T)
    torch.testing.assert_close(loaded["hpsv2"].score(images, PROMPTS), expected, rtol=1e-4, atol=1e-5)
    # v2 and v2.1 files hold different weights and are loaded as such.
    assert not torch.allclose(loaded["hpsv2.1"].score(images, PROMPTS), expected)


def test_aesthetic_is_the_head_on_the_normalized_clip_embedding(models_root, loaded):
    from transformers import CLIPModel

    clip = CLIPModel.from_pretrained(models_root / "clip-vit-large-patch14").eval()
    head_state = tiny_aesthetic_head()
    images = random_images(3, seed=5)
    mean = torch.tensor([0.48145466, 0.4578275, 0.40821073]).view(1, 3, 1, 1)
    std = torch.tensor([0.26862954, 0.26130258, 0.27577711]).view(1, 3, 1, 1)
    with torch.no_grad():
        embeds = clip.get_image_features(pixel_values=(images.permute(0, 3, 1, 2) - mean) / std).pooler_output
        x = embeds / embeds.norm(dim=-1, keepdim=True)
        # Dropout is inactive at inference: the head is five affine layers, no activations.
        for index in (0, 2, 4, 6, 7):
            x = x @ head_state[f"layers.{index}.weight"].T + head_state[f"layers.{index}.bias"]
    torch.testing.assert_close(loaded["aesthetic"].score(images), x.squeeze(-1), rtol=1e-4, atol=1e-5)
    assert loaded["aesthetic"].score(images, "prompts are ignored").shape == (3,)


def test_aesthetic_head_as_safetensors_and_explicit_paths(models_root, tmp_path, loaded):
    save_file(tiny_aesthetic_head(), tmp_path / "head.safetensors")
    reward = load_reward("aesthetic", path=tmp_path / "head.safetensors",
                         clip_path=models_root / "clip-vit-large-patch14")
    images = random_images(2, seed=6)
    torch.testing.assert_close(reward.score(images), loaded["aesthetic"].score(images))
    with pytest.raises(RewardFileMissingError, match="clip-vit-large-patch14") as error:
        load_reward("aesthetic", path=tmp_path / "head.safetensors")  # no CLIP folder beside it
    assert "openai/clip-vit-large-patch14" in str(error.value)
    # A head kept elsewhere finds the CLIP folder under models_root.
    reward = load_reward("aesthetic", path=tmp_path / "head.safetensors", models_root=models_root)
    torch.testing.assert_close(reward.score(images), loaded["aesthetic"].score(images))


def test_pickscore_without_tokenizer_names_the_processor_source(tmp_path, models_root):
    save_tiny_clip_folder(tmp_path / "PickScore_v1", seed=2, with_tokenizer=False)
    with pytest.raises(RewardFileMissingError, match="laion/CLIP-ViT-H-14-laion2B-s32B-b79K") as error:
        load_reward("pickscore", models_root=tmp_path)
    assert str(tmp_path / "PickScore_v1" / "tokenizer.json") in str(error.value)
    # The processor may live in its own folder.
    reward = load_reward("pickscore", models_root=tmp_path, tokenizer_path=models_root / "PickScore_v1")
    assert torch.isfinite(reward.score(random_images(1), "a cat")).all()


def test_candidates_for_the_node_dropdown(models_root):
    assert list_candidates("clipscore", models_root) == ["clip-vit-large-patch14", "PickScore_v1"]
    assert list_candidates("pickscore", models_root) == ["PickScore_v1", "clip-vit-large-patch14"]
    hps = list_candidates("hpsv2", models_root)
    assert hps[0] == "HPS_v2_compressed.pt"
    assert set(hps) == {"HPS_v2_compressed.pt", "HPS_v2.1_compressed.pt", "sac+logos+ava1-l14-linearMSE.pth"}
    assert list_candidates("hpsv2.1", models_root)[0] == "HPS_v2.1_compressed.pt"
    assert list_candidates("aesthetic", models_root)[0] == "sac+logos+ava1-l14-linearMSE.pth"
