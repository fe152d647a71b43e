"""The column contracts between the reasoning-data assets (SFT stage 3 and the SFT mixes).

Each asset's module builds its table with the schema named here, so a downstream asset can
rely on these columns whoever wrote the upstream one. Every table also carries ``record_id``
and ``parent_ids`` (lineage); LLM-made tables carry the ``gen_*`` fields of
``resources.lineage.schema.GEN_FIELDS`` for the call that made the row.
"""

import pyarrow as pa

from resources.lineage.schema import GEN_FIELDS, PARENT_IDS, RECORD_ID

MESSAGE_TYPE = pa.struct([("role", pa.string()), ("content", pa.string())])
MESSAGES_TYPE = pa.list_(MESSAGE_TYPE)  # the chat format every SFT table exports

EASY, HARD = "easy", "hard"

# question_difficulty: one row per question seed (partitioned by seed set).
DIFFICULTY_SCHEMA = pa.schema(
    [
        (RECORD_ID, pa.string()),
        (PARENT_IDS, pa.list_(pa.string())),  # [seed id, judge-answer ids...]
        ("question_id", pa.string()),  # the seed's record_id
        ("difficulty", pa.string()),  # EASY | HARD
        ("rule", pa.string()),  # the labelling rule that decided (e.g. "all_correct")
        ("judges", pa.list_(pa.string())),
        ("judges_correct", pa.list_(pa.bool_())),  # aligned with ``judges``
    ]
)

# open_questions: one row per accepted rewrite (rejected rewrites are quarantined with the reason).
OPEN_QUESTION_SCHEMA = pa.schema(
    [
        (RECORD_ID, pa.string()),
        (PARENT_IDS, pa.list_(pa.string())),  # [seed id]
        ("question_id", pa.string()),
        ("language", pa.string()),
        ("closed_stem", pa.string()),  # the seed's stem (with context, if any), for audit
        ("open_question", pa.string()),
        ("ground_truth", pa.string()),  # text of the correct option(s), "; "-joined
        ("answer_letters", pa.list_(pa.string())),
        ("options", pa.list_(pa.struct([("letter", pa.string()), ("text", pa.string())]))),  # kept for verification
        ("rewrite_method", pa.string()),  # "llm" | "rule" (options stripped when every LLM rewrite failed its check)
        ("rewrite_rejections", pa.list_(pa.string())),  # why earlier LLM rewrites were rejected
        ("prompt", pa.string()),  # the rendered rewrite prompt ("" for rule rewrites)
        *GEN_FIELDS,
    ]
)

# reasoning_traces: one row per accepted dual-expert transcript (failed ones are quarantined, transcript kept).
TRACE_SCHEMA = pa.schema(
    [
        (RECORD_ID, pa.string()),
        (PARENT_IDS, pa.list_(pa.string())),  # [open-question id]
        ("question_id", pa.string()),
        ("language", pa.string()),
        ("open_question", pa.string()),
        ("ground_truth", pa.string()),
        ("conclusion", pa.string()),
        ("accepted_steps", pa.list_(pa.string())),
        ("transcript", pa.string()),  # canonical JSON: every step, rating, feedback, model, prompt hash, per attempt
        ("rounds", pa.int32()),
        ("attempts", pa.int32()),
        ("llm_calls", pa.int32()),
        ("prompt_tokens", pa.int64()),
        ("completion_tokens", pa.int64()),
        *GEN_FIELDS,
    ]
)

# sft_examples: one row per verified first-person trace.
SFT_EXAMPLE_SCHEMA = pa.schema(
    [
        (RECORD_ID, pa.string()),
        (PARENT_IDS, pa.list_(pa.string())),  # [trace id]
        ("question_id", pa.string()),
        ("language", pa.string()),
        (
            "messages",
            MESSAGES_TYPE,
        ),  # system?, user (the open question), assistant (<think>…</think><answer>…</answer>)
        ("response", pa.string()),  # the assistant turn alone
        ("final_answer", pa.string()),
        ("n_tokens", pa.int32()),
        *GEN_FIELDS,
        ("ground_truth", pa.string()),  # appended: lets the sft_examples check re-verify final_answer on its own
    ]
)

# sft_stage3_mix / sft_stage1_mix / sft_stage2_mix: chat rows ready for TRL's SFTTrainer.
SFT_MIX_SCHEMA = pa.schema(
    [
        (RECORD_ID, pa.string()),
        (PARENT_IDS, pa.list_(pa.string())),
        ("messages", MESSAGES_TYPE),
        ("source", pa.string()),  # e.g. "citrus_s3:medqa_demo", "nonmedical:logic_demo", "instructions:<file>"
        ("category", pa.string()),  # e.g. "medical_hard", "medical_easy", "nonmedical", "instruction"
        ("n_tokens", pa.int32()),
    ]
)
