"""resources.lineage.ids.keep_first_by_id: the one place that keeps a record once and merges a repeat's parents."""

from resources.lineage.ids import keep_first_by_id


def test_a_repeat_is_not_kept_and_adds_its_parents():
    kept: dict[str, dict] = {}
    a = {"record_id": "doc-1", "parent_ids": ["src-b"]}
    assert keep_first_by_id(kept, a) is True
    assert keep_first_by_id(kept, {"record_id": "doc-1", "parent_ids": ["src-a", "src-b"]}) is False
    assert keep_first_by_id(kept, {"record_id": "doc-2", "parent_ids": []}) is True
    assert list(kept) == ["doc-1", "doc-2"] and kept["doc-1"] is a
    assert a["parent_ids"] == ["src-a", "src-b"]
