"""Build the example workflows: each is written once here as a graph, then saved in both formats.

    python workflows/build.py                 write workflows/api/<name>.json and workflows/<name>.json
    python workflows/build.py --check         exit 1 if a committed file differs from what would be written
    python workflows/build.py --refresh-definitions [--comfyui PATH]
                                              first regenerate definitions/node_definitions.json
                                              from a live host (a ComfyUI checkout)

- API format (``workflows/api/``): what ``POST /prompt`` takes, ``{id: {class_type, inputs}}``; an
  input is a literal or ``[source_id, output_slot]``.
- UI format (``workflows/*.json``): the graph the frontend opens by drag-and-drop (``nodes``, ``links``,
  ``version`` 0.4). It is derived from the API graph and the node definitions: socket inputs become
  links, widget inputs become ``widgets_values`` in the node's input order (a seed widget carries a
  second value, its control mode), nodes are laid out in columns left to right.
- ``definitions/node_definitions.json``: what ``GET /object_info`` reports for this pack's nodes and
  for the built-in nodes the workflows use, taken from a host started with no model files, plus the
  combo inputs that list model files (``dynamic_combos``; found by starting a second host with
  placeholder files). The host-free tests check every workflow against it; a host test checks it
  against the live host.

ComfyUI serves every ``workflows/*.json`` of a node pack in its Templates browser, so the top level of
this folder holds UI workflows only (API twins and the snapshot live in sub-folders).

Only the standard library is needed to build; ``--refresh-definitions`` needs a ComfyUI checkout.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

WORKFLOWS_DIR = Path(__file__).resolve().parent
API_DIR = WORKFLOWS_DIR / "api"
DEFINITIONS_PATH = WORKFLOWS_DIR / "definitions" / "node_definitions.json"

PACK_MODULE_MARKER = "comfyui-srsoup"

# ---------------------------------------------------------------------------------------------
# Graph description


@dataclass(frozen=True)
class Ref:
    """Output ``slot`` of node ``node_id``: what an API input ``[id, slot]`` points at."""

    node_id: int
    slot: int = 0


@dataclass
class Node:
    id: int
    class_type: str
    inputs: dict
    title: str | None = None
    color: tuple[str, str] | None = None  # (color, bgcolor) in the UI
    col: int | None = None  # UI layout column; None: right of its rightmost input

    def __getitem__(self, slot: int) -> Ref:
        return Ref(self.id, slot)

    @property
    def out(self) -> Ref:
        return Ref(self.id, 0)


@dataclass
class Graph:
    name: str
    description: str
    nodes: list[Node] = field(default_factory=list)

    def add(self, class_type: str, title: str | None = None, color=None, col=None, **inputs) -> Node:
        node = Node(len(self.nodes) + 1, class_type, dict(inputs), title, color, col)
        self.nodes.append(node)
        return node


GREEN = ("#232", "#353")  # positive prompt, as in ComfyUI's own templates
RED = ("#322", "#533")  # negative prompt
PURPLE = ("#323", "#535")  # SRSoup nodes

# Model files: the common public names (workflows/README.md says where to get each).
SD15_CKPT = "v1-5-pruned-emaonly.safetensors"
SDXL_CKPT = "sd_xl_base_1.0.safetensors"
SD35_CKPT = "sd3.5_medium.safetensors"
SD3_TEXT_ENCODERS = ("clip_l.safetensors", "clip_g.safetensors", "t5xxl_fp16.safetensors")
AESTHETIC_FILE = "sac+logos+ava1-l14-linearMSE.pth"
HPSV2_FILE = "HPS_v2_compressed.pt"
PICKSCORE_FOLDER = "PickScore_v1"
CLIP_L_FOLDER = "clip-vit-large-patch14"  # needed next to the aesthetic head; no widget names it

NO_FILE = "(none)"  # RewardLoader: the kind's default name / no file
NEGATIVE = "blurry, low quality, watermark, text, jpeg artifacts"


def _prompt_nodes(g: Graph, clip: Ref, text: str):
    """A shared prompt string (one edit feeds the CLIP encoder and the prompt-aware rewards)."""
    prompt = g.add("PrimitiveStringMultiline", title="Prompt", col=0, value=text)
    positive = g.add("CLIPTextEncode", title="Positive", color=GREEN, col=1, text=prompt.out, clip=clip)
    negative = g.add("CLIPTextEncode", title="Negative", color=RED, col=1, text=NEGATIVE, clip=clip)
    return prompt, positive, negative


def _rewards(g: Graph, *kinds_and_files) -> Ref:
    """Chain one RewardLoader per (kind, file), stacked in layout column 2; returns the chain's end."""
    chain = None
    for kind, file in kinds_and_files:
        inputs = {"kind": kind, "reward_file": file, "device": "auto", "dtype": "auto"}
        if chain is not None:
            inputs["rewards"] = chain
        chain = g.add("SRSoupRewardLoader", title=f"Reward: {kind}", color=PURPLE, col=2, **inputs).out
    return chain


