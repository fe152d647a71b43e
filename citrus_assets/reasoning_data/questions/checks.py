"""Great Expectations checks of question_difficulty and open_questions (names are constants)."""

import json

from citrus_assets.common.text.language import detect_language
from citrus_assets.reasoning_data.questions.assets import open_questions, question_difficulty
from citrus_assets.reasoning_data.questions.open_rules import gives_answer_away, lists_options, lost_numbers
from citrus_assets.reasoning_data.schemas import EASY, HARD
from quality import RowRule, gx_asset_check, id_suite, not_null, values_in_set
from quality.suites import value_lengths_between

DIFFICULTY_VALID = "question_difficulty_valid"
OPEN_QUESTIONS_VALID = "open_questions_valid"


def _list(v) -> list:
    return [] if v is None else list(v)


judges_aligned = RowRule(
    name="judges_aligned",
    description="judges and judges_correct have the same length (one verdict per judge).",
    derive=lambda df: [len(_list(a)) == len(_list(b)) for a, b in zip(df["judges"], df["judges_correct"])],
    columns=("judges", "judges_correct"),
)

difficulty_check = gx_asset_check(
    asset=question_difficulty,
    name=DIFFICULTY_VALID,
    blocking=True,
    description="Unique ids, one label per question, easy/hard only, judges aligned with their verdicts.",
    suite=lambda: id_suite() + id_suite("question_id") + not_null(["rule"]) + values_in_set("difficulty", [EASY, HARD]),
    rules=[judges_aligned],
    streamed=True,
)


def _opts(v) -> list[dict]:
    return [dict(o) for o in _list(v)]


def _rule_rows(df, test) -> list[bool]:
    return [
        test(c, o, _opts(opts), [str(x) for x in _list(letters)], lang)
        for c, o, opts, letters, lang in zip(
            df["closed_stem"], df["open_question"], df["options"], df["answer_letters"], df["language"]
        )
    ]


_COLS = ("closed_stem", "open_question", "options", "answer_letters", "language")


# Only the part of the validator each rule needs (the whole ``check_rewrite`` twice per row cost 66 s at 50K).
# An empty rewrite is ``["empty"]`` to the validator, never a lost number or a give-away.
def _no_give_away(closed, open_, opts, letters, lang) -> bool:
    return not (open_ or "").strip() or not gives_answer_away(closed, open_, opts, letters)


def _numbers_kept(closed, open_, opts, letters, lang) -> bool:
    return not (open_ or "").strip() or not lost_numbers(closed, open_)


def _same_language(closed, open_, opts, letters, lang) -> bool:
    return lang not in ("en", "zh") or detect_language(open_) == lang


def _prompt_has_question(method, prompt, closed) -> bool:
    """LLM rewrites store the rendered prompt, which contains the question's stem (the tail of closed_stem)."""
    if method != "llm":
        return method == "rule" and prompt == ""
    stem = (closed or "").split("\n\n")[-1].strip()
    if not isinstance(prompt, str) or not stem or "{question}" in prompt:
        return False
    return stem in prompt or json.dumps(stem, ensure_ascii=False)[1:-1] in prompt  # chat template or JSON


open_rules = [
    RowRule(
        "no_options_listed",
        lambda df: [not lists_options(t) for t in df["open_question"]],
        'No option lines ("A. …", "(B)", "C)") in the open question.',
        ("open_question",),
    ),
    RowRule(
        "numbers_kept",
        lambda df: _rule_rows(df, _numbers_kept),
        "Every number (with its short unit) of the closed question is in the open one.",
        _COLS,
    ),
    RowRule(
        "no_answer_give_away",
        lambda df: _rule_rows(df, _no_give_away),
        "The correct option's text is not in the open question unless the closed one had it.",
        _COLS,
    ),
    RowRule(
        "language_kept",
        lambda df: _rule_rows(df, _same_language),
        "The open question is in the seed's language.",
        _COLS,
    ),
    RowRule(
        "prompt_contains_question",
        lambda df: [
            _prompt_has_question(m, p, c) for m, p, c in zip(df["rewrite_method"], df["prompt"], df["closed_stem"])
        ],
        "LLM rewrites store the rendered prompt with the question in it; rule rewrites store none.",
        ("rewrite_method", "prompt", "closed_stem"),
    ),
]

open_questions_check = gx_asset_check(
    asset=open_questions,
    name=OPEN_QUESTIONS_VALID,
    blocking=True,
    description="Unique ids, non-empty ground truth, known method, and the rewrite validator on every row.",
    suite=lambda: (
        id_suite()
        + id_suite("question_id")
        + not_null(["open_question", "ground_truth"])
        + value_lengths_between("ground_truth", 1, None)
        + value_lengths_between("open_question", 1, None)
        + values_in_set("rewrite_method", ["llm", "rule"])
    ),
    rules=open_rules,
    streamed=True,
)

checks = [difficulty_check, open_questions_check]
