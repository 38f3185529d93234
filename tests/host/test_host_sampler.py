"""SRSoupKSampler, SamplerSRSoup, RewardScore and the Pareto report run inside ComfyUI's executor."""

from __future__ import annotations

import copy
import math

import pytest
import srsoup_host_models
import torch

pytestmark = pytest.mark.host

B = 2  # input latent batch (seeds)
STEPS = 4
N_QUERIES = 4
SIZE = 32  # pixels; latent 4x4


def sampler_graph(
    kind: str = "eps",
    *,
    batch: int = B,
    step: float = 0.5,
    n_rewards: int = 2,
    pref_rewards: int | None = None,
    mode: str = "simplex grid",
    weights_text: str = "",
    query_chunk: int = 0,
    seed: int = 7,
    score_final: bool = True,
    soup_steps: int = 2,
) -> dict:
    """API-format prompt: tiny model (eps, or patched to v / flow) -> SRSoupKSampler -> capture."""
    g = {
        "model": {"class_type": "SRSoupTestTinyModel", "inputs": {"seed": 0}},
        "vae": {"class_type": "SRSoupTestTinyVAE", "inputs": {"seed": 1}},
        "pos": {"class_type": "SRSoupTestConditioning", "inputs": {"seed": 2}},
        "neg": {"class_type": "SRSoupTestConditioning", "inputs": {"seed": 3}},
        "latent": {
            "class_type": "EmptyLatentImage",
            "inputs": {"width": SIZE, "height": SIZE, "batch_size": batch},
        },
        "r1": {
            "class_type": "SRSoupRewardLoader",
            "inputs": {"kind": "compressibility", "reward_file": "(none)", "device": "auto", "dtype": "auto"},
        },
        "prefs": {
            "class_type": "SRSoupPreferenceGrid",
            "inputs": {
                "n_rewards": pref_rewards or n_rewards,
                "mode": mode,
                "step": step,
                "weights": weights_text,
            },
        },
    }
    last = "r1"
    for i in range(2, n_rewards + 1):
        kind_i = "incompressibility" if i % 2 == 0 else "compressibility"
        g[f"r{i}"] = {
            "class_type": "SRSoupRewardLoader",
            "inputs": {
                "kind": kind_i,
                "reward_file": "(none)",
                "device": "auto",
                "dtype": "auto",
                "rewards": [last, 0],
            },
        }
        last = f"r{i}"
    model_ref = ["model", 0]
    if kind == "v":
        g["ms"] = {
            "class_type": "ModelSamplingDiscrete",
            "inputs": {"model": model_ref, "sampling": "v_prediction", "zsnr": False},
        }
        model_ref = ["ms", 0]
    elif kind == "flow":
        g["ms"] = {"class_type": "ModelSamplingSD3", "inputs": {"model": model_ref, "shift": 3.0}}
        model_ref = ["ms", 0]
    g["sampler"] = {
        "class_type": "SRSoupKSampler",
        "inputs": {
            "model": model_ref,
            "seed": seed,
            "steps": STEPS,
            "cfg": 2.0,
            "scheduler": "normal" if kind != "flow" else "simple",
            "denoise": 1.0,
            "positive": ["pos", 0],
            "negative": ["neg", 0],
            "latent_image": ["latent", 0],
            "vae": ["vae", 0],
            "rewards": [last, 0],
            "preferences": ["prefs", 0],
            "prompt": "a photo of a cat",
            "n_queries": N_QUERIES,
            "soup_steps": soup_steps,
            "query_x0": "tweedie",
            "step_rule": "norm",
            "correction": "paper",
            "query_chunk": query_chunk,
            "score_final": score_final,
        },
    }
    g["pareto"] = {
        "class_type": "SRSoupParetoReport",
        "inputs": {"report": ["sampler", 1], "x_reward": 1, "y_reward": 2, "width": 320, "height": 256},
    }
    g["out"] = {
        "class_type": "SRSoupTestCapture",
        "inputs": {"key": "sampler", "a": ["sampler", 0], "b": ["sampler", 1]},
    }
    g["out_plot"] = {
        "class_type": "SRSoupTestCapture",
        "inputs": {"key": "pareto", "a": ["pareto", 0], "b": ["pareto", 1], "c": ["pareto", 2]},
    }
    return g


