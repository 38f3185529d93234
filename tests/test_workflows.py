"""The example workflows, checked against the node definitions without ComfyUI.

The source of truth is workflows/definitions/node_definitions.json: what a real host's GET /object_info
reports for this pack's nodes and the built-in nodes the workflows use (tests/test_workflows_host.py
checks that it still equals the live host; a test here checks it against the pack's node classes). The
checks are written independently of workflows/build.py: they read the committed JSON files the way the
host (API format) and the frontend (UI format) do. ComfyUI lists every workflows/*.json in its
Templates browser, so each of them must be a UI workflow.
"""

from __future__ import annotations

import copy
import importlib
import importlib.util
import json
import sys
from pathlib import Path

import pytest

from sampler_core.preferences import PAPER_WEIGHTS_2, PAPER_WEIGHTS_3, parse_weight_list, simplex_grid

REPO = Path(__file__).resolve().parent.parent
WORKFLOWS = REPO / "workflows"


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


DEFINITIONS = load(WORKFLOWS / "definitions" / "node_definitions.json")
NODE_DEFS = DEFINITIONS["nodes"]
DYNAMIC = {(cls, name) for cls, names in DEFINITIONS["dynamic_combos"].items() for name in names}

UI_FILES = sorted(WORKFLOWS.glob("*.json"))
API_FILES = sorted((WORKFLOWS / "api").glob("*.json"))
NAMES = [p.stem for p in UI_FILES]

EXPECTED = {
    "sd15_aesthetic_compressibility",
    "sdxl_aesthetic_hpsv2",
    "sd35_aesthetic_pickscore",
    "sd15_three_rewards",
    "sd15_sampler_custom_advanced",
}
WIDGET_TYPES = ("INT", "FLOAT", "STRING", "BOOLEAN")
# Frontend-only nodes: drawn in the UI, never sent to the host (graphToPrompt skips them).
UI_ONLY_TYPES = {"MarkdownNote", "Note"}


# ---------------------------------------------------------------------------------------------
# Reading node definitions (the frontend's rules for which inputs are widgets)


def spec_options(spec) -> dict:
    return spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}


def combo_list(spec):
    if isinstance(spec[0], list):
        return spec[0]
    if spec[0] == "COMBO":
        return list(spec_options(spec).get("options") or [])
    return None


def is_widget(spec) -> bool:
    if combo_list(spec) is not None:
        return True
    return spec[0] in WIDGET_TYPES and not spec_options(spec).get("forceInput")


def socket_type(spec) -> str:
    return "COMBO" if combo_list(spec) is not None else spec[0]


def widget_slots(name, spec) -> int:
    """widgets_values entries an input takes: 2 with a seed-style control widget."""
    opts = spec_options(spec)
    if combo_list(spec) is None and spec[0] == "INT":
        control = opts.get("control_after_generate", name in ("seed", "noise_seed"))
    else:
        control = opts.get("control_after_generate", False)
    return 2 if control else 1


def ordered_inputs(class_type):
    """[(name, spec, required)] in the node's input order, hidden inputs excluded."""
    definition = NODE_DEFS[class_type]
    result = []
    for section, required in (("required", True), ("optional", False)):
        specs = definition["input"].get(section) or {}
        for name in definition.get("input_order", {}).get(section) or list(specs):
            result.append((name, specs[name], required))
    return result


