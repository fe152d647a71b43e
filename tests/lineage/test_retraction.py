"""Retraction end to end: a source file is retracted -> affected records and checkpoints listed, the
affected asset partitions rewritten and reported to Dagster (downstream and the checkpoint go stale), and
the next materialization leaves the source out (dropped on write, counted)."""

import json

import dagster as dg
import pyarrow as pa
import pytest
from dagster._utils.test.data_versions import get_stale_status_resolver

from citrus_assets.cli import main as cli_main
from citrus_assets.cli.retract import retract
from resources.lake import Lake
from resources.lake_io import LakeIOManager
from resources.lineage import LineageStore, LineageWriter, record_id, source_id, table_data_version
from resources.retraction import RetractionRegistry, source_matches

FILES = {"a": "inbox/shard_a.jsonl", "b": "inbox/shard_b.jsonl"}
parts = dg.StaticPartitionsDefinition(["a", "b"])


def build(lake_root: str):
    @dg.asset(partitions_def=parts)
    def docs(context) -> pa.Table:
        p = context.partition_key
        lines = [f'{{"text": "{p} doc {i}"}}' for i in range(2)]
        srcs = [source_id(FILES[p], raw) for raw in lines]
        return pa.table(
            {
                "record_id": [record_id("pdfdoc", s) for s in srcs],
                "parent_ids": [[s] for s in srcs],
                "source_uri": [FILES[p]] * 2,
                "source_locator": [f"line {i + 1}" for i in range(2)],
                "text": lines,
            }
        )

    @dg.asset
    def summary(docs: pa.Table) -> pa.Table:
        ids = docs["record_id"].to_pylist()
        return pa.table({"record_id": [record_id("cptdoc", i) for i in ids], "parent_ids": [[i] for i in ids]})

    @dg.asset
    def ckpt(context, summary: pa.Table) -> pa.Table:
        dv = table_data_version(summary)
        LineageWriter(Lake(lake_root).lineage_root).write_checkpoint_inputs(
            checkpoint_asset="ckpt",
            checkpoint_partition=None,
            checkpoint_data_version="ck-" + dv,
            run_id=context.run_id,
            inputs=[("summary", "__all__", dv)],
        )
        return pa.table({"record_id": ["ckpt-" + dv[:20]], "parent_ids": [[]]})

    return docs, summary, ckpt


def test_retract_source_file(tmp_path, capsys):
    lake_root = str(tmp_path / "lake")
    assets = build(lake_root)
    docs, summary, ckpt = assets
    res = {"io_manager": LakeIOManager(root=lake_root)}
    lake = Lake(lake_root)
    store = LineageStore(lake.lineage_root, str(tmp_path / "lineage.duckdb"))
    with dg.instance_for_test() as instance:
        for p in ("a", "b"):
            assert dg.materialize([docs], partition_key=p, resources=res, instance=instance).success
        assert dg.materialize(assets, selection=["summary", "ckpt"], resources=res, instance=instance).success

        def status():
            return {
                k: get_stale_status_resolver(instance, list(assets)).get_status(dg.AssetKey(k)).value
                for k in ("summary", "ckpt")
            }

        assert status() == {"summary": "FRESH", "ckpt": "FRESH"}

        dry = retract(lake, store, "source:shard_b.jsonl", "dry", dry_run=True)
        assert dry.retraction is None and not RetractionRegistry(lake).entries()
        assert len(dry.records) == 4  # 2 docs of shard b + their 2 summary rows
        assert {(p["asset"], p["partition"]) for p in dry.by_partition} == {("docs", "b"), ("summary", "__all__")}
        assert [c["checkpoint_asset"] for c in dry.checkpoints] == ["ckpt"]
        with pytest.raises(ValueError, match="reason"):
            retract(lake, store, "source:shard_b.jsonl", " ", instance=instance)

        report = retract(lake, store, "source:shard_b.jsonl", "licence withdrawn", instance=instance)
        assert report.retraction.records == 4 and report.retraction.checkpoints == ["ckpt"]
        assert {(w["asset"], w["partition"], w["rows_before"], w["rows_after"]) for w in report.rewritten} == {
            ("docs", "b", 2, 0),
            ("summary", "__all__", 4, 2),
        }
        assert lake.read_table("docs", "b").num_rows == 0
        assert all("b doc" not in t for t in lake.read_table("docs", "a")["text"].to_pylist())
        # Dagster sees the rewritten summary: the checkpoint trained on the old one is stale now
        assert status()["ckpt"] == "STALE"

        # the next materialization of shard b re-reads the file: its rows are dropped on write, counted
        again = dg.materialize([docs], partition_key="b", resources=res, instance=instance)
        md = again.get_asset_materialization_events()[0].materialization.metadata
        assert md["retracted_rows"].value == 2 and md["dagster/row_count"].value == 0
        retrain = dg.materialize(assets, selection=["summary", "ckpt"], resources=res, instance=instance)
        assert retrain.success
        assert lake.read_table("summary").num_rows == 2
        assert status() == {"summary": "FRESH", "ckpt": "FRESH"}
    # lineage agrees: nothing derived from shard b is in the current summary
    entries = RetractionRegistry(lake).entries()
    assert [e.target for e in entries] == ["source:shard_b.jsonl"] and entries[0].reason == "licence withdrawn"
    assert source_matches("inbox/shard_b.jsonl", "shard_b.jsonl") and not source_matches("inbox/x_b.jsonl", "b")


