"""JMED joins evaluation: release rows become evaluation items the shared answer rule and scoring read."""

import json

from citrus_assets.common.text.answers import extract_answer, is_correct
from citrus_assets.evaluation.jmed_eval import JMED_BENCHMARK, jmed_items
from citrus_assets.evaluation.registry import EVAL_ITEM_SCHEMA
from citrus_assets.evaluation.scoring import item_chance
from citrus_assets.evaluation.standins import jmed_release


def test_release_rows_become_items_with_lineage_and_all_21_options():
    release = jmed_release("2026-11", 5)
    items = jmed_items(release)
    assert items.schema == EVAL_ITEM_SCHEMA and items.num_rows == 5
    rows = items.to_pylist()
    by_parent = {r["parent_ids"][0]: r for r in rows}
    for src in release.to_pylist():
        item = by_parent[src["record_id"]]  # the prediction's lineage reaches the release row
        assert item["benchmark"] == JMED_BENCHMARK and item["question_id"] == src["id"]
        assert item["stem"] == src["question"]
        assert [o["letter"] for o in item["options"]] == [chr(ord("A") + i) for i in range(21)]
        assert item["options"][-1]["text"] == "None of the above"
        assert item["answer_letters"] == src["answer"]
    assert [r["question_id"] for r in rows] == sorted(r["question_id"] for r in rows)
    assert len({r["record_id"] for r in rows}) == 5


def test_max_items_takes_the_first_by_id_and_empty_release_gives_no_items():
    release = jmed_release("2026-11", 6)
    first = jmed_items(release, max_items=3).to_pylist()
    assert [r["question_id"] for r in first] == sorted(release["id"].to_pylist())[:3]
    assert jmed_items(release.slice(0, 0)).num_rows == 0


def test_two_answer_item_needs_both_letters_and_has_its_chance_level():
    item = [r for r in jmed_items(jmed_release("2026-11", 3)).to_pylist() if len(r["answer_letters"]) == 2][0]
    options = {o["letter"]: o["text"] for o in item["options"]}
    both = extract_answer("<answer>B, L</answer>", options)
    one = extract_answer("<answer>B</answer>", options)
    assert is_correct(both.letters, item["answer_letters"]) and not is_correct(one.letters, item["answer_letters"])
    assert abs(item_chance(sorted(options), item["answer_letters"]) - 1 / 210) < 1e-12
    assert json.loads(item["meta"]) == {"department": "general practice", "month": "2026-11"}
