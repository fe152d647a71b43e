"""The LLM cost guard, the stale-pairs rule and the EMPTY lines of the main job's summary (no model)."""

import dagster as dg
import pyarrow as pa
import pytest

from citrus_assets.demo import MainJobResult, MaterializedOutput, format_summary
from citrus_assets.model_training.preference.sampler import sampler_report, with_sampler
from quality.checks import empty_check_result, rows_result
from resources.llm import LLMClient, LLMResource
from resources.llm.cost_guard import LLMBudgetExceeded, LLMCostGuard, automatic_origin, run_budget
from resources.llm.types import Generation
from tests.support.resources import make_resources

AUTO = {"dagster/from_automation_condition": "true"}


class CountingBackend:
    model_id, revision, streams_results = "fake", "", False

    def __init__(self):
        self.sent = 0

    def render(self, messages):
        return str(messages)

    def generate(self, requests, params, **kw):
        self.sent += sum(len(r.sample_indices) for r in requests)
        return [[Generation(f"a{i}", 1, 1, "stop", False, s) for s in r.sample_indices] for i, r in enumerate(requests)]


def test_origin_of_a_run():
    assert automatic_origin(AUTO) == "automation"
    assert automatic_origin({"dagster/sensor_name": "seed_inbox_sensor"}) == "sensor seed_inbox_sensor"
    assert automatic_origin({"dagster/backfill": "x"}) == ""  # launched by a person


def test_budget_stops_before_the_batch_that_crosses_it():
    backend = CountingBackend()
    client = LLMClient(backend)
    client.budget = run_budget(LLMCostGuard(max_requests_per_auto_run=3), AUTO)
    client.generate(["q1", "q2"])
    with pytest.raises(LLMBudgetExceeded) as exc:
        client.generate(["q3", "q4"])
    assert backend.sent == 2 and client.budget.used == 2  # the crossing batch was never sent
    assert isinstance(exc.value, dg.Failure) and exc.value.metadata["llm_cost_guard"].value["asked"] == 2
    assert run_budget(LLMCostGuard(max_requests_per_auto_run=3), {}).limit is None  # manual: counted only


def test_switched_off_means_no_new_request_but_cached_answers_are_free():
    off = run_budget(LLMCostGuard(auto_runs_enabled=False), {"dagster/sensor_name": "s"})
    assert off.limit == 0 and off.disabled
    off.charge(0)
    with pytest.raises(LLMBudgetExceeded, match="switched off"):
        off.charge(1)


def test_llm_resource_takes_the_run_budget_from_its_tags():
    res = LLMResource(max_requests_per_auto_run=5)
    run = dg.DagsterRun(job_name="j", tags=AUTO)
    res.setup_for_execution(type("InitContext", (), {"dagster_run": run})())  # what Dagster passes: the run
    assert res.budget.limit == 5 and res.budget.origin == "automation"


def test_pairs_from_a_previous_stage3_model_are_stale():
    ckpt = pa.table({"record_id": ["ckpt-new"]})
    pairs = with_sampler(pa.table({"record_id": ["p1", "p2"]}), "ckpt-old")
    report = sampler_report(pairs, ckpt)
    assert not report.ok and report.stale_rows == 2 and "ckpt-old" in report.reason()
    assert sampler_report(with_sampler(pairs, "ckpt-new"), ckpt).ok
    assert sampler_report(with_sampler(pairs, "resource:served"), ckpt).ok  # a model configured on purpose
    assert not sampler_report(pa.table({"record_id": ["p1"]}), ckpt).ok  # no sampler recorded: unknown = stale
    assert not sampler_report(with_sampler(pairs, "ckpt-new"), None).ok  # no stage-3 checkpoint