def value_problems(class_type, name, spec, value) -> list[str]:
    """Why a literal value is not valid for this input ([] when it is)."""
    where = f"{class_type}.{name}={value!r}"
    opts = spec_options(spec)
    options = combo_list(spec)
    if options is not None:
        if (class_type, name) in DYNAMIC:
            # Model-file lists depend on the user's models/ folder: type only.
            return (
                []
                if isinstance(value, str) and value
                else [f"{where}: a file name must be a non-empty string"]
            )
        return [] if value in options else [f"{where}: not one of {options}"]
    kind = spec[0]
    if kind == "INT":
        if isinstance(value, bool) or not isinstance(value, int):
            return [f"{where}: not an integer"]
    elif kind == "FLOAT":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return [f"{where}: not a number"]
    elif kind == "STRING":
        return [] if isinstance(value, str) else [f"{where}: not a string"]
    elif kind == "BOOLEAN":
        return [] if isinstance(value, bool) else [f"{where}: not a boolean"]
    else:
        return [f"{where}: a {kind} input must be linked, not set to a value"]
    problems = []
    if "min" in opts and value < opts["min"]:
        problems.append(f"{where}: below min {opts['min']}")
    if "max" in opts and value > opts["max"]:
        problems.append(f"{where}: above max {opts['max']}")
    return problems


def types_match(source: str, target: str) -> bool:
    if "*" in (source, target):
        return True
    return bool(set(source.split(",")) & set(target.split(",")))


# ---------------------------------------------------------------------------------------------
# API format


def api_problems(prompt: dict) -> list[str]:
    problems = []
    for node_id, node in prompt.items():
        class_type = node.get("class_type")
        if class_type not in NODE_DEFS:
            problems.append(f"node {node_id}: unknown node type {class_type!r}")
            continue
        known = {name: (spec, required) for name, spec, required in ordered_inputs(class_type)}
        for name in node["inputs"]:
            if name not in known:
                problems.append(f"node {node_id} {class_type}: no input named {name!r}")
        for name, (spec, required) in known.items():
            if name not in node["inputs"]:
                if required:
                    problems.append(f"node {node_id} {class_type}: required input {name!r} is missing")
                continue
            value = node["inputs"][name]
            if isinstance(value, list):
                if len(value) != 2 or str(value[0]) not in prompt:
                    problems.append(f"node {node_id} {class_type}.{name}: link {value!r} to no node")
                    continue
                source = prompt[str(value[0])]["class_type"]
                outputs = NODE_DEFS.get(source, {}).get("output", [])
                if not isinstance(value[1], int) or not 0 <= value[1] < len(outputs):
                    problems.append(f"node {node_id} {class_type}.{name}: {source} has no output {value[1]}")
                    continue
                if not types_match(outputs[value[1]], socket_type(spec)):
                    problems.append(
                        f"node {node_id} {class_type}.{name}: {source} output {value[1]} is "
                        f"{outputs[value[1]]}, the input takes {socket_type(spec)}"
                    )
            else:
                problems += [f"node {node_id}: {p}" for p in value_problems(class_type, name, spec, value)]
    return problems


def test_expected_workflows_exist_in_both_formats():
    assert EXPECTED <= set(NAMES)
    assert [p.stem for p in API_FILES] == NAMES, "every UI workflow needs an API twin and vice versa"


@pytest.mark.parametrize("name", NAMES)
def test_api_workflow_matches_node_definitions(name):
    prompt = load(WORKFLOWS / "api" / f"{name}.json")
    assert prompt, "empty workflow"
    assert api_problems(prompt) == []
    assert any(NODE_DEFS[n["class_type"]].get("output_node") for n in prompt.values()), "no output node"


@pytest.mark.parametrize("name", NAMES)
def test_api_workflow_is_acyclic(name):
    prompt = load(WORKFLOWS / "api" / f"{name}.json")
    state = {}

    def visit(node_id, path):
        assert state.get(node_id) != "open", f"cycle through {path + [node_id]}"
        if state.get(node_id) == "done":
            return
        state[node_id] = "open"
        for value in prompt[node_id]["inputs"].values():
            if isinstance(value, list):
                visit(str(value[0]), path + [node_id])
        state[node_id] = "done"

    for node_id in prompt:
        visit(node_id, [])


# ---------------------------------------------------------------------------------------------
# What each workflow computes


