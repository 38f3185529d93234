"""Loading from local files: missing and malformed files, unsafe pickles, path resolution, no host needed."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from rewards import (
    REWARD_KINDS,
    RewardFileInvalidError,
    RewardFileMissingError,
    list_candidates,
    load_reward,
    read_state_dict,
)

TINY_OPEN_CLIP = {
    "embed_dim": 8,
    "vision_cfg": {"image_size": 16, "layers": 1, "width": 16, "head_width": 8, "patch_size": 8},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 16, "heads": 2, "layers": 1},
}
SOURCES = {
    "aesthetic": "christophschuhmann/improved-aesthetic-predictor",
    "hpsv2": "xswu/HPSv2",
    "hpsv2.1": "xswu/HPSv2",
    "pickscore": "yuvalkirstain/PickScore_v1",
    "clipscore": "openai/clip-vit-large-patch14",
}


class RunsCodeWhenUnpickled:
    """What a malicious checkpoint looks like: unpickling it calls a function of the author's choice."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def tiny_hps_state():
    import open_clip

    torch.manual_seed(0)
    return open_clip.CLIP(**TINY_OPEN_CLIP).state_dict()


@pytest.mark.parametrize("kind", sorted(SOURCES))
def test_missing_weights_name_the_expected_path_and_the_source(kind, tmp_path):
    with pytest.raises(FileNotFoundError) as error:
        load_reward(kind, models_root=tmp_path)
    message = str(error.value)
    assert str(tmp_path / REWARD_KINDS[kind].default_name) in message
    assert SOURCES[kind] in message
    assert isinstance(error.value, RewardFileMissingError)


def test_missing_without_models_root_names_the_comfyui_folder():
    with pytest.raises(RewardFileMissingError, match=r"models/rewards/HPS_v2\.1_compressed\.pt"):
        load_reward("hpsv2.1")


@pytest.mark.parametrize("kind", ["hpsv2", "aesthetic"])
def test_a_pickle_that_would_run_code_is_refused(kind, tmp_path):
    marker = tmp_path / "code-was-run"
    weights = tmp_path / "evil.pth"
    torch.save({"state_dict": {"w": torch.zeros(1)}, "payload": RunsCodeWhenUnpickled(marker)}, weights)
    (tmp_path / "clip-vit-large-patch14").mkdir()  # so the aesthetic loader gets as far as the head
    options = {"model_config": TINY_OPEN_CLIP} if kind == "hpsv2" else {}
    with pytest.raises(RewardFileInvalidError, match="refused") as error:
        load_reward(kind, path=weights, **options)
    assert str(weights) in str(error.value)
    assert not marker.exists()
    # The payload is live: an unrestricted load would have run it.
    torch.load(weights, weights_only=False)
    assert marker.exists()


def test_a_transformers_folder_with_an_unsafe_pickle_is_refused(tmp_path):
    from transformers import CLIPConfig

    folder = tmp_path / "clip-vit-large-patch14"
    folder.mkdir()
    tiny = dict(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=16)
    config = CLIPConfig(text_config=tiny, vision_config=dict(tiny, image_size=16, patch_size=8))
    config.save_pretrained(folder)
    marker = tmp_path / "code-was-run"
    torch.save({"payload": RunsCodeWhenUnpickled(marker)}, folder / "pytorch_model.bin")
    with pytest.raises(RewardFileInvalidError, match="clip-vit-large-patch14"):
        load_reward("clipscore", models_root=tmp_path)
    assert not marker.exists()


def test_malformed_files_are_reported_with_their_path(tmp_path):
    garbage = tmp_path / "HPS_v2_compressed.pt"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(RewardFileInvalidError, match="HPS_v2_compressed.pt") as error:
        load_reward("hpsv2", models_root=tmp_path)
    assert "xswu/HPSv2" in str(error.value)
    # Valid tensors, wrong architecture.
    torch.save({"state_dict": {"visual.proj": torch.zeros(4, 4)}}, garbage)
    with pytest.raises(RewardFileInvalidError, match="does not match"):
        load_reward("hpsv2", models_root=tmp_path, model_config=TINY_OPEN_CLIP)
    torch.save([1, 2, 3], garbage)
    with pytest.raises(RewardFileInvalidError, match="no tensor state dict"):
        read_state_dict(garbage)


def test_safetensors_under_the_default_stem_and_relative_and_absolute_paths(tmp_path):
    state = tiny_hps_state()
    save_file(state, tmp_path / "HPS_v2_compressed.safetensors")
    images = torch.rand(1, 16, 16, 3, generator=torch.Generator().manual_seed(0))
    by_default = load_reward("hpsv2", models_root=tmp_path, model_config=TINY_OPEN_CLIP)
    expected = by_default.score(images, "a cat")
    (tmp_path / "mine").mkdir()
    torch.save({"state_dict": state}, tmp_path / "mine" / "hps.pth")
    for path, root in [("mine/hps.pth", tmp_path), (tmp_path / "mine" / "hps.pth", None)]:
        reward = load_reward("hpsv2", path=path, models_root=root, model_config=TINY_OPEN_CLIP)
        torch.testing.assert_close(reward.score(images, "a cat"), expected)
    assert list_candidates("hpsv2", tmp_path) == ["HPS_v2_compressed.safetensors", "mine/hps.pth"]


def test_prompt_rewards_require_a_prompt(tmp_path):
    torch.save({"state_dict": tiny_hps_state()}, tmp_path / "HPS_v2_compressed.pt")
    reward = load_reward("hpsv2", models_root=tmp_path, model_config=TINY_OPEN_CLIP)
    assert reward.needs_prompt
    images = torch.rand(2, 16, 16, 3)
    with pytest.raises(ValueError, match="needs a prompt"):
        reward.score(images)
    with pytest.raises(ValueError, match="needs a prompt"):
        reward.bind(None)
    with pytest.raises(ValueError, match="3 prompts for 2 images"):
        reward.score(images, ["a", "b", "c"])


def test_unknown_kind_lists_the_known_ones():
    with pytest.raises(ValueError, match="compressibility"):
        load_reward("imagereward")


def test_importing_rewards_needs_no_host_and_no_model_library():
    # Compressibility users pay for neither transformers nor open_clip; ComfyUI is never imported.
    heavy = ("comfy", "folder_paths", "transformers", "open_clip")
    code = ("import sys, rewards; rewards.load_reward('compressibility'); "
            f"print(sorted(m for m in {heavy!r} if m in sys.modules))")
    repo_root = Path(__file__).resolve().parent.parent
    result = subprocess.run([sys.executable, "-c", code], cwd=repo_root, capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "[]"
