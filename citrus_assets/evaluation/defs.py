"""What the evaluation stage adds to the code location (wire into definitions.STAGES, and add
``"eval_models": EvalModelsResource()`` to the resources)."""

from citrus_assets.evaluation.assets import (
    benchmark_partitions,
    eval_items,
    eval_models,
    eval_partitions,
    eval_predictions,
    eval_report,
    eval_scores,
)
from citrus_assets.evaluation.checks import checks as _checks
from citrus_assets.evaluation.jmed_eval import eval_jmed, jmed_eval_checks
from citrus_assets.evaluation.models import EvalModelsResource
from citrus_assets.evaluation.sensors import eval_models_sensor, jobs
from citrus_assets.evaluation.stage_assets import stage_assets, stage_checks

assets = [eval_items, eval_predictions, eval_scores, *stage_assets, eval_jmed, eval_report]
checks = [*_checks, *stage_checks, *jmed_eval_checks]
sensors = [eval_models_sensor]
partitions = [benchmark_partitions, eval_models, eval_partitions]

__all__ = ["assets", "checks", "sensors", "jobs", "partitions", "EvalModelsResource", "eval_items",
           "eval_predictions", "eval_scores", "eval_report", "eval_models", "eval_partitions"]