def _preferences(g: Graph, n_rewards: int, mode: str, step: float = 0.2, weights: str | None = None) -> Ref:
    """A PreferenceGrid. ``weights`` is read in 'explicit list' mode only; by default it holds an example
    list for the node's number of rewards (the exemplars and the uniform mix) to start editing from."""
    if weights is None:
        rows = [["1" if i == j else "0" for j in range(n_rewards)] for i in range(n_rewards)]
        rows.append([f"1/{n_rewards}"] * n_rewards)
        weights = "\n".join(", ".join(row) for row in rows)
    return g.add(
        "SRSoupPreferenceGrid",
        title=f"Preferences ({mode})",
        color=PURPLE,
        col=1,
        n_rewards=n_rewards,
        mode=mode,
        step=step,
        weights=weights,
    ).out


def _srsoup_ksampler(
    g: Graph,
    *,
    model,
    positive,
    negative,
    latent,
    vae,
    rewards,
    preferences,
    prompt,
    steps,
    cfg,
    scheduler,
    n_queries,
    soup_steps,
    query_vae=None,
    seed=42,
):
    inputs = dict(
        model=model,
        seed=seed,
        steps=steps,
        cfg=cfg,
        scheduler=scheduler,
        denoise=1.0,
        positive=positive,
        negative=negative,
        latent_image=latent,
        vae=vae,
        rewards=rewards,
        preferences=preferences,
        prompt=prompt,
        n_queries=n_queries,
        soup_steps=soup_steps,
    )
    if query_vae is not None:
        inputs["query_vae"] = query_vae
    inputs.update(query_x0="tweedie", step_rule="norm", correction="paper", query_chunk=0, score_final=True)
    return g.add("SRSoupKSampler", color=PURPLE, **inputs)


def _report(g: Graph, report: Ref, col: int | None = None):
    """Pareto plot and table of a report."""
    pareto = g.add(
        "SRSoupParetoReport",
        color=PURPLE,
        col=col,
        report=report,
        x_reward=1,
        y_reward=2,
        width=768,
        height=512,
    )
    g.add("PreviewImage", title="Reward plot", col=None if col is None else col + 1, images=pareto[0])
    g.add("PreviewAny", title="Report table", col=None if col is None else col + 1, source=pareto[1])


def _outputs(g: Graph, sampler: Node, vae: Ref, prefix: str):
    images = g.add("VAEDecode", samples=sampler[0], vae=vae)
    g.add("SaveImage", images=images.out, filename_prefix=prefix)
    _report(g, sampler[1])


def sd15_aesthetic_compressibility() -> Graph:
    g = Graph(
        "sd15_aesthetic_compressibility",
        "SD1.5, aesthetic x compressibility, 6 preference vectors (0,1) ... (1,0) in steps of 0.2",
    )
    ckpt = g.add("CheckpointLoaderSimple", ckpt_name=SD15_CKPT)
    prompt, pos, neg = _prompt_nodes(g, ckpt[1], "a photo of a cat sitting on a windowsill, golden hour")
    latent = g.add("EmptyLatentImage", width=512, height=512, batch_size=1)
    rewards = _rewards(g, ("aesthetic", AESTHETIC_FILE), ("compressibility", NO_FILE))
    prefs = _preferences(g, 2, "simplex grid", step=0.2)
    sampler = _srsoup_ksampler(
        g,
        model=ckpt[0],
        positive=pos.out,
        negative=neg.out,
        latent=latent.out,
        vae=ckpt[2],
        rewards=rewards,
        preferences=prefs,
        prompt=prompt.out,
        steps=50,
        cfg=5.0,
        scheduler="normal",
        n_queries=30,
        soup_steps=20,
    )
    _outputs(g, sampler, ckpt[2], "srsoup/sd15_aesthetic_compressibility")
    return g


