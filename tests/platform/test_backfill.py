"""Single-run backfills: many dynamic partitions in ONE run, each partition written, traced and checked alone."""

import logging
import time
import warnings
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pytest

from citrus_assets.common.scheduling.backfill import PARTITION_COLUMN, per_partition
from citrus_assets.cpt_corpus.pdf import checks as pdf_checks_module
from citrus_assets.cpt_corpus.pdf.assets import pdf_batches, pdf_documents
from citrus_assets.cpt_corpus.web import checks as web_checks_module
from citrus_assets.cpt_corpus.web.assets import web_corpus, web_documents, web_shards
from quality import gx_asset_check, id_suite, not_null
from resources.inbox import InboxResource
from resources.lake import Lake
from resources.lake_io import LakeIOManager, split_output
from resources.lineage.schema import PARENT_IDS, RECORD_ID
from tests.support.resources import make_resources

RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"

TOPICS = {
    "hypertension": "Hypertension is a persistent elevation of arterial blood pressure. It raises the risk of stroke, "
    "heart failure and kidney disease. Lifestyle change comes first: less salt, regular exercise and weight loss. ",
    "diabetes": "Type 2 diabetes is a chronic disorder of glucose metabolism driven by insulin resistance. Metformin "
    "is the usual first drug, together with diet and exercise, and the glycated haemoglobin guides treatment. ",
    "asthma": "Asthma is a chronic inflammatory disease of the airways with wheeze and breathlessness. Inhaled "
    "corticosteroids control the inflammation and short acting bronchodilators relieve acute symptoms. ",
}


def make_pdf(path: Path, topic: str) -> None:
    import pymupdf

    doc = pymupdf.open()
    page = doc.new_page()
    page.insert_textbox(
        pymupdf.Rect(72, 72, 540, 760), f"{topic.title()} in practice\n\n" + TOPICS[topic] * 3, fontsize=11
    )
    doc.save(str(path))
    doc.close()


def range_tags(first: str, last: str) -> dict[str, str]:
    """The tags a single-run backfill puts on its one run (what the backfill daemon submits)."""
    return {RANGE_START: first, RANGE_END: last}


@pytest.fixture
def env(tmp_path, repo_root):
    pdfs, web = tmp_path / "pdfs", tmp_path / "web"
    for batch, topics in {"b1": ["hypertension", "diabetes"], "b2": ["asthma"], "b3": []}.items():
        (pdfs / batch).mkdir(parents=True)
        for t in topics:
            make_pdf(pdfs / batch / f"{t}.pdf", t)
    (pdfs / "b3" / "notes.pdf").write_text("not a pdf")  # b3: nothing extractable, one quarantined file
    web.mkdir()
    lines = [
        ln
        for ln in (repo_root / "sample" / "web" / "web_demo.jsonl").read_text().splitlines()
        if ln.strip().endswith("}")
    ]  # the bundled demo shard, minus its broken line
    (web / "s1.jsonl").write_text("\n".join([lines[0], lines[2]]) + "\n")  # anemia, Lisbon
    (web / "s2.jsonl").write_text("\n".join([lines[1], lines[3], lines[4]]) + "\n")  # anemia near-dup, asthma, spam
    lake_root = str(tmp_path / "lake")
    resources = make_resources(lake_root, inbox=InboxResource(pdfs_dir=str(pdfs), web_dir=str(web)))
    from dagster._core.test_utils import instance_for_test

    with instance_for_test(overrides=DAEMON_INSTANCE) as instance:
        instance.add_dynamic_partitions(pdf_batches.name, ["b1", "b2", "b3"])
        instance.add_dynamic_partitions(web_shards.name, ["s1", "s2"])
        yield Lake(lake_root), resources, instance, pdfs


DAEMON_INSTANCE = {  # runs launched by the backfill daemon execute right here, synchronously
    "run_launcher": {
        "module": "dagster._core.launcher.sync_in_memory_run_launcher",
        "class": "SyncInMemoryRunLauncher",
    },
    "run_coordinator": {"module": "dagster._core.run_coordinator", "class": "DefaultRunCoordinator"},
}
DEFS_FILE = """
import dagster as dg
from citrus_assets.cpt_corpus.pdf.assets import pdf_documents
from citrus_assets.cpt_corpus.pdf.checks import checks
from resources.inbox import InboxResource
from tests.support.resources import make_resources

defs = dg.Definitions(assets=[pdf_documents], asset_checks=checks, executor=dg.in_process_executor,
                      resources=make_resources({lake!r}, inbox=InboxResource(pdfs_dir={pdfs!r})))
"""


@contextmanager
def daemon_workspace(instance, defs_file: Path):
    """A code location loaded in this process, as the webserver/daemon would load it."""
    from dagster._core.remote_origin import InProcessCodeLocationOrigin
    from dagster._core.test_utils import InProcessTestWorkspaceLoadTarget
    from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
    from dagster._core.workspace.context import WorkspaceProcessContext

    origin = InProcessCodeLocationOrigin(
        LoadableTargetOrigin(python_file=str(defs_file), attribute="defs", working_directory=str(defs_file.parent))
    )
    with WorkspaceProcessContext(instance, InProcessTestWorkspaceLoadTarget(origin)) as context:
        yield context


