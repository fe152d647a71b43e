"""The graph reads like the paper: every asset has its paper stage, an owner, an engine and a description
(``citrus_assets/common/stage_metadata.py``), JMED feeds evaluation and no input folder is left off the graph."""

import re

import dagster as dg

from citrus_assets.common.stage_metadata import PAPER_STAGES, STAGE_TABLE, STAGE_TAG, describe, markdown_safe
from citrus_assets.definitions import STAGES, defs

GROUP_OF_STAGE = {
    "cpt": "cpt_corpus",
    "reasoning_data": "reasoning_data",
    "training": "training",
    "evaluation": "evaluation",
    "jmed": "jmed",
}


def _nodes():
    graph = defs.resolve_asset_graph()
    return {k.to_user_string(): graph.get(k) for k in graph.get_all_asset_keys()}


def test_every_asset_has_description_owner_stage_tag_and_kind():
    nodes = _nodes()
    assert set(nodes) == set(STAGE_TABLE), "STAGE_TABLE and the code location list different assets"
    for name, node in nodes.items():
        info = STAGE_TABLE[name]
        assert node.description and node.description.startswith(markdown_safe(info.paper)), name
        outside_code = re.sub(r"`[^`]*`", "", node.description)
        assert not re.search(r"<(think|answer|Question|prompt)\b", outside_code), f"{name}: raw tag in Markdown"
        assert len(node.description) > len(info.paper) + 20, f"{name}: the asset's own description was lost"
        assert node.owners == [PAPER_STAGES[info.stage][0]], name
        assert node.tags[STAGE_TAG] == info.stage in PAPER_STAGES, name
        assert GROUP_OF_STAGE[info.stage] == node.group_name, f"{name}: tag {info.stage} in group {node.group_name}"
        assert set(info.kinds) <= set(node.kinds) and node.kinds, name


def test_engines_are_shown():
    nodes = _nodes()
    assert "pymupdf" in nodes["pdf_documents"].kinds
    assert "datatrove" in nodes["web_documents"].kinds
    assert "trl" in nodes["rl_checkpoint"].kinds and "trl" in nodes["preference_pairs"].kinds
    assert "transformers" in nodes["sft_stage3_checkpoint"].kinds


def test_describe_is_idempotent_and_keeps_code_versions():
    spec = dg.AssetSpec("rl_checkpoint", description="own words", kinds={"parquet"}, tags={"x": "1"})
    once = describe(spec)
    assert describe(once).description == once.description
    assert once.tags["x"] == "1" and {"parquet", "trl"} <= once.kinds
    raw = {a.key.to_user_string(): a for s in STAGES for a in s.assets}
    graph = defs.resolve_asset_graph()
    for name, a in raw.items():
        assert graph.get(dg.AssetKey(name)).code_version == a.specs_by_key[dg.AssetKey(name)].code_version


def test_jmed_release_is_evaluated_downstream_of_the_final_checkpoint():
    nodes = _nodes()
    parents = {p.to_user_string() for p in nodes["eval_jmed"].parent_keys}
    assert parents == {"jmed_benchmark", "rl_checkpoint"}
    assert nodes["eval_jmed"].group_name == "evaluation"


def test_nonmedical_folder_is_an_asset_upstream_of_its_readers():
    nodes = _nodes()
    for reader in ("sft_stage3_mix", "rejection_samples"):
        assert dg.AssetKey("nonmedical_reasoning") in nodes[reader].parent_keys, reader


def test_main_job_runs_carry_the_code_location_tag():
    """The UI lists a job's runs by the repository tag; its location must be workspace.yaml's."""
    from pathlib import Path

    import yaml

    from citrus_assets.jobs import CODE_LOCATION, job_page_tags

    ws = yaml.safe_load((Path(__file__).resolve().parents[2] / "workspace.yaml").read_text())
    locations = [e["python_module"]["location_name"] for e in ws["load_from"]]
    assert locations == [CODE_LOCATION]
    assert job_page_tags() == {".dagster/repository": f"__repository__@{CODE_LOCATION}"}