def sdxl_aesthetic_hpsv2() -> Graph:
    g = Graph(
        "sdxl_aesthetic_hpsv2", "SDXL base, aesthetic x HPSv2, 6 preference vectors; TAESDXL for queries"
    )
    ckpt = g.add("CheckpointLoaderSimple", ckpt_name=SDXL_CKPT)
    prompt, pos, neg = _prompt_nodes(
        g, ckpt[1], "a lighthouse on a rocky coast at sunset, dramatic clouds, highly detailed"
    )
    latent = g.add("EmptyLatentImage", width=1024, height=1024, batch_size=1)
    taesd = g.add("VAELoader", title="Query VAE (TAESDXL)", vae_name="taesdxl")
    rewards = _rewards(g, ("aesthetic", AESTHETIC_FILE), ("hpsv2", HPSV2_FILE))
    prefs = _preferences(g, 2, "paper weights")
    sampler = _srsoup_ksampler(
        g,
        model=ckpt[0],
        positive=pos.out,
        negative=neg.out,
        latent=latent.out,
        vae=ckpt[2],
        rewards=rewards,
        preferences=prefs,
        prompt=prompt.out,
        steps=30,
        cfg=7.0,
        scheduler="normal",
        n_queries=16,
        soup_steps=12,
        query_vae=taesd.out,
    )
    _outputs(g, sampler, ckpt[2], "srsoup/sdxl_aesthetic_hpsv2")
    return g


def sd35_aesthetic_pickscore() -> Graph:
    g = Graph(
        "sd35_aesthetic_pickscore",
        "SD3.5 Medium (flow matching), aesthetic x PickScore, 6 preference vectors; TAESD3 for queries",
    )
    ckpt = g.add("CheckpointLoaderSimple", ckpt_name=SD35_CKPT)
    clip = g.add(
        "TripleCLIPLoader",
        clip_name1=SD3_TEXT_ENCODERS[0],
        clip_name2=SD3_TEXT_ENCODERS[1],
        clip_name3=SD3_TEXT_ENCODERS[2],
    )
    prompt, pos, neg = _prompt_nodes(
        g, clip.out, "a bowl of ramen on a wooden table, steam rising, food photo"
    )
    latent = g.add("EmptySD3LatentImage", width=1024, height=1024, batch_size=1)
    taesd = g.add("VAELoader", title="Query VAE (TAESD3)", vae_name="taesd3")
    rewards = _rewards(g, ("aesthetic", AESTHETIC_FILE), ("pickscore", PICKSCORE_FOLDER))
    prefs = _preferences(g, 2, "simplex grid", step=0.2)
    sampler = _srsoup_ksampler(
        g,
        model=ckpt[0],
        positive=pos.out,
        negative=neg.out,
        latent=latent.out,
        vae=ckpt[2],
        rewards=rewards,
        preferences=prefs,
        prompt=prompt.out,
        steps=28,
        cfg=4.5,
        scheduler="sgm_uniform",
        n_queries=16,
        soup_steps=11,
        query_vae=taesd.out,
    )
    _outputs(g, sampler, ckpt[2], "srsoup/sd35_aesthetic_pickscore")
    return g


