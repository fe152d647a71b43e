"""Declarative automation of the whole chain, tick by tick (dagster.evaluate_automation_conditions).

The real asset definitions and checks of the CPT corpus, reasoning-data and training stages, on an
ephemeral instance. Runs are simulated by reporting materializations (with a data version) and passing
check evaluations for what each tick requested, so the test exercises the automation conditions
themselves in seconds; the steps' own behaviour is tested elsewhere.
"""

import warnings

import dagster as dg
import pytest
from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluationTargetMaterializationData,
)
from dagster._core.events import DagsterEvent, DagsterEventType
from dagster._core.utils import make_new_run_id

from citrus_assets.common.stages import load_stage
from citrus_assets.resources_config import build_resources

NEW_SEEDS = "new_seeds"
DYNAMIC = {
    "seed_sets": ["medqa_demo"],
    "instruction_sets": ["instructions_demo"],
    "pdf_batches": ["batch_1"],
    "web_shards": ["shard_1"],
    "textbook_batches": ["books_1"],
}
TRAINING_CHAIN = [
    "cpt_checkpoint",
    "sft_stage1_checkpoint",
    "sft_stage2_checkpoint",
    "sft_stage3_checkpoint",
    "rl_checkpoint",
]


class Lake:
    """An instance whose 'runs' are reported events: materialize(key, partition) with a fresh data version."""

    def __init__(self, stages=("cpt_corpus", "reasoning_data", "model_training")):
        stages = [load_stage(f"citrus_assets.{name}") for name in stages]  # found in the stage packages
        self.defs = dg.Definitions(
            assets=[a for s in stages for a in s.assets],
            asset_checks=[c for s in stages for c in s.checks],
            resources=build_resources(),
        )  # never used: no step executes
        self.graph = self.defs.resolve_asset_graph()
        self.instance = dg.DagsterInstance.ephemeral()
        for name, keys in {**DYNAMIC, "eval_models": ["builtin"]}.items():
            self.instance.add_dynamic_partitions(name, keys)
        self.cursor = None
        self.version = 0
        self.failing_checks: set[str] = set()

    def partitions(self, key: dg.AssetKey) -> list:
        pdef = self.graph.get(key).partitions_def
        return [None] if pdef is None else list(pdef.get_partition_keys(dynamic_partitions_store=self.instance))

    def materialize(self, key: dg.AssetKey, partition=None) -> None:
        self.version += 1
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.instance.report_runless_asset_event(
                dg.AssetMaterialization(
                    asset_key=key, partition=partition, tags={"dagster/data_version": f"v{self.version}"}
                )
            )
            record = self.instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=key, asset_partitions=[partition] if partition else None), limit=1
            ).records[0]
            target = AssetCheckEvaluationTargetMaterializationData(
                storage_id=record.storage_id, run_id=record.run_id, timestamp=record.timestamp
            )
            for check in self.graph.get(key).check_keys:  # the checks run with their asset, as in a real run
                evaluation = dg.AssetCheckEvaluation(
                    asset_key=key,
                    check_name=check.name,
                    passed=check.name not in self.failing_checks,
                    partition=partition,
                    blocking=True,
                    target_materialization_data=target,
                    severity=dg.AssetCheckSeverity.ERROR,
                )
                self.instance.report_dagster_event(
                    DagsterEvent(  # one evaluation per (check, run): a run id each
                        event_type_value=DagsterEventType.ASSET_CHECK_EVALUATION.value,
                        job_name="simulated",
                        event_specific_data=evaluation,
                    ),
                    run_id=make_new_run_id(),
                )

    def materialize_all(self) -> None:
        for key in self.graph.toposorted_asset_keys:
            if self.graph.get(key).is_materializable:
                for p in self.partitions(key):
                    self.materialize(key, p)

    def tick(self) -> dict[str, list]:
        """One automation tick: {asset: requested partitions}; the requested runs are then 'executed'."""
        res = dg.evaluate_automation_conditions(defs=self.defs, instance=self.instance, cursor=self.cursor)
        self.cursor = res.cursor
        requested = {}
        for key in self.graph.toposorted_asset_keys:
            if res.get_num_requested(key):
                parts = sorted(res.get_requested_partitions(key), key=str)
                requested[key.to_user_string()] = parts
        for key in self.graph.toposorted_asset_keys:
            for p in requested.get(key.to_user_string(), []):
                self.materialize(key, p)
        return requested

    def settle(self, max_ticks: int = 20) -> list[dict]:
        ticks = []
        for _ in range(max_ticks):
            req = self.tick()
            if not req:
                return ticks
            ticks.append(req)
        raise AssertionError(f"automation never settled: {ticks[-3:]}")


@pytest.fixture
def lake():
    lk = Lake()
    lk.materialize_all()
    lk.settle()  # the first evaluation of a fully materialized lake may hand a few conditions once
    assert lk.tick() == {}
    return lk


def first_tick(ticks: list[dict], asset: str) -> int:
    return next(i for i, t in enumerate(ticks) if asset in t)


