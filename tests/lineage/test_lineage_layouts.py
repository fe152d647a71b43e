"""Both lineage file layouts give the same answers: record_lineage files and the legacy per-table files."""

import duckdb
import pyarrow as pa
import pytest

from resources.lineage import LineageStore, LineageWriter, table_data_version
from tests.lineage.legacy_layout import LegacyLineageWriter
from tests.lineage.lineage_graph import ANS, SEED, SFT, SRC, build_graph


def _store(tmp_path, name, writer):
    root = str(tmp_path / name / "_lineage")
    dvs = build_graph(root, writer=writer)
    return LineageStore(root, str(tmp_path / name / "l.duckdb"), keep_open=0), dvs


def _comparable(d):
    for n in d.get("nodes", []):
        for a in n["appearances"]:
            a.pop("created_at")
    return d


@pytest.fixture()
def both(tmp_path):
    new, dvs = _store(tmp_path, "new", LineageWriter)
    old, dvs_old = _store(tmp_path, "old", LegacyLineageWriter)
    assert dvs == dvs_old
    return new, old


def test_same_answers_from_both_layouts(both):
    new, old = both
    assert new.sync() == old.sync() == 7
    st_new, st_old = new.stats(), old.stats()
    for k in (
        "commits",
        "materializations",
        "record_rows",
        "records",
        "edge_rows",
        "edges",
        "sources",
        "generations",
        "checkpoints",
    ):
        assert st_new[k] == st_old[k], k
    for rid in (SFT["x1"], SFT["x2"], SFT["x3"], ANS["a3"], SEED["s4"], SRC["t2"]):
        assert _comparable(new.trace(rid)) == _comparable(old.trace(rid)), rid
    for target in (("source", "train.jsonl"), ("question_seeds", "medqa|train"), ("answers", None)):
        assert new.impact(*target, max_records=None) == old.impact(*target, max_records=None), target
    assert new.impact_record(SRC["t1"], max_records=None) == old.impact_record(SRC["t1"], max_records=None)


def test_views_from_both_layouts(both):
    new, old = both
    new.sync()
    old.sync()
    for store in (new, old):
        with duckdb.connect(store.db_path, read_only=True) as con:
            counts = {
                v: con.execute(f"SELECT count(*) FROM v_{v}").fetchone()[0]
                for v in ("materializations", "records", "edges", "sources", "generations", "checkpoint_inputs")
            }
            assert counts == {
                "materializations": 5,
                "records": 11,
                "edges": 13,
                "sources": 4,
                "generations": 4,
                "checkpoint_inputs": 2,
            }, store.root
            row = con.execute(
                "SELECT asset, partition, model_id, prompt_template, prompt_tokens FROM v_generations "
                "WHERE record_id = ?",
                [ANS["a3"]],
            ).fetchone()
            assert row[:2] == ("answers", "medqa|train") and row[3] == "answer_v1" and row[4] == 102
            src = con.execute("SELECT uri, locator, asset FROM v_sources WHERE source_id = ?", [SRC["t3"]]).fetchone()
            assert src == ("s3://citrus-raw/medqa/train.jsonl", "line 3", "question_seeds")
    with duckdb.connect(new.db_path, read_only=True) as con:  # the raw record_lineage rows, with their commit
        rows = con.execute("SELECT asset, parent_ids FROM v_record_lineage WHERE record_id = ?", [SFT["x1"]]).fetchall()
        assert rows == [("sft_examples", [ANS["a1"], SEED["s1"]])]


def test_mixed_layouts_in_one_lake(tmp_path):
    """A lake written partly by an earlier version: old commits stay readable next to new ones."""
    root = str(tmp_path / "_lineage")
    build_graph(root, writer=LegacyLineageWriter)
    store = LineageStore(root, str(tmp_path / "l.duckdb"))
    assert store.sync() == 7
    # a new version re-materializes sft_examples (new run) and adds a record
    t = pa.table(
        {
            "record_id": [SFT["x1"], "sft-" + "9" * 20],
            "parent_ids": [[ANS["a1"], SEED["s1"]], [SFT["x1"]]],
            "text": ["t", "u"],
        }
    )
    LineageWriter(root).write_materialization(
        asset="sft_examples",
        partition=None,
        run_id="run-2",
        data_version=table_data_version(t),
        code_version="v2",
        table=t,
        data_path="x",
    )
    assert store.sync() == 1
    d = store.trace("sft-" + "9" * 20)
    assert {n["record_id"] for n in d["nodes"]} == {"sft-" + "9" * 20, SFT["x1"], ANS["a1"], SEED["s1"], SRC["t1"]}
    assert (
        len({a["data_version"] for a in next(n for n in d["nodes"] if n["record_id"] == SFT["x1"])["appearances"]}) == 2
    )
    assert store.impact_record(SRC["t1"], max_records=None)["n_descendants"] == 6
    with duckdb.connect(store.db_path, read_only=True) as con:
        assert con.execute("SELECT count(*) FROM v_edges").fetchone()[0] == 13 + 3
        assert (
            con.execute(
                "SELECT list(DISTINCT data_tables) FROM ingested_files WHERE tbl = 'materializations'"
            ).fetchone()[0]
            is not None
        )
    store.close()
