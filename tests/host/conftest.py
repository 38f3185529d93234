"""Host integration tests: the pack loaded into a real ComfyUI checkout, run in-process on the CPU.

They run only when COMFYUI_PATH names a ComfyUI checkout (CI has none: they are skipped with the reason).
The checkout's `nodes.load_custom_node` loads this repository exactly as ComfyUI loads a folder in
`custom_nodes/`. Models are tiny random networks built here (an SD1.5-shaped UNet with 32 channels and
context 64, a TAESD-shaped VAE), exposed through test-only loader nodes so that API-format prompts can be
executed by ComfyUI's own `PromptExecutor`.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import sys
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from srsoup_host_models import make_rewards_root, tiny_conditioning, tiny_unet_model, tiny_vae

REPO_ROOT = Path(__file__).resolve().parents[2]
SKIP_REASON = (
    "host tests need a ComfyUI checkout: set COMFYUI_PATH=/path/to/ComfyUI (e.g. COMFYUI_PATH=/work/comfyui)"
)


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).resolve().parent
    for item in items:
        if here in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.host)
            if not os.environ.get("COMFYUI_PATH"):
                item.add_marker(pytest.mark.skip(reason=SKIP_REASON))


class ServerStub:
    """What PromptExecutor needs from ComfyUI's PromptServer: it records every message."""

    def __init__(self):
        self.client_id = None
        self.last_node_id = None
        self.last_prompt_id = None
        self.sockets_metadata = {}
        self.messages: list[tuple[str, object]] = []

    def send_sync(self, event, data, sid=None):
        self.messages.append((event, data))

    def queue_updated(self):
        pass


CAPTURED: dict[str, dict] = {}
PROGRESS: list[tuple[int, int, object]] = []
PROGRESS_LISTENERS: list = []
PREVIEWS: list[bool] = []


def _test_nodes():
    class TinyModel:
        CATEGORY = "SRSoup/tests"
        FUNCTION = "load"
        RETURN_TYPES = ("MODEL",)

        @classmethod
        def INPUT_TYPES(cls):
            return {
                "required": {"seed": ("INT", {"default": 0, "min": 0, "max": 1000})},
                "optional": {"arch": (["sd15", "sdxl"], {"default": "sd15"})},
            }

        def load(self, seed, arch="sd15"):
            return (tiny_unet_model(seed, arch),)

    class TinyVAE:
        CATEGORY = "SRSoup/tests"
        FUNCTION = "load"
        RETURN_TYPES = ("VAE",)

        @classmethod
        def INPUT_TYPES(cls):
            return {"required": {"seed": ("INT", {"default": 1, "min": 0, "max": 1000})}}

        def load(self, seed):
            return (tiny_vae(seed),)

    class TinyConditioning:
        CATEGORY = "SRSoup/tests"
        FUNCTION = "make"
        RETURN_TYPES = ("CONDITIONING",)

        @classmethod
        def INPUT_TYPES(cls):
            return {
                "required": {"seed": ("INT", {"default": 0, "min": 0, "max": 1000})},
                "optional": {"pooled": ("BOOLEAN", {"default": False})},
            }

        def make(self, seed, pooled=False):
            return (tiny_conditioning(seed, pooled),)

    class Capture:
        """Output node that keeps whatever reaches it, under CAPTURED[key]."""

        CATEGORY = "SRSoup/tests"
        FUNCTION = "capture"
        RETURN_TYPES = ()
        OUTPUT_NODE = True

        @classmethod
        def INPUT_TYPES(cls):
            return {
                "required": {"key": ("STRING", {"default": "out"})},
                "optional": {"a": ("*",), "b": ("*",), "c": ("*",), "d": ("*",)},
            }

        INPUT_IS_LIST = True  # receive list outputs (OUTPUT_IS_LIST) whole

        @classmethod
        def VALIDATE_INPUTS(cls, input_types):
            return True

        def capture(self, key, **values):
            CAPTURED[key[0]] = {k: v[0] if len(v) == 1 else v for k, v in values.items()}
            return {}

    return {
        "SRSoupTestTinyModel": TinyModel,
        "SRSoupTestTinyVAE": TinyVAE,
        "SRSoupTestConditioning": TinyConditioning,
        "SRSoupTestCapture": Capture,
    }