def sd15_three_rewards() -> Graph:
    g = Graph(
        "sd15_three_rewards",
        "SD1.5, aesthetic x HPSv2 x PickScore (the paper's three-objective setting), its 13 weight vectors",
    )
    ckpt = g.add("CheckpointLoaderSimple", ckpt_name=SD15_CKPT)
    prompt, pos, neg = _prompt_nodes(g, ckpt[1], "a cozy cabin in a snowy forest at night, warm light")
    latent = g.add("EmptyLatentImage", width=512, height=512, batch_size=1)
    rewards = _rewards(
        g, ("aesthetic", AESTHETIC_FILE), ("hpsv2", HPSV2_FILE), ("pickscore", PICKSCORE_FOLDER)
    )
    prefs = _preferences(g, 3, "paper weights")
    sampler = _srsoup_ksampler(
        g,
        model=ckpt[0],
        positive=pos.out,
        negative=neg.out,
        latent=latent.out,
        vae=ckpt[2],
        rewards=rewards,
        preferences=prefs,
        prompt=prompt.out,
        steps=50,
        cfg=5.0,
        scheduler="normal",
        n_queries=30,
        soup_steps=20,
    )
    _outputs(g, sampler, ckpt[2], "srsoup/sd15_three_rewards")
    return g


def sd15_sampler_custom_advanced() -> Graph:
    g = Graph(
        "sd15_sampler_custom_advanced",
        "SD1.5 with SamplerCustomAdvanced: the SRSoup SAMPLER with any noise, guider and sigmas; "
        "RewardScore scores the decoded images for the Pareto report",
    )
    ckpt = g.add("CheckpointLoaderSimple", ckpt_name=SD15_CKPT)
    prompt, pos, neg = _prompt_nodes(g, ckpt[1], "a red sports car on a mountain road, cinematic")
    latent = g.add("EmptyLatentImage", width=512, height=512, batch_size=1)
    rewards = _rewards(g, ("aesthetic", AESTHETIC_FILE), ("compressibility", NO_FILE))
    prefs = _preferences(g, 2, "explicit list", weights="1, 0\n0.75, 0.25\n0.5, 0.5\n0.25, 0.75\n0, 1")
    noise = g.add("RandomNoise", col=3, noise_seed=42)
    guider = g.add("CFGGuider", col=3, model=ckpt[0], positive=pos.out, negative=neg.out, cfg=5.0)
    sampler = g.add(
        "SamplerSRSoup",
        color=PURPLE,
        vae=ckpt[2],
        rewards=rewards,
        preferences=prefs,
        prompt=prompt.out,
        n_queries=30,
        soup_steps=20,
        query_x0="tweedie",
        step_rule="norm",
        correction="paper",
        query_chunk=0,
    )
    sigmas = g.add("BasicScheduler", col=3, model=ckpt[0], scheduler="normal", steps=50, denoise=1.0)
    custom = g.add(
        "SamplerCustomAdvanced",
        noise=noise.out,
        guider=guider.out,
        sampler=sampler.out,
        sigmas=sigmas.out,
        latent_image=latent.out,
    )
    images = g.add("VAEDecode", samples=custom[0], vae=ckpt[2])
    g.add("SaveImage", images=images.out, filename_prefix="srsoup/sd15_sampler_custom_advanced")
    score = g.add(
        "SRSoupRewardScore",
        color=PURPLE,
        col=5,  # under VAE Decode
        images=images.out,
        rewards=rewards,
        prompt=prompt.out,
        float_reward=1,
        preferences=prefs,
    )
    _report(g, score[3], col=6)
    return g


WORKFLOWS = (
    sd15_aesthetic_compressibility,
    sdxl_aesthetic_hpsv2,
    sd35_aesthetic_pickscore,
    sd15_three_rewards,
    sd15_sampler_custom_advanced,
)

# Combo inputs naming model files: the models/ sub-folder each lists (for placeholder files).
MODEL_FOLDERS = {
    ("CheckpointLoaderSimple", "ckpt_name"): "checkpoints",
    ("TripleCLIPLoader", "clip_name1"): "text_encoders",
    ("TripleCLIPLoader", "clip_name2"): "text_encoders",
    ("TripleCLIPLoader", "clip_name3"): "text_encoders",
    ("VAELoader", "vae_name"): "vae",
    ("SRSoupRewardLoader", "reward_file"): "rewards",
}
TAESD_NAMES = ("taesd", "taesdxl", "taesd3", "taef1")

