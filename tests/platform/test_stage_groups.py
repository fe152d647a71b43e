"""One home for asset groups (issue 16 change 2): the stage loader names each stage's group
(``citrus_assets/common/stages.py: stage_group``), asset modules don't."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_asset_is_in_its_stage_group():
    from citrus_assets.definitions import STAGES, defs

    graph = defs.resolve_asset_graph()
    groups = {}
    for stage in STAGES:
        for asset in stage.assets:
            for key in asset.keys:
                groups[key.to_user_string()] = graph.get(key).group_name
    assert groups and set(groups.values()) == {"cpt_corpus", "evaluation", "jmed", "reasoning_data", "training"}
    by_stage = {s.name: {graph.get(k).group_name for a in s.assets for k in a.keys} for s in STAGES}
    assert by_stage == {
        "cpt_corpus": {"cpt_corpus"},
        "evaluation": {"evaluation"},
        "jmed": {"jmed"},
        "model_training": {"training"},
        "reasoning_data": {"reasoning_data"},
    }


def test_asset_modules_name_no_group():
    found = {
        str(p.relative_to(ROOT))
        for p in (ROOT / "citrus_assets").rglob("*.py")
        if "group_name=" in p.read_text(encoding="utf-8")
    }
    found.discard("citrus_assets/common/stages.py")
    assert not found, f"the stage loader sets the group (common/stages.py): {sorted(found)}"
