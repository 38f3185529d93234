"""Start a throw-away ComfyUI server with this pack installed; used by build.py and the host tests.

Nothing here is needed by the pack itself or by the host-free tests. The server runs from a checkout
(``COMFYUI_PATH``) with ``--base-directory`` pointing at a temporary folder, so it never touches the
checkout's own models/, custom_nodes/, input/ or output/:

    base/
      custom_nodes/comfyui-srsoup -> this repository (symlink)
      models/<folder>/<file>       empty placeholder files, only when asked for
      user/ input/ output/ temp/

A CPU-only torch cannot import the registry's CUDA-linked torchvision, which ComfyUI imports; the
launcher declares the two torchvision op schemas first (same trick as tests/conftest.py).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
PACK_FOLDER_NAME = "comfyui-srsoup"
CPU_TORCHVISION_SHIM = REPO_ROOT / "bench" / "cpu_torchvision.py"


def with_cpu_torchvision_shim(script: str) -> str:
    """A subprocess script that first declares torchvision's ops on CPU torch (bench/cpu_torchvision.py)."""
    return f"CPU_TORCHVISION_SHIM = {str(CPU_TORCHVISION_SHIM)!r}\n" + script


LAUNCHER = """\
import os
import runpy
import sys

_shim = runpy.run_path(CPU_TORCHVISION_SHIM)  # kept: it holds the op definitions
_shim["declare_torchvision_ops_on_cpu_torch"]()

comfy_root = sys.argv[1]
sys.argv = [os.path.join(comfy_root, "main.py")] + sys.argv[2:]
sys.path.insert(0, comfy_root)
os.chdir(comfy_root)
runpy.run_path(os.path.join(comfy_root, "main.py"), run_name="__main__")
"""


def find_comfyui() -> Path | None:
    """The ComfyUI checkout named by COMFYUI_PATH, or the one this pack sits in; None if neither."""
    env = os.environ.get("COMFYUI_PATH")
    candidates = [Path(env)] if env else []
    candidates.append(REPO_ROOT.parent.parent)  # ComfyUI/custom_nodes/<pack>
    for path in candidates:
        if (path / "main.py").is_file() and (path / "comfy").is_dir():
            return path.resolve()
    return None


def make_base_dir(root: Path, placeholder_files: Iterable[tuple[str, str]] = ()) -> Path:
    """Create a base directory under ``root`` with the pack linked in and empty model placeholders.

    ``placeholder_files``: (models sub-folder, relative file name) pairs. A name ending in '/' is a
    folder (a transformers folder: it gets an empty config.json).
    """
    base = Path(root)
    for sub in ("custom_nodes", "models", "user", "input", "output", "temp"):
        (base / sub).mkdir(parents=True, exist_ok=True)
    link = base / "custom_nodes" / PACK_FOLDER_NAME
    if not link.exists():
        link.symlink_to(REPO_ROOT, target_is_directory=True)
    for folder, name in placeholder_files:
        target = base / "models" / folder / name
        if name.endswith("/"):
            target.mkdir(parents=True, exist_ok=True)
            (target / "config.json").write_text("{}")
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.touch()
    return base


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_json(url: str, payload=None, timeout: float = 30.0):
    """GET (payload None) or POST JSON; returns (status, decoded JSON or text)."""
    data = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, body = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, body = error.code, error.read()
    try:
        return status, json.loads(body)
    except ValueError:
        return status, body.decode(errors="replace")


@contextlib.contextmanager
def comfy_server(
    comfyui: Path, base_dir: Path, python: str | None = None, timeout: float = 240.0
) -> Iterator[str]:
    """Run ComfyUI (CPU) on a free loopback port; yields its URL; stops it on exit."""
    port = free_port()
    launcher = Path(base_dir) / "launch_comfy.py"
    launcher.write_text(with_cpu_torchvision_shim(LAUNCHER))
    log_path = Path(base_dir) / "server.log"
    command = [
        python or sys.executable,
        str(launcher),
        str(comfyui),
        "--cpu",
        "--listen",
        "127.0.0.1",
        "--port",
        str(port),
        "--disable-auto-launch",
        "--base-directory",
        str(base_dir),
        "--database-url",
        "sqlite:///:memory:",
    ]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"ComfyUI exited with {process.returncode}; log:\n{log_path.read_text()}")
            try:
                status, _ = http_json(url + "/system_stats", timeout=2)
                if status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"ComfyUI did not answer in {timeout:.0f} s; log:\n{log_path.read_text()}")
            time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def object_info(url: str) -> dict:
    status, info = http_json(url + "/object_info", timeout=60)
    if status != 200 or not isinstance(info, dict):
        raise RuntimeError(f"GET /object_info answered {status}")
    return info


def pack_import_failed(base_dir: Path) -> str | None:
    """The server log's complaint if the pack failed to import, else None."""
    log = (Path(base_dir) / "server.log").read_text(errors="replace")
    for line in log.splitlines():
        if "IMPORT FAILED" in line and PACK_FOLDER_NAME in line:
            return line.strip()
    return None
