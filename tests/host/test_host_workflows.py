"""The shipped API-format workflows (workflows/api/*.json), executed in-process by ComfyUI on the CPU.

Only the model loaders are swapped for tiny random ones (checkpoint -> tiny UNet + tiny TAESD-shaped VAE,
CLIP text encoders -> random conditioning, with ModelSamplingSD3 for the flow checkpoints), sizes and
step counts are shrunk; every SRSoup node, reward file name, preference setting, VAE decode, save and
preview node runs as shipped. Learned rewards load from a rewards folder with tiny weights under the
real file names (HPSv2 needs its ViT-H architecture, so HPSv2 loaders are pointed at CLIPScore instead).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import torch

pytestmark = pytest.mark.host

API_DIR = Path(__file__).resolve().parents[2] / "workflows" / "api"
WORKFLOWS = sorted(API_DIR.glob("*.json"))
FLOW_CHECKPOINTS = ("sd3", "flux")


def shrink(prompt: dict) -> tuple[dict, bool]:
    """The workflow with tiny models and a few steps; returns (prompt, is_flow)."""
    g = copy.deepcopy(prompt)
    is_flow = False
    renames: dict[tuple[str, int], list] = {}
    for node_id, node in list(g.items()):
        ct, inputs = node["class_type"], node["inputs"]
        if ct == "CheckpointLoaderSimple":
            is_flow = any(tag in inputs["ckpt_name"].lower() for tag in FLOW_CHECKPOINTS)
            g[node_id] = {"class_type": "SRSoupTestTinyModel", "inputs": {"seed": 0}}
            g[f"{node_id}_vae"] = {"class_type": "SRSoupTestTinyVAE", "inputs": {"seed": 1}}
            renames[(node_id, 2)] = [f"{node_id}_vae", 0]
            if is_flow:
                g[f"{node_id}_ms"] = {
                    "class_type": "ModelSamplingSD3",
                    "inputs": {"model": [node_id, 0], "shift": 3.0},
                }
                renames[(node_id, 0)] = [f"{node_id}_ms", 0]
        elif ct in ("CLIPTextEncode",):
            g[node_id] = {"class_type": "SRSoupTestConditioning", "inputs": {"seed": 2 + len(node_id)}}
        elif ct in ("TripleCLIPLoader", "DualCLIPLoader", "CLIPLoader"):
            del g[node_id]
        elif ct == "VAELoader":
            g[node_id] = {"class_type": "SRSoupTestTinyVAE", "inputs": {"seed": 4}}
        elif ct in ("EmptyLatentImage", "EmptySD3LatentImage"):
            inputs.update(width=32, height=32)
        elif ct == "SRSoupKSampler":
            inputs.update(steps=3, n_queries=3, soup_steps=min(inputs["soup_steps"], 1))
        elif ct == "SamplerSRSoup":
            inputs.update(n_queries=3, soup_steps=min(inputs["soup_steps"], 1))
        elif ct == "BasicScheduler":
            inputs.update(steps=3)
        elif ct == "SRSoupRewardLoader" and inputs["kind"].startswith("hpsv2"):
            inputs.update(kind="clipscore", reward_file="clip-vit-large-patch14")
    for node_id, node in g.items():
        if node_id.endswith("_ms"):
            continue  # the patch node itself takes the tiny model
        for name, value in node["inputs"].items():
            if isinstance(value, list) and len(value) == 2 and (value[0], value[1]) in renames:
                node["inputs"][name] = renames[(value[0], value[1])]
    return g, is_flow


def test_the_workflows_are_there():
    assert len(WORKFLOWS) >= 5, "workflows/api/ should hold the example workflows"


@pytest.mark.parametrize("path", WORKFLOWS, ids=[p.stem for p in WORKFLOWS])
def test_api_workflow_runs_in_process(host, path):
    prompt, is_flow = shrink(json.loads(path.read_text()))
    sampler_id = next(
        (i for i, n in prompt.items() if n["class_type"] in ("SRSoupKSampler", "SamplerCustomAdvanced")), None
    )
    assert sampler_id is not None
    pareto_id = next(i for i, n in prompt.items() if n["class_type"] == "SRSoupParetoReport")
    prompt["capture"] = {
        "class_type": "SRSoupTestCapture",
        "inputs": {"key": "wf", "a": [sampler_id, 0], "b": [pareto_id, 1], "c": [pareto_id, 0]},
    }

    ok, error = host.run(prompt)
    assert ok, error
    # Preferences decide L; the latent batch (B) is 1 in every example workflow.
    prefs = next(n["inputs"] for n in prompt.values() if n["class_type"] == "SRSoupPreferenceGrid")
    pref_node = host.nodes.NODE_CLASS_MAPPINGS["SRSoupPreferenceGrid"]()
    n_weights = pref_node.build(prefs["n_rewards"], prefs["mode"], prefs["step"], prefs["weights"])[1]
    latent = host.captured["wf"]["a"]["samples"]
    assert latent.shape[0] == n_weights and torch.isfinite(latent).all()
    table, plot = host.captured["wf"]["b"], host.captured["wf"]["c"]
    assert f"{n_weights} weight vector(s) x 1 seed(s)" in table
    assert plot.ndim == 4 and plot.shape[-1] == 3
    # Every image was scored (by the sampler's score_final, or by RewardScore) and the front measured.
    image_rows = table.split("mean over seeds")[0]
    assert "nan" not in image_rows and "hypervolume" in table
    if prompt[sampler_id]["class_type"] == "SRSoupKSampler":
        assert "total_reward_queries" in table  # the sampler's statistics reach the report
        expected = "parameterization flow, model_sampling CONST" if is_flow else "parameterization eps"
        assert expected in table
    # The SaveImage node wrote one PNG per image.
    saved = [n for n in host.executor.history_result["outputs"].values() if "images" in n]
    assert any(len(entry["images"]) == n_weights for entry in saved), saved


def test_missing_and_mismatched_reward_files_error_on_the_loader(host):
    base, _ = shrink(json.loads((API_DIR / "sd15_aesthetic_compressibility.json").read_text()))
    loader_id = next(i for i, n in base.items() if n["inputs"].get("kind") == "aesthetic")

    # A head file that is not there: ComfyUI's own validation refuses the value on the loader.
    g = copy.deepcopy(base)
    g[loader_id]["inputs"]["reward_file"] = "no-such-head.pth"
    ok, error = host.run(g)
    assert not ok and loader_id in error["node_errors"], error

    # A file that was listed but has gone since: the loader says where it looked and what to do.
    moved = host.rewards_root / "sac+logos+ava1-l14-linearMSE.pth"
    backup = moved.with_suffix(".bak")
    moved.rename(backup)
    try:
        default = copy.deepcopy(base)
        default[loader_id]["inputs"]["reward_file"] = "(none)"
        ok, error = host.run(default)
    finally:
        backup.rename(moved)
    assert not ok and error["node_id"] == loader_id
    message = error["exception_message"]
    assert "sac+logos+ava1-l14-linearMSE.pth" in message and "not found" in message
    assert "extra_model_paths.yaml" in message

    # A text-aware reward without the prompt text.
    g = copy.deepcopy(base)
    g[loader_id]["inputs"].update(kind="clipscore", reward_file="clip-vit-large-patch14")
    sampler_id = next(i for i, n in g.items() if n["class_type"] == "SRSoupKSampler")
    g[sampler_id]["inputs"]["prompt"] = ""
    ok, error = host.run(g)
    assert not ok and error["node_id"] == sampler_id
    assert "'prompt' is empty" in error["exception_message"]
