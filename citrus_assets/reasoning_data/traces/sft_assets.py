"""``sft_examples``: verified first-person ``<think>``/``<answer>`` traces rewritten from ``reasoning_traces``."""

import statistics
from typing import Any

import dagster as dg
import pyarrow as pa

from citrus_assets.common.empty import empty_metadata
from citrus_assets.common.metadata import output
from citrus_assets.common.plots import histogram_md
from citrus_assets.common.prompts import code_version
from citrus_assets.reasoning_data.schemas import SFT_EXAMPLE_SCHEMA
from citrus_assets.reasoning_data.seeds.assets import seed_sets
from citrus_assets.reasoning_data.traces import dual_roles as R
from citrus_assets.reasoning_data.traces.sft_rewrite import (
    REWRITE_PROMPT,
    SYSTEM_PROMPT,
    USER_PROMPT,
    reason_code,
    rewrite_traces,
)
from citrus_assets.reasoning_data.traces.sft_staged import sft_key, stage_sft_examples
from citrus_assets.reasoning_data.traces.trace_rows import spill_dir
from resources.lake import BATCHED_INPUT_TAG, BATCHES, ChunkStage, LakeResource, QuarantineRecord
from resources.lineage.schema import RECORD_ID
from resources.llm import LLMResource, SamplingParams
from resources.llm.sampling import SamplingConfig

ASSET = "sft_examples"


class SftRewriteConfig(SamplingConfig):
    temperature: float = 0.7
    top_p: float = 0.95
    max_tokens: int = 384
    max_attempts: int = 2
    chunk_size: int = 2000  # traces per chunk written to local disk (memory flat in partition size, issue 17)


def build_sft_examples(traces: pa.Table, questions: pa.Table, llm, config: SftRewriteConfig):
    """(kept table, dropped QuarantineRecords, statistics) — plain, called by the asset and tests."""
    by_id = {q[RECORD_ID]: q for q in questions.to_pylist()}
    items, dropped = [], []
    for t in traces.to_pylist():
        q = by_id.get(t["question_id"])
        if q is None:
            dropped.append(
                QuarantineRecord("reasoning_traces", t[RECORD_ID], "open question not found", t["question_id"])
            )
            continue
        # the verified conclusion's own answer; a conclusion without <answer> tags verified on its prose
        answer = R.conclusion_answer(t["conclusion"]) if "<answer>" in t["conclusion"].lower() else ""
        items.append({**t, "question": q, "answer": answer or t["ground_truth"]})
    params = SamplingParams(
        n=1, temperature=config.temperature, top_p=config.top_p, max_tokens=config.max_tokens, seed=config.seed
    )
    table, rejected, history = rewrite_traces(items, llm, params, config.max_attempts)
    dropped += rejected
    reasons: dict[str, int] = {}
    for d in dropped:
        reasons[reason_code(d.reason)] = reasons.get(reason_code(d.reason), 0) + 1
    stats = {
        "traces": traces.num_rows,
        "kept": table.num_rows,
        "dropped": len(dropped),
        "dropped_by_reason": reasons,
        "llm_calls": len(history),
        "cache_hits": sum(1 for h in history if h["cached"]),
        "completion_tokens": sum(h["completion_tokens"] for h in history),
        "n_tokens": table.column("n_tokens").to_pylist(),
    }
    return table, dropped, stats


@dg.asset(
    name=ASSET,
    partitions_def=seed_sets,
    code_version=code_version("sft-examples-v1", REWRITE_PROMPT, SYSTEM_PROMPT, USER_PROMPT),
    kinds={"parquet"},
    op_tags={BATCHED_INPUT_TAG: BATCHES},  # both inputs read chunk by chunk (memory flat in partition size)
    description="First-person <think>/<answer> SFT traces rewritten from the dual-expert transcripts; kept only "
    "when well-formed, verified against the ground truth and free of leak phrases (drops quarantined).",
)
def sft_examples(
    context: dg.AssetExecutionContext,
    config: SftRewriteConfig,
    llm: LLMResource,
    lake: LakeResource,
    reasoning_traces: Any,  # CommittedBatches (tables in tests)
    open_questions: Any,
) -> dg.Output:
    # chunk by chunk to local disk; the IO manager streams the chunk files into the lake (StagedParquet); the
    # chunks a crashed run finished (same traces, questions, model, config, prompts) are resumed, not asked again
    key = sft_key(reasoning_traces, open_questions, llm, config, config.chunk_size)
    stage = ChunkStage(spill_dir(llm, ASSET, context.partition_key), SFT_EXAMPLE_SCHEMA, key)
    stats = stage_sft_examples(
        reasoning_traces, open_questions, llm, config, stage, build_sft_examples, config.chunk_size
    )
    table = stage.staged()
    qpath, n_bad = lake.lake().write_quarantine(ASSET, context.partition_key, stage.quarantine_tables())
    if n_bad:
        context.log.warning(f"{n_bad} of {stats['traces']} rewrites dropped; quarantined at {qpath}")
    lengths = stats["n_tokens"]
    return output(
        table,
        model=llm.model_id,
        traces=stats["traces"],
        kept=stats["kept"],
        dropped=stats["dropped"],
        quarantined=n_bad,
        question_rescans=stats["question_rescans"],
        chunks=stage.n,
        chunks_resumed=stage.chunks_resumed,
        dropped_by_reason=dg.MetadataValue.json(stats["dropped_by_reason"]),
        llm_calls=stats["llm_calls"],
        cache_hits=stats["cache_hits"],
        rewrite_completion_tokens=stats["completion_tokens"],
        mean_tokens=dg.MetadataValue.float(round(statistics.fmean(lengths), 1) if lengths else 0.0),
        max_tokens=max(lengths) if lengths else 0,
        length_histogram=histogram_md(
            {"sft_examples": [float(x) for x in lengths]}, "Tokens per SFT response", "tokens"
        ),
        **empty_metadata(
            stats["kept"],
            (
                f"no verified reasoning trace to rewrite (reasoning_traces has 0 rows for {context.partition_key})"
                if not stats["traces"]
                else f"every rewrite of {stats['traces']} traces dropped {stats['dropped_by_reason']}; quarantine at {qpath}"
            ),
        ),
    )
