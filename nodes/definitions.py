"""The SRSoup node classes (classic ComfyUI node API). Importable without ComfyUI: the host is used
only when a node runs (and for dropdown contents, with fallbacks)."""

from __future__ import annotations

import time

import numpy as np
import torch

from . import host
from .common import (
    CATEGORY,
    CORRECTIONS,
    MAX_REWARDS,
    NO_FILE,
    PREFERENCE_MODES,
    PREFERENCES_TYPE,
    QUERY_X0_MODES,
    REPORT_TYPE,
    REWARDS_TYPE,
    STEP_RULES,
    RewardEntry,
    RewardSet,
    build_preferences,
    check_batch_layout,
    check_preferences,
    check_reward_set,
    find_reward_root,
    list_reward_names,
    missing_reward_message,
)
from .report import build_report, check_report, render_plot, report_to_json, report_to_text

MAX_SEED = 0xFFFFFFFFFFFFFFFF


def _reward_kinds() -> list[str]:
    from ..rewards import REWARD_KINDS

    return list(REWARD_KINDS)


def _srsoup_inputs() -> tuple[dict, dict]:
    """Inputs shared by SRSoupKSampler and SamplerSRSoup: (required, optional)."""
    required = {
        "vae": (
            "VAE",
            {
                "tooltip": "The VAE that decodes the queries for the rewards (unless query_vae is set). "
                "SRSoupKSampler also decodes the final images with it for the report."
            },
        ),
        "rewards": (
            REWARDS_TYPE,
            {"tooltip": "The rewards to steer toward: one RewardLoader, or 2 to 4 chained."},
        ),
        "preferences": (
            PREFERENCES_TYPE,
            {
                "tooltip": "Weight vectors from a PreferenceGrid: one output image "
                "per vector (per seed). Its n_rewards must equal the number of rewards."
            },
        ),
        "prompt": (
            "STRING",
            {
                "multiline": True,
                "default": "",
                "tooltip": "The prompt text for text-aware rewards (CLIPScore, PickScore, HPSv2): "
                "usually the same text as the positive conditioning. Ignored by "
                "image-only rewards (aesthetic, compressibility).",
            },
        ),
        "n_queries": (
            "INT",
            {
                "default": 30,
                "min": 2,
                "max": 1024,
                "tooltip": "Queries per guided step and trajectory (N, at least 2): candidate noises "
                "scored by the rewards to pick the step direction. Paper: 30. Cost grows "
                "linearly with N.",
            },
        ),
        "soup_steps": (
            "INT",
            {
                "default": 20,
                "min": 0,
                "max": 10000,
                "tooltip": "Number of first guided steps (K) in which mixed weight vectors reuse "
                "the single-reward trajectories' queries (the soup) instead of "
                "querying all rewards themselves. 0 = plain weighted sum (most "
                "queries); >= steps = pure soup (fewest). Paper: 20 of 50.",
            },
        ),
    }
    optional = {
        "query_vae": (
            "VAE",
            {
                "tooltip": "Optional small VAE (e.g. TAESD from models/vae_approx) used only to "
                "decode the queries; much faster than the full VAE."
            },
        ),
        "query_x0": (
            list(QUERY_X0_MODES),
            {
                "default": "tweedie",
                "tooltip": "How a query's clean image is estimated: 'tweedie' = "
                "one more model call per query (paper); 'reuse' = "
                "reuse the step's prediction (no extra model calls).",
            },
        ),
        "step_rule": (
            list(STEP_RULES),
            {
                "default": "norm",
                "tooltip": "'norm': the guided direction gets the length of a noise "
                "draw (official code); 'paper': the paper's literal "
                "mean + beta * g update (shorter steps).",
            },
        ),
        "correction": (
            list(CORRECTIONS),
            {
                "default": "paper",
                "tooltip": "Soup interpolation of queries made around another "
                "trajectory: 'paper' (Eq. 11), 'official' (authors' "
                "code) or 'none'.",
            },
        ),
        "query_chunk": (
            "INT",
            {
                "default": 0,
                "min": 0,
                "max": 4096,
                "tooltip": "Maximum queries per model/decode/reward call. 0 = automatic, "
                "sized to the free memory.",
            },
        ),
    }
    return required, optional