def reward_chain(prompt: dict, ref) -> list[str]:
    """Reward kinds along a RewardLoader chain, first loader first."""
    kinds = []
    while ref is not None:
        node = prompt[str(ref[0])]
        assert node["class_type"] == "SRSoupRewardLoader"
        kinds.insert(0, node["inputs"]["kind"])
        ref = node["inputs"].get("rewards")
    return kinds


def preference_count(node: dict) -> tuple[int, int]:
    """(n_rewards, number of weight vectors) of a PreferenceGrid, from sampler_core itself."""
    inputs = node["inputs"]
    m = inputs["n_rewards"]
    if inputs["mode"] == "simplex grid":
        return m, len(simplex_grid(m, inputs["step"]))
    if inputs["mode"] == "explicit list":
        return m, len(parse_weight_list(inputs["weights"], m))
    return m, len({2: PAPER_WEIGHTS_2, 3: PAPER_WEIGHTS_3}[m])


def srsoup_setups(prompt: dict) -> list[tuple[list[str], int, int]]:
    """(reward kinds, n_rewards of the preferences, number of vectors) per SRSoup sampler node."""
    setups = []
    for node in prompt.values():
        if node["class_type"] in ("SRSoupKSampler", "SamplerSRSoup"):
            kinds = reward_chain(prompt, node["inputs"]["rewards"])
            prefs = prompt[str(node["inputs"]["preferences"][0])]
            assert prefs["class_type"] == "SRSoupPreferenceGrid"
            setups.append((kinds, *preference_count(prefs)))
    return setups


@pytest.mark.parametrize("name", NAMES)
def test_preferences_have_one_weight_per_reward(name):
    setups = srsoup_setups(load(WORKFLOWS / "api" / f"{name}.json"))
    assert setups, "no SRSoup sampler in the workflow"
    for kinds, n_rewards, _ in setups:
        assert len(kinds) == n_rewards, f"{kinds} chained but the preferences have {n_rewards} weights"


@pytest.mark.parametrize(
    ("name", "kinds", "n_vectors"),
    [
        ("sd15_aesthetic_compressibility", ["aesthetic", "compressibility"], 6),
        ("sdxl_aesthetic_hpsv2", ["aesthetic", "hpsv2"], 6),
        ("sd35_aesthetic_pickscore", ["aesthetic", "pickscore"], 6),
        ("sd15_three_rewards", ["aesthetic", "hpsv2", "pickscore"], 13),
    ],
)
def test_workflow_rewards_and_vector_counts(name, kinds, n_vectors):
    (setup,) = srsoup_setups(load(WORKFLOWS / "api" / f"{name}.json"))
    assert setup[0] == kinds
    assert setup[2] == n_vectors


def test_sampler_custom_advanced_takes_the_srsoup_sampler():
    prompt = load(WORKFLOWS / "api" / "sd15_sampler_custom_advanced.json")
    (custom,) = [n for n in prompt.values() if n["class_type"] == "SamplerCustomAdvanced"]
    assert prompt[str(custom["inputs"]["sampler"][0])]["class_type"] == "SamplerSRSoup"


def test_model_files_are_the_public_names():
    files = set()
    for path in API_FILES:
        for node in load(path).values():
            for name, value in node["inputs"].items():
                if (node["class_type"], name) in DYNAMIC and isinstance(value, str):
                    files.add(value)
    assert {
        "v1-5-pruned-emaonly.safetensors",
        "sd_xl_base_1.0.safetensors",
        "sd3.5_medium.safetensors",
        "sac+logos+ava1-l14-linearMSE.pth",
        "HPS_v2_compressed.pt",
        "PickScore_v1",
    } <= files
    readme = (WORKFLOWS / "README.md").read_text(encoding="utf-8")
    for name in files - {"(none)"}:
        assert name in readme, f"workflows/README.md does not say where to get {name}"


# ---------------------------------------------------------------------------------------------
# UI format