def launch_backfill(workspace, instance, asset_key: dg.AssetKey, partitions: list[str]) -> str:
    """What "Materialize selected partitions" in the UI does: a PartitionBackfill, then daemon iterations."""
    from dagster._core.execution.backfill import PartitionBackfill
    from dagster._daemon.backfill import execute_backfill_iteration

    backfill = PartitionBackfill.from_asset_partitions(
        backfill_id="bf-test",
        asset_graph=workspace.create_request_context().asset_graph,
        partition_names=partitions,
        asset_selection=[asset_key],
        backfill_timestamp=time.time(),
        tags={},
        dynamic_partitions_store=instance,
        all_partitions=False,
        title=None,
        description=None,
        run_config=None,
    )
    instance.add_backfill(backfill)
    for _ in range(3):  # request runs, then see them finish
        list(execute_backfill_iteration(workspace, logging.getLogger("backfill-test")))
    return backfill.backfill_id


def lineage_commits(lake: Lake, asset: str, partition: str) -> list[str]:
    return sorted(Path(lake.join("_lineage", "materializations", asset, partition)).glob("*.parquet"))


def latest_metadata(instance, key: dg.AssetKey, partition: str) -> dict:
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, asset_partitions=[partition]), limit=1
    ).records
    return {k: v.value for k, v in records[0].asset_materialization.metadata.items()}


def materializations(result) -> dict[str, dict]:
    return {
        e.materialization.partition: {k: v.value for k, v in e.materialization.metadata.items()}
        for e in result.get_asset_materialization_events()
    }


def test_pdf_backfill_is_one_run_and_writes_every_partition(env, tmp_path):
    lake, resources, instance, pdfs = env
    assert pdf_documents.backfill_policy == dg.BackfillPolicy.single_run()
    defs_file = tmp_path / "backfill_defs.py"
    defs_file.write_text(DEFS_FILE.format(lake=lake.root, pdfs=str(pdfs)))
    with daemon_workspace(instance, defs_file) as workspace:
        backfill_id = launch_backfill(workspace, instance, pdf_documents.key, ["b1", "b2", "b3"])
    assert instance.get_backfill(backfill_id).status.value == "COMPLETED_SUCCESS"
    runs = instance.get_runs()
    assert len(runs) == 1 and runs[0].status == dg.DagsterRunStatus.SUCCESS  # three partitions, one run
    assert {k: runs[0].tags[k] for k in (RANGE_START, RANGE_END)} == range_tags("b1", "b3")
    md = {k: latest_metadata(instance, pdf_documents.key, k) for k in ("b1", "b2", "b3")}
    assert {k: v["dagster/row_count"] for k, v in md.items()} == {"b1": 2, "b2": 1, "b3": 0}
    assert md["b3"]["quarantined"] == 1 and md["b1"]["quarantined"] == 0  # partition-scoped, not the run's
    assert md["b1"]["funnel"] == {"files in": 2, "extracted": 2, "duplicates": 0, "quarantined": 0}
    assert (
        "data:image/png;base64," in md["b1"]["funnel_picture"]
        and "| pages extracted | 2 |" in md["b1"]["pages_picture"]
    )
    assert md["b1"]["rows_per_partition"] == {"b1": 2, "b2": 1, "b3": 0}
    assert len({v["data_version"] for v in md.values()}) == 3  # a content hash per partition
    for key, n in {"b1": 2, "b2": 1, "b3": 0}.items():
        table = lake.read_table("pdf_documents", key)
        assert table.num_rows == n and PARTITION_COLUMN not in table.column_names
        assert table.schema.field("body").type == pa.string()  # b3: empty, with the schema
        assert len(lineage_commits(lake, "pdf_documents", key)) == 1
    assert lake.read_quarantine("pdf_documents", "b3").num_rows == 1
    assert sorted(lake.read_table("pdf_documents", "b1")["title"].to_pylist())[0].startswith("Diabetes")

    # The blocking check ran on every partition of the range and recorded each one (none left PLANNED).
    check_key = dg.AssetCheckKey(pdf_documents.key, pdf_checks_module.PDF_DOCUMENTS_VALID)
    records = instance.event_log_storage.get_asset_check_execution_history(check_key, limit=10)
    assert {(r.partition, r.status.value) for r in records} == {(k, "SUCCEEDED") for k in ("b1", "b2", "b3")}
    assert all(r.event.dagster_event.event_specific_data.target_materialization_data for r in records)

    # Re-materializing ONE batch (single-partition path, unchanged) rewrites only that batch.
    before = {k: Path(lake.data_path("pdf_documents", k)).read_bytes() for k in ("b1", "b2", "b3")}
    make_pdf(pdfs / "b2" / "diabetes.pdf", "diabetes")
    again = dg.materialize(
        [pdf_documents, *pdf_checks_module.checks], instance=instance, resources=resources, partition_key="b2"
    )
    assert again.success and list(materializations(again)) == ["b2"] and len(instance.get_runs()) == 2
    after = {k: Path(lake.data_path("pdf_documents", k)).read_bytes() for k in ("b1", "b2", "b3")}
    assert after["b1"] == before["b1"] and after["b3"] == before["b3"] and after["b2"] != before["b2"]
    assert lake.read_table("pdf_documents", "b2").num_rows == 2
    assert [len(lineage_commits(lake, "pdf_documents", k)) for k in ("b1", "b2", "b3")] == [1, 2, 1]
    assert PARTITION_COLUMN not in lake.read_table("pdf_documents", "b2").column_names
    assert {e.partition for e in again.get_asset_check_evaluations()} == {"b2"}


