"""Test set-up shared by every test module.

- The repository root goes on sys.path so `import sampler_core` / `import rewards` work as documented.
- Sockets to anything but loopback are refused: rewards must load offline, and a test that
  tries the network fails loudly instead of hanging.
- On a CPU-only torch the registry's torchvision is CUDA-linked and fails to import
  ("operator torchvision::nms does not exist"). open_clip and ComfyUI import torchvision but never
  run those ops, so the two op schemas are declared here, before anything imports torchvision.
"""

import ipaddress
import socket
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from bench.cpu_torchvision import declare_torchvision_ops_on_cpu_torch  # noqa: E402

declare_torchvision_ops_on_cpu_torch()


class NetworkAccessError(RuntimeError):
    pass


def _is_loopback(address) -> bool:
    host = address[0] if isinstance(address, tuple) else address
    if not isinstance(host, str):
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Fail any test that opens a connection outside this machine."""
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def guarded_connect(sock, address):
        if sock.family == socket.AF_UNIX or _is_loopback(address):
            return real_connect(sock, address)
        raise NetworkAccessError(f"test tried to reach the network: {address!r}")

    def guarded_connect_ex(sock, address):
        if sock.family == socket.AF_UNIX or _is_loopback(address):
            return real_connect_ex(sock, address)
        raise NetworkAccessError(f"test tried to reach the network: {address!r}")

    def guarded_getaddrinfo(host, *args, **kwargs):
        if host is None or _is_loopback(host) or host == "":
            return real_getaddrinfo(host, *args, **kwargs)
        raise NetworkAccessError(f"test tried to resolve a network host: {host!r}")

    real_getaddrinfo = socket.getaddrinfo
    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", guarded_connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", guarded_getaddrinfo)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    yield