def test_empty_input_fails_per_asset_policy():
    empty = pa.table({"record_id": pa.array([], pa.string())})
    error = empty_check_result("sft_stage3_mix", empty)  # what stage 3 trains on: every GX check fails, ERROR
    assert not error.passed and error.severity == dg.AssetCheckSeverity.ERROR and "EMPTY" in error.description
    assert empty_check_result("sft_stage3_mix", pa.table({"record_id": ["x"]})) is None
    assert empty_check_result("reasoning_traces", empty) is None  # warn: its non-blocking has_rows says it
    warn = rows_result("reasoning_traces", 0, "0 of 8 verified")
    assert not warn.passed and warn.severity == dg.AssetCheckSeverity.WARN and "0 of 8 verified" in warn.description
    assert rows_result("reasoning_traces", 3).passed and not rows_result("reasoning_traces", None).passed
    from citrus_assets.definitions import defs

    has_rows = {k.asset_key.to_user_string() for c in defs.asset_checks for k in c.check_keys if k.name == "has_rows"}
    assert {"reasoning_traces", "sft_examples", "preference_pairs", "question_seeds"} <= has_rows
    assert not has_rows & {"sft_stage3_mix", "rl_checkpoint"}  # ERROR-policy and covered assets


def test_summary_shows_empty_stages_with_their_reason():
    res = MainJobResult(
        outputs=[
            MaterializedOutput(
                "reasoning_traces",
                "medqa_demo",
                0,
                "/lake/x",
                "r",
                8,
                "0 of 8 verified; the built-in 135M model cannot solve them; quarantine at /q",
            ),
            MaterializedOutput("sft_examples", "medqa_demo", 0, "/lake/y", "r"),
            MaterializedOutput("question_seeds", "medqa_demo", 8, "/lake/z", "r"),
        ]
    )
    text = format_summary(res, "/lake", "/db")
    assert "EMPTY stages: 2" in text
    assert "EMPTY reasoning_traces [medqa_demo]: 0 of 8 verified; the built-in 135M model cannot solve them" in text
    assert "EMPTY sft_examples [medqa_demo]: no reason recorded" in text and "EMPTY question_seeds" not in text


# -- through Dagster --------------------------------------------------------------------------------------


def test_automatic_run_over_budget_stops_cleanly(tmp_path, repo_root, tiny_model_dir):
    """judge_answers asks 8 new requests; an automatic run with a budget of 3 stops before sending them,
    with the budget in the failure's metadata; a manual run of the same step is not limited."""
    import shutil

    from citrus_assets.reasoning_data.seeds.assets import judge_answers, question_seeds, seed_sets
    from citrus_assets.reasoning_data.seeds.judges import JudgePanelResource
    from resources.inbox import InboxResource

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    shutil.copy(repo_root / "sample" / "seeds" / "medqa_demo.jsonl", inbox / "medqa_demo.jsonl")
    root = str(tmp_path / "lake")
    llm = LLMResource(model=tiny_model_dir, cache_dir=str(tmp_path / "cache"), max_requests_per_auto_run=3)
    resources = make_resources(root, inbox=InboxResource(seeds_dir=str(inbox)), llm=llm, judges=JudgePanelResource())
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(seed_sets.name, ["medqa_demo"])
    kw = dict(
        partition_key="medqa_demo",
        resources=resources,
        instance=instance,
        run_config={"ops": {"judge_answers": {"config": {"max_tokens": 4}}}},
    )
    auto = dg.materialize([question_seeds, judge_answers], tags=AUTO, raise_on_error=False, **kw)
    assert not auto.success
    failure = [e for e in auto.all_events if e.is_step_failure][0].step_failure_data
    assert "LLM cost guard" in str(failure.user_failure_data.description)
    guard = failure.user_failure_data.metadata["llm_cost_guard"].value
    assert guard == {"origin": "automation", "limit": 3, "used": 0, "asked": 8, "model": guard["model"]}
    assert {e.asset_key.to_user_string() for e in auto.get_asset_materialization_events()} == {"question_seeds"}
    manual = dg.materialize([question_seeds, judge_answers], **kw)
    md = [e for e in manual.get_asset_materialization_events() if e.asset_key == judge_answers.key][0]
    assert md.materialization.metadata["llm_cost_guard"].value == {"origin": "manual", "limit": None, "used": 8}
    again = dg.materialize([question_seeds, judge_answers], tags=AUTO, **kw)  # all cached now: costs nothing
    md = [e for e in again.get_asset_materialization_events() if e.asset_key == judge_answers.key][0]
    assert md.materialization.metadata["llm_cost_guard"].value == {"origin": "automation", "limit": 3, "used": 0}


