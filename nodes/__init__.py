"""ComfyUI layer of the SRSoup pack: node classes, the models/rewards folder, model management.

Import it only as part of the pack package (ComfyUI has its own top-level `nodes` module). The node
definitions load without ComfyUI (so workflows can be checked against them in CI); the nodes run
only inside ComfyUI.
"""

from . import host
from .definitions import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS

host.register_rewards_folder()

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS"]