# Where to get each model file (shown in the workflow's note; workflows/README.md has the full table).
SOURCES = {
    SD15_CKPT: "Hugging Face stable-diffusion-v1-5/stable-diffusion-v1-5",
    SDXL_CKPT: "Hugging Face stabilityai/stable-diffusion-xl-base-1.0",
    SD35_CKPT: "Hugging Face stabilityai/stable-diffusion-3.5-medium (gated)",
    "clip_l.safetensors": "stabilityai/stable-diffusion-3.5-medium, text_encoders/",
    "clip_g.safetensors": "stabilityai/stable-diffusion-3.5-medium, text_encoders/",
    "t5xxl_fp16.safetensors": "stabilityai/stable-diffusion-3.5-medium, text_encoders/",
    "taesdxl": "GitHub madebyollin/taesd",
    "taesd3": "GitHub madebyollin/taesd",
    AESTHETIC_FILE: "GitHub christophschuhmann/improved-aesthetic-predictor",
    CLIP_L_FOLDER + "/": "Hugging Face openai/clip-vit-large-patch14 (a folder, next to the aesthetic head)",
    HPSV2_FILE: "Hugging Face xswu/HPSv2",
    PICKSCORE_FOLDER + "/": "Hugging Face yuvalkirstain/PickScore_v1 (a folder; tokenizer files from "
    "laion/CLIP-ViT-H-14-laion2B-s32B-b79K)",
}
NOTE_COLOR = ("#432", "#653")  # as ComfyUI's own templates color their notes


# ---------------------------------------------------------------------------------------------
# Node definitions (the /object_info subset)


def load_definitions(path: Path = DEFINITIONS_PATH) -> dict:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def input_specs(definition: dict) -> list[tuple[str, list, bool]]:
    """(name, spec, required) for every input in the node's order; hidden inputs excluded."""
    order = definition.get("input_order") or {}
    inputs = definition.get("input") or {}
    result = []
    for section, required in (("required", True), ("optional", False)):
        section_inputs = inputs.get(section) or {}
        for name in order.get(section) or list(section_inputs):
            result.append((name, section_inputs[name], required))
    return result


def combo_options(spec: list) -> list | None:
    """The option list of a combo input (classic ``[[...], opts]`` or V3 ``["COMBO", {options}]``)."""
    kind = spec[0]
    if isinstance(kind, list):
        return kind
    if kind == "COMBO":
        return list((spec[1] if len(spec) > 1 else {}).get("options") or [])
    return None


def widget_type(spec: list) -> str | None:
    """The widget an input gets in the frontend (INT/FLOAT/STRING/BOOLEAN/COMBO), None for a socket."""
    kind = spec[0]
    opts = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
    if combo_options(spec) is not None:
        return "COMBO"
    if kind in ("INT", "FLOAT", "STRING", "BOOLEAN") and not opts.get("forceInput"):
        return kind
    return None


def has_control_widget(name: str, spec: list) -> bool:
    """The frontend adds a 'control_after_generate' widget (a second widgets_values entry) here."""
    opts = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
    if widget_type(spec) == "INT":
        return bool(opts.get("control_after_generate", name in ("seed", "noise_seed")))
    if widget_type(spec) == "COMBO":
        return bool(opts.get("control_after_generate"))
    return False


def default_value(spec: list):
    opts = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
    if "default" in opts:
        return opts["default"]
    options = combo_options(spec)
    if options:
        return options[0]
    return {"INT": 0, "FLOAT": 0.0, "STRING": "", "BOOLEAN": False}.get(widget_type(spec))


# ---------------------------------------------------------------------------------------------
# Conversion


def to_api(graph: Graph) -> dict:
    prompt = {}
    for node in graph.nodes:
        inputs = {}
        for name, value in node.inputs.items():
            inputs[name] = [str(value.node_id), value.slot] if isinstance(value, Ref) else value
        entry = {"class_type": node.class_type, "inputs": inputs}
        if node.title:
            entry["_meta"] = {"title": node.title}
        prompt[str(node.id)] = entry
    return prompt


