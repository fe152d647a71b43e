"""Evaluation of this project's training stages, downstream of their checkpoints (the paper's Table 5).

Design (issue 18): one asset pair per training stage, built by :func:`stage_eval_assets`:

    eval_items[benchmark] ─┐
    <stage>_checkpoint ────┴─> eval_predictions_<stage>[benchmark] -> eval_scores_<stage>[benchmark] -> eval_report

for the stages ``cpt``, ``sft_stage1``, ``sft_stage2``, ``sft_stage3`` and ``rl``, plus ``base``: the model CPT
starts from (``TrainingResource.base_model``: the built-in SmolLM2-135M-Instruct unless configured), the
baseline row, with no checkpoint input. Each pair is partitioned by benchmark only, and the checkpoint is a
real graph input, so

- a retrained checkpoint (new data version) shows exactly its own evaluation partitions stale in the UI, and
  the automation condition :data:`REEVALUATE` re-evaluates exactly them (the scores follow the predictions,
  the report follows the scores);
- a checkpoint that does not exist yet blocks only its own pair (``~any_deps_missing``); a benchmark whose
  items were not loaded blocks only its own partitions.

Served and other registered models (openai, vllm, hf, the built-in model with the plain prompt) stay the
``eval_predictions`` / ``eval_scores`` pair over benchmark x ``eval_models`` (dynamic partitions,
``assets.py``), launched by hand: they have no graph input that could change.

Cost guard: every prediction step charges its new (uncached) generation requests to the run's budget
(``EvalModelsResource`` carries ``LLMCostGuard``: ``auto_runs_enabled``, ``max_requests_per_auto_run``; shown
in the UI's resource page and settable in the launchpad's run config under ``resources: eval_models``). An
automatic run (automation, sensor, schedule) over the budget stops before the batch that would cross it;
cached answers are free. See ``resources/llm/cost_guard.py``.

Decoding: greedy (seed 0), one sample, ``max_tokens`` 96 and the Citrus prompt for every stage by default
(one prompt for every row, so rows compare); the main job sets its own (``jobs.DEMO_EVAL_OPS``).
"""

import time

import dagster as dg
import pyarrow as pa

from citrus_assets.common.cost_guard import attach, budget_metadata
from citrus_assets.common.metadata import output
from citrus_assets.common.prompts import code_version
from citrus_assets.common.scheduling.automation import ON_NEW_DATA
from citrus_assets.evaluation.assets import EvalPredictionsConfig, benchmark_partitions
from citrus_assets.evaluation.checks import predictions_check_for, scores_check_for
from citrus_assets.evaluation.models import (
    PROMPT_STYLES,
    STAGE_LABELS,
    EvalModelSpec,
    EvalModelsResource,
    ModelUnavailable,
)
from citrus_assets.evaluation.predict import ALL_PROMPT_NAMES, predict
from citrus_assets.evaluation.scoring import score
from citrus_assets.model_training.checkpoints.training_config import TrainingResource
from citrus_assets.model_training.schemas import CHECKPOINT_STAGES
from resources.llm import BUILTIN_MODEL
from resources.llm.cost_guard import run_budget

BASE = "base"
STAGES = (BASE, *CHECKPOINT_STAGES)  # Table 5's rows, in order
# New predictions when an input's data version changed (a retrained checkpoint, re-loaded items) or the
# partition is new; never while an input is missing or running, nor over a failed blocking check.
REEVALUATE = ON_NEW_DATA.with_label("reevaluate_on_new_checkpoint_or_items")


def predictions_asset(stage: str) -> str:
    return f"eval_predictions_{stage}"


def scores_asset(stage: str) -> str:
    return f"eval_scores_{stage}"


def checkpoint_asset(stage: str) -> str | None:
    return None if stage == BASE else f"{stage}_checkpoint"


class StageEvalConfig(EvalPredictionsConfig):
    """EvalPredictionsConfig, and the prompt: ``citrus`` (the format the checkpoints are trained on; the
    default for every stage, so the rows compare) or ``plain``."""

    prompt_style: str = "citrus"


def stage_model_spec(
    stage: str, checkpoint: dict | None, training: TrainingResource, prompt_style: str
) -> EvalModelSpec:
    """The model a stage's partition evaluates: the checkpoint row's folder pinned to its weights hash,
    or (base) the model CPT starts from."""
    if prompt_style not in PROMPT_STYLES:
        raise dg.Failure(description=f"prompt_style must be one of {PROMPT_STYLES}, got {prompt_style!r}")
    if stage == BASE:
        if training.base_model in ("", "builtin"):
            return EvalModelSpec(kind="builtin", model=BUILTIN_MODEL, prompt_style=prompt_style, stage=BASE)
        return EvalModelSpec(kind="hf", model=training.base_model, prompt_style=prompt_style, stage=BASE)
    if not checkpoint or not checkpoint.get("model_path"):
        raise ModelUnavailable(f"{checkpoint_asset(stage)} has no model_path: {checkpoint!r}")
    return EvalModelSpec(
        kind="hf",
        model=checkpoint["model_path"],
        revision=checkpoint.get("weights_sha256") or "",
        prompt_style=prompt_style,
        stage=stage,
    )


