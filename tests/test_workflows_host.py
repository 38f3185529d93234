"""The example workflows against a live ComfyUI (and its frontend in headless Chromium).

Skipped unless a ComfyUI checkout is found (COMFYUI_PATH, or the pack inside ComfyUI/custom_nodes/).
Each test starts its own CPU server on a free loopback port with a temporary base directory (the pack
linked into its custom_nodes/, empty placeholder files for the model names the workflows use), so
the checkout is never modified.

- node_definitions.json equals what the live host reports (what the host-free tests rely on);
- every API workflow passes the host's own prompt validation (POST /prompt: no node_errors);
- the UI workflows are what the host's Templates browser offers for this pack;
- in Chromium: every UI workflow, dropped on the page as a user does, loads with no missing node
  type and no node in error, the frontend's own graphToPrompt gives exactly the API twin, and a
  screenshot is saved
  (to $SRSOUP_SCREENSHOT_DIR when set, e.g. docs/, else to the test's temporary folder).
  Needs the `playwright` package and a Chromium (CHROMIUM_PATH, else chromium on PATH);
- the two SD1.5 workflows (aesthetic x compressibility; SamplerCustomAdvanced) run end to end, only
  shrunk to CPU size (64x64, 3 steps, 2 queries), on a tiny random checkpoint that the stock loader
  takes for SD1.5 and a tiny aesthetic reward, both under the workflows' file names (~2 min each).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
WORKFLOWS = REPO / "workflows"
NAMES = sorted(p.stem for p in WORKFLOWS.glob("*.json"))
SCREENSHOT_NAMES = {
    "sd15_aesthetic_compressibility": "sd15",
    "sdxl_aesthetic_hpsv2": "sdxl",
    "sd35_aesthetic_pickscore": "sd35",
    "sd15_three_rewards": "three-rewards",
    "sd15_sampler_custom_advanced": "sampler-custom-advanced",
}

pytestmark = [pytest.mark.host, pytest.mark.slow]


def _load_module(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


build = _load_module("srsoup_workflows_build", WORKFLOWS / "build.py")
host = build.load_host()

COMFYUI = host.find_comfyui()
needs_host = pytest.mark.skipif(COMFYUI is None, reason="no ComfyUI checkout: set COMFYUI_PATH")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A server whose models/ folders hold (empty) files with every name the workflows use."""
    if COMFYUI is None:
        pytest.skip("no ComfyUI checkout: set COMFYUI_PATH")
    base = host.make_base_dir(tmp_path_factory.mktemp("comfy-base"), build.placeholder_files())
    with host.comfy_server(COMFYUI, base) as url:
        failure = host.pack_import_failed(base)
        assert failure is None, failure
        yield url


@needs_host
def test_node_definitions_snapshot_matches_the_live_host():
    live = build.refresh_definitions(COMFYUI)
    committed = build.load_definitions()
    assert live["comfyui_version"] == committed["comfyui_version"], (
        "node_definitions.json was taken from another ComfyUI version: "
        "run python workflows/build.py --refresh-definitions"
    )
    assert live["dynamic_combos"] == committed["dynamic_combos"]
    assert sorted(live["nodes"]) == sorted(committed["nodes"])
    for name, definition in live["nodes"].items():
        assert definition == committed["nodes"][name], (
            f"{name} changed: run python workflows/build.py --refresh-definitions"
        )


@needs_host
@pytest.mark.parametrize("name", NAMES)
def test_api_workflow_passes_host_validation(server, name):
    prompt = json.loads((WORKFLOWS / "api" / f"{name}.json").read_text(encoding="utf-8"))
    status, answer = host.http_json(server + "/prompt", {"prompt": prompt, "client_id": "srsoup-tests"})
    # The placeholder model files are empty, so a valid prompt is queued and then fails to load the
    # checkpoint; only validation is under test here. Clear the queue for the next test.
    host.http_json(server + "/interrupt", {})
    host.http_json(server + "/queue", {"clear": True})
    assert status == 200, json.dumps(answer, indent=1)[:4000]
    assert answer.get("node_errors") == {}, answer


@needs_host
def test_workflows_are_served_in_the_templates_browser(server):
    """ComfyUI lists a pack's workflows/*.json as templates: exactly ours, each served unchanged."""
    status, templates = host.http_json(server + "/workflow_templates")
    assert status == 200
    assert sorted(templates.get(host.PACK_FOLDER_NAME, [])) == NAMES
    for name in NAMES:
        url = f"{server}/api/workflow_templates/{host.PACK_FOLDER_NAME}/{name}.json"
        status, served = host.http_json(url)
        assert status == 200
        assert served == json.loads((WORKFLOWS / f"{name}.json").read_text(encoding="utf-8"))