def _depths(graph: Graph) -> dict[int, int]:
    """Longest path from a source node (the UI's execution order sorts by it)."""
    depth: dict[int, int] = {}

    def visit(node: Node) -> int:
        if node.id not in depth:
            parents = [v.node_id for v in node.inputs.values() if isinstance(v, Ref)]
            depth[node.id] = 1 + max((visit(graph.nodes[p - 1]) for p in parents), default=-1)
        return depth[node.id]

    for node in graph.nodes:
        visit(node)
    return depth


def _columns(graph: Graph) -> dict[int, int]:
    """Layout column of each node: its hint, else one right of its rightmost input (sources: 0)."""
    column: dict[int, int] = {}
    for node in graph.nodes:  # nodes are added after their inputs
        parents = [column[v.node_id] for v in node.inputs.values() if isinstance(v, Ref)]
        column[node.id] = node.col if node.col is not None else 1 + max(parents, default=-1)
    return column


def _node_size(n_sockets: int, n_outputs: int, widgets: list[tuple[str, list]]) -> list:
    """A size that fits the node's slots and widgets (the frontend keeps what the file says)."""
    multiline = any(
        widget_type(s) == "STRING" and (s[1] if len(s) > 1 else {}).get("multiline") for _, s in widgets
    )
    width = 400 if multiline else 320
    n_widget_rows = sum(2 if has_control_widget(n, s) else 1 for n, s in widgets)
    height = 26 + 22 * max(n_sockets, n_outputs) + 26 * n_widget_rows + (50 if multiline else 0)
    return [width, height]


