"""A ``StagedParquet`` output (chunk files on disk, streamed by the IO manager; issue 17 goal 3) gives the same
published rows, data version, lineage rows and commit as the concatenated table on the old path."""

import os
import random

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from citrus_assets.common.metadata import output
from resources.lake import Lake, QuarantineRecord, StagedParquet
from resources.lake_io import LakeIOManager
from resources.lineage import LineageWriter, table_data_version
from resources.lineage import commit as C
from resources.lineage import schema as S
from resources.lineage.data_version import DataVersionBuilder


def _table(n: int, seed: int = 0, width_mix: bool = False) -> pa.Table:
    rng = random.Random(seed)
    ids = [f"trace-{rng.getrandbits(80):020x}" + ("x" * rng.randrange(3) if width_mix else "") for _ in range(n)]
    return pa.table(
        {
            "record_id": ids,
            "parent_ids": [[f"q-{i:020d}"] for i in range(n)],
            "transcript": [f"transcript {i} " * (i % 7) for i in range(n)],
            "gen_model_id": ["m"] * n,
            "gen_prompt_tokens": list(range(n)),
        }
    )


def _chunks(table: pa.Table, tmp, sizes: list[int], kind: str = "arrow") -> StagedParquet:
    paths, lo = [], 0
    for k, size in enumerate(sizes):
        part = table.slice(lo, size)
        lo += size
        path = str(tmp / f"chunk-{k}.{kind}")
        if kind == "parquet":
            pq.write_table(part, path, row_group_size=7)
        else:
            with pa.OSFile(path, "wb") as sink, pa.ipc.new_file(sink, part.schema) as w:
                w.write_table(part, max_chunksize=5)
        paths.append(path)
    assert lo == table.num_rows
    return StagedParquet(tuple(paths), table.schema)


@pytest.mark.parametrize("n,width_mix", [(0, False), (1, False), (37, True), (9000, False), (9000, True)])
def test_incremental_data_version_equals_the_whole_table_function(n, width_mix):
    table = _table(n, seed=n, width_mix=width_mix)
    builder = DataVersionBuilder(table.column_names)
    for b in table.to_batches(max_chunksize=1000) if n else []:
        builder.update(b)
    assert builder.hexdigest() == table_data_version(table)
    reordered = table.take(pa.array(list(reversed(range(n))), pa.int64())) if n else table
    assert table_data_version(reordered) == table_data_version(table)  # order-free, as the builder's batches


def test_incremental_data_version_names_the_columns():
    t = _table(10)
    b = DataVersionBuilder(t.column_names + ["extra"])
    b.update(t)
    assert b.hexdigest() != table_data_version(t)
    with pytest.raises(ValueError):
        DataVersionBuilder(["text"])


def _lineage_rows(lake: Lake) -> dict[str, list[dict]]:
    out = {}
    for table in (S.T_RECORD_LINEAGE, S.T_MATERIALIZATIONS):
        root = os.path.join(lake.lineage_root, table)
        files = [os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs if f.endswith(".parquet")]
        rows = [r for f in sorted(files) for r in pq.read_table(f).to_pylist()]
        for r in rows:
            r.pop("created_at", None)
            r.pop("data_path", None)
        out[table] = rows
    return out


@pytest.mark.parametrize("kind", ["arrow", "parquet"])
def test_publish_staged_equals_publish_table(tmp_path, kind):
    table = _table(2503, seed=3)
    staged = _chunks(table, tmp_path, [1000, 0, 1503], kind)
    old, new = Lake(str(tmp_path / "old")), Lake(str(tmp_path / "new"))
    a = C.publish_partition(old, LineageWriter(old.lineage_root), asset="t", partition="p", table=table, run_id="r1")
    b = C.publish_partition(
        new,
        LineageWriter(new.lineage_root),
        asset="t",
        partition="p",
        table=staged,
        run_id="r1",
        data_version=staged.data_version(),
    )
    assert a.key == b.key and a.counts["records"] == b.counts["records"] == 2503
    assert {k: v for k, v in a.counts.items() if k != "commit_path"} == {
        k: v for k, v in b.counts.items() if k != "commit_path"
    }
    got = C.read_committed(new, "t", "p")
    assert got.to_pylist() == C.read_committed(old, "t", "p").to_pylist() == table.to_pylist()
    assert got.schema == table.schema
    assert pq.ParquetFile(new.data_path("t", "p")).metadata.num_row_groups == 2  # streamed, 2,000-row groups
    assert _lineage_rows(new) == _lineage_rows(old) and len(_lineage_rows(new)[S.T_RECORD_LINEAGE]) == 2503
    assert sorted(os.listdir(os.path.dirname(new.data_path("t", "p")))) == ["data.parquet"]
    with pytest.raises(ValueError):
        C.publish_partition(new, None, asset="t", partition="p", table=staged, run_id="r2")


