"""The SFT training mixes (paper: stage 1 general instructions, stage 2 harder ones, stage 3 medical long
chain-of-thought + non-medical reasoning), each decontaminated and exported in chat format.

Each mix is one unpartitioned Parquet table (``mixing.MIX_SCHEMA``; ``messages`` is ``list<struct<role,
content>>``, what ``datasets.load_dataset("parquet", …)`` and TRL's SFTTrainer read) plus, next to it in the
lake, ``export.jsonl`` (``{"messages": […]}`` per line), ``decontaminated.parquet`` (removed rows with the
matched benchmark item) and ``duplicates.parquet``.
"""

from pathlib import Path
from typing import Any

import dagster as dg
import pyarrow as pa
from pydantic import Field

from citrus_assets.common.decontamination.index import decontamination_metadata, eval_index, quarantine_unreadable
from citrus_assets.common.metadata import output, value_counts
from citrus_assets.common.plots import histogram_md
from citrus_assets.reasoning_data.mixes.curriculum import StageRule, build_stage_mix
from citrus_assets.reasoning_data.mixes.mixing import (
    DUPLICATE_SCHEMA,
    MIX_SCHEMA,
    decontaminate_mix,
    index_cache_dir,
    load_tokenizer,
    token_counts,
    token_stats,
    write_side_files,
)
from citrus_assets.reasoning_data.mixes.stage3 import select_stage3
from resources.lake import BATCHED_INPUT_TAG, BATCHES, LakeResource, input_table
from resources.lineage.schema import RECORD_ID, SOURCE_URI

# what the stage-3 selection and its metadata read of a nonmedical_reasoning record
NONMEDICAL_COLUMNS = [RECORD_ID, "messages", "source", "category", SOURCE_URI]


class _MixConfig(dg.Config):
    # the target model's tokenizer for n_tokens ("builtin" = the built-in model's)
    tokenizer: str = "builtin"
    # a folder whose benchmarks/ sub-folder holds more evaluation sets, indexed next to the bundled sample,
    # $CITRUS_EVAL_DATA and $CITRUS_DATA (else ../shared/data) (common.benchmark_data); n-gram size
    eval_data_dir: str = ""
    decontamination_ngram: int = 13
    # an empty decontamination index fails the mix's blocking check unless this is set (recorded in the
    # materialization metadata and the data card)
    allow_no_decontamination: bool = False


class InstructionMixConfig(_MixConfig):
    """Stage rule (see curriculum.assign_stage): file map first, then multi-turn, then long responses."""

    multi_turn_user_turns: int = 2
    long_response_tokens: int = 1024
    file_stage: dict[str, int] = Field(default_factory=dict)  # instruction_sets partition -> 1 | 2


class Stage3MixConfig(_MixConfig):
    """All hard examples, ``easy_share`` of the easy ones, ``nonmedical_ratio`` × medical non-medical rows
    (at least ``min_nonmedical`` of them, so the mix is not empty when few medical traces verified)."""

    easy_share: float = 0.2
    nonmedical_ratio: float = 1.0
    min_nonmedical: int = 8
    sample_seed: int = 0


def finish_mix(
    context,
    config: _MixConfig,
    lake: LakeResource,
    asset: str,
    rows: list[dict],
    duplicates: list[dict],
    tokenizer,
    **metadata,
) -> dg.Output:
    """Token counts, decontamination, side files and the common metadata of every mix. ``rows`` is consumed:
    each chunk's dicts are dropped once its part of the Arrow table exists (the list is left empty)."""
    n_tokens, _ = token_counts(tokenizer, [r["messages"] for r in rows])
    table = mix_table(rows, n_tokens)
    del n_tokens
    lk = lake.lake()
    index, report = eval_index(config.eval_data_dir, index_cache_dir(lk), n=config.decontamination_ngram)
    if index.n_items:
        table, removed = decontaminate_mix(table, index)
    else:
        context.log.warning(f"the decontamination index is empty: {asset} was NOT decontaminated")
        removed = decontaminate_mix(table.slice(0, 0), index)[1]
    decont = decontamination_metadata(index, report, removed, config.allow_no_decontamination)
    decont["unreadable_quarantine"] = quarantine_unreadable(lk, report)
    dup_table = pa.Table.from_pylist(duplicates, schema=DUPLICATE_SCHEMA)
    files = write_side_files(lk, asset, table, removed, dup_table)
    by_cat: dict[str, list[float]] = {}
    for c, n in zip(table["category"].to_pylist(), table["n_tokens"].to_pylist()):
        by_cat.setdefault(c, []).append(n)
    return output(
        table,
        categories=dg.MetadataValue.json(value_counts(table, "category")),
        decontamination=dg.MetadataValue.json(decont),
        token_stats=dg.MetadataValue.json(token_stats(table) if table.num_rows else {}),
        tokens=int(sum(table["n_tokens"].to_pylist())),
        duplicates=dup_table.num_rows,
        export_jsonl=dg.MetadataValue.path(files["export_jsonl"]),
        export_sha256=files["export_sha256"],
        side_files=dg.MetadataValue.json(files),
        token_length_histogram=histogram_md(by_cat, f"Tokens per conversation ({asset})", "tokens"),
        **metadata,
    )


MIX_TABLE_CHUNK = 2000  # rows converted to Arrow at a time by ``mix_table``