def test_web_backfill_then_cross_shard_dedup_states_what_it_recomputes(env):
    lake, resources, instance, _ = env
    web_checks = web_checks_module.checks
    result = dg.materialize(
        [web_documents, web_corpus, *web_checks],
        selection=[web_documents],
        instance=instance,
        resources=resources,
        tags=range_tags("s1", "s2"),
    )
    assert result.success and len(instance.get_runs()) == 1
    md = materializations(result)
    assert {k: v["dagster/row_count"] for k, v in md.items()} == {"s1": 2, "s2": 2}  # spam dropped in s2
    assert "| input | 3 | 100.0% |" in md["s2"]["funnel_picture"]  # s2's own funnel
    assert {e.partition for e in result.get_asset_check_evaluations()} == {"s1", "s2"}
    corpus = dg.materialize(
        [web_documents, web_corpus, *web_checks], selection=[web_corpus], instance=instance, resources=resources
    )
    assert corpus.success
    cmd = materializations(corpus)[None]
    assert cmd["shards_read"] == {"s1": 2, "s2": 2}
    assert cmd["recomputes"].startswith("all web shards (2)")
    assert "recomputes the whole source" in web_corpus.descriptions_by_key[web_corpus.key]
    assert "| documents in | 4 | 100.0% |" in cmd["dedup_funnel"] and "near dups" in cmd["dedup_funnel"]
    assert "| 2 | 1 | 100.0% |" in cmd["cluster_sizes"]  # one duplicate group of two (the anemia pages)
    assert lake.read_table("web_corpus", None).num_rows == 3


# ------------------------------------------------------------------ the protocol on a toy asset
toy_parts = dg.DynamicPartitionsDefinition(name="toy")
TOY_VALID = "toy_valid"


@dg.asset(partitions_def=toy_parts, backfill_policy=dg.BackfillPolicy.single_run())
def toy(context: dg.AssetExecutionContext) -> dg.Output:
    def one(key: str):
        texts = {"good": ["a", "b"], "bad": ["c", None], "none": []}[key]
        table = pa.table(
            {
                RECORD_ID: [f"{key}-{i}" for i in range(len(texts))],
                PARENT_IDS: pa.array([[] for _ in texts], pa.list_(pa.string())),
                "text": pa.array(texts, pa.string()),
            }
        )
        return table, {"texts": len(texts)}

    return per_partition(context, one)


toy_check = gx_asset_check(
    asset=toy, name=TOY_VALID, blocking=True, description="toy", suite=lambda: id_suite() + not_null(["text"])
)


def test_failing_partition_is_recorded_on_that_partition_only(tmp_path):
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("toy", ["bad", "good", "none"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = dg.materialize(
            [toy, toy_check],
            instance=instance,
            raise_on_error=False,
            resources={"io_manager": LakeIOManager(root=str(tmp_path))},
            tags=range_tags("bad", "none"),
        )
    assert not result.success  # the blocking check failed ...
    evals = {e.partition: e.passed for e in result.get_asset_check_evaluations()}
    assert evals == {"bad": False, "good": True, "none": True}  # ... for "bad" only
    md = materializations(result)
    assert {k: (v["texts"], v["dagster/row_count"]) for k, v in md.items()} == {
        "bad": (2, 2),
        "good": (2, 2),
        "none": (0, 0),
    }
    assert Lake(str(tmp_path)).read_table("toy", "none").num_rows == 0


def test_split_output_refuses_ambiguous_tables():
    t = pa.table({RECORD_ID: ["x", "y"], PARTITION_COLUMN: ["a", "b"]})
    parts = split_output(t, ["a", "b", "c"])
    assert [parts[k].num_rows for k in "abc"] == [1, 1, 0] and PARTITION_COLUMN not in parts["c"].column_names
    with pytest.raises(ValueError, match="outside this run"):
        split_output(t, ["a"])
    with pytest.raises(ValueError, match="without a '_partition' column"):
        split_output(pa.table({RECORD_ID: ["x"]}), ["a", "b"])
    assert split_output(pa.table({RECORD_ID: ["x"]}), ["a"])["a"].num_rows == 1
