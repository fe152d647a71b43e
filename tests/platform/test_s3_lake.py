"""The lake on object storage: a real slice of the graph on ``s3://<bucket>/lake``, served by moto on 127.0.0.1.

The S3-compatible server is moto's ``ThreadedMotoServer`` started by the test on a free port; s3fs (through
botocore) finds it by ``AWS_ENDPOINT_URL``, with dummy credentials in the environment. The resources are the
code location's own (``build_resources()`` with ``CITRUS_LAKE`` set to the bucket URL); only the model (a tiny
random Llama), its request cache and the inbox folders (the bundled sample) are set by the test. The slice:
question_seeds -> judge_answers -> question_difficulty -> open_questions on the seed sample, pdf_documents on
the sample PDF batch, web_documents -> web_corpus on the sample web shard, with their checks. Then: every
Parquet file is in the bucket (and nothing under the working directory but the lineage index), lineage is in
``<lake>/_lineage``, the DuckDB index at its remote-lake default (``.citrus/lineage.duckdb`` under the working
directory) traces a record to its source line, quarantine files are in the bucket, and downstream assets load
their inputs from S3.
"""

from pathlib import Path

import dagster as dg
import pytest

s3fs = pytest.importorskip("s3fs")

from citrus_assets.common.stages import load_stage  # noqa: E402
from citrus_assets.cpt_corpus.pdf.assets import pdf_batches, pdf_documents  # noqa: E402
from citrus_assets.cpt_corpus.web.assets import web_corpus, web_documents, web_shards  # noqa: E402
from citrus_assets.reasoning_data.questions.assets import open_questions, question_difficulty  # noqa: E402
from citrus_assets.reasoning_data.questions.checks import checks as question_checks  # noqa: E402
from citrus_assets.reasoning_data.seeds.assets import judge_answers, question_seeds, seed_sets  # noqa: E402
from citrus_assets.reasoning_data.seeds.checks import checks as seed_checks  # noqa: E402
from citrus_assets.resources_config import build_resources  # noqa: E402
from resources.inbox import InboxResource  # noqa: E402
from resources.lake import Lake, QuarantineRecord  # noqa: E402
from resources.lineage import LineageStore  # noqa: E402
from resources.lineage.settings import REMOTE_DB_DEFAULT, default_paths  # noqa: E402
from resources.llm import LLMResource, clear_backend_cache  # noqa: E402
from tests.platform.s3_support import s3_environment  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parent.parent.parent
BUCKET = "citrus-test"
LAKE_URL = f"s3://{BUCKET}/lake"
SEEDS, PDFS, WEB = "medqa_demo", "batch_001", "web_demo"
SEED_ASSETS = [question_seeds, judge_answers, question_difficulty, open_questions]
CPT_ASSETS = [pdf_documents, web_documents, web_corpus]


@pytest.fixture(scope="module")
def s3_lake(s3_server, tmp_path_factory, tiny_model_dir):
    """The slice materialized on ``s3://<bucket>/lake``; yields (lake, working dir, results by asset)."""
    work = tmp_path_factory.mktemp("s3-lake-cwd")
    with pytest.MonkeyPatch.context() as mp, s3_environment(mp, s3_server, BUCKET, LAKE_URL):
        mp.chdir(work)  # remote-lake local state (.citrus/) lands here
        sample = REPO_ROOT / "sample"
        resources = build_resources()  # the code location's resources, lake root from CITRUS_LAKE
        resources["llm"] = LLMResource(model=tiny_model_dir, cache_dir=str(work / "llm-cache"))
        resources["inbox"] = InboxResource(
            seeds_dir=str(sample / "seeds"), pdfs_dir=str(sample / "pdfs"), web_dir=str(sample / "web")
        )
        instance = dg.DagsterInstance.ephemeral()
        instance.add_dynamic_partitions(seed_sets.name, [SEEDS])
        instance.add_dynamic_partitions(pdf_batches.name, [PDFS])
        instance.add_dynamic_partitions(web_shards.name, [WEB])
        ops = {"judge_answers": {"config": {"max_tokens": 12}}, "open_questions": {"config": {"max_tokens": 24}}}
        everything = [
            *SEED_ASSETS,
            *CPT_ASSETS,
            *seed_checks,
            *question_checks,
            *load_stage("citrus_assets.cpt_corpus").checks,
        ]
        runs = [
            dict(selection=SEED_ASSETS, partition_key=SEEDS, run_config={"ops": ops}),
            dict(selection=[pdf_documents], partition_key=PDFS),
            dict(selection=[web_documents], partition_key=WEB),
            dict(selection=[web_corpus]),
        ]
        results = []
        for kw in runs:
            result = dg.materialize(everything, resources=resources, instance=instance, **kw)
            assert result.success
            results.append(result)
        try:
            yield Lake(), work, results
        finally:
            clear_backend_cache()