def evaluate_stage(
    context,
    *,
    stage: str,
    config: StageEvalConfig,
    eval_models: EvalModelsResource,
    training: TrainingResource,
    items: pa.Table,
    checkpoint: pa.Table | None,
) -> dg.Output:
    """One benchmark partition of one stage: predict every item (one batched call per batch_size), under the
    run's cost guard."""
    benchmark = context.partition_key
    row = checkpoint.to_pylist()[0] if checkpoint is not None and checkpoint.num_rows else None
    try:
        spec = stage_model_spec(stage, row, training, config.prompt_style)
        resolved = eval_models.resolve_spec(stage, spec)
    except ModelUnavailable as e:
        raise dg.Failure(description=str(e)) from None
    params = config.sampling(n=max(1, config.n_samples))
    budget = run_budget(eval_models, dict(context.run.tags or {}))
    attach(resolved.llm, budget)
    t0 = time.perf_counter()
    table = predict(
        items,
        resolved.llm if items.num_rows else None,
        params,
        model_key=stage,
        prompt_style=config.prompt_style,
        checkpoint_id=(row or {}).get("record_id") or "",
    )
    dt = time.perf_counter() - t0
    n = table.num_rows
    tokens = sum(table["gen_completion_tokens"].to_pylist())
    if not n:
        context.log.warning(f"{benchmark}: no items (see eval_items metadata); nothing to predict")
    return output(
        table,
        stage=stage,
        benchmark=benchmark,
        model_id=resolved.spec.model,
        model_revision=resolved.spec.revision or "",
        checkpoint_id=(row or {}).get("record_id") or "none (base model)",
        prompt_style=config.prompt_style,
        sampling=params.to_json(),
        accuracy=dg.MetadataValue.float(round(sum(table["correct"].to_pylist()) / n, 4)) if n else "no items",
        no_answer=sum(table["no_answer"].to_pylist()),
        cache_hits=sum(table["cached"].to_pylist()),
        generated_tokens=tokens,
        questions_per_s=dg.MetadataValue.float(round(n / dt, 3) if dt and n else 0.0),
        tokens_per_s=dg.MetadataValue.float(round(tokens / dt, 1) if dt and n else 0.0),
        **budget_metadata(budget),
    )


def score_output(table: pa.Table) -> dg.Output:
    r = table.to_pylist()[0]
    return output(
        table,
        accuracy=dg.MetadataValue.float(round(r["accuracy"], 4)) if r["accuracy"] is not None else "no items",
        ci95=f"{r['ci_low']:.3f}–{r['ci_high']:.3f}",
        chance=dg.MetadataValue.float(round(r["chance"], 4)) if r.get("chance") is not None else "no items",
        n=r["n"],
        no_answer=r["no_answer"],
        status=r["status"],
    )


def stage_eval_assets(stage: str) -> tuple[dg.AssetsDefinition, dg.AssetsDefinition]:
    """(eval_predictions_<stage>, eval_scores_<stage>), both partitioned by benchmark."""
    if stage not in STAGES:
        raise ValueError(f"stage must be one of {STAGES}, got {stage!r}")
    ckpt = checkpoint_asset(stage)
    ins = {"eval_items": dg.AssetIn()}
    if ckpt:
        ins["checkpoint"] = dg.AssetIn(key=ckpt)
    what = f"the {ckpt} checkpoint" if ckpt else "the base model CPT starts from (training.base_model)"

    if ckpt:

        def compute(
            context: dg.AssetExecutionContext,
            config: StageEvalConfig,
            eval_models: EvalModelsResource,
            training: TrainingResource,
            eval_items: pa.Table,
            checkpoint: pa.Table,
        ) -> dg.Output:
            return evaluate_stage(
                context,
                stage=stage,
                config=config,
                eval_models=eval_models,
                training=training,
                items=eval_items,
                checkpoint=checkpoint,
            )
    else:

        def compute(
            context: dg.AssetExecutionContext,
            config: StageEvalConfig,
            eval_models: EvalModelsResource,
            training: TrainingResource,
            eval_items: pa.Table,
        ) -> dg.Output:
            return evaluate_stage(
                context,
                stage=stage,
                config=config,
                eval_models=eval_models,
                training=training,
                items=eval_items,
                checkpoint=None,
            )

    predictions = dg.asset(
        name=predictions_asset(stage),
        partitions_def=benchmark_partitions,
        ins=ins,
        code_version=code_version("evalpred-stage-v1", *ALL_PROMPT_NAMES),
        automation_condition=REEVALUATE,
        kinds={"parquet"},
        description=f"Every item of one benchmark answered by {what} ({STAGE_LABELS[stage]} row of Table 5): "
        "greedy, one batched call, the one answer rule; per-item results. Re-evaluated by automation when "
        "the checkpoint retrains (cost guard: eval_models.max_requests_per_auto_run).",
    )(compute)

    @dg.asset(
        name=scores_asset(stage),
        partitions_def=benchmark_partitions,
        ins={"predictions": dg.AssetIn(key=predictions_asset(stage))},
        code_version="evalscore-stage-v1",
        automation_condition=REEVALUATE,
        kinds={"parquet"},
        description=f"Accuracy of {STAGE_LABELS[stage]} on one benchmark with its 95% Wilson interval, n, "
        "the no-answer count and the benchmark's chance level.",
    )
    def _scores(context: dg.AssetExecutionContext, predictions: pa.Table) -> dg.Output:
        return score_output(score(predictions, benchmark=context.partition_key, model=stage, stage=stage))

    return predictions, _scores


STAGE_EVAL_ASSETS: dict[str, tuple[dg.AssetsDefinition, dg.AssetsDefinition]] = {
    s: stage_eval_assets(s) for s in STAGES
}
stage_prediction_assets = [p for p, _ in STAGE_EVAL_ASSETS.values()]
stage_score_assets = [s for _, s in STAGE_EVAL_ASSETS.values()]
stage_assets = [a for pair in STAGE_EVAL_ASSETS.values() for a in pair]
STAGE_SCORE_ASSETS = [scores_asset(s) for s in STAGES]
stage_checks = [c for p, s in STAGE_EVAL_ASSETS.values() for c in (predictions_check_for(p), scores_check_for(s))]
