"""Snapshot of the asset graph: a change to assets, groups, deps, partitions or checks shows up in review.

Regenerate after an intended change with ``CITRUS_UPDATE_SNAPSHOT=1 pytest tests/platform/test_definitions.py``.
"""

import json
import os
from pathlib import Path

import dagster as dg

from citrus_assets.definitions import defs

SNAPSHOT = Path(__file__).with_name("asset_graph.snapshot.json")


def graph_summary() -> dict:
    graph = defs.resolve_asset_graph()
    out = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        out[key.to_user_string()] = {
            "group": node.group_name,
            "deps": sorted(k.to_user_string() for k in node.parent_keys),
            "partitions": type(node.partitions_def).__name__ if node.partitions_def else None,
            "checks": sorted(c.name for c in node.check_keys),
            "has_code_version": bool(node.code_version),
        }
    return out


def test_asset_graph_matches_snapshot():
    summary = graph_summary()
    if os.environ.get("CITRUS_UPDATE_SNAPSHOT") == "1" or not SNAPSHOT.exists():
        SNAPSHOT.write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    assert summary == json.loads(SNAPSHOT.read_text())


def test_every_asset_has_a_code_version_and_a_check():
    for name, node in graph_summary().items():
        assert node["has_code_version"], name
        assert node["checks"], f"{name} has no quality check"


def test_definitions_load_and_jobs_resolve():
    assert defs.resolve_job_def("reasoning_data_job") is not None
    assert isinstance(defs.resources["io_manager"], dg.ConfigurableIOManager)


def test_prompt_edit_changes_code_version(monkeypatch, tmp_path):
    from citrus_assets.common import prompts

    base = prompts.code_version("judge-v1", "citrus_system", "citrus_mcq_user")
    (tmp_path / "citrus_system.txt").write_text("edited system prompt")
    (tmp_path / "citrus_mcq_user.txt").write_text((prompts.PROMPT_DIR / "citrus_mcq_user.txt").read_text())
    monkeypatch.setattr(prompts, "PROMPT_DIR", tmp_path)
    prompts.load_prompt.cache_clear()
    try:
        assert prompts.code_version("judge-v1", "citrus_system", "citrus_mcq_user") != base
    finally:
        monkeypatch.undo()
        prompts.load_prompt.cache_clear()


def test_no_asset_is_stored_with_pickle():
    """Security: every asset output goes through the lake's Parquet IO manager (Dagster's default IO
    manager pickles; a pickle from a shared lake runs code when loaded)."""
    from resources.lake_io import LakeIOManager

    graph = defs.resolve_asset_graph()
    keys = set()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        if not node.is_materializable:
            continue
        assets_def = graph.assets_def_for_key(key)
        keys.add(assets_def.get_io_manager_key_for_asset_key(key))
    assert keys == {"io_manager"}, f"assets stored by other IO managers: {keys}"
    manager = defs.resources["io_manager"]
    assert isinstance(manager, LakeIOManager)
    assert not any(
        "pickle" in type(r).__name__.lower() or "pickle" in type(r).__module__ for r in defs.resources.values()
    )


def test_asset_graph_picture_is_current():
    """docs/asset_graph.md (the Mermaid picture in the README) matches the definitions."""
    import importlib.util

    path = Path(__file__).resolve().parents[2] / "scripts" / "asset_graph_mermaid.py"
    spec = importlib.util.spec_from_file_location("asset_graph_mermaid", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    text = mod.document()
    if os.environ.get("CITRUS_UPDATE_SNAPSHOT") == "1":
        mod.OUT.write_text(text, encoding="utf-8")
    assert mod.OUT.read_text(encoding="utf-8") == text, "run scripts/asset_graph_mermaid.py"
    assert text.count("subgraph") == 5 and all(t in text for t in mod.STAGE_TITLES.values())
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    assert "```mermaid\n" + mod.mermaid() + "\n```" in readme, "README's graph picture is out of date"


def test_main_job_covers_every_asset():
    """Every asset of the code location is materialized by a step of the main job (citrus demo)."""
    from citrus_assets.jobs import MAIN_PLAN

    covered = set()
    for step in MAIN_PLAN:
        job = defs.resolve_job_def(step.job)
        covered |= {k.to_user_string() for k in job.asset_layer.selected_asset_keys}
    everything = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    assert everything - covered == set()


def test_main_job_step_configs_are_valid():
    """The main job's per-step demo settings (MainStep.ops) validate against each job's run config schema."""
    from citrus_assets.jobs import MAIN_PLAN

    steps = [s for s in MAIN_PLAN if s.ops]
    assert steps
    for step in steps:
        dg.validate_run_config(defs.resolve_job_def(step.job), {"ops": step.ops})
    bad = {"ops": {"reasoning_traces": {"config": {"max_attempt": 1}}}}
    import pytest

    with pytest.raises(dg.DagsterInvalidConfigError):
        dg.validate_run_config(defs.resolve_job_def("reasoning_data_job"), bad)