class RewardLoader:
    DESCRIPTION = (
        "Load a reward model from models/rewards/ for SRSoup. Chain loaders (rewards -> rewards) "
        "to combine 2 to 4 rewards; the chain order is the order of the preference weights."
    )
    CATEGORY = CATEGORY
    FUNCTION = "load"
    RETURN_TYPES = (REWARDS_TYPE,)
    RETURN_NAMES = ("rewards",)
    OUTPUT_TOOLTIPS = ("The incoming reward set with this reward appended.",)

    @classmethod
    def INPUT_TYPES(cls):
        kinds = _reward_kinds()
        return {
            "required": {
                "kind": (
                    kinds,
                    {
                        "default": "compressibility" if "compressibility" in kinds else kinds[0],
                        "tooltip": "Which reward: compressibility needs no file; aesthetic needs the "
                        "LAION head file and a CLIP ViT-L/14 folder next to it; PickScore "
                        "and CLIPScore a transformers folder; HPSv2 its .pt file.",
                    },
                ),
                "reward_file": (
                    list_reward_names(host.reward_roots(), kinds),
                    {
                        "default": NO_FILE,
                        "tooltip": "File or folder in models/rewards/ (or a folder mapped as 'rewards' "
                        "in extra_model_paths.yaml). '(none)': the kind's default name, "
                        "or no file for compressibility. Ignored by weight-free kinds.",
                    },
                ),
                "device": (
                    ["auto", "cpu"],
                    {
                        "default": "auto",
                        "tooltip": "'auto': ComfyUI's device, loaded with the UNet and "
                        "offloaded when memory is short; 'cpu': always on the CPU.",
                    },
                ),
                "dtype": (
                    ["auto", "float32", "float16", "bfloat16"],
                    {
                        "default": "auto",
                        "tooltip": "Weight precision. 'auto': float16 on a GPU that supports it, "
                        "else float32.",
                    },
                ),
            },
            "optional": {
                "rewards": (
                    REWARDS_TYPE,
                    {
                        "tooltip": "Optional reward set from another RewardLoader to chain "
                        f"onto (up to {MAX_REWARDS} rewards in all)."
                    },
                ),
            },
        }

    def load(self, kind, reward_file, device, dtype, rewards=None):
        from ..rewards import REWARD_KINDS, RewardFileMissingError, RewardLoadError, load_reward

        incoming = rewards if rewards is not None else RewardSet()
        if not isinstance(incoming, RewardSet):
            raise ValueError("the 'rewards' input must come from another RewardLoader")
        incoming.check_room()  # before loading anything
        if kind not in REWARD_KINDS:
            raise ValueError(f"unknown reward kind {kind!r}; choose one of {', '.join(REWARD_KINDS)}")
        spec = REWARD_KINDS[kind]
        roots = host.reward_roots()
        load_device, offload_device = host.reward_devices(device)
        torch_dtype = host.reward_dtype(dtype, load_device)
        path, root, file_label = None, None, None
        if spec.needs_weights:
            name = spec.default_name if reward_file in (NO_FILE, "", None) else reward_file
            root = find_reward_root(name, roots)
            if root is None:
                raise ValueError(missing_reward_message(kind, name, roots, f"Expected: {spec.source}"))
            path, file_label = name, name
        try:
            reward = load_reward(kind, path=path, models_root=root, device=offload_device, dtype=torch_dtype)
        except RewardFileMissingError as exc:
            raise ValueError(missing_reward_message(kind, str(path), roots, str(exc))) from exc
        except RewardLoadError as exc:
            raise ValueError(f"RewardLoader ({kind}): could not load '{path}': {exc}") from exc
        module = getattr(reward, "module", None)
        patcher = host.make_patcher(module, load_device, offload_device) if module is not None else None
        return (incoming.appended(RewardEntry(reward=reward, patcher=patcher, kind=kind, file=file_label)),)


