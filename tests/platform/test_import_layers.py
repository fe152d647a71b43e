"""The direction of imports drawn in docs/ARCHITECTURE.md, asserted on the import graph (issue 16).

Uses the graph of ``test_import_cycles.import_graph`` (every import statement, lazy and ``TYPE_CHECKING`` ones
included). Layers, top to bottom: the entry points of ``citrus_assets`` (cli, definitions, demo, jobs,
resources_config, executors, instance_check), the stage packages, ``citrus_assets.common``, then ``quality`` /
``training``, then ``resources``. Nothing imports upwards, except the back edges the doc names.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

_spec = importlib.util.spec_from_file_location("_import_cycles", Path(__file__).with_name("test_import_cycles.py"))
assert _spec and _spec.loader
_cycles = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_cycles)

ENTRY = ("cli", "definitions", "demo", "jobs", "resources_config", "executors", "instance_check")
STAGES = ("cpt_corpus", "reasoning_data", "model_training", "evaluation", "jmed")
# stage -> the other stages it may import (docs/ARCHITECTURE.md, section 1)
STAGE_DEPS = {
    "cpt_corpus": set(),
    "reasoning_data": {"cpt_corpus"},
    "model_training": {"reasoning_data"},
    "evaluation": {"model_training", "reasoning_data", "jmed"},
    "jmed": set(),
}
# common -> stage back edges the doc lists (module -> stages it may import)
COMMON_BACK_EDGES = {
    "citrus_assets.common.decontamination.index": {"reasoning_data"},
    "citrus_assets.common.decontamination.checks": {"cpt_corpus", "model_training", "reasoning_data"},
}


def _layer(module: str) -> tuple[str, str]:
    parts = module.split(".")
    if parts[0] != "citrus_assets":
        return parts[0], parts[0]
    if len(parts) == 1:
        return "package", ""
    if parts[1] in ENTRY:
        return "entry", parts[1]
    if parts[1] in STAGES:
        return "stage", parts[1]
    return parts[1], parts[1]  # common


def edges() -> list[tuple[str, str]]:
    graph = _cycles.import_graph()
    return [(a, b) for a, bs in graph.items() for b in bs]


def test_the_graph_covers_every_layer():
    layers = {_layer(a)[0] for a, _ in edges()}
    assert {"entry", "stage", "common", "resources", "quality"} <= layers


def test_lower_layers_never_import_citrus_assets():
    bad = [
        (a, b)
        for a, b in edges()
        if a.split(".")[0] in ("resources", "training", "quality") and b.split(".")[0] == "citrus_assets"
    ]
    assert not bad, bad


def test_training_imports_nothing_of_the_lake_and_quality_only_the_lake_module():
    bad = [
        (a, b)
        for a, b in edges()
        if (a.startswith("training") and not b.startswith("training"))
        or (a.startswith("quality") and not (b.startswith("quality") or b == "resources.lake"))
    ]
    assert not bad, bad


def test_nothing_below_the_entry_points_imports_them():
    bad = [(a, b) for a, b in edges() if _layer(b)[0] == "entry" and _layer(a)[0] != "entry"]
    assert not bad, bad


def test_stages_import_only_the_stages_the_doc_names():
    bad = []
    for a, b in edges():
        (la, sa), (lb, sb) = _layer(a), _layer(b)
        if la == "stage" and lb == "stage" and sa != sb and sb not in STAGE_DEPS[sa]:
            bad.append((a, b))
        if la == "common" and lb == "stage" and sb not in COMMON_BACK_EDGES.get(a, set()):
            bad.append((a, b))
    assert not bad, "new upward or cross-stage import; update docs/ARCHITECTURE.md or invert it:\n" + "\n".join(
        f"{a} -> {b}" for a, b in bad
    )
