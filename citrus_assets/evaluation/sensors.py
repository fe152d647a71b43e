"""Model registration and the jobs of the evaluation stage.

``eval_models_sensor`` adds an ``eval_models`` partition for every registered model that can be loaded
now (built-in / hf / openai / vllm at once; a checkpoint stage once its checkpoint table is in the lake).
It requests no runs: evaluating a registered model is launched explicitly (UI backfill or the main job).
The training stages' evaluation (``stage_assets.py``) follows its checkpoints by automation conditions.
"""

import dagster as dg

from citrus_assets.evaluation.assets import eval_items, eval_predictions, eval_report, eval_scores
from citrus_assets.evaluation.assets import eval_models as model_partitions
from citrus_assets.evaluation.models import BUILTIN_KEY, EvalModelsResource
from citrus_assets.evaluation.stage_assets import STAGES, stage_assets
from resources.lake import LakeResource

EVAL_MODELS_SENSOR = "eval_models_sensor"
EVAL_ITEMS_JOB = "eval_items_job"
EVAL_MODEL_JOB = "eval_model_job"
EVAL_REPORT_JOB = "eval_report_job"
EVAL_STAGES_JOB = "eval_stages_job"

# The main job's evaluation (the ablation table, Table 5): the base model and the five checkpoints on four of
# the bundled benchmarks (DEMO_BENCHMARKS), DEMO_MAX_ITEMS items each, greedy, the plain prompt, max_tokens 32. Why so small:
# the main job has 15 minutes on 2 CPU cores, and six models share them. Measured on this machine (quiet):
# the 135M model answers the plain prompt in a few tokens (~1.4 s an item at batch 8) but echoes the Citrus
# prompt's question until max_tokens (~4.7 s an item, no answer), so the Citrus default of the assets would
# cost 3x for empty cells. Same items, same prompt and decoding for every row, so the rows compare.
# Measured (benchmarks/results/main_job_eval.md): 4 benchmarks x 4 items took 868 CPU s / 1368 s wall at load
# average 5-9 (shared machine), too much for the budget, so the main job keeps 3 benchmarks x 3 items.
DEMO_BENCHMARKS = ("medqa", "pubmedqa", "medmcqa")
DEMO_MAX_ITEMS = 3
DEMO_MAX_TOKENS = 32
DEMO_PROMPT_STYLE = "plain"
DEMO_MODELS = (BUILTIN_KEY,)
# The served-model pair (eval_predictions / eval_scores) on two of them: the built-in model with the plain
# prompt and the same decoding is the base row's model, so its answers come from the request cache.
DEMO_SERVED_BENCHMARKS = DEMO_BENCHMARKS[:2]
DEMO_EVAL_ITEMS_OPS = {"eval_items": {"config": {"max_items": DEMO_MAX_ITEMS}}}
DEMO_STAGE_OPS = {
    f"eval_predictions_{s}": {"config": {"max_tokens": DEMO_MAX_TOKENS, "prompt_style": DEMO_PROMPT_STYLE}}
    for s in STAGES
}
DEMO_SERVED_OPS = {"eval_predictions": {"config": {"max_tokens": DEMO_MAX_TOKENS}}}


def demo_partition_keys(benchmarks=DEMO_SERVED_BENCHMARKS, models=DEMO_MODELS) -> list[dg.MultiPartitionKey]:
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
    EVAL_ITEMS_JOB,
    selection=dg.AssetSelection.assets(eval_items),
    description="Load one benchmark's items (partition = benchmark).",
)
eval_model_job = dg.define_asset_job(
    EVAL_MODEL_JOB,
    selection=dg.AssetSelection.assets(eval_predictions, eval_scores),
    description="Predict and score one benchmark x model partition (with their checks).",
)
eval_stages_job = dg.define_asset_job(
    EVAL_STAGES_JOB,
    selection=dg.AssetSelection.assets(*stage_assets),
    description="One benchmark (partition) evaluated by the base model and every checkpoint (Table 5's rows): "
    "eval_predictions_<stage> and eval_scores_<stage>, with their checks.",
)
eval_report_job = dg.define_asset_job(
    EVAL_REPORT_JOB,
    selection=dg.AssetSelection.assets(eval_report),
    description="Tables 4 and 5 and the chart over every scored partition in the lake.",
)
jobs = [eval_items_job, eval_model_job, eval_stages_job, eval_report_job]