class PreferenceGrid:
    DESCRIPTION = (
        "Preference weight vectors for SRSoup: one output image per vector. A regular grid on the "
        "simplex, the paper's sets, or your own list. Weights are in reward chain order."
    )
    CATEGORY = CATEGORY
    FUNCTION = "build"
    RETURN_TYPES = (PREFERENCES_TYPE, "INT", "STRING")
    RETURN_NAMES = ("preferences", "count", "summary")
    OUTPUT_TOOLTIPS = (
        "The weight vectors (L x M).",
        "L, the number of weight vectors.",
        "The weight vectors as text, one per line.",
    )

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "n_rewards": (
                    "INT",
                    {
                        "default": 2,
                        "min": 1,
                        "max": MAX_REWARDS,
                        "tooltip": "M: how many rewards the vectors weigh; must equal the number "
                        "of chained RewardLoaders.",
                    },
                ),
                "mode": (
                    list(PREFERENCE_MODES),
                    {
                        "default": "simplex grid",
                        "tooltip": "'simplex grid': every vector whose entries are "
                        "multiples of step; 'explicit list': the vectors "
                        "typed in 'weights'; 'paper weights': the paper's "
                        "6 (M=2) or 13 (M=3) vectors.",
                    },
                ),
                "step": (
                    "FLOAT",
                    {
                        "default": 0.2,
                        "min": 0.01,
                        "max": 1.0,
                        "step": 0.05,
                        "tooltip": "Grid spacing for 'simplex grid'; 1/step must be a whole number "
                        "(0.5, 0.25, 0.2, 0.1). M=2, step 0.2 gives 6 vectors.",
                    },
                ),
                "weights": (
                    "STRING",
                    {
                        "multiline": True,
                        "default": "1, 0\n0.5, 0.5\n0, 1",
                        "tooltip": "For 'explicit list': one vector per line (or ';'-separated), "
                        "numbers separated by commas or spaces, each line summing "
                        "to 1; fractions like 1/3 are allowed; '#' starts a comment.",
                    },
                ),
            }
        }

    @classmethod
    def VALIDATE_INPUTS(cls, n_rewards=None, mode=None, step=None, weights=None):
        # A linked input has no value at validation time: it is checked when the node runs.
        if n_rewards is None or mode is None or step is None or weights is None:
            return True
        try:
            build_preferences(n_rewards, mode, step, weights)
        except ValueError as exc:
            return str(exc)
        return True

    def build(self, n_rewards, mode, step, weights):
        prefs = build_preferences(n_rewards, mode, step, weights)
        return (prefs, len(prefs), "\n".join(prefs.labels))