def _progress_hook(value, total, preview, prompt_id=None, node_id=None):
    from comfy_execution.utils import get_executing_context

    ctx = get_executing_context()
    PROGRESS.append((value, total, node_id if node_id is not None else (ctx.node_id if ctx else None)))
    PREVIEWS.append(preview is not None)
    for listener in list(PROGRESS_LISTENERS):
        listener(value, total)


@pytest.fixture(scope="session")
def host(tmp_path_factory):
    comfy_path = os.environ.get("COMFYUI_PATH")
    if not comfy_path:
        pytest.skip(SKIP_REASON)
    comfy_path = str(Path(comfy_path).resolve())
    if not (Path(comfy_path) / "comfy" / "model_management.py").is_file():
        pytest.skip(f"COMFYUI_PATH={comfy_path} is not a ComfyUI checkout (no comfy/model_management.py)")
    # ComfyUI's top-level `nodes` must win over this repository's `nodes/` package.
    if comfy_path in sys.path:
        sys.path.remove(comfy_path)
    sys.path.insert(0, comfy_path)
    stale = sys.modules.get("nodes")
    if stale is not None and not str(getattr(stale, "__file__", "")).startswith(comfy_path):
        del sys.modules["nodes"]

    # Tiny models on a shared 2-core machine: one thread avoids oversubscription (10-30x faster here).
    torch.set_num_threads(1)
    from comfy.cli_args import args

    args.cpu = True
    # ComfyUI's `utils` package first, as main.py does (later imports would bind `utils` to comfy/utils.py).
    importlib.import_module("utils.extra_config")
    import comfy.model_management  # noqa: F401  (after args.cpu)
    import comfy.utils
    import execution

    nodes = importlib.import_module("nodes")  # ComfyUI's own top-level nodes.py (the host), not the pack's

    asyncio.run(nodes.init_extra_nodes(init_custom_nodes=False, init_api_nodes=False))
    assert asyncio.run(nodes.load_custom_node(str(REPO_ROOT))), "ComfyUI failed to load the pack"
    pack = sys.modules[str(REPO_ROOT).replace(".", "_x_")]

    import folder_paths

    # Outputs of SaveImage/PreviewImage go to a temporary folder, never into the checkout.
    folder_paths.set_output_directory(str(tmp_path_factory.mktemp("output")))
    folder_paths.set_temp_directory(str(tmp_path_factory.mktemp("temp")))
    # A second rewards folder (as extra_model_paths.yaml would add) with tiny reward weights.
    rewards_root = make_rewards_root(tmp_path_factory.mktemp("models") / "rewards")
    folder_paths.add_model_folder_path("rewards", str(rewards_root))
    nodes.NODE_CLASS_MAPPINGS.update(_test_nodes())
    comfy.utils.set_progress_bar_global_hook(_progress_hook)

    server = ServerStub()
    executor = execution.PromptExecutor(server, cache_type=False)

    def run(prompt: dict):
        """Validate and execute an API-format prompt; returns (ok, error message or None)."""
        CAPTURED.clear()
        PROGRESS.clear()
        PREVIEWS.clear()
        server.messages.clear()
        prompt_id = str(uuid.uuid4())
        valid = asyncio.run(execution.validate_prompt(prompt_id, prompt, None))
        if not valid[0]:
            return False, _validation_message(valid)
        executor.execute(prompt, prompt_id, extra_data={}, execute_outputs=valid[2])
        if executor.success:
            return True, None
        errors = [d for e, d in executor.status_messages if e in ("execution_error", "execution_interrupted")]
        return False, errors[-1] if errors else "failed"

    return SimpleNamespace(
        nodes=nodes,
        execution=execution,
        pack=pack,
        run=run,
        server=server,
        executor=executor,
        captured=CAPTURED,
        progress=PROGRESS,
        previews=PREVIEWS,
        progress_listeners=PROGRESS_LISTENERS,
        comfy_path=comfy_path,
        rewards_root=rewards_root,
    )


def _validation_message(valid) -> dict:
    _ok, error, _outputs, node_errors = valid
    return {"type": "validation", "error": error, "node_errors": node_errors}