def to_ui(graph: Graph, definitions: dict) -> dict:
    defs = definitions["nodes"]
    depth = _depths(graph)
    links = []  # [id, origin_id, origin_slot, target_id, target_slot, type]
    ui_nodes = {}
    outgoing: dict[tuple[int, int], list[int]] = {}

    for node in graph.nodes:
        definition = defs[node.class_type]
        unknown = set(node.inputs) - {name for name, _, _ in input_specs(definition)}
        if unknown:
            raise KeyError(f"{graph.name}: {node.class_type} has no input(s) {sorted(unknown)}")
        ui_inputs, widgets_values, widget_specs = [], [], []
        for name, spec, required in input_specs(definition):
            value = node.inputs.get(name)
            wtype = widget_type(spec)
            if wtype is not None:
                widget_specs.append((name, spec))
                literal = default_value(spec) if value is None or isinstance(value, Ref) else value
                widgets_values.append(literal)
                if has_control_widget(name, spec):
                    widgets_values.append("fixed")
            if wtype is None or isinstance(value, Ref):
                entry = {"name": name, "type": wtype or spec[0]}
                if not required:
                    entry["shape"] = 7
                if wtype is not None:
                    entry["widget"] = {"name": name}
                if isinstance(value, Ref):
                    source_type = defs[graph.nodes[value.node_id - 1].class_type]["output"][value.slot]
                    link_id = len(links) + 1
                    links.append([link_id, value.node_id, value.slot, node.id, len(ui_inputs), source_type])
                    outgoing.setdefault((value.node_id, value.slot), []).append(link_id)
                    entry["link"] = link_id
                else:
                    entry["link"] = None
                ui_inputs.append(entry)
        n_sockets = sum(1 for e in ui_inputs if "widget" not in e)
        ui = {
            "id": node.id,
            "type": node.class_type,
            "pos": [0, 0],
            "size": _node_size(n_sockets, len(definition["output"]), widget_specs),
            "flags": {},
            "order": 0,
            "mode": 0,
            "inputs": ui_inputs,
            "outputs": [],
            "properties": {"Node name for S&R": node.class_type},
            "widgets_values": widgets_values,
        }
        if node.title:
            ui["title"] = node.title
        if node.color:
            ui["color"], ui["bgcolor"] = node.color
        ui_nodes[node.id] = ui

    for node in graph.nodes:
        definition = defs[node.class_type]
        ui_nodes[node.id]["outputs"] = [
            {
                "name": definition["output_name"][slot],
                "type": out_type,
                "links": outgoing.get((node.id, slot)) or None,
                "slot_index": slot,
            }
            for slot, out_type in enumerate(definition["output"])
        ]

    # Layout: columns left to right; nodes stacked top-down in creation order.
    columns = _columns(graph)
    x = 0
    for column in sorted(set(columns.values())):
        members = [n for n in graph.nodes if columns[n.id] == column]
        y = 0
        for node in members:
            ui_nodes[node.id]["pos"] = [x, y]
            y += ui_nodes[node.id]["size"][1] + 50
        x += max(ui_nodes[n.id]["size"][0] for n in members) + 50
    # Execution order: by depth, then id (a topological order).
    for order, node in enumerate(sorted(graph.nodes, key=lambda n: (depth[n.id], n.id))):
        ui_nodes[node.id]["order"] = order

    # A note (UI only, not sent to the host) listing the model files, under the last two columns.
    note_id = max(ui_nodes) + 1
    last = sorted(set(columns.values()))[-2:]
    under = [ui_nodes[n.id] for n in graph.nodes if columns[n.id] in last]
    left = min(n["pos"][0] for n in under)
    width = max(n["pos"][0] + n["size"][0] for n in under) - left
    text = note_text(graph)
    wrapped = sum(1 + len(line) * 7 // width for line in text.splitlines())
    ui_nodes[note_id] = {
        "id": note_id,
        "type": "MarkdownNote",
        "pos": [left, max(n["pos"][1] + n["size"][1] for n in under) + 50],
        "size": [width, 40 + 13 * wrapped],
        "flags": {},
        "order": len(graph.nodes),
        "mode": 0,
        "inputs": [],
        "outputs": [],
        "title": "Model files",
        "properties": {},
        "widgets_values": [text],
        "color": NOTE_COLOR[0],
        "bgcolor": NOTE_COLOR[1],
    }

    return {
        "last_node_id": max(ui_nodes),
        "last_link_id": len(links),
        "nodes": [ui_nodes[n.id] for n in graph.nodes] + [ui_nodes[note_id]],
        "links": links,
        "groups": [],
        "config": {},
        "extra": {"ds": {"scale": 0.75, "offset": [40, 60]}, "srsoup": {"description": graph.description}},
        "version": 0.4,
    }


def dump(data) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def outputs(definitions: dict | None = None) -> dict[Path, str]:
    """Every generated file and its text."""
    definitions = definitions or load_definitions()
    files = {}
    for make in WORKFLOWS:
        graph = make()
        files[API_DIR / f"{graph.name}.json"] = dump(to_api(graph))
        files[WORKFLOWS_DIR / f"{graph.name}.json"] = dump(to_ui(graph, definitions))
    return files


# ---------------------------------------------------------------------------------------------
# Refreshing definitions/node_definitions.json from a live host


def model_files(graph: Graph) -> list[tuple[str, str]]:
    """(models sub-folder, name) of every model file the graph needs, in graph order; a folder's
    name ends in '/'. The aesthetic head brings the CLIP ViT-L/14 folder it reads next to it."""
    files = []
    for node in graph.nodes:
        for name, value in node.inputs.items():
            folder = MODEL_FOLDERS.get((node.class_type, name))
            if folder is None or not isinstance(value, str) or value == NO_FILE:
                continue
            if folder == "vae" and value in TAESD_NAMES:
                needed = [("vae_approx", f"{value}_encoder.pth"), ("vae_approx", f"{value}_decoder.pth")]
            elif folder == "rewards" and value == PICKSCORE_FOLDER:
                needed = [(folder, value + "/")]
            elif folder == "rewards" and value == AESTHETIC_FILE:
                needed = [(folder, value), (folder, CLIP_L_FOLDER + "/")]
            else:
                needed = [(folder, value)]
            files += [f for f in needed if f not in files]
    return files


def note_text(graph: Graph) -> str:
    lines = [f"**{graph.description}**", "", "Model files, in ComfyUI's `models/` folder:"]
    for folder, name in model_files(graph):
        key = name.rsplit("_", 1)[0] if folder == "vae_approx" else name
        if folder == "vae_approx" and name.endswith("_decoder.pth"):
            continue  # one line for the encoder + decoder pair
        shown = f"{key}_encoder.pth + _decoder.pth" if folder == "vae_approx" else name
        lines.append(f"- `{folder}/{shown}`: {SOURCES[key]}")
    lines += ["", "Details: the pack's workflows/README.md."]
    return "\n".join(lines)


def placeholder_files() -> list[tuple[str, str]]:
    """(models sub-folder, name) of every model file or folder the workflows name."""
    return sorted({f for make in WORKFLOWS for f in model_files(make())})


def used_class_types() -> set[str]:
    return {node.class_type for make in WORKFLOWS for node in make().nodes}


def select_definitions(info: dict, used: set[str]) -> dict:
    """The pack's nodes and the used built-in nodes, sorted by name."""
    missing = used - set(info)
    if missing:
        raise RuntimeError(f"the host lacks node type(s) {sorted(missing)}")
    chosen = {k for k, v in info.items() if PACK_MODULE_MARKER in str(v.get("python_module", ""))} | used
    return {k: info[k] for k in sorted(chosen)}


def load_host():
    """workflows/host.py, imported by path (the folder is no package)."""
    name = "srsoup_workflows_host"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, WORKFLOWS_DIR / "host.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def refresh_definitions(comfyui: Path) -> dict:
    host = load_host()
    comfy_server, make_base_dir = host.comfy_server, host.make_base_dir
    object_info, pack_import_failed = host.object_info, host.pack_import_failed

    infos = []
    for placeholders in ((), placeholder_files()):
        with tempfile.TemporaryDirectory(prefix="srsoup-defs-") as tmp:
            base = make_base_dir(Path(tmp), placeholders)
            with comfy_server(comfyui, base) as url:
                infos.append(object_info(url))
            failure = pack_import_failed(base)
            if failure:
                raise RuntimeError(f"the pack failed to import into ComfyUI: {failure}")
    empty, populated = infos
    nodes = select_definitions(empty, used_class_types())
    dynamic = {}
    for class_type, definition in nodes.items():
        for name, spec, _ in input_specs(definition):
            if combo_options(spec) is None:
                continue
            other = {n: s for n, s, _ in input_specs(populated[class_type])}[name]
            if combo_options(other) != combo_options(spec):
                dynamic.setdefault(class_type, []).append(name)
    version = (comfyui / "comfyui_version.py").read_text().split("=")[-1].strip().strip("\"'")
    return {
        "comment": "GET /object_info of ComfyUI with no model files: this pack's nodes and the built-in "
        "nodes the workflows use. dynamic_combos: inputs listing model files. Regenerate with "
        "`python workflows/build.py --refresh-definitions --comfyui PATH`.",
        "comfyui_version": version,
        "dynamic_combos": dynamic,
        "nodes": nodes,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--check", action="store_true", help="compare instead of writing; exit 1 on a difference"
    )
    parser.add_argument(
        "--refresh-definitions",
        action="store_true",
        help="regenerate node_definitions.json from a live ComfyUI first",
    )
    parser.add_argument(
        "--comfyui", type=Path, default=None, help="ComfyUI checkout (default: $COMFYUI_PATH)"
    )
    args = parser.parse_args(argv)

    if args.refresh_definitions:
        comfyui = args.comfyui or load_host().find_comfyui()
        if comfyui is None:
            parser.error("no ComfyUI checkout: pass --comfyui PATH or set COMFYUI_PATH")
        definitions = refresh_definitions(Path(comfyui).resolve())
        text = dump(definitions)
        if args.check:
            if DEFINITIONS_PATH.read_text(encoding="utf-8") != text:
                print(f"{DEFINITIONS_PATH} is out of date")
                return 1
        else:
            DEFINITIONS_PATH.write_text(text, encoding="utf-8")
            print(f"wrote {DEFINITIONS_PATH}")

    stale = []
    for path, text in outputs().items():
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == text:
            continue
        if args.check:
            stale.append(path)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path.relative_to(WORKFLOWS_DIR.parent)}")
    for path in stale:
        print(f"{path.relative_to(WORKFLOWS_DIR.parent)} is out of date: run python workflows/build.py")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
