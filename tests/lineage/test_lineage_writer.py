import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import resources.lineage.writer as W
from resources.lineage import LineageWriter, table_data_version


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


def _read(root, table, rel):
    return pq.read_table(os.path.join(root, table, *rel.split("/")))


def test_write_materialization_counts_and_layout(tmp_path):
    t = _table()
    dv = table_data_version(t)
    res = LineageWriter(str(tmp_path)).write_materialization(
        asset="answers",
        partition="medqa|dev/2",
        run_id="r1",
        data_version=dv,
        code_version="c",
        table=t,
        data_path="lake/answers/x/data.parquet",
    )
    n_edges = sum(2 if i % 3 else 1 for i in range(10))
    n_src = sum(2 if i % 3 else 1 for i in range(10) if i % 2 == 0)
    assert {k: res[k] for k in ("records", "edges", "sources", "generations", "materializations")} == {
        "records": 10,
        "edges": n_edges,
        "sources": n_src,
        "generations": 4,
        "materializations": 1,
    }
    rel = f"answers/medqa__dev_2/{dv}-r1.parquet"
    assert _files(tmp_path) == [f"materializations/{rel}", f"record_lineage/{rel}"]  # one data file + the commit
    got = _read(tmp_path, "record_lineage", rel)
    # exactly the lineage columns of the asset table (no payload, no per-row constants), values unchanged
    assert got.column_names == [
        "record_id",
        "parent_ids",
        "source_uri",
        "source_locator",
        "gen_model_id",
        "gen_prompt_tokens",
    ]
    assert got.to_pydict() == t.select(got.column_names).to_pydict()
    assert got.schema.field("record_id").nullable is False  # no nulls: written REQUIRED
    commit = _read(tmp_path, "materializations", rel).to_pylist()[0]
    assert commit["n_records"] == 10 and commit["data_version"] == dv and commit["data_path"].endswith("data.parquet")
    assert commit["partition"] == "medqa|dev/2" and commit["asset"] == "answers"  # the real key


def test_constant_columns_and_single_parents(tmp_path):
    """Constant columns are stored as one-value dictionaries and one parent per record as a flat column;
    reading the file gives the asset's values back."""
    n = 5000
    t = pa.table(
        {
            "record_id": pa.chunked_array(
                [[f"ans-{i:020x}" for i in range(3000)], [f"ans-{i:020x}" for i in range(3000, n)]]
            ),
            "parent_ids": pa.array([[f"qseed-{i // 2:020x}"] for i in range(n)], pa.large_list(pa.large_string())),
            "source_uri": ["s3://b/f.jsonl"] * (n - 1) + [None],
            "gen_model_id": ["m"] * n,
            "gen_model_revision": pa.array(["r1"] * n, pa.large_string()),
            "gen_prompt_hash": [f"h{i}" for i in range(n)],
            "gen_sampling": ["{}"] * (n - 1) + ['{"t": 1}'],
            "gen_prompt_tokens": pa.array(range(n), pa.int32()),
        }
    )
    res = LineageWriter(str(tmp_path)).write_materialization(
        asset="a", partition=None, run_id="r", data_version="dv", code_version=None, table=t, data_path="p"
    )
    assert (res["records"], res["edges"], res["sources"], res["generations"]) == (n, n, n - 1, n)
    f = pq.ParquetFile(tmp_path / "record_lineage" / "a" / "__all__" / "dv-r.parquet")
    assert "parent_ids" not in f.schema_arrow.names and "parent_id" in f.schema_arrow.names
    encodings = {
        f.metadata.row_group(0).column(i).path_in_schema: f.metadata.row_group(0).column(i).encodings
        for i in range(f.metadata.num_columns)
    }
    for col in ("source_uri", "gen_model_id", "gen_model_revision"):
        assert "RLE_DICTIONARY" in encodings[col], (col, encodings[col])
    for col in ("record_id", "parent_id", "gen_prompt_hash", "gen_sampling"):
        assert "RLE_DICTIONARY" not in encodings[col], (col, encodings[col])
    got = f.read()
    assert got.column("parent_id").to_pylist() == [p[0] for p in t.column("parent_ids").to_pylist()]
    for col in ("record_id", "source_uri", "gen_model_id", "gen_model_revision", "gen_prompt_hash", "gen_sampling"):
        assert got.column(col).to_pylist() == t.column(col).to_pylist(), col
    assert got.column("gen_prompt_tokens").type == pa.int64()
    assert got.column("gen_prompt_tokens").to_pylist() == list(range(n))


