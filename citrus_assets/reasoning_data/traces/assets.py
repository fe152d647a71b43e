"""``reasoning_traces``: the dual-expert loop over every open question of a seed set (paper Figure 3)."""

import shutil
from typing import Any

import dagster as dg

from citrus_assets.common.cost_guard import budget_metadata
from citrus_assets.common.empty import empty_metadata, model_hint
from citrus_assets.common.metadata import output
from citrus_assets.common.prompts import code_version
from citrus_assets.reasoning_data.seeds.assets import seed_sets
from citrus_assets.reasoning_data.traces import dual_roles as R
from citrus_assets.reasoning_data.traces.dual_expert import LoopConfig
from citrus_assets.reasoning_data.traces.trace_rows import run_traces, spill_dir
from resources.lake import BATCHED_INPUT_TAG, BATCHES, LakeResource, StagedParquet
from resources.llm import LLMResource

ASSET = "reasoning_traces"


class TraceConfig(LoopConfig):
    """The engine's ``LoopConfig`` (loop bounds and sampling, the paper's defaults, declared there once; flat
    run-config names: ``max_rounds``, ``max_tokens``...) plus how the asset schedules it."""

    # Scheduling (issue 17): "continuous" sends each question's next prompt as its previous one returns, with up to
    # max_in_flight prompts in flight in micro-batches of max_batch, chunk_size questions per durable chunk;
    # "rounds" is the synchronous engine (whole-partition rounds). Same rows for the same cache.
    # 0 = by backend (traces.dispatch_settings): "openai" keeps the llm's max_concurrency in flight in
    # micro-batches of 16; a local model gets one batch at a time, as large as the waiting prompts allow.
    scheduling: str = "continuous"
    chunk_size: int = 2000
    max_in_flight: int = 0
    max_batch: int = 0

    def loop_config(self) -> LoopConfig:
        return LoopConfig(**{k: getattr(self, k) for k in LoopConfig.model_fields})


@dg.asset(
    name=ASSET,
    partitions_def=seed_sets,
    code_version=code_version("traces-v1", *R.PROMPT_FILES.values()),
    kinds={"parquet"},
    op_tags={BATCHED_INPUT_TAG: BATCHES},  # open_questions read chunk by chunk (memory flat in partition size)
    description="Dual-expert reasoning transcripts (reasoning expert + reflection expert who knows the answer, "
    "completion judge, verified conclusion); failures quarantined with their transcript.",
)
def reasoning_traces(
    context: dg.AssetExecutionContext,
    config: TraceConfig,
    llm: LLMResource,
    lake: LakeResource,
    open_questions: Any,  # CommittedBatches (a table in tests)
) -> dg.Output:
    spill = spill_dir(llm, ASSET, context.partition_key)  # finished chunks survive a crash of the step
    # continuous: the chunk files are the output (StagedParquet): the IO manager streams them into the lake and
    # removes them once published; the quarantine is streamed from them too (memory flat in partition size)
    table, failed, stats = run_traces(
        open_questions,
        llm,
        config.loop_config(),
        scheduling=config.scheduling,
        chunk_size=config.chunk_size,
        spill_dir=spill,
        max_in_flight=config.max_in_flight,
        max_batch=config.max_batch,
        staged=True,
    )
    qpath, n_bad = lake.lake().write_quarantine(ASSET, context.partition_key, failed)
    if not isinstance(table, StagedParquet):
        shutil.rmtree(spill, ignore_errors=True)
    if n_bad:
        context.log.warning(f"{n_bad} of {stats['questions']} questions failed verification; quarantined at {qpath}")
    why = (
        f"0 of {stats['questions']} verified; {model_hint(getattr(llm, 'model', '') or llm.model_id)}"
        + (f"; quarantine at {qpath}" if n_bad else "")
        if stats["questions"]
        else "no open question to reason on"
    )
    return output(
        table,
        **empty_metadata(stats["accepted"], why),
        **budget_metadata(llm),
        model=llm.model_id,
        questions=stats["questions"],
        accepted=stats["accepted"],
        failed=stats["failed"],
        quarantined=n_bad,
        acceptance_rate=dg.MetadataValue.float(float(stats["acceptance_rate"])),
        llm_calls=stats["llm_calls"],
        llm_batches=stats["llm_batches"],
        scheduling=config.scheduling,
        chunks=stats.get("chunks", 1),
        chunks_resumed=stats.get("chunks_resumed", 0),
        cache_hits=stats["cache_hits"],
        prompt_tokens=stats["prompt_tokens"],
        completion_tokens=stats["completion_tokens"],
        calls_per_accepted_trace=dg.MetadataValue.float(float(stats["calls_per_accepted"] or 0.0)),
        tokens_per_accepted_trace=dg.MetadataValue.float(float(stats["tokens_per_accepted"] or 0.0)),
        early_stops=stats["early_stops"],
        feedback_redactions=stats["feedback_redactions"],
        unparsed_ratings=stats["unparsed_ratings"],
        rounds_histogram=dg.MetadataValue.json(stats["rounds_histogram"]),
        attempts_histogram=dg.MetadataValue.json(stats["attempts_histogram"]),
        failure_reasons=dg.MetadataValue.json(stats["failure_reasons"]),
    )