def metadata(results, asset: str) -> dict:
    for result in results:
        for ev in result.get_asset_materialization_events():
            if ev.asset_key == dg.AssetKey(asset):
                return {k: v.value for k, v in ev.materialization.metadata.items()}
    raise AssertionError(f"{asset} not materialized")


def bucket_files(lake: Lake) -> list[str]:
    """Every object under the lake prefix, relative to it (listed afresh, not from s3fs's listing cache)."""
    lake.fs.invalidate_cache()
    base = f"{BUCKET}/lake/"
    return sorted(p[len(base) :] for p in lake.fs.find(base))


def test_the_slice_is_in_the_bucket(s3_lake):
    lake, work, results = s3_lake
    assert not lake.is_local and lake.root == LAKE_URL
    assert all(e.passed for r in results for e in r.get_asset_check_evaluations())
    files = bucket_files(lake)
    for asset, part in [
        ("question_seeds", SEEDS),
        ("judge_answers", SEEDS),
        ("question_difficulty", SEEDS),
        ("open_questions", SEEDS),
        ("pdf_documents", PDFS),
        ("web_documents", WEB),
        ("web_corpus", "__all__"),
    ]:
        assert f"{asset}/{part}/data.parquet" in files, asset
        md = metadata(results, asset)
        assert md["path"] == f"{LAKE_URL}/{asset}/{part}/data.parquet"
        assert lake.read_table(asset, None if part == "__all__" else part).num_rows == md["dagster/row_count"] > 0
    assert "web_documents/web_demo/rejects.parquet" in files and "web_corpus/__all__/duplicates.parquet" in files
    assert not [f for f in files if f.rsplit("/", 1)[-1].startswith(".")]  # no temporary file left behind
    # the same objects through boto3 (not s3fs): the bucket really holds them
    import boto3

    keys = {
        o["Key"]
        for page in boto3.client("s3").get_paginator("list_objects_v2").paginate(Bucket=BUCKET)
        for o in page.get("Contents", [])
    }
    assert keys == {f"lake/{f}" for f in files}
    # nothing of the lake on local disk: the working dir holds only the lineage index (and the model cache)
    local = {p.relative_to(work).parts[0] for p in work.rglob("*") if p.is_file()}
    assert local <= {".citrus", "llm-cache"}, local
    assert not (work / "lake").exists()


def test_lineage_in_s3_and_traced_from_a_local_index(s3_lake):
    lake, work, results = s3_lake
    files = bucket_files(lake)
    lineage = [f for f in files if f.startswith("_lineage/")]
    for asset in (
        "question_seeds",
        "judge_answers",
        "question_difficulty",
        "open_questions",
        "pdf_documents",
        "web_documents",
        "web_corpus",
    ):
        assert any(f.startswith(f"_lineage/materializations/{asset}/") for f in lineage), asset
        assert any(f.startswith(f"_lineage/record_lineage/{asset}/") for f in lineage), asset
    assert lake.lineage_root == f"{LAKE_URL}/_lineage"

    paths = default_paths()
    assert paths.lake == LAKE_URL and paths.db_path == REMOTE_DB_DEFAULT
    with LineageStore.from_env() as store:
        assert store.db_path == str(work / REMOTE_DB_DEFAULT)  # a local file DuckDB can lock, next to the cwd
        store.sync()  # first use: ingests every commit from the bucket
        n_mat = store.query("SELECT count(*) FROM materializations")[0][0]
        assert n_mat == len([f for f in lineage if f.startswith("_lineage/materializations/")])
        data_paths = [r[0] for r in store.query("SELECT data_path FROM materializations")]
        assert data_paths and all(p.startswith(f"{LAKE_URL}/") for p in data_paths)

        # an open question -> its judge answers' seed -> the line of the input file
        oq = lake.read_table("open_questions", SEEDS).to_pylist()[0]
        trace = store.trace(oq["record_id"])
        sources = [n for n in trace["nodes"] if n["kind"] == "source"]
        assert {n["asset"] for n in trace["nodes"]} >= {"open_questions", "question_seeds", "source"}
        assert sources and all(s["source"]["uri"].endswith("medqa_demo.jsonl") for s in sources)
        assert {s["source"]["locator"] for s in sources} <= {f"line {i}" for i in range(1, 20)}

        # a generated answer keeps its model in the trace; a web document traces to its JSONL line
        ans = lake.read_table("judge_answers", SEEDS).to_pylist()[0]
        assert ans["gen_model_id"] in repr(store.trace(ans["record_id"]))
        doc = lake.read_table("web_corpus", None).to_pylist()[0]
        web_trace = store.trace(doc["record_id"])
        assert any(n["kind"] == "source" and n["source"]["uri"].endswith("web_demo.jsonl") for n in web_trace["nodes"])

        # impact of the source file reaches the open questions
        impact = store.impact("source", "medqa_demo.jsonl", max_records=None)
        assert oq["record_id"] in impact["records"]
        # the convenience views read the lineage Parquet files in the bucket through s3fs
        assert store.query("SELECT count(*) FROM v_record_lineage")[0][0] >= len(
            lake.read_table("question_seeds", SEEDS)
        )
    assert (work / REMOTE_DB_DEFAULT).is_file()


