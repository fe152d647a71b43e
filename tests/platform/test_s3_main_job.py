"""The whole graph on an s3:// lake: every job of the main job's plan, served by moto on 127.0.0.1.

This is ``citrus demo --lake s3://...`` in-process (``run_main_job`` over ``MAIN_PLAN``: every asset, every
registered partition, every check), with the code location's own definitions and resources
(``build_definitions`` / ``build_resources`` with ``CITRUS_LAKE`` set to the bucket URL). Only the model is a
tiny random Llama instead of the built-in one — for generation (``llm``), as the base of the training chain
(``training``), as the evaluated ``builtin`` partition (``eval_models``) and as the CPT tokenizer — so the
graph runs in minutes in CI; ``benchmarks/s3_lake.py`` runs the same on the built-in model.

Then: every asset of the definitions was materialized, every data file, lineage commit, quarantine file and
data card is in the bucket (seen through boto3 too, no temporary file left), nothing of the lake is on local
disk (the working directory holds only the remote-lake defaults ``.citrus/lineage.duckdb`` and
``.citrus/checkpoints``), the checkpoints' rows point at the trained weights, and a preference pair traces
from the DuckDB index back to a line of an input file.
"""

import json
import os
from pathlib import Path

import dagster as dg
import pytest

s3fs = pytest.importorskip("s3fs")
pytest.importorskip("moto.server")

from citrus_assets.definitions import build_definitions  # noqa: E402
from citrus_assets.demo import format_summary, run_main_job  # noqa: E402
from citrus_assets.evaluation.models import EvalModelSpec, EvalModelsResource  # noqa: E402
from citrus_assets.jobs import CPT_CORPUS_JOB, MAIN_PLAN  # noqa: E402
from citrus_assets.model_training.checkpoints.training_config import TrainingResource  # noqa: E402
from citrus_assets.resources_config import build_resources  # noqa: E402
from resources.lake import Lake  # noqa: E402
from resources.lineage import LineageStore  # noqa: E402
from resources.lineage.settings import REMOTE_DB_DEFAULT  # noqa: E402
from resources.llm import LLMResource, clear_backend_cache  # noqa: E402
from tests.platform.s3_support import s3_environment  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parent.parent.parent
BUCKET = "citrus-main"
LAKE_URL = f"s3://{BUCKET}/lake"
CHECKPOINTS = ("cpt", "sft_stage1", "sft_stage2", "sft_stage3", "rl")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def main_job(s3_server, tmp_path_factory, tiny_model_dir):
    """The main job on ``s3://citrus-main/lake``; yields (lake, working dir, result, definitions)."""
    work = tmp_path_factory.mktemp("s3-main-cwd")
    (work / "sample").symlink_to(REPO_ROOT / "sample")  # the inboxes' defaults are relative to the cwd
    with pytest.MonkeyPatch.context() as mp, s3_environment(mp, s3_server, BUCKET, LAKE_URL):
        mp.chdir(work)  # remote-lake local state (.citrus/) lands here
        mp.setenv("CITRUS_CACHE_DIR", str(tmp_path_factory.mktemp("s3-main-cache")))  # an empty request cache
        shared = Path(os.environ.get("CITRUS_DATA") or REPO_ROOT.parent / "shared" / "data")
        if shared.is_dir():  # the evaluation benchmarks the decontamination reads, as from the repo root
            mp.setenv("CITRUS_DATA", str(shared))
        resources = build_resources()  # the code location's resources, lake root from CITRUS_LAKE
        resources["llm"] = LLMResource(model=tiny_model_dir)
        resources["training"] = TrainingResource(base_model=tiny_model_dir)
        resources["eval_models"] = EvalModelsResource(
            models={"builtin": EvalModelSpec(kind="hf", model=tiny_model_dir, prompt_style="plain", stage="base")}
        )
        defs = build_definitions(resources)
        lake = Lake()
        db = REMOTE_DB_DEFAULT
        instance = dg.DagsterInstance.ephemeral()
        lines: list[str] = []
        try:
            result = run_main_job(
                defs,
                instance,
                lake,
                db,
                log=lines.append,
                extra_ops={CPT_CORPUS_JOB: {"cpt_documents": {"config": {"tokenizer": tiny_model_dir}}}},
            )
            print(format_summary(result, lake.url(lake.join()), db))  # shown with -s / on failure
            yield lake, work, result, defs
        finally:
            clear_backend_cache()


def bucket_files(lake: Lake) -> list[str]:
    lake.fs.invalidate_cache()
    base = f"{BUCKET}/lake/"
    return sorted(p[len(base) :] for p in lake.fs.find(base))