def test_retract_cli_dry_run_and_unknown_target(tmp_path, monkeypatch, capsys):
    lake_root = str(tmp_path / "lake")
    docs, _, _ = build(lake_root)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    with dg.instance_for_test() as instance:
        assert dg.materialize(
            [docs], partition_key="a", resources={"io_manager": LakeIOManager(root=lake_root)}, instance=instance
        ).success
    assert cli_main(["retract", "docs:a", "--dry-run", "--lake", lake_root]) == 0
    out = capsys.readouterr().out
    assert "2 records affected" in out and "dry run: nothing changed" in out
    assert cli_main(["retract", "source:nothing.jsonl", "--reason", "x", "--lake", lake_root]) == 1
    assert "no committed lineage" in capsys.readouterr().err
    assert cli_main(["retract", "docs:a", "--reason", "bad batch", "--lake", lake_root]) == 0
    assert "rewrote docs [a]: 2 -> 0 rows" in capsys.readouterr().out
    assert (
        json.loads(
            Lake(lake_root).fs.cat(Lake(lake_root).join("_retractions", "retractions.jsonl")).decode().splitlines()[0]
        )["target"]
        == "docs:a"
    )


WORDS = (
    "fever cough dyspnea renal hepatic cardiac dose infusion chronic acute lesion biopsy serum sodium potassium "
    "glucose insulin sepsis culture antibiotic"
).split()


