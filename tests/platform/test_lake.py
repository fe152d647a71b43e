import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from resources.lake import Lake, QuarantineRecord, safe_partition


def small_table(n=3):
    return pa.table({"record_id": [f"x-{i:020x}" for i in range(n)], "parent_ids": [[] for _ in range(n)]})


def test_missing_lake_folder_is_created(tmp_path):
    lake = Lake(str(tmp_path / "does" / "not" / "exist"))
    path = lake.write_asset("seeds", "p1", small_table())
    assert os.path.exists(path)
    assert path.endswith("seeds/p1/data.parquet")
    assert lake.read_table("seeds", "p1").num_rows == 3


def test_partition_paths_are_path_safe(tmp_path):
    lake = Lake(str(tmp_path))
    assert safe_partition(None) == "__all__"
    assert safe_partition("medqa|model-a") == "medqa__model-a"
    assert safe_partition("a/b") == "a_b"
    assert safe_partition("..") == "__"  # never a parent-folder escape
    assert lake.data_path("a", "x|y").endswith("a/x__y/data.parquet")


def test_crash_mid_write_leaves_no_complete_looking_file(tmp_path, monkeypatch):
    lake = Lake(str(tmp_path))
    good = lake.write_asset("seeds", "p1", small_table(2))

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(pq, "write_table", boom)
    with pytest.raises(OSError, match="disk full"):
        lake.write_asset("seeds", "p1", small_table(5))
    with pytest.raises(OSError):
        lake.write_asset("seeds", "p2", small_table(5))
    monkeypatch.undo()
    # The old complete file is untouched, no new partition appeared, no temp files are left.
    assert lake.read_table("seeds", "p1").num_rows == 2
    assert not lake.exists("seeds", "p2")
    leftovers = [
        f
        for _, _, fs in os.walk(tmp_path)
        for f in fs
        if f.startswith(".") and (f.endswith(".tmp") or f.startswith(".tmp-"))
    ]
    assert leftovers == []
    assert os.path.exists(good)


def test_readable_by_duckdb_and_datasets(tmp_path):
    duckdb = pytest.importorskip("duckdb")
    lake = Lake(str(tmp_path))
    path = lake.write_asset("seeds", "p1", small_table(4))
    assert duckdb.connect().execute(f"select count(*) from read_parquet('{path}')").fetchone()[0] == 4


def test_quarantine_roundtrip(tmp_path):
    lake = Lake(str(tmp_path))
    path, n = lake.write_quarantine("seeds", "p1", [QuarantineRecord("f.jsonl", "line 3", "malformed JSON", "{")])
    assert n == 1
    q = lake.read_quarantine("seeds", "p1").to_pylist()
    assert q[0]["source_locator"] == "line 3" and q[0]["reason"] == "malformed JSON"
    # an empty re-run clears the old quarantine file
    assert lake.write_quarantine("seeds", "p1", []) == (None, 0)
    assert lake.read_quarantine("seeds", "p1").num_rows == 0


def test_fsspec_memory_lake():
    lake = Lake("memory://citrus-test-lake")
    lake.write_asset("seeds", "p1", small_table(3))
    assert lake.read_table("seeds", "p1").num_rows == 3
    assert lake.url(lake.data_path("seeds", "p1")).startswith("memory://")


def test_readable_by_polars_and_hf_datasets(tmp_path):
    pl = pytest.importorskip("polars")
    datasets = pytest.importorskip("datasets")
    lake = Lake(str(tmp_path))
    table = pa.table(
        {
            "record_id": ["a-" + "0" * 20, "a-" + "1" * 20],
            "parent_ids": [["src-" + "2" * 20], []],
            "options": [[{"letter": "A", "text": "x"}], [{"letter": "B", "text": "y"}]],
        }
    )
    path = lake.write_asset("seeds", "p1", table)
    assert pl.read_parquet(path).height == 2
    ds = datasets.load_dataset("parquet", data_files=path, split="train", cache_dir=str(tmp_path / "hf"))
    assert ds[0]["options"] == [{"letter": "A", "text": "x"}]
    assert ds[0]["parent_ids"] == ["src-" + "2" * 20]


def _leftovers_then_write(lake: Lake) -> tuple[list[str], list[str], list[str]]:
    """Plant leftovers of interrupted writes (this and the older naming) next to a partition's data file, write the
    partition again; returns (planted names of this version matched by ``*.parquet``, the folder after, planted)."""
    import fnmatch
    import uuid

    from resources.lineage.writer import temp_name

    path = lake.write_asset("seeds", "p1", small_table(2))
    folder = path.rsplit("/", 1)[0]
    planted = [temp_name("data.parquet"), f".tmp-{uuid.uuid4().hex}-data.parquet", temp_name("other.parquet")]
    for name in planted:
        with lake.fs.open(f"{folder}/{name}", "wb") as fh:
            fh.write(b"PAR1 partial")
    matched = [n for n in planted[:1] + planted[2:] if fnmatch.fnmatch(n, "*.parquet")]
    lake.write_asset("seeds", "p1", small_table(3))
    after = sorted(e.rstrip("/").rsplit("/", 1)[-1] for e in lake.fs.ls(folder, detail=False))
    assert lake.read_table("seeds", "p1").num_rows == 3
    return matched, after, planted


def test_next_write_removes_temp_leftovers_local(tmp_path):
    matched, after, planted = _leftovers_then_write(Lake(str(tmp_path)))
    assert matched == []  # temporaries of this version never look like Parquet
    assert after == sorted(["data.parquet", planted[2]])  # only data.parquet's leftovers are its write's to remove


def test_next_write_removes_temp_leftovers_s3(s3_server):
    pytest.importorskip("s3fs")
    from tests.platform.s3_support import s3_environment

    with pytest.MonkeyPatch.context() as mp, s3_environment(mp, s3_server, "leftovers", "s3://leftovers/lake"):
        matched, after, planted = _leftovers_then_write(Lake("s3://leftovers/lake"))
    assert matched == []
    assert after == sorted(["data.parquet", planted[2]])
