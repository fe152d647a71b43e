import json
import os

import duckdb
import pyarrow as pa
import pytest

from citrus_assets.cli.lineage import main as cli_main
from resources.lineage import LineageStore, LineageWriter, UnknownRecord, table_data_version
from resources.lineage.store import format_impact, format_trace
from tests.lineage.lineage_graph import ANS, MODEL, PUBMED_URI, REVISION, SEED, SFT, SRC, TRAIN_URI, build_graph


@pytest.fixture()
def graph(tmp_path):
    root = str(tmp_path / "lake" / "_lineage")
    dvs = build_graph(root)
    store = LineageStore(root, str(tmp_path / "lake" / "_lineage" / "lineage.duckdb"))
    return store, dvs


def _nodes(d):
    return {n["record_id"]: n for n in d["nodes"]}


def test_missing_root_is_empty(tmp_path):
    store = LineageStore(str(tmp_path / "nothing"), str(tmp_path / "db" / "l.duckdb"))
    assert store.sync() == 0
    assert store.stats()["records"] == 0
    with pytest.raises(UnknownRecord):
        store.trace("ans-" + "0" * 20)


def test_sync_idempotent_and_counts(graph):
    store, _ = graph
    assert store.sync() == 7  # 5 materializations + 2 checkpoint files
    assert store.sync() == 0
    st = store.stats()
    assert (st["records"], st["edges"], st["sources"], st["generations"], st["checkpoints"]) == (11, 13, 4, 4, 2)
    assert st["record_rows"] == 11 and st["edge_rows"] == 13


def test_trace_known_answer(graph):
    store, dvs = graph
    d = store.trace(SFT["x2"])
    nodes = _nodes(d)
    assert set(nodes) == {SFT["x2"], ANS["a3"], SEED["s1"], SEED["s3"], SRC["t1"], SRC["t3"]}
    assert d["max_depth"] == 3 and d["n_nodes"] == 6
    assert nodes[SFT["x2"]]["parents"] == [ANS["a3"]]
    assert nodes[ANS["a3"]]["parents"] == sorted([SEED["s1"], SEED["s3"]])
    assert nodes[SEED["s3"]]["parents"] == [SRC["t3"]]
    a3 = nodes[ANS["a3"]]
    assert (a3["asset"], a3["partition"], a3["data_version"], a3["depth"]) == (
        "answers",
        "medqa|train",
        dvs["answers:medqa|train"],
        1,
    )
    g = a3["generation"]
    assert (g["model_id"], g["model_revision"], g["prompt_template"], g["prompt_hash"]) == (
        MODEL,
        REVISION,
        "answer_v1",
        "pha3",
    )
    assert g["sampling"]["temperature"] == 0.7 and g["prompt_tokens"] == 102 and g["completion_tokens"] == 202
    src = nodes[SRC["t3"]]
    assert src["kind"] == "source" and src["asset"] == "source" and src["depth"] == 3
    assert src["source"] == {"uri": TRAIN_URI, "locator": "line 3"}
    assert nodes[SEED["s1"]]["generation"] is None and nodes[SEED["s1"]]["kind"] == "record"
    json.dumps(d)  # JSON-serializable
    text = format_trace(d)
    assert "line 3" in text and MODEL in text and "answer_v1#pha3" in text


def test_trace_dag_depth_is_shortest(graph):
    store, _ = graph
    nodes = _nodes(store.trace(SFT["x1"]))
    assert set(nodes) == {SFT["x1"], ANS["a1"], SEED["s1"], SRC["t1"]}
    assert nodes[SEED["s1"]]["depth"] == 1  # direct parent of x1 as well as grandparent
    assert nodes[SFT["x1"]]["parents"] == sorted([ANS["a1"], SEED["s1"]])
    assert "(see above)" in format_trace(store.trace(SFT["x1"]))


def test_trace_source_and_unknown(graph):
    store, _ = graph
    d = store.trace(SRC["p1"])
    assert d["n_nodes"] == 1 and d["nodes"][0]["source"] == {"uri": PUBMED_URI, "locator": "line 1"}
    with pytest.raises(UnknownRecord, match="no committed lineage"):
        store.trace("ans-" + "f" * 20)
    with pytest.raises(KeyError):
        store.trace("whatever")