def ui_problems(graph: dict) -> list[str]:
    problems = []
    for key in ("nodes", "links", "version", "last_node_id", "last_link_id"):
        if key not in graph:
            problems.append(f"missing top-level {key!r}")
    nodes = {n["id"]: n for n in graph.get("nodes", [])}
    if len(nodes) != len(graph.get("nodes", [])):
        problems.append("duplicate node ids")
    if nodes and graph.get("last_node_id", 0) < max(nodes):
        problems.append("last_node_id is below a node id")
    links = {link[0]: link for link in graph.get("links", [])}
    if len(links) != len(graph.get("links", [])):
        problems.append("duplicate link ids")
    if links and graph.get("last_link_id", 0) < max(links):
        problems.append("last_link_id is below a link id")

    for link_id, (_, origin, origin_slot, target, target_slot, link_type) in links.items():
        if origin not in nodes or target not in nodes:
            problems.append(f"link {link_id}: joins a missing node")
            continue
        outs = nodes[origin].get("outputs", [])
        if origin_slot >= len(outs) or link_id not in (outs[origin_slot].get("links") or []):
            problems.append(f"link {link_id}: not listed on node {origin}'s output {origin_slot}")
        ins = nodes[target].get("inputs", [])
        if target_slot >= len(ins) or ins[target_slot].get("link") != link_id:
            problems.append(f"link {link_id}: not listed on node {target}'s input {target_slot}")
            continue
        origin_type = nodes[origin]["type"]
        if origin_type in NODE_DEFS:
            real = NODE_DEFS[origin_type]["output"][origin_slot]
            if link_type != real:
                problems.append(
                    f"link {link_id}: says {link_type}, {origin_type} output {origin_slot} is {real}"
                )
        target_def = (
            {n: s for n, s, _ in ordered_inputs(nodes[target]["type"])}
            if (nodes[target]["type"] in NODE_DEFS)
            else {}
        )
        target_spec = target_def.get(ins[target_slot]["name"])
        if target_spec is not None and not types_match(link_type, socket_type(target_spec)):
            problems.append(
                f"link {link_id}: {link_type} into {nodes[target]['type']}.{ins[target_slot]['name']}"
                f" ({socket_type(target_spec)})"
            )

    for node_id, node in nodes.items():
        class_type = node.get("type")
        if class_type in UI_ONLY_TYPES:
            values = node.get("widgets_values") or []
            if (
                node.get("inputs")
                or node.get("outputs")
                or len(values) != 1
                or not isinstance(values[0], str)
            ):
                problems.append(f"node {node_id} {class_type}: a note has one text and no slots")
            continue
        if class_type not in NODE_DEFS:
            problems.append(f"node {node_id}: unknown node type {class_type!r}")
            continue
        where = f"node {node_id} {class_type}"
        specs = ordered_inputs(class_type)
        by_name = {n: (s, r) for n, s, r in specs}
        ui_inputs = {i["name"]: i for i in node.get("inputs", [])}
        for input_name, entry in ui_inputs.items():
            if input_name not in by_name:
                problems.append(f"{where}: no input named {input_name!r}")
            elif entry.get("type") != socket_type(by_name[input_name][0]):
                problems.append(f"{where}.{input_name}: slot type {entry.get('type')!r}")
            elif entry.get("link") is not None and entry["link"] not in links:
                problems.append(f"{where}.{input_name}: link {entry['link']} does not exist")
        for input_name, (spec, required) in by_name.items():
            linked = ui_inputs.get(input_name, {}).get("link") is not None
            if required and not is_widget(spec) and not linked:
                problems.append(f"{where}: required input {input_name!r} is not connected")
        outputs = node.get("outputs", [])
        if [o.get("type") for o in outputs] != NODE_DEFS[class_type]["output"]:
            problems.append(f"{where}: outputs {[o.get('type') for o in outputs]} differ from the definition")

        values = list(node.get("widgets_values") or [])
        widgets = [(n, s) for n, s, _ in specs if is_widget(s)]
        expected = sum(widget_slots(n, s) for n, s in widgets)
        if len(values) != expected:
            problems.append(f"{where}: {len(values)} widgets_values, the node has {expected} widget slots")
            continue
        position = 0
        for input_name, spec in widgets:
            value = values[position]
            if widget_slots(input_name, spec) == 2:
                control = values[position + 1]
                if control not in ("fixed", "increment", "decrement", "randomize"):
                    problems.append(f"{where}.{input_name}: control mode {control!r}")
            position += widget_slots(input_name, spec)
            if ui_inputs.get(input_name, {}).get("link") is None:
                problems += [
                    f"node {node_id}: {p}" for p in value_problems(class_type, input_name, spec, value)
                ]
    return problems