def _materialize(value, root: str) -> tuple:
    @dg.asset(name="traces")
    def traces() -> dg.Output:
        return output(value)  # the data version of a StagedParquet computed batch by batch

    res = dg.materialize([traces], resources={"io_manager": LakeIOManager(root=root)})
    assert res.success
    md = res.asset_materializations_for_node("traces")[0].metadata
    return (
        md["data_version"].value,
        md["dagster/row_count"].value,
        res.get_asset_materialization_events()[0].event_specific_data.materialization.tags.get("dagster/data_version"),
    )


def test_staged_output_through_the_io_manager(tmp_path):
    """An asset returning a StagedParquet and one returning its table publish the same rows, data version and
    lineage; the staged folder is removed once published."""
    table = _table(600, seed=5)
    folder = tmp_path / "spill"
    folder.mkdir()
    staged = _chunks(table, folder, [250, 350])
    staged = StagedParquet(staged.paths, staged.schema, cleanup=str(folder))
    versions = {name: _materialize(value, str(tmp_path / name)) for name, value in (("old", table), ("new", staged))}
    dv = table_data_version(table)
    assert versions["old"] == versions["new"] == (dv, 600, dv)
    old, new = Lake(str(tmp_path / "old")), Lake(str(tmp_path / "new"))
    assert new.read_table("traces").to_pylist() == old.read_table("traces").to_pylist()
    lo, ln = _lineage_rows(old), _lineage_rows(new)
    assert ln[S.T_RECORD_LINEAGE] == lo[S.T_RECORD_LINEAGE] and len(ln[S.T_RECORD_LINEAGE]) == 600
    assert [{k: v for k, v in r.items() if k != "run_id"} for r in ln[S.T_MATERIALIZATIONS]] == [
        {k: v for k, v in r.items() if k != "run_id"} for r in lo[S.T_MATERIALIZATIONS]
    ]
    assert not folder.exists()


def test_write_quarantine_takes_any_iterable(tmp_path):
    lake = Lake(str(tmp_path / "lake"))
    rows = [QuarantineRecord("src", f"loc-{i}", "bad", "raw " * i) for i in range(2345)]
    path, n = lake.write_quarantine("a", "p", iter(rows))  # a generator, streamed
    assert n == 2345 and path
    got = lake.read_quarantine("a", "p")
    assert got.column("source_locator").to_pylist() == [r.source_locator for r in rows]
    assert got.column("raw").to_pylist() == [r.raw for r in rows]
    assert lake.write_quarantine("a", "p", (r for r in [])) == (None, 0)
    assert lake.read_quarantine("a", "p").num_rows == 0


def test_an_empty_staged_output_publishes_an_empty_table(tmp_path):
    schema = _table(1).schema
    old, new = Lake(str(tmp_path / "old")), Lake(str(tmp_path / "new"))
    staged = StagedParquet((), schema)
    assert staged.data_version() == table_data_version(schema.empty_table()) and staged.num_rows == 0
    C.publish_partition(
        old, LineageWriter(old.lineage_root), asset="t", partition="p", table=schema.empty_table(), run_id="r"
    )
    C.publish_partition(
        new,
        LineageWriter(new.lineage_root),
        asset="t",
        partition="p",
        table=staged,
        run_id="r",
        data_version=staged.data_version(),
    )
    got = C.read_committed(new, "t", "p")
    assert got.num_rows == 0 and got.schema == schema
    assert _lineage_rows(new) == _lineage_rows(old)


def test_the_row_filter_applies_to_every_batch(tmp_path):
    table = _table(100, seed=9)
    drop = set(table.column("record_id").to_pylist()[::3])
    staged = _chunks(table, tmp_path, [40, 60])
    kept = StagedParquet(
        staged.paths,
        staged.schema,
        row_filter=lambda t: t.filter(pa.array([r not in drop for r in t.column("record_id").to_pylist()])),
    )
    want = [r for r in table.to_pylist() if r["record_id"] not in drop]
    assert kept.read_all().to_pylist() == want and kept.num_rows == len(want)
    assert kept.data_version() == table_data_version(pa.Table.from_pylist(want, schema=table.schema))
