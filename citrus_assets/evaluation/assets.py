"""Evaluation assets (paper §6): benchmark items -> model predictions -> scores -> report.

``eval_items`` is partitioned by benchmark; ``eval_predictions`` and ``eval_scores`` by benchmark x
model (``eval_models`` dynamic partitions: one per registered model, see models.py); ``eval_report``
is unpartitioned and reads every ``eval_scores`` partition present in the lake. The model of a
partition is resolved at run time from ``EvalModelsResource`` (served and registered models).

This project's training stages are evaluated by their own asset pairs, downstream of each checkpoint
(``stage_assets.py``: ``eval_predictions_<stage>`` / ``eval_scores_<stage>``, partitioned by benchmark);
``eval_report`` reads them too (Table 5, the ablation table).
"""

import os
import time
import uuid
import warnings

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq

from citrus_assets.common.cost_guard import attach, budget_metadata
from citrus_assets.common.metadata import output
from citrus_assets.common.prompts import code_version
from citrus_assets.evaluation.models import STAGE_ORDER, EvalModelsResource, ModelUnavailable
from citrus_assets.evaluation.predict import ALL_PROMPT_NAMES, predict
from citrus_assets.evaluation.registry import BENCHMARK_NAMES, BENCHMARKS, default_data_dirs, load_benchmark
from citrus_assets.evaluation.report import (
    ablation_chart_md,
    ablation_md,
    chart_md,
    no_answer_md,
    report_markdown,
    report_table,
    table4_md,
)
from citrus_assets.evaluation.scoring import SCORE_SCHEMA, score
from resources.lake import LakeResource
from resources.llm.cost_guard import run_budget
from resources.llm.sampling import SamplingConfig

benchmark_partitions = dg.StaticPartitionsDefinition(BENCHMARK_NAMES)
eval_models = dg.DynamicPartitionsDefinition(name="eval_models")
eval_partitions = dg.MultiPartitionsDefinition({"benchmark": benchmark_partitions, "model": eval_models})
with warnings.catch_warnings():  # beta in Dagster 1.13; used knowingly (a model partition reads its benchmark's items)
    warnings.simplefilter("ignore", dg.BetaWarning)
    ITEMS_OF_BENCHMARK = dg.MultiToSingleDimensionPartitionMapping("benchmark")


class EvalItemsConfig(dg.Config):
    """Extra real benchmark files (a folder holding benchmarks/), read after the bundled sample
    (sample/benchmarks) and before $CITRUS_EVAL_DATA and $CITRUS_DATA (else ../shared/data); how many
    items: -1 = the registry's demo size (8, filled from the bundled sample first), 0 = all."""

    data_dir: str = ""
    max_items: int = -1


class EvalPredictionsConfig(SamplingConfig):
    """Deterministic by default: greedy, seed 0, one sample (``SamplingConfig``'s temperature, top_p, seed).
    n_samples > 1 (with temperature > 0) votes over the samples. max_tokens is demo-sized: reasoning models
    need ~4096."""

    max_tokens: int = 96
    n_samples: int = 1


def _dims(context) -> tuple[str, str]:
    keys = context.partition_key.keys_by_dimension
    return keys["benchmark"], keys["model"]


@dg.asset(
    partitions_def=benchmark_partitions,
    code_version="evalitems-v2",  # v2: bundled sample first, data_dir + benchmark_file columns
    kinds={"parquet"},
    description="One benchmark's test questions (seed loaders; PubMedQA: the 500-id test split with its "
    "abstracts; MMLU-Pro: health + biology), cut to max_items. Missing files: empty, with the reason.",
)
def eval_items(context: dg.AssetExecutionContext, config: EvalItemsConfig, lake: LakeResource) -> dg.Output:
    name = context.partition_key
    data_dirs = default_data_dirs(config.data_dir)
    loaded = load_benchmark(name, data_dirs, None if config.max_items < 0 else config.max_items)
    qpath, n_bad = lake.lake().write_quarantine("eval_items", name, loaded.quarantine)
    if loaded.skipped:
        context.log.warning(f"benchmark {name} skipped: {loaded.skipped}")
    if n_bad:
        context.log.warning(f"{n_bad} rows of {name} quarantined at {qpath}")
    table = loaded.table()
    return output(
        table,
        benchmark=BENCHMARKS[name].description,
        skipped=loaded.skipped or "no",
        data_dirs=dg.MetadataValue.json(loaded.data_dirs),
        files=dg.MetadataValue.json(loaded.files),
        items_available=loaded.available,
        items_available_by_dir=dg.MetadataValue.json(loaded.available_by_dir),
        items_selected=table.num_rows,
        items_selected_by_dir=dg.MetadataValue.json(loaded.selected_by_dir()),
        quarantined=n_bad,
        duplicates_skipped=loaded.duplicates,
    )


