"""Answer extraction on tricky outputs, Wilson intervals, majority voting, prompts and the report tables."""

import math

import pyarrow as pa
import pytest

from citrus_assets.common.text.answers import extract_answer, is_correct
from citrus_assets.evaluation.models import EvalModelSpec, EvalModelsResource, ModelUnavailable, checkpoint_row
from citrus_assets.evaluation.predict import eval_messages, majority, predict, sampling_for
from citrus_assets.evaluation.registry import EVAL_ITEM_SCHEMA
from citrus_assets.evaluation.report import report_markdown, table4_md, table5_md
from citrus_assets.evaluation.scoring import score, wilson_interval
from resources.lake import Lake
from resources.llm import Generation

OPTS = {"A": "Aspirin", "B": "Heparin", "C": "Warfarin", "D": "Clopidogrel"}
TEN = {letter: f"option {letter}" for letter in "ABCDEFGHIJ"}
TWENTYONE = {letter: f"diagnosis {letter}" for letter in "ABCDEFGHIJKLMNOPQRSTU"}


@pytest.mark.parametrize(
    "text,options,expected",
    [
        ("<answer>A</answer> wait, let me reconsider <answer>C</answer>", OPTS, ("C",)),  # last block
        ("<think>maybe <answer>B</answer></think><answer>D. Clopidogrel</answer>", OPTS, ("D",)),
        ("<answer>B. Aspirin</answer>", OPTS, ("B",)),  # the letter, never A and B
        ("<answer>b</answer>", OPTS, ("B",)),
        ("<answer>(c) warfarin</answer>", OPTS, ("C",)),
        ("<answer>J</answer>", TEN, ("J",)),  # MMLU-Pro, 10 options
        ("<answer>J</answer>", OPTS, ()),  # outside a 4-option question
        ("<answer>U. diagnosis U</answer>", TWENTYONE, ("U",)),  # JMED, 21 options
        ("<answer>A, T</answer>", TWENTYONE, ("A", "T")),  # JMED, several correct
        ("I think it could be many things.", OPTS, ()),  # no answer
        ("<answer></answer>", OPTS, ()),
    ],
)
def test_extraction_on_tricky_outputs(text, options, expected):
    assert extract_answer(text, options).letters == expected


def test_no_answer_is_wrong():
    assert not is_correct(extract_answer("no idea", OPTS).letters, ["A"])


def test_wilson_interval_known_values():
    lo, hi = wilson_interval(8, 10)
    assert lo == pytest.approx(0.4902, abs=1e-4) and hi == pytest.approx(0.9433, abs=1e-4)
    assert wilson_interval(0, 10)[0] == 0.0 and wilson_interval(10, 10)[1] == 1.0
    assert wilson_interval(0, 0) == (0.0, 1.0)
    for k, n in [(1, 3), (50, 100), (999, 1000), (0, 1)]:
        lo, hi = wilson_interval(k, n)
        assert 0 <= lo <= k / n <= hi <= 1
    # narrower with more data
    assert (
        math.isclose(sum(wilson_interval(50, 100)), 1.0)
        and wilson_interval(500, 1000)[1] - wilson_interval(500, 1000)[0]
        < wilson_interval(50, 100)[1] - wilson_interval(50, 100)[0]
    )
    with pytest.raises(ValueError):
        wilson_interval(5, 4)


def test_majority_vote_and_spread():
    assert majority([("A",), ("B",), ("B",), ()]) == (("B",), 0.5, 2)
    assert majority([("A",), ("B",)]) == (("A",), 0.5, 2)  # tie -> earliest
    assert majority([(), ()]) == ((), 0.0, 0)


def _item(stem="Which drug?", context="", letters=("B",), n_opts=4):
    opts = [{"letter": letter, "text": f"text {letter}"} for letter in "ABCDEFGHIJ"[:n_opts]]
    return {
        "record_id": f"evalq-{stem}",
        "parent_ids": ["src"],
        "benchmark": "medqa",
        "question_id": "q-" + stem,
        "source_uri": "f",
        "source_locator": "line 1",
        "seed_set": "s",
        "source": "medqa",
        "split": "test",
        "language": "en",
        "stem": stem,
        "context": context,
        "options": opts,
        "answer_letters": list(letters),
        "meta": "{}",
    }


class FakeLLM:
    """Scripted outputs, the LLMResource surface (generate/render/model_id/model_revision)."""

    model_id, model_revision = "fake", "r1"

    def __init__(self, outputs):
        self.outputs, self.calls = outputs, 0

    def render(self, messages):
        return "\n".join(m["content"] for m in messages)

    def generate(self, prompts, params):
        self.calls += 1
        return [
            [Generation(self.outputs[i % len(self.outputs)][s], 10, 5, "stop", False, s) for s in range(params.n)]
            for i, _ in enumerate(prompts)
        ]