def test_rl_refuses_pairs_from_a_previous_stage3_model(tmp_path):
    """The blocking check fails on stale pairs and rl_checkpoint stops before training (no subprocess)."""
    from citrus_assets.common.metadata import output
    from citrus_assets.model_training.checkpoints.assets import rl_checkpoint
    from citrus_assets.model_training.checkpoints.training_config import TrainingResource
    from citrus_assets.model_training.preference.checks import preference_pairs_current_sampler
    from citrus_assets.reasoning_data.seeds.assets import seed_sets
    from resources.lake import LakeResource

    @dg.asset(name="sft_stage3_checkpoint")
    def stage3() -> dg.Output:
        return output(pa.table({"record_id": ["ckpt-new"], "parent_ids": [[]], "model_path": [str(tmp_path / "m")]}))

    @dg.asset(name="preference_pairs", partitions_def=seed_sets)
    def pairs() -> dg.Output:
        return output(with_sampler(pa.table({"record_id": ["p1"], "parent_ids": [["q"]]}), "ckpt-old"))

    root = str(tmp_path / "lake")
    resources = make_resources(root, training=TrainingResource())
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(seed_sets.name, ["medqa_demo"])
    assert dg.materialize([stage3], resources=resources, instance=instance).success
    res = dg.materialize(
        [stage3, pairs, preference_pairs_current_sampler],
        selection=[pairs],
        partition_key="medqa_demo",
        resources=resources,
        instance=instance,
        raise_on_error=False,
    )
    [ev] = res.get_asset_check_evaluations()
    assert not ev.passed and "ckpt-old" in ev.description and "ckpt-new" in ev.description
    rl = dg.materialize(
        [stage3, pairs, rl_checkpoint],
        selection=[rl_checkpoint],
        resources=resources,
        instance=instance,
        raise_on_error=False,
    )
    assert not rl.success
    failure = [e for e in rl.all_events if e.is_step_failure][0].step_failure_data
    assert "blocking checks failed" in str(failure.user_failure_data.description)  # the failed check stops it
    # and without the check's verdict, rl_checkpoint compares the samplers itself
    from citrus_assets.model_training.checkpoints.assets import _train

    with pytest.raises(dg.Failure, match="not the current stage-3 checkpoint"):
        _train(
            dg.build_asset_context(instance=dg.DagsterInstance.ephemeral()),
            stage="rl",
            kind="cpo",
            run=None,
            training=TrainingResource(),
            lake=LakeResource(root=root),
            data_asset="preference_pairs",
            data=with_sampler(pa.table({"record_id": ["p1"]}), "ckpt-old"),
            columns=[],
            previous=pa.table({"record_id": ["ckpt-new"]}),
            previous_asset="sft_stage3_checkpoint",
        )


def test_has_rows_check_says_empty_with_the_assets_reason(tmp_path):
    from citrus_assets.common.empty import empty_metadata
    from citrus_assets.common.metadata import output
    from quality.checks import rows_checks

    rows = {"n": 0}

    @dg.asset(name="reasoning_traces")
    def traces() -> dg.Output:
        table = pa.table(
            {
                "record_id": pa.array([f"t{i}" for i in range(rows["n"])], pa.string()),
                "parent_ids": pa.array([[]] * rows["n"], pa.list_(pa.string())),
            }
        )
        return output(
            table,
            **empty_metadata(
                table.num_rows, "0 of 8 verified; the built-in 135M model cannot solve them; quarantine at /q"
            ),
        )

    checks = rows_checks([traces])
    root = str(tmp_path / "lake")
    res = make_resources(root)
    run = dg.materialize([traces, *checks], resources=res)
    assert run.success  # non-blocking: the run goes on
    [ev] = run.get_asset_check_evaluations()
    assert not ev.passed and ev.severity == dg.AssetCheckSeverity.WARN
    assert ev.description.startswith("EMPTY: reasoning_traces has 0 rows (0 of 8 verified; the built-in 135M model")
    rows["n"] = 2
    [ev] = dg.materialize([traces, *checks], resources=res).get_asset_check_evaluations()
    assert ev.passed