def ui_to_api(graph: dict) -> dict:
    """What the UI graph asks the host to run, read the way the frontend's graphToPrompt does."""
    nodes = {n["id"]: n for n in graph["nodes"]}
    links = {link[0]: link for link in graph["links"]}
    prompt = {}
    for node_id, node in nodes.items():
        if node["type"] in UI_ONLY_TYPES:
            continue
        inputs = {}
        values = iter(node.get("widgets_values") or [])
        linked = {i["name"]: i["link"] for i in node.get("inputs", []) if i.get("link") is not None}
        for input_name, spec, _ in ordered_inputs(node["type"]):
            if is_widget(spec):
                value = next(values)
                if widget_slots(input_name, spec) == 2:
                    next(values)
                if input_name not in linked:
                    inputs[input_name] = value
            if input_name in linked:
                link = links[linked[input_name]]
                inputs[input_name] = [str(link[1]), link[2]]
        entry = {"class_type": node["type"], "inputs": inputs}
        if node.get("title"):
            entry["_meta"] = {"title": node["title"]}
        prompt[str(node_id)] = entry
    return prompt


@pytest.mark.parametrize("name", NAMES)
def test_ui_workflow_matches_node_definitions(name):
    graph = load(WORKFLOWS / f"{name}.json")
    assert graph["nodes"], "empty workflow"
    assert ui_problems(graph) == []


@pytest.mark.parametrize("name", NAMES)
def test_ui_and_api_twins_describe_the_same_graph(name):
    ui = ui_to_api(load(WORKFLOWS / f"{name}.json"))
    api = load(WORKFLOWS / "api" / f"{name}.json")
    assert ui.keys() == api.keys()
    for node_id in api:
        assert ui[node_id]["class_type"] == api[node_id]["class_type"], node_id
        assert ui[node_id]["inputs"] == api[node_id]["inputs"], f"node {node_id} {api[node_id]['class_type']}"


@pytest.mark.parametrize("name", NAMES)
def test_ui_workflow_note_lists_every_model_file(name):
    """Someone who drags the file in sees which model files it needs without opening the README."""
    notes = [n for n in load(WORKFLOWS / f"{name}.json")["nodes"] if n["type"] in UI_ONLY_TYPES]
    assert notes, "no note in the UI workflow"
    text = "\n".join(n["widgets_values"][0] for n in notes)
    for node in load(WORKFLOWS / "api" / f"{name}.json").values():
        for input_name, value in node["inputs"].items():
            if (node["class_type"], input_name) in DYNAMIC and value != "(none)":
                assert value in text, f"the note does not mention {value}"


@pytest.mark.parametrize("name", NAMES)
def test_ui_nodes_do_not_overlap(name):
    boxes = [
        (n["pos"][0], n["pos"][1], n["size"][0], n["size"][1], n["id"])
        for n in load(WORKFLOWS / f"{name}.json")["nodes"]
    ]
    title = 30  # the title bar sits above pos
    for i, (x1, y1, w1, h1, a) in enumerate(boxes):
        for x2, y2, w2, h2, b in boxes[i + 1 :]:
            apart = x1 + w1 <= x2 or x2 + w2 <= x1 or y1 + h1 <= y2 - title or y2 + h2 <= y1 - title
            assert apart, f"nodes {a} and {b} overlap"


