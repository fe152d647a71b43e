"""Great Expectations checks of the textbook assets (names are constants)."""

import warnings

import dagster as dg
import pyarrow as pa

from citrus_assets.cpt_corpus.textbooks.assets import textbook_batches, textbook_chunks, textbook_questions
from quality import RowRule, gx_asset_check, id_suite, not_null
from quality.checks import gx_check_result
from quality.suites import between, value_lengths_between

TEXTBOOK_CHUNKS_VALID = "textbook_chunks_valid"
TEXTBOOK_QUESTIONS_VALID = "textbook_questions_valid"


def _words_match(df) -> list[bool]:
    return [isinstance(t, str) and len(t.split()) == n for t, n in zip(df["text"], df["n_words"])]


def _overlap_bounded(df) -> list[bool]:
    return [0 <= o <= n // 2 for o, n in zip(df["overlap_words"], df["n_words"])]


chunks_check = gx_asset_check(
    asset=textbook_chunks,
    name=TEXTBOOK_CHUNKS_VALID,
    blocking=True,
    description="Unique ids, non-empty text with a heading path and locator, at most the configured max_words "
    "words, overlap at most half the chunk.",
    suite=lambda: (
        id_suite()
        + not_null(["text", "heading_path", "source_uri", "source_locator"])
        + value_lengths_between("text", 1, None)
        + between("n_words", 1, None)
    ),
    rules=[
        RowRule(
            name="within_max_words",
            description="n_words <= the configured max_words of the run.",
            derive=lambda df: [0 < n <= m for n, m in zip(df["n_words"], df["max_words"])],
            columns=("n_words", "max_words"),
        ),
        RowRule(
            name="n_words_matches_text",
            description="n_words is the word count of text.",
            derive=_words_match,
            columns=("text", "n_words"),
        ),
        RowRule(
            name="overlap_at_most_half",
            description="Words repeated from the previous chunk <= half the chunk.",
            derive=_overlap_bounded,
            columns=("overlap_words", "n_words"),
        ),
    ],
)


def _with_chunks(questions: pa.Table, chunks: pa.Table) -> pa.Table:
    """Questions with ``_chunk_text`` (null when the parent chunk is missing) for the row rules."""
    text = dict(zip(chunks["record_id"].to_pylist(), chunks["text"].to_pylist()))
    parents = questions["parent_ids"].to_pylist()
    looked_up = [text.get(p[0]) if p and len(p) == 1 else None for p in parents]
    return questions.append_column("_chunk_text", pa.array(looked_up, pa.string()))


def _prompt_has_chunk(df) -> list[bool]:
    return [
        isinstance(p, str) and isinstance(c, str) and c.strip() in p and "{chunk}" not in p and "{heading}" not in p
        for p, c in zip(df["prompt"], df["_chunk_text"])
    ]


QUESTION_RULES = [
    RowRule(
        name="parent_chunk_present",
        description="The one parent id is a chunk of the same partition.",
        derive=lambda df: [isinstance(c, str) for c in df["_chunk_text"]],
        columns=("_chunk_text",),
    ),
    RowRule(
        name="prompt_contains_chunk",
        description="The stored prompt is rendered and contains its chunk's text.",
        derive=_prompt_has_chunk,
        columns=("prompt", "_chunk_text"),
    ),
]


def question_suite() -> list:
    return (
        id_suite()
        + not_null(["question", "answer", "prompt", "chunk_id", "gen_model_id", "gen_prompt_hash"])
        + value_lengths_between("question", 1, None)
        + value_lengths_between("answer", 1, None)
    )


with warnings.catch_warnings():
    warnings.simplefilter("ignore", dg.PreviewWarning)

    @dg.asset_check(
        asset=textbook_questions,
        name=TEXTBOOK_QUESTIONS_VALID,
        blocking=True,
        partitions_def=textbook_batches,
        additional_ins={"textbook_chunks": dg.AssetIn("textbook_chunks")},
        description="Unique ids, non-empty question and answer, the parent chunk present in textbook_chunks, "
        "the stored prompt rendered with its chunk's text.",
    )
    def textbook_questions_valid(textbook_questions: pa.Table, textbook_chunks: pa.Table) -> dg.AssetCheckResult:
        return gx_check_result(
            _with_chunks(textbook_questions, textbook_chunks),
            suite=question_suite,
            rules=QUESTION_RULES,
            blocking=True,
            suite_name=f"textbook_questions.{TEXTBOOK_QUESTIONS_VALID}",
        )


checks = [chunks_check, textbook_questions_valid]
