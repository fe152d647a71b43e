"""The commit protocol of a partition write (resources/lineage/commit.py), in-process; the kill -9 drill at every
step is tests/drills/test_drill_commit_protocol.py."""

import os

import pyarrow as pa
import pytest

from resources.lake import Lake
from resources.lineage import LineageWriter, table_data_version
from resources.lineage import commit as C


def _table(tag: str, n: int = 4) -> pa.Table:
    return pa.table(
        {
            "record_id": [f"q-{tag}{i:019d}" for i in range(n)],
            "parent_ids": [[f"src-{i:020d}"] for i in range(n)],
            "text": [f"{tag} {i}" for i in range(n)],
        }
    )


def _names(lake: Lake, asset: str = "a", partition: str = "p") -> list[str]:
    return sorted(os.listdir(os.path.dirname(lake.data_path(asset, partition))))


@pytest.fixture
def lake(tmp_path):
    return Lake(str(tmp_path / "lake"))


def test_published_data_is_tagged_and_read_back_untagged(lake):
    w = LineageWriter(lake.lineage_root)
    res = C.publish_partition(lake, w, asset="a", partition="p", table=_table("v1"), run_id="r1")
    assert res.key == f"{table_data_version(_table('v1'))}-r1" and res.counts["records"] == 4
    assert _names(lake) == ["data.parquet"]
    got = C.read_committed(lake, "a", "p")
    assert got.equals(_table("v1")) and C.COMMIT_METADATA not in (got.schema.metadata or {})
    assert C.data_commit_key(lake.read_table("a", "p")) == res.key


def test_a_failed_lineage_write_leaves_the_previous_version(lake, monkeypatch):
    w = LineageWriter(lake.lineage_root)
    C.publish_partition(lake, w, asset="a", partition="p", table=_table("v1"), run_id="r1")

    def killed(*a, **k):
        raise KeyboardInterrupt("killed before the commit")

    monkeypatch.setattr(w, "write_materialization", killed)
    with pytest.raises(KeyboardInterrupt):
        C.publish_partition(lake, w, asset="a", partition="p", table=_table("v2"), run_id="r2")
    assert _names(lake) == ["data.parquet"]  # staged file removed
    assert C.read_committed(lake, "a", "p").equals(_table("v1"))


def test_committed_but_unpublished_version_is_rolled_forward(lake, monkeypatch):
    w = LineageWriter(lake.lineage_root)
    C.publish_partition(lake, w, asset="a", partition="p", table=_table("v1"), run_id="r1")
    real_move = C.PartitionFiles.move

    def killed(self, src, dst):
        raise KeyboardInterrupt("killed between the commit and the publish")

    monkeypatch.setattr(C.PartitionFiles, "move", killed)
    with pytest.raises(KeyboardInterrupt):
        C.publish_partition(lake, w, asset="a", partition="p", table=_table("v2"), run_id="r2")
    monkeypatch.setattr(C.PartitionFiles, "move", real_move)
    assert len(_names(lake)) == 2 and lake.read_table("a", "p").num_rows == 4  # v1 still in place, v2 staged
    assert C.read_committed(lake, "a", "p").equals(_table("v2"))  # committed: rolled forward
    assert _names(lake) == ["data.parquet"]


def test_uncommitted_data_file_is_refused_and_removed_by_the_next_write(lake):
    w = LineageWriter(lake.lineage_root)
    C.publish_partition(lake, w, asset="a", partition="p", table=_table("v1"), run_id="r1")
    lake.write_asset("a", "p", _table("v2"))  # the old order: data in place, killed before its commit
    with pytest.raises(C.UncommittedDataError):
        C.read_committed(lake, "a", "p")
    # a staged file of a write killed before its commit, and its uncommitted lineage rows (run r3 is dead)
    lake.write_table(_table("v3"), f"{os.path.dirname(lake.data_path('a', 'p'))}/{C.staged_name('0' * 16 + '-r3')}")
    w.write_materialization(
        asset="other",
        partition="p",
        run_id="r3",
        data_version="0" * 16,
        code_version="",
        table=_table("v3"),
        data_path="x",
    )  # no effect on a/p
    os.makedirs(os.path.join(lake.lineage_root, "record_lineage", "a", "p"), exist_ok=True)
    orphan = os.path.join(lake.lineage_root, "record_lineage", "a", "p", "0" * 16 + "-r3.parquet")
    open(orphan, "wb").close()
    res = C.publish_partition(
        lake, w, asset="a", partition="p", table=_table("v4"), run_id="r4", run_is_dead=lambda run: run != "r4"
    )
    assert res.cleanup.removed_uncommitted_data and len(res.cleanup.removed_staged) == 1
    assert res.cleanup.removed_lineage == [orphan] and not os.path.exists(orphan)
    assert _names(lake) == ["data.parquet"] and C.read_committed(lake, "a", "p").equals(_table("v4"))


def test_untagged_files_of_earlier_versions(lake):
    lake.write_asset("a", "p", _table("v1"))  # never under lineage: read as is
    assert C.read_committed(lake, "a", "p").equals(_table("v1"))
    w = LineageWriter(lake.lineage_root)  # an earlier version's write: data first, then its commit
    w.write_materialization(
        asset="a",
        partition="p",
        run_id="r1",
        data_version=table_data_version(_table("v1")),
        code_version="",
        table=_table("v1"),
        data_path="x",
    )
    assert C.read_committed(lake, "a", "p").equals(_table("v1"))  # its content's data version has a commit
    lake.write_asset("a", "p", _table("v2"))  # but different content without a commit is refused
    with pytest.raises(C.UncommittedDataError):
        C.read_committed(lake, "a", "p")


def test_without_lineage_capture_the_table_is_published_untagged(lake):
    res = C.publish_partition(lake, None, asset="a", partition=None, table=_table("v1"), run_id="r1")
    assert res.counts is None and C.data_commit_key(lake.read_table("a", None)) is None
    assert C.read_committed(lake, "a", None).equals(_table("v1"))