def _message(error) -> str:
    return str(
        error.get("exception_message") if isinstance(error, dict) and "exception_message" in error else error
    )


@pytest.mark.parametrize("kind, expected_ms", [("eps", "EPS"), ("v", "V_PREDICTION"), ("flow", "CONST")])
def test_sampler_end_to_end(host, kind, expected_ms):
    ok, error = host.run(sampler_graph(kind))
    assert ok, error
    latent = host.captured["sampler"]["a"]["samples"]
    report = host.captured["sampler"]["b"]
    n_weights = 3  # M=2, step 0.5: (0,1), (.5,.5), (1,0)
    assert latent.shape == (n_weights * B, 4, SIZE // 8, SIZE // 8)
    assert torch.isfinite(latent).all()
    # The seeds differ, the weight vectors differ: no two outputs are the same latent.
    flat = latent.flatten(1)
    assert torch.cdist(flat, flat).add(torch.eye(len(flat)) * 1e9).min() > 0

    assert report["settings"]["parameterization"] == ("flow" if kind == "flow" else "eps")
    assert report["settings"]["model_sampling"] == expected_ms
    assert report["batch_size"] == B and len(report["weights"]) == n_weights
    assert [img["index"] for img in report["images"]] == list(range(n_weights * B))
    assert [(img["weight_index"], img["seed_index"]) for img in report["images"]] == [
        (idx // B, idx % B) for idx in range(n_weights * B)
    ]
    scores = torch.tensor([img["scores"] for img in report["images"]])
    assert scores.shape == (n_weights * B, 2) and torch.isfinite(scores).all()
    # compressibility and incompressibility are exact negatives of each other.
    assert torch.allclose(scores[:, 0], -scores[:, 1])
    assert report["stats"], "the sampler's statistics are missing from the report"

    # One progress update per step, on the sampler node, ending at STEPS / STEPS.
    sampler_updates = [(v, t) for v, t, node in host.progress if node == "sampler"]
    assert sampler_updates[-1] == (STEPS, STEPS)
    assert [v for v, _ in sampler_updates] == sorted(v for v, _ in sampler_updates)
    assert len({v for v, _ in sampler_updates}) == STEPS

    plot, table, json_text = (host.captured["pareto"][k] for k in ("a", "b", "c"))
    assert plot.shape == (1, 256, 320, 3) and 0 <= float(plot.min()) and float(plot.max()) <= 1
    assert "hypervolume" in table and "(0.5, 0.5)" in table
    assert '"reward_names"' in json_text


def test_report_query_counts(host):
    """The report carries the real query counts: the paper's formula N T M (L-M+1) - N K M (L-M), per seed."""
    n, t, m, l_ = N_QUERIES, STEPS - 1, 2, 3  # the last step (to sigma 0) is not guided
    totals = {}
    for soup in (0, STEPS):
        ok, error = host.run(sampler_graph("eps", soup_steps=soup, score_final=False))
        assert ok, error
        report = host.captured["sampler"]["b"]
        stats = report["stats"]
        k = min(soup, t)
        expected = B * (n * t * m * (l_ - m + 1) - n * k * m * (l_ - m))
        assert stats["total_reward_queries"] == expected, stats
        assert stats["paper_formula_queries"] == expected
        assert stats["guided_steps"] == t and stats["n_weights"] == l_ and stats["batch_size"] == B
        totals[soup] = stats["total_reward_queries"]
        assert f"total_reward_queries: {expected}" in host.captured["pareto"]["b"]  # the report's table
    assert totals[STEPS] < totals[0]


@pytest.mark.parametrize("kind", ["eps", "flow"])
def test_output_equals_sampler_core_called_directly(host, kind):
    """The node's LATENT equals srsoup_sample run through ComfyUI's KSAMPLER with the same seed."""
    import comfy.sample
    import comfy.samplers

    from_node_prompt = sampler_graph(kind, query_chunk=3, score_final=False)
    ok, error = host.run(from_node_prompt)
    assert ok, error
    node_latent = host.captured["sampler"]["a"]["samples"]

    core = __import__(host.pack.__name__ + ".sampler_core", fromlist=["srsoup_sample"])
    prefs = __import__(host.pack.__name__ + ".sampler_core.preferences", fromlist=["simplex_grid"])
    rewards_pkg = __import__(host.pack.__name__ + ".rewards", fromlist=["load_reward"])
    model = srsoup_host_models.tiny_unet_model(0)
    if kind == "flow":  # the same patch node the graph uses
        model = host.nodes.NODE_CLASS_MAPPINGS["ModelSamplingSD3"]().patch(model, shift=3.0)[0]
    vae = srsoup_host_models.tiny_vae(1)
    rewards = [
        rewards_pkg.load_reward("compressibility").bind(None),
        rewards_pkg.load_reward("incompressibility").bind(None),
    ]
    weights = prefs.simplex_grid(2, 0.5)
    seed = from_node_prompt["sampler"]["inputs"]["seed"]
    latent = torch.zeros(B, 4, SIZE // 8, SIZE // 8)
    noise = comfy.sample.prepare_noise(latent, seed)
    scheduler = from_node_prompt["sampler"]["inputs"]["scheduler"]
    sigmas = comfy.samplers.calculate_sigmas(model.get_model_object("model_sampling"), scheduler, STEPS).cpu()

    def direct(k_model, x, sig, extra_args=None, callback=None, disable=None):
        base = k_model.inner_model.inner_model
        result = core.srsoup_sample(
            k_model,
            x,
            sig,
            extra_args=extra_args,
            callback=callback,
            disable=disable,
            rewards=rewards,
            weights=weights,
            decode=lambda x0: vae.decode(base.process_latent_out(x0)),
            n_queries=N_QUERIES,
            soup_steps=2,
            parameterization=kind,
            generator=seed,
            query_x0="tweedie",
            step_rule="norm",
            correction="paper",
            query_chunk=3,
        )
        return result.samples

    pos, neg = srsoup_host_models.tiny_conditioning(2), srsoup_host_models.tiny_conditioning(3)
    with torch.inference_mode():
        direct_latent = comfy.sample.sample_custom(
            model, noise, 2.0, comfy.samplers.KSAMPLER(direct), sigmas, pos, neg, latent, seed=seed
        )
    assert direct_latent.shape == node_latent.shape
    assert torch.equal(direct_latent, node_latent), float((direct_latent - node_latent).abs().max())


def test_interrupt_inside_query_loop_then_next_prompt_runs(host):
    import comfy.model_management as mm

    prompt = sampler_graph("eps", query_chunk=1, score_final=False, seed=11)
    fired = []

    def interrupt_after_first_step(value, total):
        if value >= 1 and not fired:
            fired.append(value)
            mm.interrupt_current_processing(True)

    host.progress_listeners.append(interrupt_after_first_step)
    try:
        ok, error = host.run(prompt)
    finally:
        host.progress_listeners.clear()
    assert not ok
    events = [e for e, _ in host.executor.status_messages]
    assert "execution_interrupted" in events, events
    interrupted = dict(host.executor.status_messages)["execution_interrupted"]
    assert interrupted["node_id"] == "sampler"
    # Interrupted inside step 2's query loop: no progress past step 1.
    assert max(v for v, _, node in host.progress if node == "sampler") == 1

    ok, error = host.run(prompt)
    assert ok, error
    assert torch.isfinite(host.captured["sampler"]["a"]["samples"]).all()


@pytest.mark.parametrize("kind", ["eps", "flow"])
def test_sampler_node_in_sampler_custom_advanced(host, kind):
    """SamplerSRSoup + SamplerCustomAdvanced (CFGGuider, BasicScheduler, RandomNoise), then RewardScore."""
    g = sampler_graph(kind)
    inputs = g.pop("sampler")["inputs"]
    g.pop("pareto"), g.pop("out"), g.pop("out_plot")
    model_ref = inputs["model"]
    g["srsoup"] = {
        "class_type": "SamplerSRSoup",
        "inputs": {
            k: inputs[k]
            for k in (
                "vae",
                "rewards",
                "preferences",
                "prompt",
                "n_queries",
                "soup_steps",
                "query_x0",
                "step_rule",
                "correction",
                "query_chunk",
            )
        },
    }
    g["guider"] = {
        "class_type": "CFGGuider",
        "inputs": {"model": model_ref, "positive": ["pos", 0], "negative": ["neg", 0], "cfg": 2.0},
    }
    g["sigmas"] = {
        "class_type": "BasicScheduler",
        "inputs": {"model": model_ref, "scheduler": inputs["scheduler"], "steps": STEPS, "denoise": 1.0},
    }
    g["noise"] = {"class_type": "RandomNoise", "inputs": {"noise_seed": 5}}
    g["adv"] = {
        "class_type": "SamplerCustomAdvanced",
        "inputs": {
            "noise": ["noise", 0],
            "guider": ["guider", 0],
            "sampler": ["srsoup", 0],
            "sigmas": ["sigmas", 0],
            "latent_image": ["latent", 0],
        },
    }
    g["decode"] = {"class_type": "VAEDecode", "inputs": {"samples": ["adv", 0], "vae": ["vae", 0]}}
    g["score"] = {
        "class_type": "SRSoupRewardScore",
        "inputs": {
            "images": ["decode", 0],
            "rewards": inputs["rewards"],
            "prompt": "",
            "float_reward": 1,
            "preferences": ["prefs", 0],
        },
    }
    g["pareto"] = {
        "class_type": "SRSoupParetoReport",
        "inputs": {"report": ["score", 3], "x_reward": 1, "y_reward": 2, "width": 256, "height": 256},
    }
    g["out"] = {
        "class_type": "SRSoupTestCapture",
        "inputs": {"key": "adv", "a": ["adv", 0], "b": ["score", 2], "c": ["score", 3], "d": ["pareto", 0]},
    }
    ok, error = host.run(g)
    assert ok, error
    latent = host.captured["adv"]["a"]["samples"]
    assert latent.shape == (3 * B, 4, SIZE // 8, SIZE // 8) and torch.isfinite(latent).all()
    floats, report = host.captured["adv"]["b"], host.captured["adv"]["c"]
    assert isinstance(floats, list) and len(floats) == 3 * B and all(math.isfinite(f) for f in floats)
    assert [img["weights"] for img in report["images"]][::B] == [[0.0, 1.0], [0.5, 0.5], [1.0, 0.0]]
    assert host.captured["adv"]["d"].shape == (1, 256, 256, 3)


def test_errors_show_on_the_node(host):
    # A reward count that does not match the preferences.
    ok, error = host.run(sampler_graph("eps", n_rewards=2, pref_rewards=3))
    assert not ok and error["node_id"] == "sampler"
    assert "3 weight(s) per vector but 2 reward(s)" in _message(error)

    # A bad preference list: rejected by validation, on the PreferenceGrid node, before anything runs.
    ok, error = host.run(sampler_graph("eps", mode="explicit list", weights_text="0.5, 0.6\n1, 0"))
    assert not ok and error["type"] == "validation"
    node_error = error["node_errors"]["prefs"]["errors"][0]
    assert "sums to 1.1" in node_error["details"] or "sums to 1.1" in node_error["message"], node_error

    # A fifth chained reward.
    ok, error = host.run(sampler_graph("eps", n_rewards=5, pref_rewards=2))
    assert not ok and error["node_id"] == "r5"
    assert "at most 4 rewards" in _message(error)

    # A missing reward file (the default HPSv2 file is not in any rewards folder).
    g = copy.deepcopy(sampler_graph("eps"))
    g["r2"]["inputs"].update(kind="hpsv2", reward_file="(none)")
    ok, error = host.run(g)
    assert not ok and error["node_id"] == "r2"
    message = _message(error)
    assert "HPS_v2_compressed.pt" in message and "not found" in message, message
    assert str(host.rewards_root) in message and "extra_model_paths.yaml" in message
    assert "xswu/HPSv2" in message  # where to get it


def test_img2img_denoise_and_latent_previews(host):
    """denoise < 1 runs the last steps of a longer schedule from the input latent; previews reach the UI."""
    from comfy.cli_args import LatentPreviewMethod, args

    g = sampler_graph("eps", score_final=False)
    g["sampler"]["inputs"]["denoise"] = 0.5
    previous = args.preview_method
    args.preview_method = LatentPreviewMethod.Latent2RGB
    try:
        ok, error = host.run(g)
    finally:
        args.preview_method = previous
    assert ok, error
    latent = host.captured["sampler"]["a"]["samples"]
    assert latent.shape[0] == 3 * B and torch.isfinite(latent).all()
    assert host.captured["sampler"]["b"]["stats"]["steps"] == STEPS
    assert host.previews and all(host.previews), "every step should send a latent preview"


def test_reward_nets_are_managed_by_comfy(host):
    """Reward weights live in ModelPatchers that ComfyUI loads with the UNet, and clones share them."""
    import comfy.model_management as mm

    g = sampler_graph("eps", score_final=False)
    g["r2"]["inputs"].update(kind="clipscore", reward_file="clip-vit-large-patch14")
    ok, error = host.run(g)
    assert ok, error
    holder_type = host.pack.nodes.host.RewardWeights
    loaded = [m for m in mm.loaded_models() if isinstance(getattr(m, "model", None), holder_type)]
    assert loaded, "the reward's ModelPatcher was never loaded by comfy.model_management"
    assert any(type(m.model.reward).__name__ == "CLIPModel" for m in loaded)


def test_sdxl_adm_conditioning_follows_the_enlarged_batch(host):
    """SDXL-class model: the pooled/size ADM vector is tiled with the L*B trajectories and N*L*B queries."""
    g = sampler_graph("eps", score_final=True)
    g["model"]["inputs"]["arch"] = "sdxl"
    g["pos"]["inputs"]["pooled"] = True
    g["neg"]["inputs"]["pooled"] = True
    ok, error = host.run(g)
    assert ok, error
    latent = host.captured["sampler"]["a"]["samples"]
    assert latent.shape == (3 * B, 4, SIZE // 8, SIZE // 8) and torch.isfinite(latent).all()
    report = host.captured["sampler"]["b"]
    assert report["settings"]["parameterization"] == "eps"
    assert all(img["scores"] is not None for img in report["images"])


def test_inpainting_mask(host):
    """A noise mask works with one input latent (its unmasked area stays the input's); B > 1 is refused."""
    g = sampler_graph("eps", batch=1, score_final=False)
    g["mask"] = {"class_type": "SolidMask", "inputs": {"value": 0.0, "width": SIZE, "height": SIZE}}
    g["masked"] = {
        "class_type": "SetLatentNoiseMask",
        "inputs": {"samples": ["latent", 0], "mask": ["mask", 0]},
    }
    g["sampler"]["inputs"]["latent_image"] = ["masked", 0]
    ok, error = host.run(g)
    assert ok, error
    latent = host.captured["sampler"]["a"]["samples"]
    assert latent.shape[0] == 3 and torch.isfinite(latent).all()
    assert float(latent.abs().max()) < 1e-4  # mask 0 everywhere: the empty input latent is kept

    g["latent"]["inputs"]["batch_size"] = 2
    ok, error = host.run(g)
    assert not ok and error["node_id"] == "sampler"
    assert "latent batch of 1" in error["exception_message"]
