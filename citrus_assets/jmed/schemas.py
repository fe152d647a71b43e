"""Column contracts of the JMED-builder assets."""

from __future__ import annotations

import pyarrow as pa

from citrus_assets.jmed.consultations.dialogues import DIALOGUE_SCHEMA
from resources.lineage.schema import GEN_FIELDS, PARENT_IDS, RECORD_ID

OPTION = pa.struct([("letter", pa.string()), ("text", pa.string())])
_ITEM = [
    ("dialogue_id", pa.string()),
    ("month", pa.string()),
    ("language", pa.string()),
    ("age", pa.int64()),
    ("sex", pa.string()),
    ("department", pa.string()),
]
_GEN = [("prompt", pa.string()), ("response", pa.string()), *GEN_FIELDS, ("cached", pa.bool_())]

DEID_SCHEMA = pa.schema([*DIALOGUE_SCHEMA, ("pii_counts", pa.string()), ("pii_total", pa.int64())])

EMR_SCHEMA = pa.schema(
    [
        (RECORD_ID, pa.string()),
        (PARENT_IDS, pa.list_(pa.string())),
        *_ITEM,
        ("chief_complaint", pa.string()),
        ("present_illness", pa.string()),
        ("history", pa.string()),
        ("exam_results", pa.string()),
        ("diagnosis", pa.string()),
        ("diagnosis_source", pa.string()),
        ("field_sources", pa.string()),
        ("llm_json_ok", pa.bool_()),
        *_GEN,
    ]
)

QUESTION_SCHEMA = pa.schema(
    [
        (RECORD_ID, pa.string()),
        (PARENT_IDS, pa.list_(pa.string())),
        *_ITEM,
        ("diagnosis", pa.string()),
        ("question", pa.string()),
        ("question_method", pa.string()),
        ("rejections", pa.list_(pa.string())),
        *_GEN,
    ]
)

OPTIONS_SCHEMA = pa.schema(
    [
        (RECORD_ID, pa.string()),
        (PARENT_IDS, pa.list_(pa.string())),
        *_ITEM,
        ("diagnosis", pa.string()),
        ("question", pa.string()),
        ("options", pa.list_(OPTION)),
        ("option_codes", pa.list_(pa.string())),
        ("answer_letters", pa.list_(pa.string())),
        ("answer_codes", pa.list_(pa.string())),
        ("normalization", pa.string()),
    ]
)

TIERS = ("primary", "secondary", "chief")
_TIER_COLS = [(f"{t}_{c}", pa.string()) for t in TIERS for c in ("verdict", "reviewer", "reviewed_at", "comment")]
REVIEW_SCHEMA = pa.schema(
    [
        *OPTIONS_SCHEMA,
        ("auto_problems", pa.list_(pa.string())),
        *_TIER_COLS,
        ("status", pa.string()),
        ("approved", pa.bool_()),
    ]
)

BENCHMARK_SCHEMA = pa.schema(
    [
        (RECORD_ID, pa.string()),
        (PARENT_IDS, pa.list_(pa.string())),
        ("id", pa.string()),
        ("department", pa.string()),
        ("question", pa.string()),
        ("options", pa.list_(OPTION)),
        ("answer", pa.list_(pa.string())),
        ("month", pa.string()),
        ("language", pa.string()),
        ("age", pa.int64()),
        ("sex", pa.string()),
        ("tiers_approved", pa.int64()),
    ]
)