def test_new_seed_file_flows_to_stage3_then_rl(lake):
    # the seed inbox sensor registers the new file's partition and materializes its question_seeds
    lake.instance.add_dynamic_partitions("seed_sets", [NEW_SEEDS])
    lake.materialize(dg.AssetKey("question_seeds"), NEW_SEEDS)
    ticks = lake.settle()
    chain = [
        "judge_answers",
        "question_difficulty",
        "open_questions",
        "reasoning_traces",
        "sft_examples",
        "sft_stage3_mix",
        "sft_stage3_checkpoint",
        "rl_checkpoint",
    ]
    order = [first_tick(ticks, a) for a in chain]
    assert order == sorted(order), list(zip(chain, order))
    for asset in ("judge_answers", "question_difficulty", "open_questions", "reasoning_traces", "sft_examples"):
        assert [p for t in ticks for p in t.get(asset, [])] == [NEW_SEEDS], asset  # only the new seed set
    assert first_tick(ticks, "sft_stage3_checkpoint") > first_tick(ticks, "sft_stage3_mix")
    # stage 3 retrained: every seed set is re-sampled from the new model, after the retrain
    resampled = [
        p for t in ticks[first_tick(ticks, "sft_stage3_checkpoint") + 1 :] for p in t.get("rejection_samples", [])
    ]
    assert sorted(resampled) == sorted(["medqa_demo", NEW_SEEDS])
    # RL trains once, and only after the pairs were rebuilt from the re-sampled data
    rl = [i for i, t in enumerate(ticks) if "rl_checkpoint" in t]
    last_pairs = max(i for i, t in enumerate(ticks) if "preference_pairs" in t)
    assert len(rl) == 1 and rl[0] > last_pairs
    assert first_tick(ticks, "rl_data_card") >= rl[0]  # eager: in the same run, after RL
    untouched = {
        "cpt_checkpoint",
        "sft_stage1_checkpoint",
        "sft_stage2_checkpoint",
        "sft_stage1_mix",
        "sft_stage2_mix",
        "question_seeds",
    }
    assert not untouched & {a for t in ticks for a in t}
    assert lake.tick() == {}  # handled: nothing requested again


def test_stage3_retrain_resamples_before_rl(lake):
    """A CPT-side change retrains stage 3; RL waits for pairs sampled by the new model."""
    lake.materialize(dg.AssetKey("cpt_shards"))
    ticks = lake.settle()
    trained = [a for t in ticks for a in t if a in TRAINING_CHAIN]
    assert trained == TRAINING_CHAIN  # each once, in order
    assert first_tick(ticks, "rejection_samples") == first_tick(ticks, "sft_stage3_checkpoint") + 1
    assert first_tick(ticks, "rl_checkpoint") > first_tick(ticks, "preference_pairs")


def test_failed_sampler_check_blocks_rl(lake):
    """Pairs whose blocking check (e.g. preference_pairs_current_sampler) failed never reach RL."""
    lake.failing_checks = {"preference_pairs_current_sampler"}
    lake.materialize(dg.AssetKey("preference_pairs"), "medqa_demo")
    assert "rl_checkpoint" not in lake.tick()
    lake.failing_checks = set()
    lake.materialize(dg.AssetKey("preference_pairs"), "medqa_demo")
    assert "rl_checkpoint" in lake.tick()


def test_new_seed_file_reaches_the_evaluation_of_stage3_and_rl():
    """The whole path with the evaluation stage in the graph: a new seed file retrains stage 3 and RL, then
    exactly their evaluation partitions (every benchmark) run again; the other stages' scores stay current."""
    # jmed: eval_jmed reads the JMED release (no month registered here)
    lk = Lake(stages=("cpt_corpus", "reasoning_data", "model_training", "evaluation", "jmed"))
    lk.materialize_all()
    lk.settle()
    assert lk.tick() == {}
    lk.instance.add_dynamic_partitions("seed_sets", [NEW_SEEDS])
    lk.materialize(dg.AssetKey("question_seeds"), NEW_SEEDS)
    ticks = lk.settle()
    requested = {a for t in ticks for a in t}
    benchmarks = sorted(lk.partitions(dg.AssetKey("eval_items")))
    for stage in ("sft_stage3", "rl"):
        for asset in (f"eval_predictions_{stage}", f"eval_scores_{stage}"):
            runs = [p for t in ticks for p in t.get(asset, [])]
            assert sorted(runs) == benchmarks, asset  # every benchmark once
        assert first_tick(ticks, f"eval_predictions_{stage}") > first_tick(ticks, f"{stage}_checkpoint")
    for stage in ("base", "cpt", "sft_stage1", "sft_stage2"):
        assert f"eval_predictions_{stage}" not in requested and f"eval_scores_{stage}" not in requested
    assert "eval_items" not in requested and "eval_predictions" not in requested  # served models: by hand
    last = {a: max(i for i, t in enumerate(ticks) if a in t) for a in ("eval_report", "eval_scores_rl")}
    assert last["eval_report"] >= last["eval_scores_rl"]  # the report follows the last new scores
    assert lk.tick() == {}
