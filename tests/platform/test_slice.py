"""Integration: materialize the first vertical slice with dagster.materialize and trace a record."""

import shutil

import dagster as dg
import pytest

from citrus_assets.reasoning_data.seeds.assets import judge_answers, question_seeds, seed_sets
from citrus_assets.reasoning_data.seeds.checks import checks
from citrus_assets.reasoning_data.seeds.judges import JudgePanelResource
from resources.inbox import InboxResource
from resources.lake import Lake
from resources.lineage import LineageStore
from resources.llm import LLMResource
from tests.support.resources import make_resources

PARTITION = "medqa_demo"


@pytest.fixture
def slice_env(tmp_path, repo_root, tiny_model_dir):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    shutil.copy(repo_root / "sample" / "seeds" / "medqa_demo.jsonl", inbox / "medqa_demo.jsonl")
    lake_root = str(tmp_path / "lake")
    resources = make_resources(
        lake_root,
        inbox=InboxResource(seeds_dir=str(inbox)),
        llm=LLMResource(model=tiny_model_dir, cache_dir=str(tmp_path / "cache")),
        judges=JudgePanelResource(),
    )
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(seed_sets.name, [PARTITION])
    return lake_root, resources, instance


def run_slice(resources, instance, **kw):
    return dg.materialize(
        [question_seeds, judge_answers, *checks],
        partition_key=PARTITION,
        resources=resources,
        instance=instance,
        run_config={"ops": {"judge_answers": {"config": {"max_tokens": 12}}}},
        **kw,
    )


def metadata(result, asset):
    ev = [e for e in result.get_asset_materialization_events() if e.asset_key == dg.AssetKey(asset)]
    assert len(ev) == 1, f"{asset} materialized {len(ev)} times"
    return {k: v.value for k, v in ev[0].materialization.metadata.items()}


def test_slice_materializes_with_lineage_and_cache(slice_env):
    lake_root, resources, instance = slice_env
    first = run_slice(resources, instance)
    assert first.success
    seeds_md, answers_md = metadata(first, "question_seeds"), metadata(first, "judge_answers")
    assert seeds_md["dagster/row_count"] == 8
    assert seeds_md["quarantined"] == 2  # the sample's planted malformed lines
    assert answers_md["dagster/row_count"] == 8
    assert answers_md["cache_hits"] == 0
    assert all(e.passed for e in first.get_asset_check_evaluations())

    lake = Lake(lake_root)
    quarantine = lake.read_quarantine("question_seeds", PARTITION).to_pylist()
    assert {q["source_locator"] for q in quarantine} == {"line 6", "line 10"}

    answers = lake.read_table("judge_answers", PARTITION)
    store = LineageStore(lake.lineage_root, str(lake_root) + "/_lineage/lineage.duckdb")
    rid = answers["record_id"][0].as_py()
    trace = store.trace(rid)
    text = repr(trace)
    # the generated answer -> its question seed -> the source line of the input file
    assert "question_seeds" in text and "medqa_demo.jsonl" in text and "line 1" in text
    assert answers["gen_model_id"][0].as_py() in text

    impact = store.impact("question_seeds", PARTITION, max_records=None)
    assert set(impact["records"]) == set(answers["record_id"].to_pylist())
    source_impact = store.impact("source", "medqa_demo.jsonl", max_records=None)
    seeds = lake.read_table("question_seeds", PARTITION)
    assert set(source_impact["records"]) == set(seeds["record_id"].to_pylist()) | set(impact["records"])

    # A re-run pays for no generation: every answer is a cache hit, byte-identical.
    second = run_slice(resources, instance)
    assert metadata(second, "judge_answers")["cache_hits"] == 8
    again = lake.read_table("judge_answers", PARTITION)
    assert again["response"].to_pylist() == answers["response"].to_pylist()
    assert metadata(second, "judge_answers")["data_version"] == answers_md["data_version"]


def test_failing_llm_server_materializes_nothing(slice_env):
    lake_root, resources, instance = slice_env
    resources = dict(resources)
    resources["llm"] = LLMResource(
        backend="openai",
        model="served-model",
        base_url="http://127.0.0.1:9/v1",
        max_retries=1,
        timeout_s=2,
        cache_dir=resources["llm"].cache_dir,
    )
    result = run_slice(resources, instance, raise_on_error=False)
    assert not result.success
    failure = [e for e in result.all_events if e.is_step_failure]
    assert failure and "127.0.0.1:9" in str(failure[0].step_failure_data.error)
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert materialized == {"question_seeds"}
    assert not Lake(lake_root).exists("judge_answers", PARTITION)


def test_automation_runs_downstream_on_new_data_only(slice_env):
    """Eager automation: new seeds schedule their answers; unchanged data schedules nothing."""
    _, resources, instance = slice_env
    assets = [question_seeds, judge_answers]

    cursor = None

    def requested():  # one daemon tick; the cursor carries what earlier ticks saw
        nonlocal cursor
        result = dg.evaluate_automation_conditions(
            defs=dg.Definitions(assets=assets, resources=resources), instance=instance, cursor=cursor
        )
        cursor = result.cursor
        return {
            k.to_user_string(): sorted(result.get_requested_partitions(k))
            for k in (question_seeds.key, judge_answers.key)
            if result.get_num_requested(k)
        }

    assert requested() == {}  # nothing materialized yet: judge_answers waits for its input
    assert dg.materialize(
        assets, selection=[question_seeds], partition_key=PARTITION, resources=resources, instance=instance
    ).success
    assert requested() == {"judge_answers": [PARTITION]}  # new upstream data -> downstream scheduled
    assert run_slice(resources, instance).success
    assert requested() == {}  # unchanged data -> nothing
