"""Node-layer logic that needs no ComfyUI: node definitions, preferences, checks, reward folders, chunking.

The pack is imported as a package (as ComfyUI imports a custom-node folder), never as top-level `nodes`.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parent.parent
PACK = "srsoup_pack_under_test"


def load_pack_module(sub: str):
    if PACK not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            PACK, REPO / "__init__.py", submodule_search_locations=[str(REPO)]
        )
        module = importlib.util.module_from_spec(spec)
        sys.modules[PACK] = module
        spec.loader.exec_module(module)
    return importlib.import_module(f"{PACK}.{sub}")


nodes_pkg = load_pack_module("nodes")
common = load_pack_module("nodes.common")
definitions = load_pack_module("nodes.definitions")
rewards_pkg = load_pack_module("rewards")

ALL = nodes_pkg.NODE_CLASS_MAPPINGS


def test_every_node_is_complete_and_native():
    assert set(ALL) == {
        "SRSoupRewardLoader",
        "SRSoupPreferenceGrid",
        "SRSoupKSampler",
        "SamplerSRSoup",
        "SRSoupRewardScore",
        "SRSoupParetoReport",
    }
    assert set(nodes_pkg.NODE_DISPLAY_NAME_MAPPINGS) == set(ALL)
    for name, cls in ALL.items():
        assert cls.CATEGORY == "SRSoup", name
        assert cls.DESCRIPTION, name
        types = cls.INPUT_TYPES()
        inputs = {**types["required"], **types.get("optional", {})}
        for input_name, spec in inputs.items():
            assert isinstance(spec, tuple) and len(spec) == 2, (name, input_name)
            options = spec[1]
            assert options.get("tooltip"), f"{name}.{input_name} has no tooltip"
            if isinstance(spec[0], list):  # a dropdown: its default is one of its choices
                assert options.get("default", spec[0][0]) in spec[0], (name, input_name)
            elif spec[0] in ("INT", "FLOAT"):
                assert options["min"] <= options["default"] <= options["max"], (name, input_name)
        n_out = len(cls.RETURN_TYPES)
        assert len(cls.RETURN_NAMES) == n_out and len(cls.OUTPUT_TOOLTIPS) == n_out, name
        # The function takes exactly the declared inputs; optional ones have defaults.
        params = inspect.signature(getattr(cls, cls.FUNCTION)).parameters
        declared = set(inputs)
        assert set(params) - {"self"} == declared, (name, set(params) ^ declared)
        for opt in types.get("optional", {}):
            assert params[opt].default is not inspect.Parameter.empty, (name, opt)
        for req in types["required"]:
            assert params[req].default is inspect.Parameter.empty, (name, req)


def test_sampler_inputs_cover_the_issue():
    ks = ALL["SRSoupKSampler"].INPUT_TYPES()
    required = set(ks["required"])
    assert {
        "model",
        "seed",
        "steps",
        "cfg",
        "scheduler",
        "denoise",
        "positive",
        "negative",
        "latent_image",
        "vae",
        "rewards",
        "preferences",
        "prompt",
        "n_queries",
        "soup_steps",
    } <= required
    assert "query_vae" in ks["optional"] and ks["optional"]["query_vae"][0] == "VAE"
    assert ALL["SRSoupKSampler"].RETURN_TYPES == ("LATENT", "SRSOUP_REPORT")
    assert ALL["SamplerSRSoup"].RETURN_TYPES == ("SAMPLER",)
    # Without a host the scheduler list falls back to ComfyUI's names (the default must be one of them).
    assert "normal" in ks["required"]["scheduler"][0]
    kinds = ALL["SRSoupRewardLoader"].INPUT_TYPES()["required"]["kind"][0]
    assert kinds == list(rewards_pkg.REWARD_KINDS)


def test_preference_grid_modes():
    grid = ALL["SRSoupPreferenceGrid"]()
    prefs, count, summary = grid.build(2, "simplex grid", 0.2, "")
    assert count == 6 and prefs.weights.shape == (6, 2)
    assert summary.splitlines() == [
        "(0, 1)",
        "(0.2, 0.8)",
        "(0.4, 0.6)",
        "(0.6, 0.4)",
        "(0.8, 0.2)",
        "(1, 0)",
    ]
    prefs, count, _ = grid.build(3, "explicit list", 0.2, "1 0 0\n1/3, 1/3, 1/3 # centre\n0,0,1")
    assert count == 3 and torch.allclose(prefs.weights[1], torch.full((3,), 1 / 3))
    assert grid.build(3, "paper weights", 0.2, "")[1] == 13
    assert grid.build(2, "paper weights", 0.2, "")[1] == 6


@pytest.mark.parametrize(
    "n, mode, step, text, needle",
    [
        (2, "explicit list", 0.2, "0.5, 0.6\n1, 0", "sums to 1.1"),
        (2, "explicit list", 0.2, "1, 0, 0", "expected 2"),
        (2, "explicit list", 0.2, "-0.5, 1.5", "negative"),
        (2, "explicit list", 0.2, "   \n# nothing", "empty"),
        (2, "simplex grid", 0.3, "", "simplex grid"),
        (4, "paper weights", 0.2, "", "2 and 3 rewards"),
    ],
)
def test_bad_preferences_are_refused_before_the_run(n, mode, step, text, needle):
    cls = ALL["SRSoupPreferenceGrid"]
    message = cls.VALIDATE_INPUTS(n_rewards=n, mode=mode, step=step, weights=text)
    assert isinstance(message, str) and needle in message, message
    with pytest.raises(ValueError, match=needle):
        cls().build(n, mode, step, text)
    # A good list validates.
    assert cls.VALIDATE_INPUTS(n_rewards=2, mode="explicit list", step=0.2, weights="1,0\n0,1") is True


def _compressibility_set(kinds=("compressibility", "incompressibility")):
    rs = common.RewardSet()
    for kind in kinds:
        rs = rs.appended(common.RewardEntry(reward=rewards_pkg.load_reward(kind), kind=kind))
    return rs


def test_reward_set_chain_scores_and_limits():
    rs = _compressibility_set()
    assert len(rs) == 2 and rs.patchers == []
    images = torch.rand(3, 32, 32, 3, generator=torch.Generator().manual_seed(0))
    scores = rs.score(images, "")
    assert scores.shape == (3, 2) and torch.equal(scores[:, 0], -scores[:, 1])
    four = _compressibility_set(("compressibility",) * 4)
    name = rs.entries[0].name
    assert four.names == [name, f"{name}#2", f"{name}#3", f"{name}#4"]
    with pytest.raises(ValueError, match="at most 4"):
        four.appended(four.entries[0])
    with pytest.raises(ValueError, match="connect a RewardLoader"):
        common.check_reward_set(common.RewardSet())


def test_reward_count_must_match_the_preferences():
    rs = _compressibility_set()
    prefs = common.build_preferences(3, "simplex grid", 0.5)
    with pytest.raises(ValueError) as info:
        common.check_preferences(prefs, rs)
    message = str(info.value)
    assert "3 weight(s) per vector but 2 reward(s)" in message and "n_rewards = 2" in message
    w = common.check_preferences(common.build_preferences(2, "simplex grid", 0.5), rs)
    assert w.shape == (3, 2)


def test_reward_folder_listing(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    (a / "clip-vit-large-patch14").mkdir(parents=True)
    (a / "clip-vit-large-patch14" / "config.json").write_text("{}")
    (a / "clip-vit-large-patch14" / "model.safetensors").write_bytes(b"")
    (a / "sac+logos+ava1-l14-linearMSE.pth").write_bytes(b"")
    (b / "sub").mkdir(parents=True)
    (b / "sub" / "HPS_v2_compressed.pt").write_bytes(b"")
    (b / "notes.txt").write_text("not a weight file")
    roots = [str(a), str(b), str(tmp_path / "missing")]
    names = common.list_reward_names(roots, list(rewards_pkg.REWARD_KINDS))
    assert names[0] == common.NO_FILE
    assert set(names[1:]) == {
        "clip-vit-large-patch14",
        "sac+logos+ava1-l14-linearMSE.pth",
        "sub/HPS_v2_compressed.pt",
    }
    assert common.find_reward_root("sub/HPS_v2_compressed.pt", roots) == str(b)
    assert common.find_reward_root("nope.pt", roots) is None
    message = common.missing_reward_message("aesthetic", "nope.pt", roots)
    assert "nope.pt" in message and str(a) in message and "extra_model_paths.yaml" in message


def test_query_chunk_from_free_memory():
    gib = 1024**3
    assert common.auto_query_chunk(10 * gib, 1 * gib) == 6  # 60 % of the free memory
    assert common.auto_query_chunk(0.1 * gib, 1 * gib) == 1  # floor
    assert common.auto_query_chunk(1000 * gib, 1 * gib) == 64  # ceiling
    assert common.auto_query_chunk(gib, float("nan")) == 64
    assert common.resolve_query_chunk(5, 1000 * gib, 1.0) == 5  # the widget overrides
    assert common.resolve_query_chunk(0, 10 * gib, gib) == 6


def test_batch_layout():
    assert common.check_batch_layout(12, 6) == 2
    with pytest.raises(ValueError, match="cannot be split over 5"):
        common.check_batch_layout(12, 5)


def test_linked_preference_inputs_are_checked_at_run_time():
    # ComfyUI leaves linked inputs out of VALIDATE_INPUTS; the node must not refuse them there.
    assert ALL["SRSoupPreferenceGrid"].VALIDATE_INPUTS(n_rewards=2, mode="explicit list", step=0.2) is True