def test_predict_with_votes_and_one_batched_call():
    items = pa.Table.from_pylist(
        [_item("q1"), _item("q2", letters=("A",)), _item("q3", n_opts=10, letters=("J",))], schema=EVAL_ITEM_SCHEMA
    )
    llm = FakeLLM(
        [
            ["<answer>B</answer>", "<answer>C</answer>", "<answer>B</answer>"],
            ["nothing", "nothing", "nothing"],
            ["<answer>J</answer>", "<answer>j</answer>", "<answer>A</answer>"],
        ]
    )
    t = predict(items, llm, sampling_for(3, 32, 0.7, 1.0, 0), model_key="fake", prompt_style="citrus").to_pylist()
    assert llm.calls == 1
    assert [r["predicted_letters"] for r in t] == [["B"], [], ["J"]]
    assert [r["correct"] for r in t] == [True, False, True] and [r["no_answer"] for r in t] == [False, True, False]
    assert t[0]["vote_share"] == pytest.approx(2 / 3) and t[0]["distinct_answers"] == 2
    assert t[0]["sample_letters"] == ["B", "C", "B"] and t[2]["option_letters"] == list("ABCDEFGHIJ")
    s = score(pa.Table.from_pylist(t), benchmark="medqa", model="fake").to_pylist()[0]
    assert (s["n"], s["correct"], s["no_answer"]) == (3, 2, 1) and s["accuracy"] == pytest.approx(2 / 3)


def test_prompts_contain_question_context_and_options():
    item = _item("Is X linked to Y?", context="BACKGROUND: an abstract.")
    for style in ("citrus", "plain"):
        text = "\n".join(m["content"] for m in eval_messages(item, style))
        assert "Is X linked to Y?" in text and "BACKGROUND: an abstract." in text and "D. text D" in text
        assert "{" not in text
    assert "<Question>" in eval_messages(item, "citrus")[-1]["content"]
    assert eval_messages(item, "citrus")[0]["role"] == "system"


def test_model_registry_and_checkpoint_resolution(tmp_path):
    # checkpoint stages are evaluated by their own assets (stage_assets.py); as dynamic models only when asked
    default = EvalModelsResource(
        models={"gpt": EvalModelSpec(kind="openai", model="m", base_url="http://x/v1")}, cache_dir=str(tmp_path / "c")
    )
    assert set(default.specs()) == {"builtin", "gpt"}
    reg = EvalModelsResource(
        models={"gpt": EvalModelSpec(kind="openai", model="m", base_url="http://x/v1")},
        cache_dir=str(tmp_path / "c"),
        include_checkpoints=True,
    )
    assert {"builtin", "gpt", "sft_stage3", "rl"} <= set(reg.specs())
    assert reg.spec("rl").prompt_style == "citrus" and reg.spec("builtin").kind == "builtin"
    lake = Lake(str(tmp_path / "lake"))
    assert "rl" not in reg.available_keys(lake) and "gpt" in reg.available_keys(lake)
    with pytest.raises(ModelUnavailable, match="rl_checkpoint"):
        reg.resolve("rl", lake)
    with pytest.raises(ModelUnavailable):
        reg.spec("nope")
    with pytest.raises(ValueError):
        EvalModelsResource(models={"bad": EvalModelSpec(kind="openai", model="m")}).specs()
    model_dir = tmp_path / "ckpt"
    model_dir.mkdir()
    lake.write_asset(
        "rl_checkpoint",
        None,
        pa.Table.from_pylist(
            [{"record_id": "ckpt-1", "parent_ids": [], "model_path": str(model_dir), "weights_sha256": "abc"}]
        ),
    )
    assert checkpoint_row(lake, "rl_checkpoint")["model_path"] == str(model_dir)
    resolved = reg.resolve("rl", lake)
    assert (
        resolved.llm.model == str(model_dir) and resolved.llm.revision == "abc" and resolved.checkpoint_id == "ckpt-1"
    )
    assert "rl" in reg.available_keys(lake)


def _score(model, bench, k, n, stage=""):
    lo, hi = wilson_interval(k, n)
    return {
        "record_id": f"s-{model}-{bench}",
        "benchmark": bench,
        "model": model,
        "stage": stage,
        "n": n,
        "correct": k,
        "accuracy": k / n if n else None,
        "ci_low": lo,
        "ci_high": hi,
        "no_answer": 0,
        "truncated": 0,
    }


def test_report_tables():
    rows = [
        _score("builtin", "medqa", 2, 8, "base"),
        _score("builtin", "pubmedqa", 4, 8, "base"),
        _score("rl", "medqa", 6, 8, "rl"),
        _score("sft3", "medqa", 5, 8, "sft_stage3"),
        _score("gpt", "jmed", 0, 0),
    ]
    t4 = table4_md(rows)
    assert t4.splitlines()[0] == "| model | medqa | pubmedqa | jmed |"  # registry order of benchmarks
    assert "0.250 (" in t4 and "—" in t4  # an empty partition shows a dash
    t5 = table5_md(rows).splitlines()
    # always the six rows of the paper's Table 5 and a chance row; a stage with no score says so
    assert [ln.split(" | ")[0] for ln in t5[2:]] == [
        "| base",
        "| CPT",
        "| SFT-1",
        "| SFT-2",
        "| SFT-3",
        "| RL",
        "| chance",
    ]
    assert t5[3].startswith("| CPT | not evaluated") and "0.625" in t5[6] and "0.750" in t5[7]
    md = report_markdown(rows)
    assert "Table 4" in md and "Table 5" in md and "data:image/png;base64," in md