# ---------------------------------------------------------------------------------------------
# The checker itself must catch broken workflows


def _sd15():
    return load(WORKFLOWS / "api" / "sd15_aesthetic_compressibility.json"), load(
        WORKFLOWS / "sd15_aesthetic_compressibility.json"
    )


def _find(prompt, class_type):
    return next(k for k, n in prompt.items() if n["class_type"] == class_type)


def test_checker_catches_broken_api_graphs():
    prompt, _ = _sd15()
    ksampler = _find(prompt, "SRSoupKSampler")
    latent = _find(prompt, "EmptyLatentImage")
    ckpt = _find(prompt, "CheckpointLoaderSimple")

    broken = copy.deepcopy(prompt)
    broken[ksampler]["inputs"]["latent_image"] = [ckpt, 2]  # a VAE into a LATENT input
    assert any("VAE" in p for p in api_problems(broken))

    broken = copy.deepcopy(prompt)
    broken[latent]["inputs"]["width"] = 8  # below min
    assert any("below min" in p for p in api_problems(broken))

    broken = copy.deepcopy(prompt)
    broken[ksampler]["inputs"]["scheduler"] = "no-such-scheduler"
    assert any("not one of" in p for p in api_problems(broken))

    broken = copy.deepcopy(prompt)
    del broken[ksampler]["inputs"]["rewards"]
    assert any("'rewards' is missing" in p for p in api_problems(broken))

    broken = copy.deepcopy(prompt)
    broken[latent]["class_type"] = "NoSuchNode"
    assert any("unknown node type" in p for p in api_problems(broken))

    broken = copy.deepcopy(prompt)
    broken[ckpt]["inputs"]["ckpt_name"] = 3  # file lists are dynamic, but must be names
    assert api_problems(broken)


def test_checker_catches_broken_ui_graphs():
    _, graph = _sd15()
    by_type = {n["type"]: n for n in graph["nodes"]}

    broken = copy.deepcopy(graph)
    next(n for n in broken["nodes"] if n["type"] == "EmptyLatentImage")["widgets_values"].pop()
    assert any("widgets_values" in p for p in ui_problems(broken))

    broken = copy.deepcopy(graph)
    broken["links"][0][5] = "IMAGE"
    assert any("says IMAGE" in p for p in ui_problems(broken))

    broken = copy.deepcopy(graph)
    sampler = next(n for n in broken["nodes"] if n["type"] == "SRSoupKSampler")
    sampler["inputs"][0]["link"] = None
    assert any("not connected" in p or "not listed" in p for p in ui_problems(broken))

    broken = copy.deepcopy(graph)
    grid = next(n for n in broken["nodes"] if n["type"] == "SRSoupPreferenceGrid")
    grid["widgets_values"] = [
        "not-a-number" if isinstance(v, (int, float)) else v for v in grid["widgets_values"]
    ]
    assert any("not an integer" in p or "not a number" in p for p in ui_problems(broken))

    broken = copy.deepcopy(graph)
    broken["nodes"] = [n for n in broken["nodes"] if n["id"] != by_type["VAEDecode"]["id"]]
    assert ui_problems(broken)

    # A UI graph whose values drift from its API twin is caught by the twin comparison.
    broken = copy.deepcopy(graph)
    next(n for n in broken["nodes"] if n["type"] == "EmptyLatentImage")["widgets_values"][0] = 768
    prompt, _ = _sd15()
    assert ui_to_api(broken) != prompt


# ---------------------------------------------------------------------------------------------
# The snapshot still describes the pack's nodes (their definitions load without ComfyUI)