def _chromium() -> str | None:
    path = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or shutil.which("chromium-browser")
    return path if path and Path(path).exists() else None


LOAD_AND_INSPECT = """
async ([workflow, name]) => {
  // Open the file the way a user does: drop it on the page (the frontend's drop handler loads it).
  app.graph.clear();
  const file = new File([JSON.stringify(workflow)], name, {type: 'application/json'});
  const transfer = new DataTransfer();
  transfer.items.add(file);
  document.dispatchEvent(new DragEvent('drop', {dataTransfer: transfer, bubbles: true, cancelable: true}));
  const start = Date.now();
  const current = () => app.graph.nodes ?? app.graph._nodes;
  while (current().length < workflow.nodes.length && Date.now() - start < 20000) {
    await new Promise((r) => setTimeout(r, 100));
  }
  await new Promise((r) => setTimeout(r, 500));
  const nodes = current();
  const registered = LiteGraph.registered_node_types;
  const result = {
    count: nodes.length,
    missing: nodes.filter((n) => !(n.type in registered)).map((n) => n.type),
    errors: nodes.filter((n) => n.has_errors).map((n) => `${n.id} ${n.type}`),
    red: nodes.filter((n) => ['#f00', '#ff0000', 'red'].includes(String(n.color).toLowerCase()))
              .map((n) => `${n.id} ${n.type}`),
    links: Object.keys(app.graph.links instanceof Map ? Object.fromEntries(app.graph.links)
                                                      : app.graph.links).length,
    dialogs: [...document.querySelectorAll('.p-dialog')].map((d) => d.innerText.slice(0, 300)),
    toasts: [...document.querySelectorAll('.p-toast-message')].map((d) => d.innerText.slice(0, 300)),
  };
  // Fit the whole graph into the canvas for the screenshot.
  let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
  for (const n of nodes) {
    x0 = Math.min(x0, n.pos[0]); y0 = Math.min(y0, n.pos[1] - 40);
    x1 = Math.max(x1, n.pos[0] + n.size[0]); y1 = Math.max(y1, n.pos[1] + n.size[1]);
  }
  const canvas = app.canvas.canvas;
  const margin = 40, top = 50;
  const scale = Math.min((canvas.clientWidth - 2 * margin) / (x1 - x0),
                         (canvas.clientHeight - 2 * margin - top) / (y1 - y0), 1.2);
  app.canvas.ds.scale = scale;
  app.canvas.ds.offset = [margin / scale - x0, (margin + top) / scale - y0];
  app.canvas.setDirty(true, true);
  app.canvas.draw(true, true);
  const prompt = await app.graphToPrompt();
  result.output = prompt.output;
  return result;
}
"""


@pytest.fixture(scope="module")
def page(server):
    playwright_api = pytest.importorskip("playwright.sync_api", reason="needs the playwright package")
    chromium = _chromium()
    if chromium is None:
        pytest.skip("no chromium: install it or set CHROMIUM_PATH")
    # The first visit would open the template browser; mark the tutorial as done.
    # The minimap would cover part of the graph in the screenshots.
    host.http_json(server + "/settings", {"Comfy.TutorialCompleted": True, "Comfy.Minimap.Visible": False})
    with playwright_api.sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=chromium,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        try:
            tab = browser.new_page(viewport={"width": 2400, "height": 1260})
            console_errors = []
            tab.on("pageerror", lambda error: console_errors.append(str(error)))
            tab.goto(server, wait_until="domcontentloaded")
            tab.wait_for_function(
                "() => window.app && window.app.graph && window.LiteGraph && "
                "Object.keys(LiteGraph.registered_node_types).length > 100",
                timeout=120_000,
            )
            tab.console_errors = console_errors
            yield tab
        finally:
            browser.close()