def mix_table(rows: list[dict], n_tokens: list[int], chunk: int = MIX_TABLE_CHUNK) -> pa.Table:
    """``rows`` + their ``n_tokens`` as a ``MIX_SCHEMA`` table, built ``chunk`` rows at a time; each converted row's
    dict is released as it goes and ``rows`` is left empty (its dicts are not needed once the table exists)."""
    parts = []
    for lo in range(0, len(rows), max(1, chunk)):
        hi = min(lo + chunk, len(rows))
        parts.append(
            pa.Table.from_pylist([dict(r, n_tokens=n) for r, n in zip(rows[lo:hi], n_tokens[lo:hi])], schema=MIX_SCHEMA)
        )
        rows[lo:hi] = [None] * (hi - lo)  # type: ignore[list-item] # freed; the list is cleared below
    rows.clear()
    return pa.concat_tables(parts) if parts else MIX_SCHEMA.empty_table()


@dg.asset(
    code_version="sft-stage3-mix-v2",  # v2: non-medical rows from the nonmedical_reasoning asset, parent = its record
    kinds={"parquet"},
    op_tags={BATCHED_INPUT_TAG: BATCHES},  # inputs read batch by batch, only the columns the selection uses
    description="SFT stage 3: every hard medical reasoning example, a share of the easy ones and a comparable "
    "amount of non-medical reasoning (logic, math: the nonmedical_reasoning asset), decontaminated; chat format "
    "+ JSONL export.",
)
def sft_stage3_mix(
    context: dg.AssetExecutionContext,
    config: Stage3MixConfig,
    lake: LakeResource,
    sft_examples: Any,  # {seed set: CommittedBatches} / CommittedBatches (tables in tests)
    question_difficulty: Any,
    nonmedical_reasoning: Any,
) -> dg.Output:
    # the folder's bad lines are quarantined by nonmedical_reasoning itself; its records are the parents here
    nonmed = input_table(nonmedical_reasoning, NONMEDICAL_COLUMNS).to_pylist()
    sel = select_stage3(
        sft_examples,
        question_difficulty,
        nonmed,
        easy_share=config.easy_share,
        nonmedical_ratio=config.nonmedical_ratio,
        seed=config.sample_seed,
        min_nonmedical=config.min_nonmedical,
    )
    lk = lake.lake()
    _, n_bad = lk.write_quarantine("sft_stage3_mix", None, sel.quarantine)
    if sel.unlabeled:
        context.log.warning(f"{len(sel.unlabeled)} examples have no difficulty label; counted as hard")
    if sel.counts["nonmedical_shortfall"]:
        context.log.warning(
            f"only {sel.counts['nonmedical']} non-medical rows available for a target of "
            f"{sel.counts['nonmedical_target']}"
        )
    return finish_mix(
        context,
        config,
        lake,
        "sft_stage3_mix",
        sel.rows,
        sel.duplicates,
        load_tokenizer(config.tokenizer),
        selection=dg.MetadataValue.json(sel.counts),
        unlabeled_question_ids=dg.MetadataValue.json(sorted(set(sel.unlabeled))[:50]),
        nonmedical_source=dg.MetadataValue.json(
            {
                "asset": "nonmedical_reasoning",
                "rows": len(nonmed),
                "files": sorted({Path(r[SOURCE_URI]).name for r in nonmed if r.get(SOURCE_URI)}),
            }
        ),
        quarantined=n_bad,
    )


def _instruction_mix(
    context, config: InstructionMixConfig, lake: LakeResource, stage: int, instruction_examples: pa.Table
) -> dg.Output:
    rule = StageRule(config.multi_turn_user_turns, config.long_response_tokens, dict(config.file_stage))
    tokenizer = load_tokenizer(config.tokenizer)
    mix = build_stage_mix(instruction_examples, stage, rule, tokenizer)
    return finish_mix(
        context,
        config,
        lake,
        f"sft_stage{stage}_mix",
        mix.rows,
        mix.duplicates,
        tokenizer,
        stage_reasons=dg.MetadataValue.json(mix.reasons),
        stage_rule=dg.MetadataValue.json(
            {
                "multi_turn_user_turns": rule.multi_turn_user_turns,
                "long_response_tokens": rule.long_response_tokens,
                "file_stage": rule.file_stage,
            }
        ),
    )


@dg.asset(
    code_version="sft-stage1-mix-v1",
    kinds={"parquet"},
    description="SFT stage 1: general single-turn instruction following (curriculum.assign_stage), deduplicated "
    "across files and decontaminated; chat format + JSONL export.",
)
def sft_stage1_mix(
    context: dg.AssetExecutionContext, config: InstructionMixConfig, lake: LakeResource, instruction_examples: pa.Table
) -> dg.Output:
    return _instruction_mix(context, config, lake, 1, instruction_examples)


@dg.asset(
    code_version="sft-stage2-mix-v1",
    kinds={"parquet"},
    description="SFT stage 2: harder instructions — multi-turn or long responses (curriculum.assign_stage), "
    "deduplicated across files and decontaminated; chat format + JSONL export.",
)
def sft_stage2_mix(
    context: dg.AssetExecutionContext, config: InstructionMixConfig, lake: LakeResource, instruction_examples: pa.Table
) -> dg.Output:
    return _instruction_mix(context, config, lake, 2, instruction_examples)
