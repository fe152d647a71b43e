"""Reasoning-data assets (paper Figure 3, SFT stage 3): question seeds and their closed-form answers."""

from typing import Any

import dagster as dg

from citrus_assets.common.cost_guard import budget_metadata, llm_cost_guard
from citrus_assets.common.empty import empty_metadata
from citrus_assets.common.metadata import output, value_counts
from citrus_assets.common.prompts import code_version
from citrus_assets.common.scheduling.inbox_sensor import INBOX_SHA, content_hash
from citrus_assets.reasoning_data.seeds.judges import JudgePanelResource
from citrus_assets.reasoning_data.seeds.judging import ANSWER_SCHEMA, SYSTEM_PROMPT, USER_PROMPT
from citrus_assets.reasoning_data.seeds.loaders import load_seed_file
from citrus_assets.reasoning_data.seeds.seed_files import BadRecord, LoadResult
from citrus_assets.reasoning_data.seeds.staged import judge_key, stage_panel_answers
from citrus_assets.reasoning_data.traces.trace_rows import spill_dir
from resources.inbox import InboxResource, entry_problem
from resources.lake import BATCHED_INPUT_TAG, BATCHES, ChunkStage, LakeResource, QuarantineRecord
from resources.llm import LLMResource
from resources.llm.sampling import SamplingConfig

seed_sets = dg.DynamicPartitionsDefinition(name="seed_sets")


class JudgeConfig(SamplingConfig):
    """Sampling of the closed-form answering run (deterministic by default: ``SamplingConfig``'s greedy, seed 0)."""

    max_tokens: int = 160
    chunk_size: int = 2000  # seeds per judge and chunk written to local disk (memory flat in partition size, issue 17)


@dg.asset(
    partitions_def=seed_sets,
    code_version="seeds-v1",
    kinds={"parquet"},
    description="Benchmark-style questions with verified answers, normalized; one partition per seed file.",
)
def question_seeds(context: dg.AssetExecutionContext, inbox: InboxResource, lake: LakeResource) -> dg.Output:
    path = inbox.seed_file(context.partition_key)
    problem = entry_problem(path, inbox.seeds_path())  # a link out of the inbox, a name too long for a sidecar
    if problem is None:
        try:
            result = load_seed_file(path, seed_set=context.partition_key)
        except BadRecord as e:  # no known format: the file is one quarantined unit, the partition goes on
            problem = str(e)
    if problem is not None:  # the whole file is one quarantined unit; none of its bytes are copied into the lake
        result = LoadResult(quarantine=[QuarantineRecord(path.name, "file", problem, "")])
    qpath, n_bad = lake.lake().write_quarantine("question_seeds", context.partition_key, result.quarantine)
    if n_bad:
        context.log.warning(f"{n_bad} input rows of {path.name} quarantined at {qpath}")
    table = result.table()
    return output(
        table,
        **empty_metadata(
            table.num_rows,
            f"no valid question in {path.name}" + (f"; {n_bad} lines quarantined at {qpath}" if n_bad else ""),
        ),
        source_file=dg.MetadataValue.path(str(path)),
        **{INBOX_SHA: content_hash(path)},  # what the seed sensor compares the file with
        quarantined=n_bad,
        duplicates_skipped=result.duplicates,
        languages=dg.MetadataValue.json(value_counts(table, "language")),
    )


@dg.asset(
    partitions_def=seed_sets,
    code_version=code_version("judge-v1", SYSTEM_PROMPT, USER_PROMPT),
    kinds={"parquet"},
    automation_condition=dg.AutomationCondition.eager(),
    op_tags={BATCHED_INPUT_TAG: BATCHES},  # question_seeds read batch by batch (memory flat in partition size)
    description="Each seed answered closed-form by every judge of the panel (Citrus prompt); one row per "
    "(question, judge); basis of easy/hard labels. An empty panel is the llm resource, judge 'default'.",
)
def judge_answers(
    context: dg.AssetExecutionContext,
    config: JudgeConfig,
    llm: LLMResource,
    judges: JudgePanelResource,
    question_seeds: Any,  # the committed partition in record batches (CommittedBatches; a table in tests)
) -> dg.Output:
    params = config.sampling()
    panel = judges.clients(llm)
    # chunk by chunk to local disk; the IO manager streams the chunk files into the lake (StagedParquet); the
    # chunks a crashed run finished (same seeds, panel, sampling, prompts) are resumed, not asked again
    key = judge_key(question_seeds, panel, params, config.chunk_size)
    stage = ChunkStage(spill_dir(llm, "judge_answers", context.partition_key), ANSWER_SCHEMA, key)
    with llm_cost_guard(context, llm, *(client for _, client in panel)) as budget:  # the panel shares one budget
        tally = stage_panel_answers(question_seeds, panel, params, stage, config.chunk_size)
    models = {name: client.model_id for name, client in panel}
    return output(
        stage.staged(),
        model=next(iter(models.values())) if len(models) == 1 else dg.MetadataValue.json(models),
        judges=dg.MetadataValue.json(list(models)),
        accuracy=dg.MetadataValue.float(round(tally.correct / tally.n, 4) if tally.n else 0.0),
        no_answer=tally.no_answer,
        per_judge=dg.MetadataValue.json(tally.per_judge()),
        cache_hits=tally.cached,
        generated_tokens=tally.generated_tokens,
        chunks=stage.n,
        chunks_resumed=stage.chunks_resumed,
        **budget_metadata(budget),
    )
