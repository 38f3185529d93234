"""sampler_core's ancestral split against ComfyUI's own samplers (needs a checkout: COMFYUI_PATH).

sampler_core re-implements ComfyUI's eta = 1 ancestral step (it must not import ComfyUI); here the same
noise is fed to ComfyUI's ``sample_euler_ancestral`` (VE form) / ``sample_euler_ancestral_RF`` (flow form)
and to ``mu + s * z`` from ``sampler_core.ancestral``: the trajectories must agree.
"""

import os
import sys
from types import SimpleNamespace

import pytest
import torch

from bench.analytic import default_sigmas, two_reward_problem
from sampler_core.ancestral import ancestral_split, flow_ancestral_sigmas, ve_ancestral_sigmas

pytestmark = pytest.mark.host


@pytest.fixture(scope="module")
def comfy():
    path = os.environ.get("COMFYUI_PATH")
    if not path:
        pytest.skip("COMFYUI_PATH is not set: point it at a ComfyUI checkout to compare with its samplers")
    if path not in sys.path:
        sys.path.insert(0, path)
    try:
        import comfy.cli_args

        if not torch.cuda.is_available():
            comfy.cli_args.args.cpu = True  # ComfyUI's model management would look for a GPU otherwise
        import comfy.model_sampling
        from comfy.k_diffusion import sampling
    except Exception as exc:  # noqa: BLE001 - any import failure means: no usable host here
        pytest.skip(f"cannot import ComfyUI's k_diffusion sampling from {path}: {exc!r}")
    return SimpleNamespace(sampling=sampling, model_sampling=comfy.model_sampling)


class HostModel:
    """The exact analytic denoiser behind the attribute path ComfyUI's sampler inspects."""

    def __init__(self, model, model_sampling):
        self.model = model
        self.inner_model = SimpleNamespace(inner_model=SimpleNamespace(model_sampling=model_sampling))

    def __call__(self, x, sigma, **kwargs):
        return self.model(x, sigma)


@pytest.mark.parametrize("pair", [(14.6, 7.0), (3.0, 2.9), (1.0, 0.03), (0.5, 0.0)])
def test_ve_sigmas_match_get_ancestral_step(comfy, pair):
    down, up = comfy.sampling.get_ancestral_step(torch.tensor(pair[0]), torch.tensor(pair[1]), eta=1.0)
    mine = ve_ancestral_sigmas(*pair)
    assert mine == pytest.approx((float(down), float(up)), rel=1e-6, abs=1e-7)


@pytest.mark.parametrize("form", ["eps", "flow"])
def test_ancestral_trajectory_matches_comfyui(comfy, form):
    prob = two_reward_problem(dim=4)
    sigmas = default_sigmas(form, 12).double()
    g = torch.Generator().manual_seed(0)
    x = prob.mixture.sample_marginal(5, float(sigmas[0]), form, g).double()
    noises = torch.randn(len(sigmas) - 1, *x.shape, generator=g, dtype=torch.float64)
    sampling_cls = comfy.model_sampling.EPS if form == "eps" else comfy.model_sampling.CONST
    host = HostModel(prob.model(form), sampling_cls())
    it = iter(noises)
    theirs = comfy.sampling.sample_euler_ancestral(host, x.clone(), sigmas, disable=True,
                                                   noise_sampler=lambda s, sn: next(it))
    mine = x.clone()
    for i in range(len(sigmas) - 1):
        sigma, sigma_next = float(sigmas[i]), float(sigmas[i + 1])
        mu, s = ancestral_split(mine, prob.mixture.denoise(mine, sigma, form), sigma, sigma_next, form)
        mine = mu + s * noises[i]
    torch.testing.assert_close(mine, theirs, rtol=1e-9, atol=1e-9)


def test_flow_renoise_coefficient_matches_comfyui_formula(comfy):
    """sample_euler_ancestral_RF's sigma_down and renoise coefficient, read off one noisy step."""
    prob = two_reward_problem(dim=4)
    host = HostModel(prob.model("flow"), comfy.model_sampling.CONST())
    x = torch.zeros(1, 4, dtype=torch.float64)
    sigmas = torch.tensor([0.8, 0.35], dtype=torch.float64)  # one step, not to 0: pure noise term visible
    z = torch.ones(1, 4, dtype=torch.float64)
    with_noise = comfy.sampling.sample_euler_ancestral_RF(host, x, sigmas, disable=True,
                                                          noise_sampler=lambda s, sn: z)
    no_noise = comfy.sampling.sample_euler_ancestral_RF(host, x, sigmas, disable=True,
                                                        noise_sampler=lambda s, sn: 0 * z)
    s = flow_ancestral_sigmas(0.8, 0.35)[2]
    torch.testing.assert_close(with_noise - no_noise, s * z, rtol=1e-9, atol=1e-12)
