"""Great Expectations checks of the instruction data and the SFT mixes (names are constants)."""

from collections import Counter

from citrus_assets.common.text.reasoning_format import is_think_answer
from citrus_assets.reasoning_data.chat import ASSISTANT, is_well_formed, prompt_key
from citrus_assets.reasoning_data.instructions.assets import instruction_examples
from citrus_assets.reasoning_data.mixes.assets import sft_stage1_mix, sft_stage2_mix, sft_stage3_mix
from citrus_assets.reasoning_data.mixes.mixing import INSTRUCTION, MEDICAL_EASY, MEDICAL_HARD, NONMEDICAL
from quality import RowRule, gx_asset_check, id_suite, not_null, values_in_set
from quality.suites import between

INSTRUCTION_EXAMPLES_VALID = "instruction_examples_valid"
SFT_STAGE1_MIX_VALID = "sft_stage1_mix_valid"
SFT_STAGE2_MIX_VALID = "sft_stage2_mix_valid"
SFT_STAGE3_MIX_VALID = "sft_stage3_mix_valid"
STAGE3_CATEGORIES = (MEDICAL_HARD, MEDICAL_EASY, NONMEDICAL)


def _turns(messages) -> list[dict]:
    return [dict(m) for m in (messages if messages is not None else [])]


messages_well_formed = RowRule(
    name="messages_well_formed",
    description="Roles in {system, user, assistant}, optional leading system turn, user/assistant alternating, "
    "last turn assistant, no empty content.",
    derive=lambda df: [is_well_formed(_turns(m)) for m in df["messages"]],
    columns=("messages",),
)


def _unique_prompts(df) -> list[bool]:
    keys = [prompt_key(_turns(m)) if is_well_formed(_turns(m)) else None for m in df["messages"]]
    counts = Counter(keys)
    return [k is not None and counts[k] == 1 for k in keys]


unique_user_prompts = RowRule(
    name="unique_user_prompts",
    description="No two rows of the mix ask the same thing (normalized user turns).",
    derive=_unique_prompts,
    columns=("messages",),
)


def _reasoning_format(messages) -> bool:
    turns = _turns(messages)
    return bool(turns) and turns[-1].get("role") == ASSISTANT and is_think_answer(turns[-1].get("content"))


think_answer_format = RowRule(
    name="think_answer_format",
    description="The final assistant turn is exactly <think>…</think><answer>…</answer>, both non-empty.",
    derive=lambda df: [_reasoning_format(m) for m in df["messages"]],
    columns=("messages",),
)


def _mix_suite(categories):
    return lambda: (
        id_suite()
        + not_null(["messages", "source", "category", "n_tokens"])
        + values_in_set("category", list(categories))
        + between("n_tokens", 1, None)
    )


instruction_examples_check = gx_asset_check(
    asset=instruction_examples,
    name=INSTRUCTION_EXAMPLES_VALID,
    blocking=True,
    description="Unique ids and conversation keys, well-formed chat messages, at least one user turn.",
    suite=lambda: (
        id_suite()
        + id_suite("conversation_key")
        + not_null(["messages", "instruction_set"])
        + values_in_set("format", ["messages", "conversations"])
        + between("n_user_turns", 1, None)
    ),
    rules=[messages_well_formed],
)

stage1_check, stage2_check = (
    gx_asset_check(
        asset=asset,
        name=name,
        blocking=True,
        description="Unique ids, well-formed chat messages, no repeated user prompt, category 'instruction'.",
        suite=_mix_suite([INSTRUCTION]),
        rules=[messages_well_formed, unique_user_prompts],
    )
    for asset, name in ((sft_stage1_mix, SFT_STAGE1_MIX_VALID), (sft_stage2_mix, SFT_STAGE2_MIX_VALID))
)

stage3_check = gx_asset_check(
    asset=sft_stage3_mix,
    name=SFT_STAGE3_MIX_VALID,
    blocking=True,
    description="Unique ids, well-formed chat messages, no repeated user prompt, final turn in the "
    "<think>/<answer> format, category in {medical_hard, medical_easy, nonmedical}.",
    suite=_mix_suite(STAGE3_CATEGORIES),
    rules=[messages_well_formed, unique_user_prompts, think_answer_format],
)

checks = [instruction_examples_check, stage1_check, stage2_check, stage3_check]