class SRSoupKSampler:
    DESCRIPTION = (
        "Sample Reward Soups: one run, one image per preference weight vector (per seed), all from "
        "the same noise, each steered toward its weighted mix of the rewards. Output batch order: "
        "weight-major, seed fastest (index l*B + b)."
    )
    CATEGORY = CATEGORY
    FUNCTION = "sample"
    RETURN_TYPES = ("LATENT", REPORT_TYPE)
    RETURN_NAMES = ("latent", "report")
    OUTPUT_TOOLTIPS = (
        "L*B latents: index l*B + b is weight vector l applied to input latent (seed) b.",
        "Weights, per-image reward scores (with score_final), query counts and time: feed it "
        "to SRSoup Pareto Report.",
    )

    @classmethod
    def INPUT_TYPES(cls):
        req, opt = _srsoup_inputs()
        required = {
            "model": (
                "MODEL",
                {
                    "tooltip": "The diffusion model: eps, v-prediction or flow (SD1.5, SD2-v, SDXL, "
                    "SD3.5, Flux), detected from its sampling object."
                },
            ),
            "seed": (
                "INT",
                {
                    "default": 0,
                    "min": 0,
                    "max": MAX_SEED,
                    "control_after_generate": True,
                    "tooltip": "Seed of the initial noise (shared by every weight vector) and of the "
                    "query noise.",
                },
            ),
            "steps": (
                "INT",
                {
                    "default": 50,
                    "min": 1,
                    "max": 10000,
                    "tooltip": "Sampling steps (T). Every step but the last is guided. Paper: 50.",
                },
            ),
            "cfg": (
                "FLOAT",
                {
                    "default": 5.0,
                    "min": 0.0,
                    "max": 100.0,
                    "step": 0.1,
                    "round": 0.01,
                    "tooltip": "Classifier-free guidance scale (paper: 5.0; Flux: 1.0).",
                },
            ),
            "scheduler": (
                host.scheduler_names(),
                {
                    "default": "normal",
                    "tooltip": "Noise schedule (ComfyUI's schedulers). SRSoup "
                    "steps are ancestral (stochastic) steps.",
                },
            ),
            "denoise": (
                "FLOAT",
                {
                    "default": 1.0,
                    "min": 0.01,
                    "max": 1.0,
                    "step": 0.01,
                    "tooltip": "Below 1: start from latent_image partly noised (img2img), running "
                    "the last `steps` steps of a longer schedule.",
                },
            ),
            "positive": ("CONDITIONING", {"tooltip": "Positive conditioning (the prompt's encoding)."}),
            "negative": ("CONDITIONING", {"tooltip": "Negative conditioning."}),
            "latent_image": (
                "LATENT",
                {"tooltip": "Starting latent; a batch of B gives B seeds (B*L outputs)."},
            ),
        }
        required.update(req)
        optional = dict(opt)
        optional["score_final"] = (
            "BOOLEAN",
            {
                "default": True,
                "tooltip": "Decode the final latents with the full VAE and score "
                "them with every reward for the report (costs L*B "
                "decodes).",
            },
        )
        return {"required": required, "optional": optional}

    def sample(
        self,
        model,
        seed,
        steps,
        cfg,
        scheduler,
        denoise,
        positive,
        negative,
        latent_image,
        vae,
        rewards,
        preferences,
        prompt,
        n_queries,
        soup_steps,
        query_vae=None,
        query_x0="tweedie",
        step_rule="norm",
        correction="paper",
        query_chunk=0,
        score_final=True,
    ):
        import comfy.model_management as mm
        import comfy.sample
        import comfy.utils
        import latent_preview

        rewards = check_reward_set(rewards)
        weights = check_preferences(preferences, rewards)
        latent = comfy.sample.fix_empty_latent_channels(model, latent_image["samples"])
        batch = int(latent.shape[0])
        noise_mask = latent_image.get("noise_mask")
        if noise_mask is not None and batch > 1:
            raise ValueError(
                "SRSoup with a noise mask (inpainting) needs a latent batch of 1; got "
                f"{batch}. Use one latent, or drop the mask"
            )
        noise = comfy.sample.prepare_noise(latent, seed, latent_image.get("batch_index"))
        sigmas = host.compute_sigmas(model, scheduler, steps, denoise)

        record: dict = {}
        function = host.make_srsoup_sampler_function(
            vae=vae,
            query_vae=query_vae,
            rewards=rewards,
            weights=weights,
            prompt=prompt,
            n_queries=n_queries,
            soup_steps=soup_steps,
            query_x0=query_x0,
            step_rule=step_rule,
            correction=correction,
            query_chunk=query_chunk,
            record=record,
        )
        sampler = host.make_ksampler(function)

        # Load the VAEs and reward nets together with the UNet, up front (see COMFYUI.md).
        work_model = model.clone()
        extra = [vae.patcher] + ([query_vae.patcher] if query_vae is not None else []) + rewards.patchers
        work_model.set_additional_models("srsoup", extra)

        callback = latent_preview.prepare_callback(work_model, sigmas.shape[-1] - 1)
        disable_pbar = not comfy.utils.PROGRESS_BAR_ENABLED
        start = time.perf_counter()
        samples = comfy.sample.sample_custom(
            work_model,
            noise,
            cfg,
            sampler,
            sigmas,
            positive,
            negative,
            latent,
            noise_mask=noise_mask,
            callback=callback,
            disable_pbar=disable_pbar,
            seed=seed,
        )
        sampling_time = time.perf_counter() - start
        expected = batch * int(weights.shape[0])
        if samples.shape[0] != expected:
            raise RuntimeError(f"SRSoup returned {samples.shape[0]} latents, expected {expected} (L*B)")

        scores, scoring_time = None, None
        if score_final:
            start = time.perf_counter()
            mm.throw_exception_if_processing_interrupted()
            images = vae.decode(samples)
            if images.ndim == 5:
                images = images.reshape(-1, *images.shape[-3:])
            host.load_rewards_for_scoring(rewards)
            scores = rewards.score(images[..., :3].float(), prompt)
            scoring_time = time.perf_counter() - start

        settings = {
            "seed": seed,
            "steps": steps,
            "cfg": cfg,
            "scheduler": scheduler,
            "denoise": denoise,
            "n_queries": n_queries,
            "soup_steps": soup_steps,
            "query_x0": query_x0,
            "step_rule": step_rule,
            "correction": correction,
            "query_chunk_setting": query_chunk,
        }
        settings.update(record.get("info", {}))
        timing = {"sampling": sampling_time}
        if scoring_time is not None:
            timing["final_scoring"] = scoring_time
        report = build_report(
            source="SRSoupKSampler",
            reward_names=rewards.names,
            weights=weights,
            batch_size=batch,
            scores=scores,
            stats=record.get("stats", {}),
            settings=settings,
            timing=timing,
            prompt=prompt,
        )
        out = {k: v for k, v in latent_image.items() if k not in ("samples", "batch_index", "noise_mask")}
        out["samples"] = samples
        return (out, report)