def test_impact_source_file(graph):
    store, dvs = graph
    for name in (TRAIN_URI, "train.jsonl"):
        d = store.impact("source", name, max_records=None)
        assert d["n_roots"] == 3
        assert set(d["records"]) == {
            SEED["s1"],
            SEED["s2"],
            SEED["s3"],
            ANS["a1"],
            ANS["a2"],
            ANS["a3"],
            SFT["x1"],
            SFT["x2"],
        }
        assert d["n_descendants"] == 8 and d["max_depth"] == 3
        assert {(b["asset"], b["partition"], b["n_records"]) for b in d["by_partition"]} == {
            ("question_seeds", "medqa|train", 3),
            ("answers", "medqa|train", 3),
            ("sft_examples", "__all__", 2),
        }
        assert [(c["checkpoint_asset"], c["checkpoint_data_version"]) for c in d["checkpoints"]] == [
            ("sft_checkpoint", "ckpt-v1")
        ]
        assert d["checkpoints"][0]["inputs"] == [
            {"asset": "sft_examples", "partition": "__all__", "data_version": dvs["sft_examples:__all__"]}
        ]
    with pytest.raises(UnknownRecord):
        store.impact("source", "other.jsonl")


def test_impact_partition(graph):
    store, _ = graph
    d = store.impact("question_seeds", "pubmed|train", max_records=None)
    assert d["n_roots"] == 1 and set(d["records"]) == {ANS["a4"], SFT["x3"]}
    assert {c["checkpoint_asset"] for c in d["checkpoints"]} == {"sft_checkpoint", "pubmed_checkpoint"}
    assert store.impact("question_seeds", "pubmed__train")["n_descendants"] == 2  # path-safe name works too
    d = store.impact("answers", "medqa|train", max_records=None)
    assert set(d["records"]) == {SFT["x1"], SFT["x2"]}
    assert [c["checkpoint_asset"] for c in d["checkpoints"]] == ["sft_checkpoint"]
    d = store.impact("answers", None, max_records=1)
    assert d["n_descendants"] == 3 and d["records_truncated"] and len(d["records"]) == 1
    # the checkpoint's own training data is the target itself
    d = store.impact("sft_examples", "__all__")
    assert d["n_descendants"] == 0 and [c["checkpoint_asset"] for c in d["checkpoints"]] == ["sft_checkpoint"]
    assert "sft_checkpoint" in format_impact(d)
    for bad in (("nope", None), ("answers", "nope")):
        with pytest.raises(UnknownRecord):
            store.impact(*bad)


def test_impact_record(graph):
    store, _ = graph
    d = store.impact_record(SEED["s2"], max_records=None)
    assert d["records"] == [ANS["a2"]] and d["checkpoints"] == []  # nothing trained on answers medqa
    d = store.impact_record(SRC["t1"], max_records=None)
    assert set(d["records"]) == {SEED["s1"], ANS["a1"], ANS["a3"], SFT["x1"], SFT["x2"]}
    json.dumps(d)
    with pytest.raises(UnknownRecord):
        store.impact_record("ans-" + "1" * 20)


def test_uncommitted_materialization_is_invisible(graph, tmp_path, monkeypatch):
    store, _ = graph
    root = store.root
    before = store.stats()
    t = pa.table({"record_id": ["late-" + "0" * 20], "parent_ids": [[SFT["x1"]]]})
    w = LineageWriter(root)
    real = LineageWriter._write_atomic

    def no_commit(self, table, path, *args, **kwargs):
        if "materializations" in path:
            raise KeyboardInterrupt("process killed before the commit")
        return real(self, table, path, *args, **kwargs)

    monkeypatch.setattr(LineageWriter, "_write_atomic", no_commit)
    with pytest.raises(KeyboardInterrupt):
        w.write_materialization(
            asset="late",
            partition="p",
            run_id="r9",
            data_version=table_data_version(t),
            code_version="c",
            table=t,
            data_path="x",
        )
    monkeypatch.undo()
    assert os.path.exists(os.path.join(root, "record_lineage", "late", "p"))
    assert store.sync() == 0
    assert store.stats() == before
    with pytest.raises(UnknownRecord):
        store.trace("late-" + "0" * 20)
    assert store.impact_record(SFT["x1"])["n_descendants"] == 0
    # the ad-hoc views hide it too
    with duckdb.connect(store.db_path, read_only=True) as con:
        assert con.execute("SELECT count(*) FROM v_edges WHERE asset = 'late'").fetchone()[0] == 0
        assert con.execute("SELECT count(*) FROM v_edges").fetchone()[0] == 13
    # once committed (a retry of the same run) it shows up
    w.write_materialization(
        asset="late",
        partition="p",
        run_id="r9",
        data_version=table_data_version(t),
        code_version="c",
        table=t,
        data_path="x",
    )
    assert store.trace("late-" + "0" * 20)["n_nodes"] == 5
    assert store.impact_record(SFT["x1"])["records"] == ["late-" + "0" * 20]


