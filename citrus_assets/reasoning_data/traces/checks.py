"""Great Expectations checks of ``reasoning_traces`` and ``sft_examples`` (names are constants)."""

import json

from citrus_assets.common.decontamination.leakage import find_process_leaks
from citrus_assets.common.text.language import detect_language
from citrus_assets.common.text.reasoning_format import parse_think_answer as parse_response
from citrus_assets.reasoning_data.traces import dual_roles as R
from citrus_assets.reasoning_data.traces.assets import reasoning_traces
from citrus_assets.reasoning_data.traces.sft_assets import sft_examples
from quality import RowRule, gx_asset_check, id_suite, not_null
from quality.suites import between, value_lengths_between

TRACES_VALID = "traces_valid"
SFT_EXAMPLES_VALID = "sft_examples_valid"


def _recorded_verified(transcript) -> bool:
    try:
        return bool(json.loads(transcript)["attempts"][-1]["verification"]["correct"])
    except (TypeError, ValueError, KeyError, IndexError):
        return False


def _names_truth(text, truth) -> bool:
    """Independent re-check: the answer span names the ground truth (open-answer form of the shared rule)."""
    return isinstance(text, str) and isinstance(truth, str) and R.verify(text, [], [], truth).correct


trace_verified = RowRule(
    name="conclusion_verified",
    description="The loop recorded a verified conclusion, and the conclusion's answer names the ground truth.",
    derive=lambda df: [
        _recorded_verified(t) and _names_truth(c, g)
        for t, c, g in zip(df["transcript"], df["conclusion"], df["ground_truth"])
    ],
    columns=("transcript", "conclusion", "ground_truth"),
)

traces_check = gx_asset_check(
    asset=reasoning_traces,
    name=TRACES_VALID,
    blocking=True,
    description="Unique ids, one parent, non-empty conclusion and transcript, conclusion verified, counts sane.",
    suite=lambda: (
        id_suite()
        + not_null(["question_id", "open_question", "conclusion", "transcript", "gen_model_id"])
        + value_lengths_between("conclusion", 1, None)
        + between("rounds", 0, None)
        + between("attempts", 1, None)
        + between("llm_calls", 1, None)
    ),
    rules=[trace_verified],
    streamed=True,
)


def _user_has_question(messages) -> bool:
    """The stored user turn is rendered: a non-empty <Question> block, no left-over placeholder."""
    msgs = list(messages) if messages is not None else []
    user = next((m["content"] for m in msgs if m["role"] == "user"), None)
    if not isinstance(user, str) or "{question}" in user:
        return False
    start, end = user.find("<Question>"), user.find("</Question>")
    return 0 <= start < end and bool(user[start + len("<Question>") : end].strip())


def _language_consistent(language, response) -> bool:
    """The <think> text is in the question's language (``language`` was detected on the question)."""
    parsed = parse_response(response)
    return parsed is not None and detect_language(parsed[0]) == language


sft_rules = [
    RowRule(
        name="tags_well_formed",
        description="Exactly <think>…</think><answer>…</answer>, both non-empty.",
        derive=lambda df: [parse_response(r) is not None for r in df["response"]],
        columns=("response",),
    ),
    RowRule(
        name="answer_verified",
        description="The <answer> names the ground truth (shared answer rule).",
        derive=lambda df: [_names_truth(r, g) for r, g in zip(df["response"], df["ground_truth"])],
        columns=("response", "ground_truth"),
    ),
    RowRule(
        name="no_leak_phrases",
        description="No reviewer / feedback / given-answer / ground-truth phrase.",
        derive=lambda df: [isinstance(r, str) and not find_process_leaks(r) for r in df["response"]],
        columns=("response",),
    ),
    RowRule(
        name="language_consistent",
        description="The trace is in the language of its question.",
        derive=lambda df: [_language_consistent(g, r) for g, r in zip(df["language"], df["response"])],
        columns=("language", "response"),
    ),
    RowRule(
        name="prompt_contains_question",
        description="The stored user turn contains its (rendered) question.",
        derive=lambda df: [_user_has_question(m) for m in df["messages"]],
        columns=("messages",),
    ),
    RowRule(
        name="assistant_is_response",
        description="The conversation's last turn is the stored response.",
        derive=lambda df: [
            list(m)[-1]["role"] == "assistant" and list(m)[-1]["content"] == r
            for m, r in zip(df["messages"], df["response"])
        ],
        columns=("messages", "response"),
    ),
]

sft_check = gx_asset_check(
    asset=sft_examples,
    name=SFT_EXAMPLES_VALID,
    blocking=True,
    description="Well-formed <think>/<answer>, answer verified, no leak phrases, language consistent, prompt rendered.",
    suite=lambda: (
        id_suite()
        + not_null(["question_id", "response", "final_answer", "gen_model_id"])
        + between("n_tokens", 1, None)
    ),
    rules=sft_rules,
    streamed=True,
)

checks = [traces_check, sft_check]
