"""The DuckDB file is a derived index: a stale or broken one is rebuilt from the Parquet files."""

import logging
import os

import duckdb
import pytest

from resources.lineage import LineageStore
from resources.lineage.index import SCHEMA_VERSION
from tests.lineage.lineage_graph import SFT, SRC, build_graph


@pytest.fixture()
def lake(tmp_path):
    root = str(tmp_path / "lake" / "_lineage")
    build_graph(root)
    return root, str(tmp_path / "lake" / "_lineage" / "lineage.duckdb")


def _write_old_index(db, root, version):
    """An index as an older store left it: other table layout (no ``mid``), every commit marked ingested."""
    commits = [
        f"materializations/{a}/{p}/{f}"
        for a in os.listdir(f"{root}/materializations")
        for p in os.listdir(f"{root}/materializations/{a}")
        for f in os.listdir(f"{root}/materializations/{a}/{p}")
    ]
    with duckdb.connect(db) as con:
        if version is not None:
            con.execute("CREATE TABLE lineage_meta (key VARCHAR PRIMARY KEY, value VARCHAR)")
            con.execute("INSERT INTO lineage_meta VALUES ('schema_version', ?)", [version])
        con.execute("CREATE TABLE ingested_files (path VARCHAR, tbl VARCHAR)")
        con.executemany("INSERT INTO ingested_files VALUES (?, 'materializations')", [[c] for c in commits])
        con.execute(
            "CREATE TABLE records (record_id VARCHAR, asset VARCHAR, partition VARCHAR, data_version VARCHAR,"
            " run_id VARCHAR)"
        )
        con.execute("CREATE TABLE edges (child_id VARCHAR, parent_id VARCHAR, asset VARCHAR)")
        con.execute("CREATE TABLE materializations (asset VARCHAR, partition VARCHAR, run_id VARCHAR)")
    return len(commits)


def _assert_current(store):
    with duckdb.connect(store.db_path, read_only=True) as con:
        assert (
            con.execute("SELECT value FROM lineage_meta WHERE key = 'schema_version'").fetchone()[0] == SCHEMA_VERSION
        )
        assert con.execute("SELECT count(*) FROM ingested_files").fetchone()[0] == 7


@pytest.mark.parametrize("version", ["0", None], ids=["old-version", "unversioned"])
def test_old_schema_is_rebuilt_on_query(lake, caplog, version):
    root, db = lake
    n = _write_old_index(db, root, version)
    assert n == 5
    with duckdb.connect(db, read_only=True) as con:  # what broke queries before
        with pytest.raises(duckdb.BinderException):
            con.execute("SELECT mid FROM records").fetchall()
    store = LineageStore(root, db)
    with caplog.at_level(logging.WARNING, logger="resources.lineage.store"):
        d = store.trace(SFT["x2"], sync=False)  # a stale index is rebuilt even without syncing new commits
    assert d["n_nodes"] == 6 and {n["record_id"] for n in d["nodes"]} >= {SRC["t1"], SRC["t3"]}
    assert any("must be rebuilt" in r.getMessage() for r in caplog.records)
    store.close()
    _assert_current(store)
    assert store.impact("source", "train.jsonl")["n_descendants"] == 8
    assert store.sync() == 0  # nothing left to ingest, no second rebuild
    store.close()


def test_old_schema_is_rebuilt_by_sync(lake, caplog):
    root, db = lake
    _write_old_index(db, root, "1")
    store = LineageStore(root, db)
    with caplog.at_level(logging.WARNING, logger="resources.lineage.store"):
        assert store.sync() == 7  # every commit again, although the old file listed them as ingested
    assert sum("must be rebuilt" in r.getMessage() for r in caplog.records) == 1
    _assert_current(store)
    st = store.stats()
    assert (st["records"], st["edges"], st["sources"], st["generations"], st["checkpoints"]) == (11, 13, 4, 4, 2)
    store.close()


@pytest.mark.parametrize("content", [b"this is not a duckdb file" * 500, b""], ids=["garbage", "empty"])
def test_unreadable_file_is_rebuilt(lake, caplog, content):
    root, db = lake
    with open(db, "wb") as fh:
        fh.write(content)
    with open(db + ".wal", "wb") as fh:  # a stray WAL must not be replayed onto the new file
        fh.write(b"junk")
    store = LineageStore(root, db)
    with caplog.at_level(logging.WARNING, logger="resources.lineage.store"):
        assert store.trace(SFT["x2"])["n_nodes"] == 6
    assert any("cannot open" in r.getMessage() for r in caplog.records)
    store.close()
    _assert_current(store)
    assert store.sync() == 0
    assert store.impact_record(SRC["t1"], max_records=None)["n_descendants"] == 5
    store.close()


def test_current_index_is_not_rebuilt(lake, caplog):
    root, db = lake
    store = LineageStore(root, db)
    assert store.sync() == 7
    with caplog.at_level(logging.WARNING, logger="resources.lineage.store"):
        assert store.sync() == 0
        assert store.trace(SFT["x1"])["n_nodes"] == 4
    assert not [r for r in caplog.records if "rebuilt" in r.getMessage()]
    store.close()