class SamplerSRSoup:
    DESCRIPTION = (
        "SRSoup as a SAMPLER for SamplerCustomAdvanced: works with any guider, sigmas and noise. "
        "The output batch holds L*B latents (index l*B + b). For scores, decode and use RewardScore "
        "with the same preferences."
    )
    CATEGORY = CATEGORY
    FUNCTION = "get_sampler"
    RETURN_TYPES = ("SAMPLER",)
    RETURN_NAMES = ("sampler",)
    OUTPUT_TOOLTIPS = ("Plug into SamplerCustomAdvanced's sampler input.",)

    @classmethod
    def INPUT_TYPES(cls):
        req, opt = _srsoup_inputs()
        return {"required": req, "optional": opt}

    def get_sampler(
        self,
        vae,
        rewards,
        preferences,
        prompt,
        n_queries,
        soup_steps,
        query_vae=None,
        query_x0="tweedie",
        step_rule="norm",
        correction="paper",
        query_chunk=0,
    ):
        rewards = check_reward_set(rewards)
        weights = check_preferences(preferences, rewards)
        function = host.make_srsoup_sampler_function(
            vae=vae,
            query_vae=query_vae,
            rewards=rewards,
            weights=weights,
            prompt=prompt,
            n_queries=n_queries,
            soup_steps=soup_steps,
            query_x0=query_x0,
            step_rule=step_rule,
            correction=correction,
            query_chunk=query_chunk,
            record=None,
        )
        return (host.make_ksampler(function),)


class RewardScore:
    DESCRIPTION = (
        "Score any IMAGE batch with a reward set (and the prompt for text-aware rewards). With "
        "preferences, images are read in SRSoup's order (index l*B + b) and labelled with their "
        "weight vectors."
    )
    CATEGORY = CATEGORY
    FUNCTION = "score"
    RETURN_TYPES = ("STRING", "STRING", "FLOAT", REPORT_TYPE)
    RETURN_NAMES = ("table", "json", "scores", "report")
    OUTPUT_IS_LIST = (False, False, True, False)
    OUTPUT_TOOLTIPS = (
        "Per-image scores as a text table.",
        "Per-image scores as JSON (the report).",
        "One float per image: the score of reward number 'float_reward'.",
        "A report for SRSoup Pareto Report.",
    )

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "images": ("IMAGE", {"tooltip": "Images to score (any batch)."}),
                "rewards": (REWARDS_TYPE, {"tooltip": "Reward set from RewardLoader(s)."}),
                "prompt": (
                    "STRING",
                    {
                        "multiline": True,
                        "default": "",
                        "tooltip": "Prompt text for text-aware rewards; ignored by image-only ones.",
                    },
                ),
                "float_reward": (
                    "INT",
                    {
                        "default": 1,
                        "min": 1,
                        "max": MAX_REWARDS,
                        "tooltip": "Which reward (1 = first in the chain) the 'scores' float output carries.",
                    },
                ),
            },
            "optional": {
                "preferences": (
                    PREFERENCES_TYPE,
                    {
                        "tooltip": "Optional: the weight vectors the images were "
                        "sampled with (SRSoup order l*B + b), to label "
                        "them and plot a Pareto front."
                    },
                ),
            },
        }

    def score(self, images, rewards, prompt, float_reward, preferences=None):
        rewards = check_reward_set(rewards)
        if not 1 <= float_reward <= len(rewards):
            raise ValueError(
                f"float_reward is {float_reward} but the set has {len(rewards)} reward(s) "
                f"({', '.join(rewards.names)}): pick 1 to {len(rewards)}"
            )
        n = int(images.shape[0])
        if preferences is not None:
            weights = check_preferences(preferences, rewards)
            batch = check_batch_layout(n, int(weights.shape[0]))
        else:
            weights = torch.full((1, len(rewards)), 1.0 / len(rewards))
            batch = n
        start = time.perf_counter()
        host.load_rewards_for_scoring(rewards)
        scores = rewards.score(images[..., :3].float(), prompt)
        report = build_report(
            source="RewardScore",
            reward_names=rewards.names,
            weights=weights,
            batch_size=batch,
            scores=scores,
            timing={"scoring": time.perf_counter() - start},
            prompt=prompt,
            settings={"weights_given": preferences is not None},
        )
        floats = [float(v) for v in scores[:, float_reward - 1].tolist()]
        return (report_to_text(report), report_to_json(report), floats, report)


