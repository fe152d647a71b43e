"""Model registration and the jobs of the evaluation stage.

``eval_models_sensor`` adds an ``eval_models`` partition for every registered model that can be loaded
now (built-in / hf / openai / vllm at once; a checkpoint stage once its checkpoint table is in the lake).
It requests no runs: evaluating is expensive and is launched explicitly (UI backfill or the main job).
"""

import dagster as dg

from citrus_assets.evaluation.assets import eval_items, eval_predictions, eval_report, eval_scores
from citrus_assets.evaluation.assets import eval_models as model_partitions
from citrus_assets.evaluation.models import BUILTIN_KEY, EvalModelsResource
from resources.lake import LakeResource

EVAL_MODELS_SENSOR = "eval_models_sensor"
EVAL_ITEMS_JOB = "eval_items_job"
EVAL_MODEL_JOB = "eval_model_job"
EVAL_REPORT_JOB = "eval_report_job"

# The main job's demo: the built-in model on two benchmarks, 8 items each, max_tokens 96 (the defaults):
# measured ~78 s of 2-core CPU time for three benchmarks (medqa, pubmedqa, mmlu_pro), so two fit ~90 s.
DEMO_BENCHMARKS = ("medqa", "pubmedqa")
DEMO_MODELS = (BUILTIN_KEY,)


def demo_partition_keys(benchmarks=DEMO_BENCHMARKS, models=DEMO_MODELS) -> list[dg.MultiPartitionKey]:
    return [dg.MultiPartitionKey({"benchmark": b, "model": m}) for b in benchmarks for m in models]


@dg.sensor(
    name=EVAL_MODELS_SENSOR,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="Registers an eval_models partition for every registered model that is available now "
    "(checkpoint stages once their checkpoint is materialized).",
)
def eval_models_sensor(context: dg.SensorEvaluationContext, eval_models: EvalModelsResource, lake: LakeResource):
    existing = set(context.instance.get_dynamic_partitions(model_partitions.name))
    new = [k for k in eval_models.available_keys(lake.lake()) if k not in existing]
    if not new:
        return dg.SkipReason("no new evaluation model")
    return dg.SensorResult(dynamic_partitions_requests=[model_partitions.build_add_request(new)])


eval_items_job = dg.define_asset_job(
    EVAL_ITEMS_JOB, selection=dg.AssetSelection.assets(eval_items),
    description="Load one benchmark's items (partition = benchmark).",
)
eval_model_job = dg.define_asset_job(
    EVAL_MODEL_JOB, selection=dg.AssetSelection.assets(eval_predictions, eval_scores),
    description="Predict and score one benchmark x model partition (with their checks).",
)
eval_report_job = dg.define_asset_job(
    EVAL_REPORT_JOB, selection=dg.AssetSelection.assets(eval_report),
    description="Tables 4 and 5 and the chart over every scored partition in the lake.",
)
jobs = [eval_items_job, eval_model_job, eval_report_job]
