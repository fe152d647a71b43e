"""``eval_jmed``: the final (RL) checkpoint scored on a month's JMED release, so JMED joins evaluation.

    jmed_benchmark[month] ─┐
    rl_checkpoint ─────────┴─> eval_jmed[month]

The paper builds JMED to score its models (§6; Citrus1.0-Llama-70B: 0.684). Each release row (id,
department, question, 21 options A-U, one or several correct answers) becomes an evaluation item
(:func:`jmed_items`, parent = the release row, so a prediction's lineage reaches the consultation), and
is answered and scored by the same code as the benchmark stages (``predict.predict``, ``scoring.score``:
exact set match of the answer letters; the chance level of a 21-option item with two answers is 1/210).
The rows are the per-item predictions; the accuracy, its 95% Wilson interval and the chance level are in
the metadata. A retrained RL checkpoint or a new release re-evaluates (``REEVALUATE``); cost guard as the
stage evaluations.

Cost: ``max_items`` (default 0 = every item) cuts the release to its first items by id; the main job sets
a few (``jobs.DEMO_JMED_EVAL_OPS``).
"""

import json

import dagster as dg
import pyarrow as pa

from citrus_assets.common.empty import empty_metadata
from citrus_assets.common.metadata import output
from citrus_assets.common.prompts import code_version
from citrus_assets.evaluation.checks import predictions_check_for
from citrus_assets.evaluation.models import EvalModelsResource
from citrus_assets.evaluation.predict import ALL_PROMPT_NAMES
from citrus_assets.evaluation.registry import EVAL_ITEM_SCHEMA
from citrus_assets.evaluation.scoring import score
from citrus_assets.evaluation.stage_assets import REEVALUATE, StageEvalConfig, evaluate_stage
from citrus_assets.jmed.assets import dialogue_months
from citrus_assets.model_training.checkpoints.training_config import TrainingResource
from resources.lineage.ids import record_id
from resources.lineage.schema import PARENT_IDS, RECORD_ID, SOURCE_LOCATOR, SOURCE_URI

JMED_EVAL_ASSET = "eval_jmed"
JMED_BENCHMARK = "jmed"
FINAL_STAGE = "rl"  # the final checkpoint (training/schemas.CHECKPOINT_STAGES[-1])


class JmedEvalConfig(StageEvalConfig):
    """StageEvalConfig, and ``max_items``: the first items of the release by id (0 = every item)."""

    max_items: int = 0


def jmed_items(release: pa.Table, max_items: int = 0) -> pa.Table:
    """The release rows as ``EVAL_ITEM_SCHEMA`` items (benchmark ``jmed``), ordered by JMED id."""
    rows = sorted(release.to_pylist(), key=lambda r: str(r["id"]))
    if max_items > 0:
        rows = rows[:max_items]
    out = []
    for r in rows:
        out.append(
            {
                RECORD_ID: record_id("evalq", JMED_BENCHMARK, r[RECORD_ID]),
                PARENT_IDS: [r[RECORD_ID]],
                SOURCE_URI: f"jmed_benchmark/{r['month']}",
                SOURCE_LOCATOR: f"id {r['id']}",
                "seed_set": f"eval-{JMED_BENCHMARK}",
                "source": JMED_BENCHMARK,
                "split": "test",
                "language": r.get("language") or "",
                "stem": r["question"],
                "context": "",
                "options": [{"letter": o["letter"], "text": o["text"]} for o in r["options"] or []],
                "answer_letters": list(r["answer"] or []),
                "meta": json.dumps({"department": r.get("department"), "month": r.get("month")}, ensure_ascii=False),
                "benchmark": JMED_BENCHMARK,
                "question_id": str(r["id"]),
                "data_dir": "lake",
                "benchmark_file": f"jmed_benchmark/{r['month']}",
            }
        )
    return pa.Table.from_pylist(out, schema=EVAL_ITEM_SCHEMA)


@dg.asset(
    name=JMED_EVAL_ASSET,
    partitions_def=dialogue_months,
    ins={"jmed_benchmark": dg.AssetIn(), "checkpoint": dg.AssetIn(key=f"{FINAL_STAGE}_checkpoint")},
    code_version=code_version("evaljmed-v1", *ALL_PROMPT_NAMES),
    automation_condition=REEVALUATE,
    kinds={"parquet"},
    description="Every item of the month's JMED release (21 options, possibly several correct) answered by the "
    "final RL checkpoint with the stage evaluations' prompt, decoding and answer rule; per-item predictions, "
    "accuracy [95% Wilson CI] and chance level in the metadata.",
)
def eval_jmed(
    context: dg.AssetExecutionContext,
    config: JmedEvalConfig,
    eval_models: EvalModelsResource,
    training: TrainingResource,
    jmed_benchmark: pa.Table,
    checkpoint: pa.Table,
) -> dg.Output:
    items = jmed_items(jmed_benchmark, config.max_items)
    result = evaluate_stage(
        context,
        stage=FINAL_STAGE,
        config=config,
        eval_models=eval_models,
        training=training,
        items=items,
        checkpoint=checkpoint,
    )
    table = result.value
    s = score(table, benchmark=JMED_BENCHMARK, model=FINAL_STAGE, stage=FINAL_STAGE).to_pylist()[0]
    md = dict(result.metadata)
    md.update(
        benchmark=dg.MetadataValue.text(JMED_BENCHMARK),
        release_items=dg.MetadataValue.int(jmed_benchmark.num_rows),
        evaluated_items=dg.MetadataValue.int(items.num_rows),
        ci95=dg.MetadataValue.text(f"{s['ci_low']:.3f}–{s['ci_high']:.3f}" if s["n"] else "no items"),
        chance=dg.MetadataValue.float(round(s["chance"], 5))
        if s.get("chance") is not None
        else dg.MetadataValue.text("no items"),
        **empty_metadata(
            table.num_rows,
            f"the JMED release of {context.partition_key} has no item (see jmed_benchmark's empty_reason)"
            if not jmed_benchmark.num_rows
            else f"max_items={config.max_items} selected no item",
        ),
    )
    return output(table, **md)


jmed_eval_checks = [predictions_check_for(eval_jmed)]
