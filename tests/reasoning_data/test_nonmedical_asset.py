"""nonmedical_reasoning: the non-medical folder as an asset, each row citing its file and line; bad lines
quarantined, and the quarantine's path and count in the materialization's metadata (lake IO manager)."""

import json

import dagster as dg
import pyarrow.parquet as pq
import pytest

from citrus_assets.reasoning_data.mixes.nonmedical_assets import NONMEDICAL_ASSET, nonmedical_reasoning

GOOD = [
    {"problem": "What is 2+3?", "solution": "2 plus 3 is 5.", "answer": "5"},
    {"problem": "All A are B; x is A. Is x B?", "solution": "x is A, so x is B.", "answer": "yes"},
]


def test_rows_cite_file_and_line_and_quarantine_is_in_metadata(tmp_path, lake_resources):
    folder = tmp_path / "nonmed"
    folder.mkdir()
    src = folder / "logic.jsonl"
    src.write_text(json.dumps(GOOD[0]) + "\nnot json\n" + json.dumps(GOOD[1]) + "\n", encoding="utf-8")
    resources = lake_resources()  # the code location's resources on tmp_path / "lake"
    res = dg.materialize(
        [nonmedical_reasoning],
        resources=resources,
        run_config={"ops": {NONMEDICAL_ASSET: {"config": {"nonmedical_dir": str(folder)}}}},
    )
    [mat] = [e.materialization for e in res.get_asset_materialization_events()]
    md = mat.metadata
    assert md["dagster/row_count"].value == 2
    assert md["quarantined"].value == 1
    qpath = md["quarantine_path"].value
    quarantine = pq.read_table(qpath).to_pylist()
    assert [(q["source_uri"], q["source_locator"], q["raw"]) for q in quarantine] == [
        (str(src), "logic.jsonl line 2", "not json")
    ]
    table = pq.read_table(md["path"].value).to_pylist()
    assert [r["source_locator"] for r in table] == ["line 1", "line 3"]
    assert {r["source_uri"] for r in table} == {str(src)}
    assert all(r["parent_ids"] and r["messages"][-1]["content"].startswith("<think>") for r in table)


def test_clean_folder_has_no_quarantine_metadata(tmp_path, lake_resources):
    folder = tmp_path / "nonmed"
    folder.mkdir()
    (folder / "math.jsonl").write_text(json.dumps(GOOD[0]) + "\n", encoding="utf-8")
    resources = lake_resources()  # the code location's resources on tmp_path / "lake"
    res = dg.materialize(
        [nonmedical_reasoning],
        resources=resources,
        run_config={"ops": {NONMEDICAL_ASSET: {"config": {"nonmedical_dir": str(folder)}}}},
    )
    [mat] = [e.materialization for e in res.get_asset_materialization_events()]
    assert "quarantine_path" not in mat.metadata and mat.metadata["quarantined"].value == 0


def test_stage3_mix_from_the_asset_rows_equals_the_mix_from_the_folder(tmp_path, repo_root, lake_resources):
    """sft_stage3_mix takes nonmedical_reasoning's rows through the IO manager: on the bundled sample, the mix
    is the one the folder's rows give (same texts, same order); each non-medical mix row's only parent is the
    asset record (``record_id("s3mix", <record id>)``), which cites the file and line."""
    import pyarrow as pa

    from citrus_assets.reasoning_data.mixes.nonmedical import DEFAULT_DIR, load_nonmedical
    from citrus_assets.reasoning_data.mixes.stage3 import select_stage3
    from citrus_assets.reasoning_data.schemas import DIFFICULTY_SCHEMA, SFT_EXAMPLE_SCHEMA
    from resources.lake import Lake
    from resources.lineage.ids import record_id

    folder = repo_root / DEFAULT_DIR
    if not folder.is_dir():
        pytest.skip("no bundled non-medical sample")
    resources = lake_resources()  # the code location's resources on tmp_path / "lake"
    lake = resources["lake"].root
    assert dg.materialize(
        [nonmedical_reasoning],
        resources=resources,
        run_config={"ops": {NONMEDICAL_ASSET: {"config": {"nonmedical_dir": str(folder)}}}},
    ).success
    from_asset = Lake(lake).read_table(NONMEDICAL_ASSET).to_pylist()
    from_folder = load_nonmedical(folder).rows
    assert [r["record_id"] for r in from_asset] == [r["record_id"] for r in from_folder]
    empty = pa.Table.from_pylist([], schema=SFT_EXAMPLE_SCHEMA), pa.Table.from_pylist([], schema=DIFFICULTY_SCHEMA)
    for ratio, floor in ((0.0, 4), (0.0, 8), (1.0, 100)):
        a, b = (
            select_stage3(*empty, rows, easy_share=0.5, nonmedical_ratio=ratio, min_nonmedical=floor).rows
            for rows in (from_asset, from_folder)
        )
        assert [(r["messages"], r["source"], r["category"]) for r in a] == [
            (r["messages"], r["source"], r["category"]) for r in b
        ]
        assert [r["record_id"] for r in a] == [r["record_id"] for r in b]
        assert len(a) == min(floor, len(from_asset)) > 0
        records = {r["record_id"]: r for r in from_asset}
        for row in a:
            [parent] = row["parent_ids"]
            assert row["record_id"] == record_id("s3mix", parent) and row["source_uri"] is None
            assert records[parent]["messages"] == row["messages"] and records[parent]["source_locator"]
