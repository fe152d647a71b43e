import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import resources.lineage.writer as W
from resources.lineage import LineageWriter, table_data_version
from resources.lineage import schema as S


def _table(n=10, with_gen=True, with_src=True):
    cols = {
        "record_id": [f"ans-{i:020x}" for i in range(n)],
        "parent_ids": [[f"src-{i:020x}", f"src-{i + 1:020x}"] if i % 3 else [f"src-{i:020x}"] for i in range(n)],
        "payload": ["x"] * n,
    }
    if with_src:
        cols["source_uri"] = ["s3://b/f.jsonl" if i % 2 == 0 else None for i in range(n)]
        cols["source_locator"] = [f"line {i}" if i % 2 == 0 else None for i in range(n)]
    if with_gen:
        cols["gen_model_id"] = ["m" if i < 4 else None for i in range(n)]
        cols["gen_prompt_tokens"] = [7] * n
    return pa.table(cols)


def _files(root):
    out = []
    for d, _, fs in os.walk(root):
        out += [os.path.relpath(os.path.join(d, f), root) for f in fs]
    return sorted(out)


def test_write_materialization_counts_and_layout(tmp_path):
    t = _table()
    dv = table_data_version(t)
    res = LineageWriter(str(tmp_path)).write_materialization(
        asset="answers", partition="medqa|dev/2", run_id="r1", data_version=dv, code_version="c",
        table=t, data_path="lake/answers/x/data.parquet",
    )
    n_edges = sum(2 if i % 3 else 1 for i in range(10))
    n_src = sum(2 if i % 3 else 1 for i in range(10) if i % 2 == 0)
    assert {k: res[k] for k in ("records", "edges", "sources", "generations", "materializations")} == {
        "records": 10, "edges": n_edges, "sources": n_src, "generations": 4, "materializations": 1
    }
    name = f"{dv}-r1.parquet"
    assert _files(tmp_path) == sorted(f"{t}/answers/medqa__dev_2/{name}" for t in
                                      ("records", "edges", "sources", "generations", "materializations"))
    for table in ("records", "edges", "sources", "generations", "materializations"):
        got = pq.read_table(tmp_path / table / "answers" / "medqa__dev_2" / name)
        assert got.num_rows == res[table]
        assert got.schema.names == S.SCHEMAS[table].names
        assert set(got.column("partition").to_pylist()) == {"medqa|dev/2"}  # rows keep the real key
    edges = pq.read_table(tmp_path / "edges" / "answers" / "medqa__dev_2" / name).to_pylist()
    assert {"child_id": "ans-" + "0" * 19 + "1", "parent_id": "src-" + "0" * 19 + "2"} in [
        {k: e[k] for k in ("child_id", "parent_id")} for e in edges]
    src = pq.read_table(tmp_path / "sources" / "answers" / "medqa__dev_2" / name).to_pylist()
    assert {(s["source_id"], s["uri"], s["locator"]) for s in src} >= {("src-" + "0" * 20, "s3://b/f.jsonl", "line 0")}
    commit = pq.read_table(tmp_path / "materializations" / "answers" / "medqa__dev_2" / name).to_pylist()[0]
    assert commit["n_records"] == 10 and commit["data_version"] == dv and commit["data_path"].endswith("data.parquet")


def test_empty_tables_and_no_optional_columns(tmp_path):
    t = _table(with_gen=False, with_src=False)
    res = LineageWriter(str(tmp_path)).write_materialization(
        asset="a", partition=None, run_id="r", data_version="dv", code_version=None, table=t, data_path="p")
    assert res["sources"] == 0 and res["generations"] == 0
    assert _files(tmp_path) == sorted(f"{x}/a/__all__/dv-r.parquet" for x in ("records", "edges", "materializations"))


