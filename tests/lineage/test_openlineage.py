"""OpenLineage export of the asset-level lineage (run events per materialization) on the known graph."""

import json
import uuid

import pytest

from citrus_assets.cli.lineage import main as cli_main
from resources.lineage import LineageStore, LineageWriter
from resources.lineage.query.openlineage import SCHEMA_URL, run_events, source_dataset
from tests.lineage.lineage_graph import PUBMED_URI, TRAIN_URI, build_graph

REQUIRED = {"eventType", "eventTime", "producer", "schemaURL", "run", "job", "inputs", "outputs"}


@pytest.fixture
def graph_store(tmp_path):
    root = str(tmp_path / "lake" / "_lineage")
    dvs = build_graph(root)
    store = LineageStore(root, str(tmp_path / "lake" / "_lineage" / "lineage.duckdb"))
    yield store, dvs
    store.close()


def test_one_complete_event_per_materialization_with_inputs(tmp_path, graph_store):
    store, dvs = graph_store
    events = list(run_events(store))
    assert len(events) == 5  # question_seeds x2, answers x2, sft_examples
    by_out = {e["outputs"][0]["name"]: e for e in events}
    for e in events:
        assert REQUIRED <= set(e) and e["eventType"] == "COMPLETE" and e["schemaURL"] == SCHEMA_URL
        uuid.UUID(e["run"]["runId"])  # a valid UUID, as the spec requires
        assert e["eventTime"].endswith("Z") and e["job"]["namespace"] == "citrus-lake"
        assert e["run"]["facets"]["parent"]["job"]["name"] == "dagster_run"
    assert len({e["run"]["runId"] for e in events}) == 5  # one run per (Dagster run, asset, partition)
    seeds = by_out["question_seeds/medqa|train"]
    assert (
        seeds["inputs"] == [source_dataset(TRAIN_URI)] == [{"namespace": "s3", "name": "citrus-raw/medqa/train.jsonl"}]
    )
    assert by_out["question_seeds/pubmed|train"]["inputs"] == [{"namespace": "file", "name": PUBMED_URI}]
    sft = by_out["sft_examples/__all__"]
    # x1 <- a1 + s1, x2 <- a3, x3 <- a4: parents live in three asset partitions
    assert [i["name"] for i in sft["inputs"]] == [
        "answers/medqa|train",
        "answers/pubmed|train",
        "question_seeds/medqa|train",
    ]
    out = sft["outputs"][0]
    assert out["facets"]["version"]["datasetVersion"] == dvs["sft_examples:__all__"]
    assert out["outputFacets"]["outputStatistics"]["rowCount"] == 3
    assert all(i["namespace"] == out["namespace"] == str(tmp_path / "lake") for i in sft["inputs"])


def test_checkpoint_inputs_carry_versions_and_cli_writes_jsonl(tmp_path, graph_store):
    store, dvs = graph_store
    w = LineageWriter(store.root)
    ckpt = __import__("pyarrow").table({"record_id": ["ckpt-" + "1" * 20], "parent_ids": [[]]})
    w.write_materialization(
        asset="sft_checkpoint",
        partition="__all__",
        run_id="run-2",
        data_version="ckpt-v1",
        code_version="v1",
        table=ckpt,
        data_path="lake/sft_checkpoint/__all__/data.parquet",
    )
    ev = next(e for e in run_events(store) if e["job"]["name"] == "sft_checkpoint")
    assert ev["inputs"][0]["name"] == "sft_examples/__all__"
    assert ev["inputs"][0]["facets"]["version"]["datasetVersion"] == dvs["sft_examples:__all__"]
    out = tmp_path / "ol" / "events.jsonl"
    lake = str(tmp_path / "lake")
    assert cli_main(["lineage", "openlineage", "--lake", lake, "--out", str(out), "--namespace", "prod"]) == 0
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(lines) == 6 and {e["job"]["namespace"] for e in lines} == {"prod"}
    assert [e["eventTime"] for e in lines] == sorted(e["eventTime"] for e in lines)