class SRSoupParetoReport:
    DESCRIPTION = (
        "Plot and tabulate an SRSoup report: every image's reward point, the mean point per weight "
        "vector (labelled), hypervolume, query counts and time."
    )
    CATEGORY = CATEGORY
    FUNCTION = "report"
    RETURN_TYPES = ("IMAGE", "STRING", "STRING")
    RETURN_NAMES = ("plot", "table", "json")
    OUTPUT_TOOLTIPS = ("The reward plot as an image.", "The report as a text table.", "The report as JSON.")

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "report": (
                    REPORT_TYPE,
                    {"tooltip": "From SRSoupKSampler (with score_final) or RewardScore."},
                ),
                "x_reward": (
                    "INT",
                    {
                        "default": 1,
                        "min": 1,
                        "max": MAX_REWARDS,
                        "tooltip": "Reward on the horizontal axis (1 = first in the chain).",
                    },
                ),
                "y_reward": (
                    "INT",
                    {
                        "default": 2,
                        "min": 1,
                        "max": MAX_REWARDS,
                        "tooltip": "Reward on the vertical axis. With a single reward the plot shows "
                        "it against the weight vector's index.",
                    },
                ),
                "width": (
                    "INT",
                    {"default": 768, "min": 256, "max": 4096, "step": 8, "tooltip": "Plot width in pixels."},
                ),
                "height": (
                    "INT",
                    {"default": 512, "min": 256, "max": 4096, "step": 8, "tooltip": "Plot height in pixels."},
                ),
            }
        }

    def report(self, report, x_reward, y_reward, width, height):
        report = check_report(report)
        plot = render_plot(report, x_reward - 1, y_reward - 1, width, height)
        image = torch.from_numpy(np.array(plot, dtype=np.uint8)).float().div(255.0).unsqueeze(0)
        return (image, report_to_text(report), report_to_json(report))


NODE_CLASS_MAPPINGS = {
    "SRSoupRewardLoader": RewardLoader,
    "SRSoupPreferenceGrid": PreferenceGrid,
    "SRSoupKSampler": SRSoupKSampler,
    "SamplerSRSoup": SamplerSRSoup,
    "SRSoupRewardScore": RewardScore,
    "SRSoupParetoReport": SRSoupParetoReport,
}

NODE_DISPLAY_NAME_MAPPINGS = {
    "SRSoupRewardLoader": "Reward Loader (SRSoup)",
    "SRSoupPreferenceGrid": "Preference Grid (SRSoup)",
    "SRSoupKSampler": "SRSoup KSampler",
    "SamplerSRSoup": "SamplerSRSoup",
    "SRSoupRewardScore": "Reward Score (SRSoup)",
    "SRSoupParetoReport": "Pareto Report (SRSoup)",
}
