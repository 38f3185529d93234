"""Lets CUDA-linked torchvision import on a CPU-only torch (this project's test and benchmark machines).

The registry's torchvision wheels are CUDA-linked: with the CPU torch build, `import torchvision` fails
("operator torchvision::nms does not exist"). open_clip, transformers' CLIP and ComfyUI import
torchvision but never run those ops, so declaring the two op schemas before the import is enough.
Not needed, and a no-op, in a real ComfyUI install whose torch and torchvision match.

Scripts that run in a subprocess can load this file by path (`runpy.run_path`) and call the function.
"""

import sys

import torch

_registered = []  # the Library must stay alive, or its definitions are dropped again


def declare_torchvision_ops_on_cpu_torch() -> None:
    if torch.version.cuda is not None or "torchvision" in sys.modules or _registered:
        return
    try:
        torch.ops.torchvision.nms  # noqa: B018 - present when a matching torchvision build is installed
        return
    except (AttributeError, RuntimeError):
        pass
    library = torch.library.Library("torchvision", "DEF")
    library.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    library.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    _registered.append(library)