def test_commit_row_is_written_last(tmp_path, monkeypatch):
    order = []
    real = W.LineageWriter._write_atomic

    def spy(self, table, path):
        order.append(path.split(os.sep)[-4] if os.sep in path else path.split("/")[-4])
        return real(self, table, path)

    monkeypatch.setattr(W.LineageWriter, "_write_atomic", spy)
    LineageWriter(str(tmp_path)).write_materialization(
        asset="a", partition="p", run_id="r", data_version="dv", code_version="c", table=_table(), data_path="x")
    assert order[-1] == "materializations" and len(order) == 5


def test_atomic_write_leaves_no_partial_file(tmp_path, monkeypatch):
    """A crash mid-write leaves neither a final-name file nor a temp file, and no commit."""
    real = pq.write_table
    calls = {"n": 0}

    def failing(table, where, **kw):
        calls["n"] += 1
        if calls["n"] == 2:  # the edges file: write half of it, then die
            real(table.slice(0, max(1, table.num_rows // 2)), where, **kw)
            raise OSError("disk full")
        return real(table, where, **kw)

    monkeypatch.setattr(W.pq, "write_table", failing)
    with pytest.raises(OSError):
        LineageWriter(str(tmp_path)).write_materialization(
            asset="a", partition="p", run_id="r", data_version="dv", code_version="c", table=_table(), data_path="x")
    files = _files(tmp_path)
    assert files == ["records/a/p/dv-r.parquet"]  # only the completed file; no edges, no temp, no commit
    assert not any(f.startswith("materializations") for f in files)


def test_parent_ids_nulls_and_large_list(tmp_path):
    t = pa.table({
        "record_id": ["a-1", "a-2", "a-3"],
        "parent_ids": pa.array([["p-1", None], None, []], pa.large_list(pa.large_string())),
    })
    res = LineageWriter(str(tmp_path)).write_materialization(
        asset="a", partition="p", run_id="r", data_version="dv", code_version="c", table=t, data_path="x")
    assert res["records"] == 3 and res["edges"] == 1


def test_rejects_bad_tables(tmp_path):
    w = LineageWriter(str(tmp_path))
    with pytest.raises(ValueError):
        w.write_materialization(asset="a", partition="p", run_id="r", data_version="d", code_version="c",
                                table=pa.table({"record_id": ["x"]}), data_path="x")
    with pytest.raises(ValueError):
        w.write_materialization(asset="a", partition="p", run_id="r", data_version="d", code_version="c",
                                table=pa.table({"record_id": [None, "x"], "parent_ids": [[], []]}), data_path="x")


def test_table_data_version():
    ids = [f"ans-{i * 7919 % 1000:020x}" for i in range(1000)]
    a = pa.table({"record_id": ids, "parent_ids": [[]] * 1000})
    b = pa.table({"record_id": pa.chunked_array([ids[500:], ids[:500]]), "parent_ids": [[]] * 1000})
    assert table_data_version(a) == table_data_version(b)  # row order and chunking do not matter
    assert len(table_data_version(a)) == 16
    assert table_data_version(a) != table_data_version(a.slice(1))
    assert table_data_version(a) != table_data_version(a.append_column("x", pa.array([1] * 1000)))
    mixed = ids[:-1] + ["q-1"]  # unequal lengths take the general path
    assert table_data_version(pa.table({"record_id": mixed})) == table_data_version(
        pa.table({"record_id": sorted(mixed, reverse=True)}))
    assert table_data_version(pa.table({"record_id": pa.array([], pa.string())}))


def test_checkpoint_inputs_file(tmp_path):
    p = LineageWriter(str(tmp_path)).write_checkpoint_inputs(
        checkpoint_asset="ckpt", checkpoint_partition=None, checkpoint_data_version="v1", run_id="r",
        inputs=[("sft", "a|b", "dv1"), ("sft", None, "dv2")])
    rows = pq.read_table(p).to_pylist()
    assert p.endswith(os.path.join("checkpoint_inputs", "ckpt", "__all__", "v1-r.parquet"))
    assert [(r["input_asset"], r["input_partition"], r["input_data_version"]) for r in rows] == [
        ("sft", "a|b", "dv1"), ("sft", "__all__", "dv2")]