@dg.asset(
    partitions_def=eval_partitions,
    ins={"eval_items": dg.AssetIn(partition_mapping=ITEMS_OF_BENCHMARK)},
    code_version=code_version("evalpred-v1", *ALL_PROMPT_NAMES),
    kinds={"parquet"},
    description="Every item answered by the partition's model (Citrus or plain prompt per model; one "
    "batched call; greedy/fixed seed); answer letters by the one shared rule; correct / no answer.",
)
def eval_predictions(
    context: dg.AssetExecutionContext,
    config: EvalPredictionsConfig,
    eval_models: EvalModelsResource,
    lake: LakeResource,
    eval_items: pa.Table,
) -> dg.Output:
    benchmark, model_key = _dims(context)
    params = config.sampling(n=max(1, config.n_samples))
    try:
        spec = eval_models.spec(model_key)
        if eval_items.num_rows == 0:
            context.log.warning(f"{benchmark}: no items (see eval_items metadata); nothing to predict")
            return output(
                predict(eval_items, None, params, model_key=model_key, prompt_style=spec.prompt_style),
                model=model_key,
                skipped="no items",
            )
        resolved = eval_models.resolve(model_key, lake.lake())
    except ModelUnavailable as e:  # this partition only: other models' partitions are unaffected
        raise dg.Failure(description=str(e)) from None
    budget = run_budget(eval_models, dict(context.run.tags or {}))  # the cost guard (served models bill)
    attach(resolved.llm, budget)
    t0 = time.perf_counter()
    table = predict(
        eval_items,
        resolved.llm,
        params,
        model_key=model_key,
        prompt_style=resolved.spec.prompt_style,
        checkpoint_id=resolved.checkpoint_id,
    )
    dt = time.perf_counter() - t0
    n, tokens = table.num_rows, sum(table["gen_completion_tokens"].to_pylist())
    return output(
        table,
        model=model_key,
        model_id=resolved.llm.model_id,
        model_revision=resolved.llm.model_revision,
        prompt_style=resolved.spec.prompt_style,
        sampling=params.to_json(),
        accuracy=dg.MetadataValue.float(round(sum(table["correct"].to_pylist()) / n, 4)),
        no_answer=sum(table["no_answer"].to_pylist()),
        cache_hits=sum(table["cached"].to_pylist()),
        generated_tokens=tokens,
        questions_per_s=dg.MetadataValue.float(round(n / dt, 3) if dt else 0.0),
        tokens_per_s=dg.MetadataValue.float(round(tokens / dt, 1) if dt else 0.0),
        **budget_metadata(budget),
    )


@dg.asset(
    partitions_def=eval_partitions,
    code_version="evalscore-v2",
    kinds={"parquet"},
    description="Accuracy with a 95% Wilson score interval, n and the no-answer count of one benchmark x model.",
)
def eval_scores(
    context: dg.AssetExecutionContext, eval_models: EvalModelsResource, eval_predictions: pa.Table
) -> dg.Output:
    benchmark, model_key = _dims(context)
    try:
        spec = eval_models.spec(model_key)
        stage, style = spec.stage, spec.prompt_style
    except ModelUnavailable:
        stage, style = "", ""
    table = score(eval_predictions, benchmark=benchmark, model=model_key, stage=stage, prompt_style=style)
    r = table.to_pylist()[0]
    return output(
        table,
        accuracy=dg.MetadataValue.float(round(r["accuracy"], 4)) if r["accuracy"] is not None else "no items",
        ci95=f"{r['ci_low']:.3f}–{r['ci_high']:.3f}",
        n=r["n"],
        no_answer=r["no_answer"],
        status=r["status"],
    )


STAGE_SCORE_ASSETS = [f"eval_scores_{s}" for s in STAGE_ORDER]  # stage_assets.scores_asset


def read_all_scores(lake, assets: list[str] | None = None) -> pa.Table:
    """Every partition of ``assets`` (default: eval_scores and every stage's eval_scores_<stage>) present
    in the lake (one row each)."""
    paths = sorted(
        p
        for a in (assets or ["eval_scores", *STAGE_SCORE_ASSETS])
        for p in lake.fs.glob(lake.join(a, "*", "data.parquet"))
    )
    tables = []
    for p in paths:
        with lake.fs.open(p, "rb") as fh:
            tables.append(pq.read_table(fh))
    return pa.concat_tables(tables, promote_options="default") if tables else SCORE_SCHEMA.empty_table()


def write_text(lake, path: str, text: str) -> str:
    """Atomic for a local lake (temp name + rename)."""
    parent = path.rsplit("/", 1)[0]
    lake.fs.makedirs(parent, exist_ok=True)
    if not lake.is_local:
        lake.fs.pipe(path, text.encode("utf-8"))
        return path
    tmp = f"{parent}/.tmp-{uuid.uuid4().hex}"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)
    return path


AC = dg.AutomationCondition
# The report follows any new score (a re-evaluated stage); it never waits for partitions that are missing.
REPORT_ON_NEW_SCORES = (
    AC.any_deps_match(AC.data_version_changed()).since_last_handled() & ~AC.any_deps_in_progress() & ~AC.in_progress()
).with_label("report_on_new_scores")


@dg.asset(
    deps=["eval_scores", *STAGE_SCORE_ASSETS],
    code_version="evalreport-v2",
    automation_condition=REPORT_ON_NEW_SCORES,
    kinds={"parquet"},
    description="Table 4 (models x benchmarks) and Table 5, the ablation table (base -> CPT -> SFT-1/2/3 -> RL "
    "x benchmarks, accuracy [95% CI] n, chance level), with bar charts; over every score partition in the lake "
    "(eval_scores and eval_scores_<stage>); also written as report.md.",
)
def eval_report(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.Output:
    lk = lake.lake()
    rows = [r for r in read_all_scores(lk).to_pylist()]
    md = report_markdown(rows)
    path = write_text(lk, lk.data_path("eval_report", None, "report.md"), md)
    return output(
        report_table(rows),
        table4=dg.MetadataValue.md(table4_md(rows)),
        table5=dg.MetadataValue.md(ablation_md(rows)),
        table5_chart=dg.MetadataValue.md(ablation_chart_md(rows) if rows else "_no scores yet_"),
        missing_answers=dg.MetadataValue.md(no_answer_md(rows) if rows else "_none_"),
        chart=dg.MetadataValue.md(chart_md(rows) if rows else "_no scores yet_"),
        report=dg.MetadataValue.path(lk.url(path)),
        partitions_scored=len(rows),
    )