@needs_host
@pytest.mark.parametrize("name", NAMES)
def test_ui_workflow_loads_in_the_frontend(page, name, tmp_path):
    workflow = json.loads((WORKFLOWS / f"{name}.json").read_text(encoding="utf-8"))
    api = json.loads((WORKFLOWS / "api" / f"{name}.json").read_text(encoding="utf-8"))
    result = page.evaluate(LOAD_AND_INSPECT, [workflow, f"{name}.json"])
    time.sleep(0.5)
    out_dir = Path(os.environ.get("SRSOUP_SCREENSHOT_DIR") or tmp_path)
    out_dir.mkdir(parents=True, exist_ok=True)
    shot = out_dir / f"screenshot-{SCREENSHOT_NAMES.get(name, name)}.png"
    page.screenshot(path=str(shot))
    print(f"{name}: {result['count']} nodes, {result['links']} links, screenshot {shot}")

    assert result["missing"] == [], f"node types missing in the frontend: {result['missing']}"
    assert result["errors"] == [] and result["red"] == [], result
    assert result["count"] == len(workflow["nodes"])
    assert result["links"] == len(workflow["links"])
    assert not any("missing" in d.lower() for d in result["dialogs"]), result["dialogs"]
    assert not any("error" in t.lower() for t in result["toasts"]), result["toasts"]
    # The frontend's own conversion to the API format equals the committed API twin. Inputs the
    # node does not define are dropped first: frontend extensions add display-only widgets (e.g.
    # PreviewAny's 'preview'), which the host ignores.
    defined = {
        k: {n for section in d["input"].values() for n in section}
        for k, d in build.load_definitions()["nodes"].items()
    }
    frontend = {
        k: {
            "class_type": v["class_type"],
            "inputs": {n: x for n, x in v["inputs"].items() if n in defined[v["class_type"]]},
        }
        for k, v in result["output"].items()
    }
    twin = {k: {"class_type": v["class_type"], "inputs": v["inputs"]} for k, v in api.items()}
    assert frontend == twin
    assert shot.stat().st_size > 10_000


# ---------------------------------------------------------------------------------------------
# Running the SD1.5 workflows end to end, with tiny random models under the real file names

MAKE_TINY_SD15 = r"""
import runpy
import sys

import torch

_shim = runpy.run_path(CPU_TORCHVISION_SHIM)  # kept: it holds the op definitions
_shim["declare_torchvision_ops_on_cpu_torch"]()
comfy_root, target = sys.argv[1], sys.argv[2]
sys.path.insert(0, comfy_root)
from comfy.cli_args import args

args.cpu = True
import comfy.sd
import comfy.sd1_clip
import comfy.supported_models
import comfy.utils
from comfy.ldm.models.autoencoder import AutoencoderKL


def randomize(module, seed):
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in sorted(module.named_parameters()):
            if name.endswith("bias"):
                p.zero_()
            elif "norm" in name and p.ndim == 1:
                p.fill_(1.0)
            else:
                p.copy_(torch.randn(p.shape, generator=generator) * 0.02)


# The loader recognizes SD1.5 by 320 model channels and a 768-wide context; one level and one block
# per stage keep the UNet small. Text encoder and VAE have fixed shapes: full size, random weights.
unet = {
    "image_size": 32, "in_channels": 4, "out_channels": 4, "model_channels": 320,
    "num_res_blocks": [1], "channel_mult": [1], "transformer_depth": [1], "transformer_depth_output": [1, 1],
    "transformer_depth_middle": 1, "context_dim": 768, "num_heads": 8, "num_head_channels": -1,
    "use_linear_in_transformer": False, "adm_in_channels": None, "use_spatial_transformer": True,
    "legacy": False, "use_temporal_attention": False, "use_temporal_resblock": False, "use_checkpoint": False,
}
model = comfy.supported_models.SD15(unet).get_model({})
randomize(model.diffusion_model, 0)
clip = comfy.sd1_clip.SD1ClipModel()
randomize(clip, 1)
vae = AutoencoderKL(ddconfig={
    "double_z": True, "z_channels": 4, "resolution": 256, "in_channels": 3, "out_ch": 3, "ch": 128,
    "ch_mult": [1, 2, 4, 4], "num_res_blocks": 2, "attn_resolutions": [], "dropout": 0.0,
}, embed_dim=4)
randomize(vae, 2)
state = model.state_dict_for_saving(clip.state_dict(), vae.state_dict())
comfy.utils.save_torch_file({k: v.half().contiguous() for k, v in state.items()}, target)
loaded = comfy.sd.load_checkpoint_guess_config(target, output_vae=True, output_clip=True)
assert type(loaded[0].model.model_config).__name__ == "SD15", type(loaded[0].model.model_config)
"""