def test_empty_tables_and_no_optional_columns(tmp_path):
    t = _table(with_gen=False, with_src=False)
    res = LineageWriter(str(tmp_path)).write_materialization(
        asset="a", partition=None, run_id="r", data_version="dv", code_version=None, table=t, data_path="p"
    )
    assert res["sources"] == 0 and res["generations"] == 0
    assert _files(tmp_path) == ["materializations/a/__all__/dv-r.parquet", "record_lineage/a/__all__/dv-r.parquet"]
    assert pq.read_schema(tmp_path / "record_lineage" / "a" / "__all__" / "dv-r.parquet").names == [
        "record_id",
        "parent_ids",
    ]
    empty = t.slice(0, 0)
    res = LineageWriter(str(tmp_path)).write_materialization(
        asset="e", partition=None, run_id="r", data_version="dv", code_version=None, table=empty, data_path="p"
    )
    assert res["records"] == 0 and res["edges"] == 0
    assert [f for f in _files(tmp_path) if "/e/" in f] == ["materializations/e/__all__/dv-r.parquet"]


def test_commit_row_is_written_last(tmp_path, monkeypatch):
    order = []
    real = W.LineageWriter._write_atomic

    def spy(self, table, path, *args, **kwargs):
        order.append(path.split(os.sep)[-4] if os.sep in path else path.split("/")[-4])
        return real(self, table, path, *args, **kwargs)

    monkeypatch.setattr(W.LineageWriter, "_write_atomic", spy)
    LineageWriter(str(tmp_path)).write_materialization(
        asset="a", partition="p", run_id="r", data_version="dv", code_version="c", table=_table(), data_path="x"
    )
    assert order == ["record_lineage", "materializations"]


