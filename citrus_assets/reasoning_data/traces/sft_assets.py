"""``sft_examples``: verified first-person ``<think>``/``<answer>`` traces rewritten from ``reasoning_traces``."""

import dataclasses
import statistics

import dagster as dg
import pyarrow as pa

from citrus_assets.common.empty import empty_metadata
from citrus_assets.common.metadata import output
from citrus_assets.common.plots import histogram_md
from citrus_assets.common.prompts import code_version, prompt_hash
from citrus_assets.reasoning_data.schemas import SFT_EXAMPLE_SCHEMA
from citrus_assets.reasoning_data.seeds.assets import seed_sets
from citrus_assets.reasoning_data.traces import dual_roles as R
from citrus_assets.reasoning_data.traces.sft_rewrite import (
    REWRITE_PROMPT,
    SYSTEM_PROMPT,
    USER_PROMPT,
    RewriteItem,
    count_tokens,
    parse_response,
    reason_code,
    rewrite_all,
    sft_messages,
)
from resources.lake import LakeResource, QuarantineRecord
from resources.lineage.ids import record_id
from resources.lineage.schema import PARENT_IDS, RECORD_ID, gen_columns
from resources.llm import LLMResource
from resources.llm.sampling import SamplingConfig
from resources.llm.types import canonical_json

ASSET = "sft_examples"


class SftRewriteConfig(SamplingConfig):
    temperature: float = 0.7
    top_p: float = 0.95
    max_tokens: int = 384
    max_attempts: int = 2


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
        items.append(RewriteItem(t, q, answer or t["ground_truth"]))
    params = rewrite_all(
        items, llm, config.temperature, config.top_p, config.max_tokens, config.seed, config.max_attempts
    )
    kept = [it for it in items if it.kept]
    n_tokens = count_tokens(llm, [it.response for it in kept], [it.gen.completion_tokens for it in kept])
    sha = prompt_hash(REWRITE_PROMPT)
    rows = []
    for it, n in zip(kept, n_tokens):
        sampling = it_params(params, it).to_json()
        rows.append(
            {
                RECORD_ID: record_id("sft", it.trace[RECORD_ID], llm.model_id, sampling, it.response),
                PARENT_IDS: [it.trace[RECORD_ID]],
                "question_id": it.trace["question_id"],
                "language": it.trace["language"],
                "messages": sft_messages(it.trace["open_question"], it.response),
                "response": it.response,
                "final_answer": parse_response(it.response)[1],
                "n_tokens": int(n),
                **gen_columns(
                    llm,
                    template=f"{REWRITE_PROMPT}+{SYSTEM_PROMPT}+{USER_PROMPT}",
                    prompt_hash=sha,
                    sampling=sampling,
                    prompt_tokens=it.gen.prompt_tokens,
                    completion_tokens=it.gen.completion_tokens,
                ),
                "ground_truth": it.trace["ground_truth"],
            }
        )
    for it in items:
        if not it.kept:
            dropped.append(
                QuarantineRecord(
                    "reasoning_traces",
                    it.trace[RECORD_ID],
                    it.reason,
                    canonical_json({"prompt": it.prompt, "attempts": it.history}),
                )
            )
    reasons: dict[str, int] = {}
    for d in dropped:
        reasons[reason_code(d.reason)] = reasons.get(reason_code(d.reason), 0) + 1
    history = [h for it in items for h in it.history]
    stats = {
        "traces": traces.num_rows,
        "kept": len(rows),
        "dropped": len(dropped),
        "dropped_by_reason": reasons,
        "llm_calls": len(history),
        "cache_hits": sum(1 for h in history if h["cached"]),
        "completion_tokens": sum(h["completion_tokens"] for h in history),
        "n_tokens": [r["n_tokens"] for r in rows],
    }
    return pa.Table.from_pylist(rows, schema=SFT_EXAMPLE_SCHEMA), dropped, stats


def it_params(params, it: RewriteItem):
    """The sampling of the attempt that produced ``it`` (attempts differ only by seed)."""
    return dataclasses.replace(params, seed=it.history[-1]["seed"])


@dg.asset(
    name=ASSET,
    partitions_def=seed_sets,
    code_version=code_version("sft-examples-v1", REWRITE_PROMPT, SYSTEM_PROMPT, USER_PROMPT),
    kinds={"parquet"},
    description="First-person <think>/<answer> SFT traces rewritten from the dual-expert transcripts; kept only "
    "when well-formed, verified against the ground truth and free of leak phrases (drops quarantined).",
)
def sft_examples(
    context: dg.AssetExecutionContext,
    config: SftRewriteConfig,
    llm: LLMResource,
    lake: LakeResource,
    reasoning_traces: pa.Table,
    open_questions: pa.Table,
) -> dg.Output:
    table, dropped, stats = build_sft_examples(reasoning_traces, open_questions, llm, config)
    qpath, n_bad = lake.lake().write_quarantine(ASSET, context.partition_key, dropped)
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
            table.num_rows,
            (
                f"no verified reasoning trace to rewrite (reasoning_traces has 0 rows for {context.partition_key})"
                if not stats["traces"]
                else f"every rewrite of {stats['traces']} traces dropped {stats['dropped_by_reason']}; quarantine at {qpath}"
            ),
        ),
    )
