"""Great Expectations checks of the reasoning-data assets (names are constants)."""

from citrus_assets.reasoning_data.seeds.assets import judge_answers, question_seeds
from quality import RowRule, answer_letters_in_options, gx_asset_check, id_suite, not_null, values_in_set
from quality.suites import value_lengths_between

SEEDS_VALID = "seeds_valid"
JUDGE_ANSWERS_VALID = "judge_answers_valid"


seeds_check = gx_asset_check(
    asset=question_seeds,
    name=SEEDS_VALID,
    blocking=True,
    description="Non-null unique ids, non-empty stems, known language, answer letters among the options.",
    suite=lambda: (
        id_suite()
        + not_null(["stem", "source", "source_uri"])
        + value_lengths_between("stem", 1, None)
        + values_in_set("language", ["en", "zh", "und"])
    ),
    rules=[answer_letters_in_options("answer_letters", "options")],
    streamed=True,
)

predicted_in_range = RowRule(
    name="predicted_letters_valid",
    description="Every extracted letter is an option letter of a question of at most 21 options (A-U).",
    derive=lambda df: [
        all(
            isinstance(letter, str) and len(letter) == 1 and "A" <= letter <= "U"
            for letter in (v if v is not None else [])
        )
        for v in df["predicted_letters"]
    ],
    columns=("predicted_letters",),
)


def _prompt_has_question(prompt) -> bool:
    """The stored prompt is rendered: a non-empty <Question> block and no left-over {placeholder}."""
    if not isinstance(prompt, str) or "{question}" in prompt or "{options}" in prompt:
        return False
    start, end = prompt.find("<Question>"), prompt.find("</Question>")
    return 0 <= start < end and bool(prompt[start + len("<Question>") : end].strip())


prompt_rendered = RowRule(
    name="prompt_contains_question",
    description="Every stored prompt contains its question (the reference code stored a raw template).",
    derive=lambda df: [_prompt_has_question(p) for p in df["prompt"]],
    columns=("prompt",),
)

judge_check = gx_asset_check(
    asset=judge_answers,
    name=JUDGE_ANSWERS_VALID,
    blocking=False,
    description="Unique ids, one parent each, model recorded, extracted letters well-formed.",
    suite=lambda: (
        id_suite()
        + not_null(["question_id", "gen_model_id", "gen_prompt_hash", "prompt", "response"])
        + values_in_set("extraction", ["letter", "letter_list", "option_text", "none"])
    ),
    rules=[predicted_in_range, prompt_rendered],
    streamed=True,
)

checks = [seeds_check, judge_check]