def test_atomic_write_leaves_no_partial_file(tmp_path, monkeypatch):
    """A crash mid-write leaves neither a final-name file nor a temp file, and no commit."""
    real = pq.write_table

    def failing(table, where, **kw):
        real(table.slice(0, max(1, table.num_rows // 2)), where, **kw)  # write half of it, then die
        raise OSError("disk full")

    monkeypatch.setattr(W.pq, "write_table", failing)
    with pytest.raises(OSError):
        LineageWriter(str(tmp_path)).write_materialization(
            asset="a", partition="p", run_id="r", data_version="dv", code_version="c", table=_table(), data_path="x"
        )
    assert _files(tmp_path) == []  # no data file, no temp file, no commit


def test_parent_ids_nulls_and_large_list(tmp_path):
    t = pa.table(
        {
            "record_id": ["a-1", "a-2", "a-3"],
            "parent_ids": pa.array([["p-1", None], None, []], pa.large_list(pa.large_string())),
        }
    )
    res = LineageWriter(str(tmp_path)).write_materialization(
        asset="a", partition="p", run_id="r", data_version="dv", code_version="c", table=t, data_path="x"
    )
    assert res["records"] == 3 and res["edges"] == 1


def test_rejects_bad_tables(tmp_path):
    w = LineageWriter(str(tmp_path))
    with pytest.raises(ValueError):
        w.write_materialization(
            asset="a",
            partition="p",
            run_id="r",
            data_version="d",
            code_version="c",
            table=pa.table({"record_id": ["x"]}),
            data_path="x",
        )
    with pytest.raises(ValueError):
        w.write_materialization(
            asset="a",
            partition="p",
            run_id="r",
            data_version="d",
            code_version="c",
            table=pa.table({"record_id": [None, "x"], "parent_ids": [[], []]}),
            data_path="x",
        )


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
        pa.table({"record_id": sorted(mixed, reverse=True)})
    )
    assert table_data_version(pa.table({"record_id": pa.array([], pa.string())}))


def test_checkpoint_inputs_file(tmp_path):
    p = LineageWriter(str(tmp_path)).write_checkpoint_inputs(
        checkpoint_asset="ckpt",
        checkpoint_partition=None,
        checkpoint_data_version="v1",
        run_id="r",
        inputs=[("sft", "a|b", "dv1"), ("sft", None, "dv2")],
    )
    rows = pq.read_table(p).to_pylist()
    assert p.endswith(os.path.join("checkpoint_inputs", "ckpt", "__all__", "v1-r.parquet"))
    assert [(r["input_asset"], r["input_partition"], r["input_data_version"]) for r in rows] == [
        ("sft", "a|b", "dv1"),
        ("sft", "__all__", "dv2"),
    ]


def _reference_data_version(table):
    """The definition of table_data_version, written the slow obvious way."""
    import hashlib
    import json

    import numpy as np

    ids = sorted(table.column("record_id").to_pylist(), key=lambda x: x.encode("utf-8"))
    srt = pa.array(ids, pa.large_string())
    n = len(ids)
    h = hashlib.sha256()
    h.update(json.dumps(sorted(table.column_names)).encode("utf-8"))
    h.update(n.to_bytes(8, "little"))
    if n:
        off = np.frombuffer(srt.buffers()[1], np.int64, n + 1)
        h.update(off.tobytes())
        h.update(srt.buffers()[2].to_pybytes()[: int(off[-1])])
    return h.hexdigest()[:16]


@pytest.mark.parametrize(
    "kind",
    [
        "hex",
        "hex_shared_prefix",
        "ties",
        "few_ties",
        "dups",
        "low_entropy",
        "upper",
        "unicode",
        "short_hex",
        "all_same",
        "mixed_len",
    ],
)
def test_table_data_version_fast_path_matches_definition(kind):
    import numpy as np

    rng = np.random.default_rng(7)
    n = 20_000
    r = rng.integers(0, 2**63, n, dtype=np.int64)
    ids = {
        "hex": [f"ans-{x:020x}" for x in r],
        "hex_shared_prefix": [f"trace-{'ab' * 6}{x % 65536:08x}" for x in r],  # long common prefix
        "ties": [f"ans-{x % 977:016x}{x % 65536:04x}" for x in r],  # many equal 16-digit keys
        "few_ties": [f"ans-{'7' * 16}{x % 65536:04x}" if i % 200 == 0 else f"ans-{x:020x}" for i, x in enumerate(r)],
        "dups": [f"ans-{x % 5000:020x}" for x in r],
        "low_entropy": [f"row-{x % 300:08d}" for x in r],
        "upper": [f"ANS-{x:020X}" for x in r],
        "unicode": [f"é-{x % 10**9:09d}" for x in r],
        "short_hex": [f"q{x % 2**28:07x}" for x in r],
        "all_same": ["x-1"] * n,
        "mixed_len": [f"a{x % 10**6}" for x in r],
    }[kind]
    t = pa.table({"record_id": ids})
    assert table_data_version(t) == _reference_data_version(t)
    chunked = pa.table({"record_id": pa.chunked_array([ids[n // 3 :], ids[: n // 3]])})
    assert table_data_version(chunked) == table_data_version(t)


def test_table_data_version_is_remembered_per_table_object(monkeypatch):
    import resources.lineage.data_version as D

    t = pa.table({"record_id": [f"ans-{i:020x}" for i in range(100)]})
    calls = []
    real = D._data_version
    monkeypatch.setattr(D, "_data_version", lambda table: calls.append(1) or real(table))
    dv = table_data_version(t)
    assert table_data_version(t) == dv and len(calls) == 1  # the IO manager re-stamping the asset's table
    same_content = t.select(t.column_names)  # another object: computed again, same answer
    assert table_data_version(same_content) == dv and len(calls) == 2
    for i in range(40):  # the memo stays small
        table_data_version(t.slice(i))
    assert len(D._cache) <= D._CACHE_SIZE