def test_rematerialization_no_duplicates(graph):
    store, dvs = graph
    store.sync()
    build_graph(store.root, run_id="run-2")  # same data, new run: same data versions, new files
    build_graph(store.root, run_id="run-2")  # retry of the same run: same file names
    assert store.sync() == 7
    st = store.stats()
    assert st["records"] == 11 and st["edges"] == 13 and st["checkpoints"] == 2
    assert st["record_rows"] == 22 and st["edge_rows"] == 26  # kept once per run ...
    nodes = _nodes(store.trace(SFT["x1"]))  # ... but queries de-duplicate
    assert nodes[SFT["x1"]]["parents"] == sorted([ANS["a1"], SEED["s1"]])
    assert len(nodes) == 4
    d = store.impact("source", "train.jsonl", max_records=None)
    assert d["n_descendants"] == 8 and len(d["records"]) == 8
    assert {(b["asset"], b["n_records"]) for b in d["by_partition"]} == {
        ("question_seeds", 3),
        ("answers", 3),
        ("sft_examples", 2),
    }
    assert len(d["checkpoints"]) == 1
    with duckdb.connect(store.db_path, read_only=True) as con:
        assert (
            con.execute("SELECT count(*) FROM (SELECT DISTINCT child_id, parent_id FROM v_edges)").fetchone()[0] == 13
        )


def test_new_data_version_keeps_history(graph):
    store, dvs = graph
    # answers/medqa re-made with a2 dropped: a new data version; old lineage stays traceable
    from tests.lineage.lineage_graph import answers_table

    t = answers_table([("a1", ["s1"]), ("a3", ["s1", "s3"])])
    LineageWriter(store.root).write_materialization(
        asset="answers",
        partition="medqa|train",
        run_id="run-3",
        data_version=table_data_version(t),
        code_version="v2",
        table=t,
        data_path="x",
    )
    assert store.trace(ANS["a2"])["n_nodes"] == 3
    d = store.impact("answers", "medqa|train")
    by = {(b["asset"], b["partition"]): b for b in d["by_partition"]}
    assert by[("sft_examples", "__all__")]["n_records"] == 2
    app = _nodes(store.trace(ANS["a1"]))[ANS["a1"]]["appearances"]
    assert {a["data_version"] for a in app} == {dvs["answers:medqa|train"], table_data_version(t)}


