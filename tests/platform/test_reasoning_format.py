"""One think/answer rule (common.reasoning_format): every stage that checks the format agrees."""

import pandas as pd
import pyarrow as pa
import pytest

from citrus_assets.common.text.reasoning_format import has_tags, is_think_answer, parse_think_answer, think_answer
from citrus_assets.reasoning_data import chat
from citrus_assets.reasoning_data.mixes import checks as mix_checks
from citrus_assets.reasoning_data.mixes.stage3 import select_stage3
from citrus_assets.reasoning_data.traces import checks as trace_checks
from citrus_assets.reasoning_data.traces import sft_rewrite

UPPER = "<THINK>The chest pain radiates to the back, so I think of dissection.</THINK><ANSWER>B</ANSWER>"
LOWER = UPPER.replace("THINK", "think").replace("ANSWER", "answer")


@pytest.mark.parametrize(
    "text,ok",
    [
        (LOWER, True),
        ("  " + LOWER + "\n", True),
        (UPPER, False),
        ("<Think>a</Think><Answer>b</Answer>", False),
        ("<think>a</think>", False),
        ("<think> </think><answer>b</answer>", False),
        ("<think>a <THINK>b</THINK></think><answer>c</answer>", False),
        ("<think>a</think><answer>b</answer> trailing", False),
        ("<answer>b</answer><think>a</think>", False),
        (None, False),
    ],
)
def test_the_rule(text, ok):
    assert is_think_answer(text) is ok
    assert (parse_think_answer(text) is not None) is ok


def test_parse_and_build_round_trip():
    assert parse_think_answer(think_answer(" why ", " B ")) == ("why", "B")
    assert has_tags(UPPER) and has_tags(LOWER) and not has_tags("plain text")


def _sft_frame(response: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "response": [response],
            "ground_truth": ["B"],
            "language": ["en"],
            "messages": [
                [{"role": "user", "content": "<Question>q</Question>"}, {"role": "assistant", "content": response}]
            ],
        }
    )


def test_uppercase_tags_rejected_by_every_stage_alike():
    """Regression: <THINK>…</THINK><ANSWER>…</ANSWER> passed sft_examples' check (case-insensitive) and was
    quarantined by the stage-3 gate (case-sensitive). Now every stage applies the one rule."""
    verdicts = {}
    for text in (UPPER, LOWER):
        # 1. the SFT rewrite filter (what sft_examples keeps)
        rewrite_ok = sft_rewrite.parse_response(text) is not None
        # 2. the sft_examples blocking check's tag rule
        tags_rule = next(r for r in trace_checks.sft_rules if r.name == "tags_well_formed")
        check_ok = bool(list(tags_rule.derive(_sft_frame(text)))[0])
        # 3. the stage-3 selection (quarantines what is not the format)
        ex = {
            "record_id": "sft-1",
            "question_id": "q1",
            "messages": [{"role": "user", "content": "Which vessel?"}, {"role": "assistant", "content": text}],
        }
        examples = pa.Table.from_pylist([ex])
        difficulty = pa.Table.from_pylist(
            [],
            schema=pa.schema([("record_id", pa.string()), ("question_id", pa.string()), ("difficulty", pa.string())]),
        )
        sel = select_stage3(examples, difficulty, [], easy_share=1.0, nonmedical_ratio=0.0)
        stage3_ok = not sel.quarantine
        # 4. the mix gate's format rule, and the chat helpers
        mix_ok = bool(list(mix_checks.think_answer_format.derive(pd.DataFrame({"messages": [ex["messages"]]})))[0])
        verdicts[text] = {rewrite_ok, check_ok, stage3_ok, mix_ok, chat.is_think_answer(text)}
    assert verdicts[UPPER] == {False}
    assert verdicts[LOWER] == {True}


def test_wrap_reasoning_refuses_mixed_case_tags():
    with pytest.raises(chat.BadChat):
        chat.wrap_reasoning("<THINK>half a block")
    assert chat.wrap_reasoning("The sum is \\boxed{4}") == "<think>The sum is \\boxed{4}</think><answer>4</answer>"