def test_retraction_covers_quarantine_cache_and_near_copies(tmp_path, caplog):
    """Issue 14 item 14: a retracted file's bad lines are not quarantined again, LLM cache entries derived from
    its records are deleted, and a copy with one word changed is flagged as a near-duplicate."""
    import random

    from citrus_assets.cli.retract import format_report
    from resources.lake import Lake, QuarantineRecord
    from resources.llm.cache import GenerationCache
    from resources.llm.types import Generation
    from resources.retraction import drop_retracted_quarantine

    rnd = random.Random(7)
    texts_b = [" ".join(rnd.choice(WORDS) for _ in range(40)) + f" case {i}" for i in range(20)]
    copy_c = list(texts_b)
    copy_c[3] = copy_c[3].replace(copy_c[3].split()[5], "CHANGED", 1)  # one word changed
    texts = {
        "a": [" ".join(rnd.choice(WORDS) for _ in range(40)) + f" other {i}" for i in range(20)],
        "b": texts_b,
        "c": copy_c,
    }
    files = {"a": "inbox/shard_a.jsonl", "b": "inbox/shard_b.jsonl", "c": "inbox/shard_b_fixed.jsonl"}
    p3 = dg.StaticPartitionsDefinition(["a", "b", "c"])
    lake_root = str(tmp_path / "lake")

    @dg.asset(partitions_def=p3)
    def seeds(context) -> pa.Table:
        p = context.partition_key
        srcs = [source_id(files[p], t) for t in texts[p]]
        Lake(lake_root).write_quarantine("seeds", p, [QuarantineRecord(files[p], "line 99", "not JSON", "{bad line")])
        return pa.table(
            {
                "record_id": [record_id("qseed", s) for s in srcs],
                "parent_ids": [[s] for s in srcs],
                "source_uri": [files[p]] * len(srcs),
                "source_locator": [f"line {i + 1}" for i in range(len(srcs))],
                "question": texts[p],
            }
        )

    lake = Lake(lake_root)
    store = LineageStore(lake.lineage_root, str(tmp_path / "lineage.duckdb"))
    res = {"io_manager": LakeIOManager(root=lake_root)}
    cache_path = tmp_path / "llm_cache.sqlite"
    cache = GenerationCache(cache_path)
    items, prompts = [], {}
    for p in ("a", "b"):
        for i, t in enumerate(texts[p]):
            k = f"{p}-{i}"
            items.append((k, Generation(f"answer {p} {i}", 5, 5, "stop")))
            prompts[k] = f"<|user|>Answer this question:\n{t}\n<|assistant|>"
    cache.put_many(items, model_id="m", prompts=prompts)
    cache.put_many([("old-b", Generation("I would restate: " + texts_b[0], 1, 1, "stop"))])  # no prompt kept
    assert len(cache) == 41
    cache.close()

    with dg.instance_for_test() as instance:
        for p in ("a", "b"):
            assert dg.materialize([seeds], partition_key=p, resources=res, instance=instance).success
        assert lake.read_quarantine("seeds", "b").num_rows == 1
        report = retract(
            lake, store, "source:shard_b.jsonl", "licence withdrawn", instance=instance, llm_cache=str(cache_path)
        )
        print(format_report(report))
        assert report.quarantine_removed == 1 and lake.read_quarantine("seeds", "b").num_rows == 0
        assert report.cache == {"deleted": 21, "left": 20, "without_prompt": 1}
        assert report.signatures == 1
        # next run of b: neither rows nor bad lines come back
        again = dg.materialize([seeds], partition_key="b", resources=res, instance=instance)
        assert again.success and lake.read_quarantine("seeds", "b").num_rows == 0
        assert lake.read_table("seeds", "b").num_rows == 0
        kept, dropped = drop_retracted_quarantine(
            lake, [QuarantineRecord(files["a"], "l", "r", "x"), QuarantineRecord(files["b"], "l", "r", "x")]
        )
        assert dropped == 1 and [r.source_uri for r in kept] == [files["a"]]
        # a copy with one word changed: its rows are written (it may be a legitimate fix) but flagged
        copy = dg.materialize([seeds], partition_key="c", resources=res, instance=instance)
        md = copy.get_asset_materialization_events()[0].materialization.metadata
        near = md["near_retracted_sources"].value
        assert [(h["source"], h["retracted_source"]) for h in near] == [(files["c"], files["b"])]
        assert near[0]["jaccard"] >= 0.9
        # an unrelated partition is not flagged
        other = dg.materialize([seeds], partition_key="a", resources=res, instance=instance)
        assert "near_retracted_sources" not in other.get_asset_materialization_events()[0].materialization.metadata
    left = GenerationCache(cache_path)
    assert len(left) == 20 and not left.get_many([f"b-{i}" for i in range(20)]) and len(left.get_many(["a-0"])) == 1
    print(
        f"FIGURE retraction: cache entries of the retracted source left 0/21 (20 unrelated kept); "
        f"quarantine rows of it after re-run 0; rows of the one-word copy returned {lake.read_table('seeds', 'c').num_rows}"
        f"/20, flagged near-duplicate at Jaccard {near[0]['jaccard']}"
    )
