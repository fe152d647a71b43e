"""SFT stage-3 question preparation: easy/hard labels and the open-ended rewrite.

Cost (demo): ``question_difficulty`` makes no LLM call (it reads ``judge_answers``);
``open_questions`` makes 1 + ``retries`` batched calls of at most ``max_tokens`` tokens per
pending question. To scale: point ``llm`` at an OpenAI-compatible server (vLLM) and raise
``max_tokens`` (~1.5x the longest stem in tokens) and ``retries``; every call is cached, so a
re-run or an interrupted run only pays for what is new.
"""

from typing import Any, Literal

import dagster as dg

from citrus_assets.common.cost_guard import budget_metadata
from citrus_assets.common.empty import empty_metadata
from citrus_assets.common.metadata import output
from citrus_assets.common.prompts import code_version
from citrus_assets.reasoning_data.questions.difficulty import label_difficulty
from citrus_assets.reasoning_data.questions.rewrite import PROMPTS, RewriteSettings
from citrus_assets.reasoning_data.questions.staged import rewrite_key, stage_rewrites
from citrus_assets.reasoning_data.schemas import OPEN_QUESTION_SCHEMA
from citrus_assets.reasoning_data.seeds.assets import seed_sets
from citrus_assets.reasoning_data.traces.trace_rows import spill_dir
from resources.lake import BATCHED_INPUT_TAG, BATCHES, ChunkStage, LakeResource
from resources.llm import LLMResource


class DifficultyConfig(dg.Config):
    """How judge answers become easy/hard labels (see citrus_assets/reasoning_data/questions/difficulty.py)."""

    rule: Literal["all_correct", "any_correct", "min_correct", "strong_vs_weak"] = "all_correct"
    weak_judges: list[str] = []  # strong_vs_weak: the judges whose answers decide
    min_correct: int = 1  # min_correct: how many judges must be right


class OpenQuestionConfig(RewriteSettings):
    """The rewrite engine's ``RewriteSettings`` (sampling and retries, demo-sized defaults, declared there once)."""

    chunk_size: int = 2000  # seeds per chunk written to local disk (memory flat in partition size, issue 17)


@dg.asset(
    partitions_def=seed_sets,
    code_version="difficulty-v1",
    kinds={"parquet"},
    op_tags={BATCHED_INPUT_TAG: BATCHES},  # inputs read lazily: only the columns the labels use are read
    description="Easy/hard label per seed from the judge panel's answers (paper: easy iff all judges are right).",
)
def question_difficulty(
    context: dg.AssetExecutionContext,
    config: DifficultyConfig,
    question_seeds: Any,  # CommittedBatches (a table in tests)
    judge_answers: Any,
) -> dg.Output:
    # only the columns the labels use, the seeds one record batch at a time
    result = label_difficulty(question_seeds, judge_answers, config.rule, config.weak_judges, config.min_correct)
    counts = result.counts()
    if result.unjudged:
        context.log.warning(f"{len(result.unjudged)} seeds had no judge answer and are labelled hard")
    n = max(1, sum(counts.values()))
    return output(
        result.table(),
        rule=config.rule,
        judges=dg.MetadataValue.json(result.judges),
        per_judge=dg.MetadataValue.json(result.per_judge),
        easy=counts["easy"],
        hard=counts["hard"],
        easy_share=dg.MetadataValue.float(round(counts["easy"] / n, 4)),
        unjudged=len(result.unjudged),
        unjudged_ids=dg.MetadataValue.json(result.unjudged[:50]),
        answers_without_seed=result.answers_without_seed,
        strong_correct_on_hard=result.strong_correct_on_hard,
    )


@dg.asset(
    partitions_def=seed_sets,
    code_version=code_version("open-questions-v1", *PROMPTS.values()),
    kinds={"parquet"},
    op_tags={BATCHED_INPUT_TAG: BATCHES},  # question_seeds read batch by batch (memory flat in partition size)
    description="Each seed rewritten as an open-ended question (options removed, clinical details kept, "
    "validated; rule fallback or quarantine when every LLM rewrite is rejected).",
)
def open_questions(
    context: dg.AssetExecutionContext,
    config: OpenQuestionConfig,
    llm: LLMResource,
    lake: LakeResource,
    question_seeds: Any,  # the committed partition in record batches (CommittedBatches; a table in tests)
) -> dg.Output:
    # chunk by chunk to local disk; the IO manager streams the chunk files into the lake (StagedParquet); the
    # chunks a crashed run finished (same seeds, model, settings, prompts) are resumed, not asked again
    key = rewrite_key(question_seeds, llm, config, config.chunk_size)
    stage = ChunkStage(spill_dir(llm, "open_questions", context.partition_key), OPEN_QUESTION_SCHEMA, key)
    result = stage_rewrites(question_seeds, llm, config, stage, config.chunk_size)
    qpath, n_bad = lake.lake().write_quarantine("open_questions", context.partition_key, stage.quarantine_tables())
    if n_bad:
        context.log.warning(f"{n_bad} questions quarantined at {qpath}")
    return output(
        stage.staged(),
        **empty_metadata(
            result.counts["llm_accepted"] + result.counts["rule_fallback"],
            f"every rewrite of {result.seeds} seeds rejected" + (f"; {n_bad} quarantined at {qpath}" if n_bad else "")
            if result.seeds
            else "no question seeds",
        ),
        model=llm.model_id,
        llm_accepted=result.counts["llm_accepted"],
        llm_accepted_on_retry=result.counts["llm_accepted_on_retry"],
        rule_fallback=result.counts["rule_fallback"],
        quarantined=n_bad,
        rejection_reasons=dg.MetadataValue.json(result.rejection_reasons),
        llm_calls=result.llm_calls,
        refers_to_missing_options=result.refers_to_options,
        cache_hits=result.cache_hits,
        generated_tokens=result.generated_tokens,
        chunks=stage.n,
        chunks_resumed=stage.chunks_resumed,
        **budget_metadata(llm),
    )
