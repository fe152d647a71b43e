"""One home for the generation columns: ``resources.lineage.schema.gen_columns`` (issue 16)."""

import ast
from pathlib import Path

import pyarrow as pa

from resources.lineage.schema import GEN_COLUMNS, GEN_FIELDS, gen_columns

ROOT = Path(__file__).resolve().parents[2]
# Modules that still spell the GEN_* dict by hand: edited by a concurrent change when the helper came in;
# each should call gen_columns too. The list may only shrink.
# judging.py and rewrite.py left it when they became common.llm_task.LLMTask steps (the base adds the columns).
NOT_YET: set[str] = set()


class _Model:
    model_id = "m"
    model_revision = "r1"


def test_gen_columns_fill_the_gen_fields_in_order_and_type_check():
    row = gen_columns(
        _Model(), template="a+b", prompt_hash="h1:h2", sampling='{"t":0}', prompt_tokens=3, completion_tokens=5
    )
    assert list(row) == list(GEN_COLUMNS) == [name for name, _ in GEN_FIELDS]
    assert row == {
        "gen_model_id": "m",
        "gen_model_revision": "r1",
        "gen_prompt_template": "a+b",
        "gen_prompt_hash": "h1:h2",
        "gen_sampling": '{"t":0}',
        "gen_prompt_tokens": 3,
        "gen_completion_tokens": 5,
    }
    pa.Table.from_pylist([row], schema=pa.schema(GEN_FIELDS))  # the values fit the declared types


def _hand_written(path: Path) -> bool:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return any(
        isinstance(k, ast.Name) and k.id == "GEN_MODEL_ID"
        for node in ast.walk(tree)
        if isinstance(node, ast.Dict)
        for k in node.keys
    )


def test_no_new_hand_written_gen_block():
    found = {
        str(p.relative_to(ROOT))
        for pkg in ("citrus_assets", "resources", "training", "quality")
        for p in (ROOT / pkg).rglob("*.py")
        if _hand_written(p)
    }
    found.discard("resources/lineage/schema.py")
    assert found <= NOT_YET, (
        f"build the GEN_* columns with resources.lineage.schema.gen_columns: {sorted(found - NOT_YET)}"
    )