def test_cli(graph, capsys, monkeypatch):
    store, _ = graph
    lake = os.path.dirname(store.root)
    monkeypatch.delenv("CITRUS_LINEAGE_DB", raising=False)
    assert cli_main(["lineage", "sync", "--lake", lake]) == 0
    assert "ingested 7" in capsys.readouterr().out
    assert cli_main(["lineage", "trace", SFT["x2"], "--lake", lake, "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert {n["record_id"] for n in d["nodes"]} >= {SRC["t1"], SRC["t3"]}
    monkeypatch.setenv("CITRUS_LAKE", lake)
    assert cli_main(["lineage", "trace", SFT["x2"]]) == 0
    assert "line 3" in capsys.readouterr().out
    assert cli_main(["lineage", "impact", f"source:{TRAIN_URI}", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["n_descendants"] == 8
    assert cli_main(["lineage", "impact", "question_seeds:pubmed|train"]) == 0
    out = capsys.readouterr().out
    assert "pubmed_checkpoint" in out and "answers" in out
    assert cli_main(["lineage", "impact", "--record", SEED["s2"], "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["records"] == [ANS["a2"]]
    assert cli_main(["lineage", "trace", "ans-" + "0" * 20]) == 1
    assert "no committed lineage" in capsys.readouterr().err


def test_default_paths(monkeypatch, tmp_path):
    from resources.lineage.settings import default_paths

    monkeypatch.delenv("CITRUS_LAKE", raising=False)
    monkeypatch.delenv("CITRUS_LINEAGE_DB", raising=False)
    p = default_paths()
    assert (p.lake, p.lineage_root, p.db_path) == (
        "lake",
        os.path.join("lake", "_lineage"),
        os.path.join("lake", "_lineage", "lineage.duckdb"),
    )
    monkeypatch.setenv("CITRUS_LAKE", "s3://bucket/lake/")
    p = default_paths()
    assert (p.lineage_root, p.db_path) == ("s3://bucket/lake/_lineage", os.path.join(".citrus", "lineage.duckdb"))
    monkeypatch.setenv("CITRUS_LINEAGE_DB", str(tmp_path / "x.duckdb"))
    assert default_paths().db_path == str(tmp_path / "x.duckdb")
    assert default_paths(lake=str(tmp_path), db="y.duckdb") == (str(tmp_path), str(tmp_path / "_lineage"), "y.duckdb")


def test_fsspec_root(tmp_path):
    """The lineage root may be an fsspec URL (here the in-memory filesystem)."""
    import fsspec

    root = "memory://citrus-test/lake/_lineage"
    fsspec.filesystem("memory").rm("/citrus-test", recursive=True) if fsspec.filesystem("memory").exists(
        "/citrus-test"
    ) else None
    build_graph(root)
    store = LineageStore(root, str(tmp_path / "mem.duckdb"))
    assert store.sync() == 7
    assert set(_nodes(store.trace(SFT["x2"]))) == {SFT["x2"], ANS["a3"], SEED["s1"], SEED["s3"], SRC["t1"], SRC["t3"]}
    assert store.impact("source", "train.jsonl")["n_descendants"] == 8
    assert not [p for p in fsspec.filesystem("memory").find("/citrus-test") if p.endswith(".tmp")]


def test_id_key_matches_duckdb():
    from resources.lineage.store import KEY_SQL, id_key

    ids = ["ans-0123456789abcdef0123", "src-ffffffffffffffffffff", "ünïcode-id", ""]
    with duckdb.connect() as con:
        got = [r[0] for r in con.execute(f"SELECT {KEY_SQL('x')} FROM unnest(?::VARCHAR[]) t(x)", [ids]).fetchall()]
    assert got == [id_key(x) for x in ids]


def test_wide_trace_and_max_depth(tmp_path):
    """A record with many parents (a merge/aggregate) takes the semi-join path; max_depth cuts the walk."""
    root = str(tmp_path / "_lineage")
    w = LineageWriter(root)
    srcs = [f"src-{i:020x}" for i in range(600)]
    seeds = pa.table(
        {
            "record_id": [f"qseed-{i:020x}" for i in range(600)],
            "parent_ids": [[s] for s in srcs],
            "source_uri": ["/raw/big.jsonl"] * 600,
            "source_locator": [f"line {i + 1}" for i in range(600)],
        }
    )
    merged = pa.table({"record_id": ["mix-" + "0" * 20], "parent_ids": [seeds.column("record_id").to_pylist()]})
    for asset, t in (("seeds", seeds), ("mix", merged)):
        w.write_materialization(
            asset=asset,
            partition=None,
            run_id="r",
            data_version=table_data_version(t),
            code_version="1",
            table=t,
            data_path="x",
        )
    store = LineageStore(root, str(tmp_path / "l.duckdb"))
    d = store.trace("mix-" + "0" * 20)
    assert d["n_nodes"] == 1201 and d["max_depth"] == 2
    assert sum(n["kind"] == "source" for n in d["nodes"]) == 600
    assert _nodes(d)["src-" + "0" * 17 + "257"]["source"] == {"uri": "/raw/big.jsonl", "locator": "line 600"}
    assert store.trace("mix-" + "0" * 20, max_depth=1)["n_nodes"] == 601
    assert store.impact("source", "big.jsonl", max_records=None)["n_descendants"] == 601
    store.close()


def test_cli_options_before_subcommand(graph, capsys):
    store, _ = graph
    lake = os.path.dirname(store.root)
    db = os.path.join(lake, "other.duckdb")
    assert cli_main(["lineage", "--lake", lake, "--db", db, "impact", "answers:medqa|train", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["n_descendants"] == 2
    assert os.path.exists(db)
    assert cli_main(["lineage", "--lake", lake, "impact"]) == 2
