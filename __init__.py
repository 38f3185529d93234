"""SRSoup node pack: ComfyUI loads this folder as a package and reads the mappings below.

Outside ComfyUI (tests, scripts) the host is absent; the pack then exports no nodes, and
`sampler_core` / `rewards` are used directly with the repository root on sys.path.
"""

import importlib.util

if importlib.util.find_spec("comfy") is not None:
    from .nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS
else:
    NODE_CLASS_MAPPINGS = {}
    NODE_DISPLAY_NAME_MAPPINGS = {}

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS"]