def test_every_asset_is_materialized_into_the_bucket(main_job):
    lake, work, result, defs = main_job
    assert not lake.is_local and lake.root == LAKE_URL
    graph_assets = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    done = {o.asset for o in result.outputs}
    assert done == graph_assets, sorted(graph_assets ^ done)
    assert len(result.outputs) >= len(graph_assets) and len({o.run_id for o in result.outputs}) >= len(MAIN_PLAN)
    files = set(bucket_files(lake))
    for o in result.outputs:
        part = o.partition.replace("|", "__") if o.partition != "-" else "__all__"
        assert o.path == f"{LAKE_URL}/{o.asset}/{part}/data.parquet", o
        assert f"{o.asset}/{part}/data.parquet" in files, o
        assert lake.read_table(o.asset, None if part == "__all__" else part).num_rows == o.rows
    assert not [f for f in files if f.rsplit("/", 1)[-1].startswith(".")]  # no temporary file left behind
    import boto3  # the same objects through boto3, not s3fs

    keys = {
        o["Key"]
        for page in boto3.client("s3").get_paginator("list_objects_v2").paginate(Bucket=BUCKET)
        for o in page.get("Contents", [])
    }
    assert keys == {f"lake/{f}" for f in files}


def test_every_check_ran_and_passed(main_job):
    _, _, result, defs = main_job
    # every check passed, except those of a stage the summary shows as EMPTY (the tiny model verifies no
    # trace: quality/empty.py makes an empty input fail its checks instead of passing silently)
    empty = {o.asset for o in result.outputs if o.rows == 0}
    failed = [k for k, ok in result.check_results.items() if not ok]
    assert result.check_results and all(k.split(":", 1)[0] in empty for k in failed), (failed, empty)
    declared = {k.name for c in defs.asset_checks for k in c.check_keys}
    assert {k.split(":", 1)[1].split("[", 1)[0] for k in result.check_results} == declared


def test_nothing_of_the_lake_on_local_disk(main_job):
    lake, work, result, _ = main_job
    local = {p.relative_to(work).parts[0] for p in work.rglob("*") if p.is_file()} - {"sample"}
    assert local <= {".citrus"}, local
    assert (work / REMOTE_DB_DEFAULT).is_file()
    # the checkpoints are local folders (trainers write files), their rows in the bucket point at them
    for stage in CHECKPOINTS:
        row = lake.read_table(f"{stage}_checkpoint", None).to_pylist()[0]
        path = Path(row["model_path"])
        assert path.is_dir() and work / ".citrus" / "checkpoints" in path.parents, path
        assert any(path.glob("*.safetensors")), path


def test_lineage_quarantine_and_data_cards_in_the_bucket(main_job):
    lake, work, result, defs = main_job
    files = bucket_files(lake)
    for asset in {o.asset for o in result.outputs}:
        assert any(f.startswith(f"_lineage/materializations/{asset}/") for f in files), asset
    quarantined = {o.asset for o in result.outputs if o.quarantined}
    assert quarantined  # the bundled sample has broken lines on purpose
    for asset in quarantined:
        assert any(f.startswith(f"_quarantine/{asset}/") for f in files), asset
    for stage in CHECKPOINTS:
        cards = [f for f in files if f.startswith(f"{stage}_data_card/__all__/")]
        assert {f"{stage}_data_card/__all__/card.md", f"{stage}_data_card/__all__/card.json"} <= set(cards), cards
        card = json.loads(lake.fs.cat_file(f"{BUCKET}/lake/{stage}_data_card/__all__/card.json"))
        assert card["checkpoint"]["asset"] == f"{stage}_checkpoint"
        assert card["sources"] and all(s["n_units"] > 0 for s in card["sources"])  # traced through s3 lineage


def test_a_preference_pair_traces_to_its_source_line(main_job):
    lake, work, result, _ = main_job
    assert result.trace_record and result.trace_record.startswith("pref-")
    with LineageStore(lake.lineage_root, str(work / REMOTE_DB_DEFAULT)) as store:
        trace = store.trace(result.trace_record)
        data_paths = [r[0] for r in store.query("SELECT data_path FROM materializations")]
    assert data_paths and all(p.startswith(f"{LAKE_URL}/") for p in data_paths)
    sources = [n for n in trace["nodes"] if n["kind"] == "source"]
    assert sources and all(s["source"]["locator"].startswith("line ") for s in sources)
    assert "source" in result.trace_text