def _tiny_aesthetic_files(rewards_dir: Path) -> None:
    """A tiny CLIP vision folder and aesthetic head under the names the workflows use."""
    import torch
    from transformers import CLIPConfig, CLIPModel

    config = CLIPConfig(
        text_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2),
        vision_config=dict(
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=1,
            num_attention_heads=2,
            image_size=32,
            patch_size=8,
        ),
        projection_dim=16,
    )
    torch.manual_seed(0)
    folder = rewards_dir / "clip-vit-large-patch14"
    CLIPModel(config).save_pretrained(folder)
    (folder / "preprocessor_config.json").write_text(
        json.dumps(
            {
                "crop_size": {"height": 32, "width": 32},
                "size": {"shortest_edge": 32},
                "image_mean": [0.48145466, 0.4578275, 0.40821073],
                "image_std": [0.26862954, 0.26130258, 0.27577711],
            }
        )
    )
    widths = [16, 24, 12, 8, 4, 1]
    head = {}
    for index, d_in, d_out in zip((0, 2, 4, 6, 7), widths, widths[1:], strict=False):
        head[f"layers.{index}.weight"] = torch.randn(d_out, d_in) / d_in**0.5
        head[f"layers.{index}.bias"] = torch.randn(d_out) * 0.1
    torch.save(head, rewards_dir / "sac+logos+ava1-l14-linearMSE.pth")


@pytest.fixture(scope="module")
def tiny_server(tmp_path_factory):
    """A server with a tiny random checkpoint and aesthetic reward under the SD1.5 workflows' names."""
    if COMFYUI is None:
        pytest.skip("no ComfyUI checkout: set COMFYUI_PATH")
    pytest.importorskip("transformers")
    base = host.make_base_dir(tmp_path_factory.mktemp("comfy-tiny"))
    checkpoint = base / "models" / "checkpoints" / build.SD15_CKPT
    checkpoint.parent.mkdir(parents=True, exist_ok=True)
    made = subprocess.run(
        [sys.executable, "-c", host.with_cpu_torchvision_shim(MAKE_TINY_SD15), str(COMFYUI), str(checkpoint)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert made.returncode == 0, made.stdout[-3000:] + made.stderr[-3000:]
    (base / "models" / "rewards").mkdir(parents=True, exist_ok=True)
    _tiny_aesthetic_files(base / "models" / "rewards")
    with host.comfy_server(COMFYUI, base) as url:
        yield url, base


def _shrink(prompt: dict) -> dict:
    """The same graph with CPU-sized settings: 64x64 images, 3 steps, 2 queries, 1 soup step."""
    for node in prompt.values():
        inputs = node["inputs"]
        if node["class_type"] == "EmptyLatentImage":
            inputs.update(width=64, height=64)
        if "steps" in inputs:
            inputs["steps"] = 3
        if "n_queries" in inputs:
            inputs.update(n_queries=2, soup_steps=1)
    return prompt


def _run(url: str, prompt: dict, timeout: float = 900.0) -> dict:
    status, answer = host.http_json(url + "/prompt", {"prompt": prompt, "client_id": "srsoup-tests"})
    assert status == 200, answer
    prompt_id = answer["prompt_id"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _, history = host.http_json(f"{url}/history/{prompt_id}")
        entry = history.get(prompt_id) if isinstance(history, dict) else None
        if entry and entry.get("status", {}).get("completed") is not None:
            if entry["status"].get("status_str") in ("success", "error"):
                return entry
        time.sleep(1.0)
    raise TimeoutError(f"prompt {prompt_id} did not finish in {timeout:.0f} s")


@needs_host
@pytest.mark.parametrize(
    ("name", "n_images"), [("sd15_aesthetic_compressibility", 6), ("sd15_sampler_custom_advanced", 5)]
)
def test_sd15_workflow_runs_end_to_end(tiny_server, name, n_images):
    """The committed API workflow, only made small, runs in the host: one saved image per weight
    vector, a reward plot and a report table naming both rewards."""
    url, base = tiny_server
    prompt = _shrink(json.loads((WORKFLOWS / "api" / f"{name}.json").read_text(encoding="utf-8")))
    entry = _run(url, prompt)
    messages = [m for m in entry["status"].get("messages", []) if m[0] == "execution_error"]
    assert entry["status"]["status_str"] == "success", json.dumps(messages, indent=1)[:4000]
    by_type = {prompt[k]["class_type"]: v for k, v in entry["outputs"].items()}
    assert len(by_type["SaveImage"]["images"]) == n_images
    saved = [base / "output" / i["subfolder"] / i["filename"] for i in by_type["SaveImage"]["images"]]
    assert all(p.is_file() and p.stat().st_size > 0 for p in saved)
    assert len(by_type["PreviewImage"]["images"]) == 1  # the Pareto plot
    table = json.dumps(by_type["PreviewAny"]).lower()
    assert "aesthetic" in table and "compressibility" in table
    assert f"{n_images} weight vector" in table