def test_quarantine_in_s3(s3_lake):
    lake, _, results = s3_lake
    files = bucket_files(lake)
    assert f"_quarantine/question_seeds/{SEEDS}/quarantine.parquet" in files
    assert f"_quarantine/web_documents/{WEB}/quarantine.parquet" in files
    seeds_q = lake.read_quarantine("question_seeds", SEEDS).to_pylist()
    assert metadata(results, "question_seeds")["quarantined"] == len(seeds_q) == 2
    assert {q["source_locator"] for q in seeds_q} == {"line 6", "line 10"}  # the sample's planted bad lines
    assert lake.read_quarantine("web_documents", WEB).num_rows == metadata(results, "web_documents")["quarantined"] == 1
    # a partition without rejects has no quarantine file (and reads as empty)
    assert lake.read_quarantine("pdf_documents", PDFS).num_rows == metadata(results, "pdf_documents")["quarantined"]
    # the address returned (and logged by the assets) is the bucket URL; an empty re-run removes the file
    addr, n = lake.write_quarantine("probe", None, [QuarantineRecord("f.jsonl", "line 1", "bad", "{")])
    assert (addr, n) == (f"{LAKE_URL}/_quarantine/probe/__all__/quarantine.parquet", 1)
    assert lake.write_quarantine("probe", None, []) == (None, 0)
    assert not [f for f in bucket_files(lake) if f.startswith("_quarantine/probe/")]


def test_downstream_assets_loaded_their_inputs_from_s3(s3_lake):
    lake, _, results = s3_lake
    seeds = lake.read_table("question_seeds", SEEDS)
    answers = lake.read_table("judge_answers", SEEDS)
    difficulty = lake.read_table("question_difficulty", SEEDS)
    questions = lake.read_table("open_questions", SEEDS)
    seed_ids = set(seeds["record_id"].to_pylist())
    # every answer's parents are seeds as stored in S3; difficulty and open questions build on them
    assert answers.num_rows == 8 and all(set(p) & seed_ids for p in answers["parent_ids"].to_pylist())
    assert set(difficulty["question_id"].to_pylist()) == set(answers["question_id"].to_pylist())
    assert set(questions["question_id"].to_pylist()) <= set(difficulty["question_id"].to_pylist())
    # web_corpus read every web_documents shard from the bucket (a multi-partition read with row counts)
    md = metadata(results, "web_corpus")
    assert md["shards_read"] == {WEB: lake.read_table("web_documents", WEB).num_rows}
    assert md["documents_in"] == lake.read_table("web_documents", WEB).num_rows
    # the IO manager of the code location is the lake's, rooted in the bucket
    assert build_resources()["io_manager"].lake().root == LAKE_URL


def test_a_commit_from_another_process_is_synced(s3_lake):
    """A long-lived store sees lineage that another process commits into a folder it has already listed.

    The other process is stood in for by a writer with its own filesystem object (``skip_instance_cache``):
    what it writes is invisible to any listing cache of this process's filesystem objects. With fsspec's
    default listings cache, the second sync failed with FileNotFoundError on the new file.
    """
    from resources.lineage import LineageWriter, table_data_version

    lake, _, _ = s3_lake
    seeds = lake.read_table("question_seeds", SEEDS)
    with LineageStore.from_env() as store:
        store.sync()  # lists every lineage folder, question_seeds/medqa_demo included
        before = store.query("SELECT count(*) FROM materializations WHERE asset = 'question_seeds'")[0][0]
        changed = seeds.slice(0, 3)
        other = LineageWriter(lake.lineage_root, skip_instance_cache=True)
        assert other.fs is not lake.fs
        other.write_materialization(
            asset="question_seeds",
            partition=SEEDS,
            run_id="another-process",
            data_version=table_data_version(changed),
            code_version="",
            table=changed,
            data_path=lake.url(lake.data_path("question_seeds", SEEDS)),
        )
        assert store.sync() == 1
        runs = [r[0] for r in store.query("SELECT run_id FROM materializations WHERE asset = 'question_seeds'")]
        assert len(runs) == before + 1 and "another-process" in runs
        trace = store.trace(changed["record_id"][0].as_py())
        assert any(a["run_id"] == "another-process" for a in trace["nodes"][0]["appearances"])
