"""Incremental work: a backfill over several partitions, the same backfill again (no LLM generation is
re-paid: every prompt is a cache hit, and the metadata says so), and an edited input file that
re-materializes only its own partition (the inbox sensor sees the content change; a test counts steps)."""

import os
import textwrap

import dagster as dg

from citrus_assets.reasoning_data.seeds.assets import judge_answers, seed_sets
from citrus_assets.reasoning_data.seeds.sensors import seed_inbox_sensor
from resources.inbox import InboxResource
from tests.platform.test_backfill import DAEMON_INSTANCE, daemon_workspace, latest_metadata
from tests.support.resources import make_resources

DEFS_FILE = """
import dagster as dg
from citrus_assets.reasoning_data.seeds.assets import judge_answers, question_seeds
from resources.inbox import InboxResource
from resources.llm import LLMResource
from tests.support.resources import make_resources

defs = dg.Definitions(assets=[question_seeds, judge_answers], executor=dg.in_process_executor, resources=make_resources(
    {lake!r}, inbox=InboxResource(seeds_dir={inbox!r}), llm=LLMResource(model={model!r}, cache_dir={cache!r})))
"""
PARTS = ["set_a", "set_b", "set_c"]


def backfill(workspace, instance, bid: str, keys: list[dg.AssetKey], partitions: list[str]) -> str:
    import logging
    import time

    from dagster._core.execution.backfill import PartitionBackfill
    from dagster._daemon.backfill import execute_backfill_iteration

    bf = PartitionBackfill.from_asset_partitions(
        backfill_id=bid,
        asset_graph=workspace.create_request_context().asset_graph,
        partition_names=partitions,
        asset_selection=keys,
        backfill_timestamp=time.time(),
        tags={},
        dynamic_partitions_store=instance,
        all_partitions=False,
        title=None,
        description=None,
        run_config={"ops": {"judge_answers": {"config": {"max_tokens": 8}}}},
    )
    instance.add_backfill(bf)
    for _ in range(6):
        list(execute_backfill_iteration(workspace, logging.getLogger("incremental-test")))
    assert instance.get_backfill(bid).status.value == "COMPLETED_SUCCESS", instance.get_backfill(bid).status
    return bid


def llm_figures(instance, partitions) -> tuple[int, int]:
    """(prompts answered, prompts served from the cache) over the latest judge_answers materializations."""
    n = hits = 0
    for p in partitions:
        md = latest_metadata(instance, judge_answers.key, p)
        n += md["dagster/row_count"]
        hits += md["cache_hits"]
    return n, hits


def test_backfill_rerun_from_cache_and_changed_file_only(tmp_path, repo_root, tiny_model_dir):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    lines = (repo_root / "sample" / "seeds" / "medqa_demo.jsonl").read_text().splitlines()
    good = [ln for ln in lines if ln.strip().startswith("{") and '"answer' in ln][:6]
    for i, p in enumerate(PARTS):
        (inbox / f"{p}.jsonl").write_text("\n".join(good[2 * i : 2 * i + 2]) + "\n")
    lake = str(tmp_path / "lake")
    defs_file = tmp_path / "incremental_defs.py"
    defs_file.write_text(
        textwrap.dedent(
            DEFS_FILE.format(lake=lake, inbox=str(inbox), model=tiny_model_dir, cache=str(tmp_path / "cache"))
        )
    )
    keys = [dg.AssetKey("question_seeds"), judge_answers.key]
    from dagster._core.test_utils import instance_for_test

    with instance_for_test(overrides=DAEMON_INSTANCE) as instance:
        # the inbox sensor registers the three files and asks for their runs
        res = {"inbox": InboxResource(seeds_dir=str(inbox))}
        with dg.build_sensor_context(instance=instance, resources=res) as ctx:
            first = seed_inbox_sensor(ctx)
        assert sorted(r.partition_key for r in first.run_requests) == PARTS
        instance.add_dynamic_partitions(seed_sets.name, PARTS)
        cursor = first.cursor

        with daemon_workspace(instance, defs_file) as workspace:
            backfill(workspace, instance, "bf-1", keys, PARTS)
            n1, hits1 = llm_figures(instance, PARTS)
            backfill(workspace, instance, "bf-2", keys, PARTS)
            n2, hits2 = llm_figures(instance, PARTS)
        print(
            f"\nBACKFILL first: {n1} judge prompts, {hits1} from cache; identical second backfill: "
            f"{n2} prompts, {hits2} from cache, re-paid {n2 - hits2}"
        )
        assert n1 == 6 and hits1 == 0
        assert n2 == n1 and hits2 == n2  # nothing generated again

        # a touch (same bytes) asks for nothing; an edit of set_b asks for set_b only
        os.utime(inbox / "set_a.jsonl", None)
        with dg.build_sensor_context(instance=instance, resources=res, cursor=cursor) as ctx:
            touched = seed_inbox_sensor(ctx)
        assert not getattr(touched, "run_requests", None)
        cursor = getattr(touched, "cursor", None) or cursor
        (inbox / "set_b.jsonl").write_text(good[2] + "\n")  # one seed removed
        with dg.build_sensor_context(instance=instance, resources=res, cursor=cursor) as ctx:
            edited = seed_inbox_sensor(ctx)
        assert [r.partition_key for r in edited.run_requests] == ["set_b"]
        req = edited.run_requests[0]
        assert req.tags["citrus/inbox_change"] == "content changed" and "set_b:" in req.run_key
        before = {p: latest_metadata(instance, dg.AssetKey("question_seeds"), p)["data_version"] for p in PARTS}
        # what the sensor's run does: the requested partition of its asset and what follows it in the stage
        from citrus_assets.reasoning_data.seeds.assets import question_seeds
        from citrus_assets.reasoning_data.seeds.judges import JudgePanelResource
        from resources.llm import LLMResource

        run = dg.materialize(
            [question_seeds, judge_answers],
            partition_key=req.partition_key,
            instance=instance,
            resources=make_resources(
                lake,
                inbox=InboxResource(seeds_dir=str(inbox)),
                judges=JudgePanelResource(),
                llm=LLMResource(model=tiny_model_dir, cache_dir=str(tmp_path / "cache")),
            ),
            run_config={"ops": {"judge_answers": {"config": {"max_tokens": 8}}}},
        )
        steps = [e.step_key for e in run.all_events if e.event_type_value == "STEP_SUCCESS"]
        after = {p: latest_metadata(instance, dg.AssetKey("question_seeds"), p)["data_version"] for p in PARTS}
        print(
            f"CHANGED FILE set_b: {len(steps)} steps ({', '.join(steps)}); partitions re-materialized: "
            f"{[p for p in PARTS if after[p] != before[p]]}"
        )
        assert sorted(steps) == ["judge_answers", "question_seeds"]
        assert [p for p in PARTS if after[p] != before[p]] == ["set_b"]
        assert latest_metadata(instance, judge_answers.key, "set_b")["cache_hits"] == 1  # the kept seed
