"""Great Expectations checks of the evaluation assets (names are constants)."""

import json

from citrus_assets.evaluation.assets import eval_items, eval_predictions, eval_report, eval_scores
from quality import (
    RowRule,
    answer_letters_in_options,
    between,
    gx_asset_check,
    id_suite,
    not_null,
    row_count_between,
    values_in_set,
)

EVAL_ITEMS_VALID = "eval_items_valid"
EVAL_PREDICTIONS_VALID = "eval_predictions_valid"
EVAL_SCORES_VALID = "eval_scores_valid"
EVAL_REPORT_VALID = "eval_report_valid"


def _letters(v) -> list:
    return list(v) if v is not None else []


def _letters_within_options(df) -> list[bool]:
    return [set(_letters(p)) <= set(_letters(o)) for p, o in zip(df["predicted_letters"], df["option_letters"])]


def _prompt_has_question(df) -> list[bool]:
    """The stored prompt contains the item's stem (as is, or JSON-escaped for the openai rendering)."""
    out = []
    for prompt, stem in zip(df["prompt"], df["stem"]):
        if not isinstance(prompt, str) or not isinstance(stem, str) or "{question}" in prompt:
            out.append(False)
            continue
        s = stem.strip()
        out.append(s in prompt or json.dumps(s, ensure_ascii=False)[1:-1] in prompt)
    return out


letters_in_item_options = RowRule(
    name="predicted_letters_in_item_options",
    description="Every extracted letter is one of the item's own option letters (A-D for MedQA, A-J for MMLU-Pro...).",
    derive=_letters_within_options,
    columns=("predicted_letters", "option_letters"),
)
no_answer_consistent = RowRule(
    name="no_answer_iff_no_letters",
    description="no_answer is true exactly when no letter was extracted, and a no-answer is never correct.",
    derive=lambda df: [
        bool(na) == (len(_letters(p)) == 0) and not (na and c)
        for na, p, c in zip(df["no_answer"], df["predicted_letters"], df["correct"])
    ],
    columns=("no_answer", "predicted_letters", "correct"),
)
ci_contains_accuracy = RowRule(
    name="ci_contains_accuracy",
    description="0 <= ci_low <= accuracy <= ci_high <= 1 (an empty partition has no accuracy and CI [0, 1]).",
    derive=lambda df: [
        (a != a or a is None or lo - 1e-12 <= a <= hi + 1e-12) and 0 <= lo <= hi <= 1
        for a, lo, hi in zip(df["accuracy"], df["ci_low"], df["ci_high"])
    ],
    columns=("accuracy", "ci_low", "ci_high"),
)

items_check = gx_asset_check(
    asset=eval_items,
    name=EVAL_ITEMS_VALID,
    blocking=True,
    description="At least one item (an empty partition fails: no benchmark file in any data dir, or nothing "
    "readable; the bundled sample gives every benchmark items), unique ids, non-empty stems, answer letters "
    "among the options, the data dir and file of every item recorded.",
    suite=lambda: (
        row_count_between(min=1)
        + id_suite()
        + id_suite("question_id")
        + not_null(["stem", "benchmark", "data_dir", "benchmark_file"])
    ),
    rules=[answer_letters_in_options("answer_letters", "options")],
)


def predictions_check_for(asset):
    """The predictions check of ``asset`` (eval_predictions, or a stage's eval_predictions_<stage>)."""
    return gx_asset_check(
        asset=asset,
        name=EVAL_PREDICTIONS_VALID,
        blocking=True,
        description="Unique ids (one per item), extracted letters within the item's options, the prompt contains "
        "its question, correct and no_answer are booleans, the model is recorded.",
        suite=lambda: (
            id_suite()
            + id_suite("item_id")
            + not_null(["correct", "no_answer", "prompt", "gen_model_id"])
            + values_in_set("correct", [True, False])
            + values_in_set("no_answer", [True, False])
            + values_in_set("extraction", ["letter", "letter_list", "option_text", "none"])
        ),
        rules=[
            letters_in_item_options,
            no_answer_consistent,
            RowRule(
                name="prompt_contains_question",
                description="The stored (rendered) prompt contains the question.",
                derive=_prompt_has_question,
                columns=("prompt", "stem"),
            ),
        ],
    )


def scores_check_for(asset):
    """The scores check of ``asset`` (eval_scores, or a stage's eval_scores_<stage>)."""
    return gx_asset_check(
        asset=asset,
        name=EVAL_SCORES_VALID,
        blocking=False,
        description="0 <= accuracy <= 1, the 95% CI contains the accuracy, counts are consistent, the chance "
        "level is a probability.",
        suite=lambda: (
            id_suite()
            + between("accuracy", 0, 1)
            + between("ci_low", 0, 1)
            + between("ci_high", 0, 1)
            + between("chance", 0, 1)
            + not_null(["n", "no_answer", "benchmark", "model"])
        ),
        rules=[
            ci_contains_accuracy,
            RowRule(
                name="counts_consistent",
                description="0 <= no_answer <= n and 0 <= correct <= n - no_answer.",
                derive=lambda df: [
                    0 <= na <= n and 0 <= c <= n - na for n, na, c in zip(df["n"], df["no_answer"], df["correct"])
                ],
                columns=("n", "no_answer", "correct"),
            ),
        ],
    )


predictions_check = predictions_check_for(eval_predictions)
scores_check = scores_check_for(eval_scores)

report_check = gx_asset_check(
    asset=eval_report,
    name=EVAL_REPORT_VALID,
    blocking=False,
    description="One row per scored benchmark x model, accuracies in [0, 1] inside their 95% CI, no cell twice.",
    suite=lambda: (
        id_suite() + between("accuracy", 0, 1) + not_null(["benchmark", "model", "n", "cell"]) + between("n", 1, None)
    ),
    rules=[
        RowRule(
            name="ci_brackets_accuracy",
            description="ci_low <= accuracy <= ci_high.",
            derive=lambda df: [
                lo - 1e-9 <= a <= hi + 1e-9 for a, lo, hi in zip(df["accuracy"], df["ci_low"], df["ci_high"])
            ],
            columns=("accuracy", "ci_low", "ci_high"),
        ),
        RowRule(
            name="one_row_per_cell",
            description="No benchmark x model pair appears twice.",
            derive=lambda df: ~df.duplicated(subset=["benchmark", "model"], keep=False),
            columns=("benchmark", "model"),
        ),
    ],
)

checks = [items_check, predictions_check, scores_check, report_check]