def _pack_mappings():
    """The pack's NODE_CLASS_MAPPINGS and display names, imported as a package without ComfyUI."""
    name = "srsoup_pack_for_workflow_tests"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            name, REPO / "__init__.py", submodule_search_locations=[str(REPO)]
        )
        package = importlib.util.module_from_spec(spec)
        sys.modules[name] = package
        spec.loader.exec_module(package)
    definitions = importlib.import_module(f"{name}.nodes")
    return definitions.NODE_CLASS_MAPPINGS, definitions.NODE_DISPLAY_NAME_MAPPINGS


def _json(value):
    """As /object_info serializes it, without tooltips (wording changes do not touch the workflows)."""

    def strip(item):
        if isinstance(item, dict):
            return {k: strip(v) for k, v in item.items() if k != "tooltip"}
        if isinstance(item, list):
            return [strip(v) for v in item]
        return item

    return strip(json.loads(json.dumps(value)))


@pytest.mark.parametrize("name", NAMES)
def test_preference_grids_pass_the_node_validation(name):
    """What PreferenceGrid.VALIDATE_INPUTS runs in the host, and the same vector count as sampler_core."""
    mappings, _ = _pack_mappings()
    grid = mappings["SRSoupPreferenceGrid"]
    for node in load(WORKFLOWS / "api" / f"{name}.json").values():
        if node["class_type"] == "SRSoupPreferenceGrid":
            inputs = node["inputs"]
            assert grid.VALIDATE_INPUTS(**inputs) is True
            _, count, summary = grid().build(**inputs)
            assert count == preference_count(node)[1] == len(summary.splitlines())


def test_snapshot_matches_the_pack_node_classes():
    """A changed INPUT_TYPES / RETURN_TYPES makes node_definitions.json stale: refresh it
    (python workflows/build.py --refresh-definitions) and rebuild the workflows."""
    mappings, display = _pack_mappings()
    snapshot_pack = {k for k, v in NODE_DEFS.items() if "comfyui-srsoup" in v.get("python_module", "")}
    assert snapshot_pack == set(mappings)
    for class_type, cls in mappings.items():
        snap = NODE_DEFS[class_type]
        where = f"{class_type} changed: run python workflows/build.py --refresh-definitions"
        live = _json(cls.INPUT_TYPES())
        assert set(live) - {"hidden"} == set(snap["input"]) - {"hidden"}, where
        for section in ("required", "optional"):
            live_section = live.get(section) or {}
            assert list(live_section) == snap["input_order"].get(section, []), where
            for input_name, spec in live_section.items():
                snap_spec = _json(snap["input"][section][input_name])
                if (class_type, input_name) in DYNAMIC:  # file lists: depend on models/
                    assert combo_list(spec) is not None and spec[1:] == snap_spec[1:], where
                else:
                    assert spec == snap_spec, f"{where}: input {input_name}"
        assert list(cls.RETURN_TYPES) == snap["output"], where
        assert list(getattr(cls, "RETURN_NAMES", cls.RETURN_TYPES)) == snap["output_name"], where
        is_list = list(getattr(cls, "OUTPUT_IS_LIST", [False] * len(cls.RETURN_TYPES)))
        assert is_list == snap["output_is_list"], where
        assert bool(getattr(cls, "OUTPUT_NODE", False)) == snap["output_node"], where
        assert display.get(class_type, class_type) == snap["display_name"], where


# ---------------------------------------------------------------------------------------------
# The committed files are what the builder writes


def test_committed_files_are_up_to_date_with_the_builder():
    spec = importlib.util.spec_from_file_location("srsoup_workflows_build", WORKFLOWS / "build.py")
    build = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = build  # dataclasses look their module up
    try:
        spec.loader.exec_module(build)
    finally:
        del sys.modules[spec.name]
    generated = build.outputs()
    assert {p.name for p in generated if p.parent == WORKFLOWS} == {p.name for p in UI_FILES}
    for path, text in generated.items():
        assert path.read_text(encoding="utf-8") == text, (
            f"{path.name} is stale: run python workflows/build.py"
        )
