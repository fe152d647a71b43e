"""SFT mix logic: non-medical formats, the reasoning-format rule, easy-share/ratio selection, stage rule."""

import json

import pyarrow as pa
import pytest

from citrus_assets.reasoning_data.chat import BadChat, is_think_answer, last_boxed, wrap_reasoning
from citrus_assets.reasoning_data.instructions.instruction_files import load_instruction_file
from citrus_assets.reasoning_data.mixes.curriculum import StageRule, assign_stage, build_stage_mix
from citrus_assets.reasoning_data.mixes.mixing import share_count, take, token_counts
from citrus_assets.reasoning_data.mixes.nonmedical import load_nonmedical, nonmedical_dir
from citrus_assets.reasoning_data.mixes.stage3 import select_stage3
from citrus_assets.reasoning_data.schemas import DIFFICULTY_SCHEMA, EASY, HARD, SFT_EXAMPLE_SCHEMA


class WordTokenizer:
    """One token per whitespace-separated word: token thresholds are easy to reason about."""

    def __call__(self, texts, add_special_tokens=False):
        return {"input_ids": [t.split() for t in texts]}


def test_reasoning_format_rule():
    assert is_think_answer("<think>a</think><answer>b</answer>")
    assert is_think_answer(" <think>\nsteps\n</think>\n<answer>42</answer>\n")
    for bad in [
        "<think></think><answer>b</answer>",
        "<think>a</think>",
        "x<think>a</think><answer>b</answer>",
        "<think>a<think>b</think><answer>c</answer>",
        "<answer>b</answer><think>a</think>",
        None,
    ]:
        assert not is_think_answer(bad), bad
    assert last_boxed(r"so \boxed{\frac{1}{2}} then \boxed{7}") == "7"
    assert last_boxed(r"x = \boxed{\frac{1}{2}}") == r"\frac{1}{2}"
    assert (
        wrap_reasoning("Add them: 2 + 2 = 4.\n\\boxed{4}")
        == "<think>Add them: 2 + 2 = 4.\n\\boxed{4}</think><answer>4</answer>"
    )
    assert (
        wrap_reasoning("Half of 10 is 5.\nFinal answer: 5")
        == "<think>Half of 10 is 5.\nFinal answer: 5</think><answer>5</answer>"
    )
    with pytest.raises(BadChat, match="malformed"):
        wrap_reasoning("<think>unclosed<answer>3</answer>")


def test_nonmedical_formats_and_quarantine(tmp_path, monkeypatch):
    rows = [
        {"problem": "What is 2 + 3?", "solution": "Two plus three is five.", "answer": 5},
        {"question": "Is 9 odd?", "solution": "9 = 2 × 4 + 1.", "answer": "Yes"},
        {
            "messages": [
                {"role": "user", "content": "Double 21."},
                {"role": "assistant", "content": "21 × 2 = 42\n\\boxed{42}"},
            ]
        },
        {"problem": "What is 2 + 3?", "solution": "Two plus three is five.", "answer": "5"},  # duplicate
        {"problem": "No solution", "answer": "1"},
        {"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": "<think>open"}]},
        {"text": "plain"},
    ]
    lines = [json.dumps(r).encode() for r in rows] + [b"{broken", b"\xff\xfe"]
    (tmp_path / "math.jsonl").write_bytes(b"\n".join(lines))
    (tmp_path / "notes.txt").write_text("ignored: not a JSONL file")
    result = load_nonmedical(tmp_path)
    assert result.files == ["math.jsonl"]
    assert len(result.rows) == 3 and result.duplicates == 1
    first = result.rows[0]["messages"]
    assert first == [
        {"role": "user", "content": "What is 2 + 3?"},
        {"role": "assistant", "content": "<think>Two plus three is five.</think><answer>5</answer>"},
    ]
    assert result.rows[2]["messages"][-1]["content"].endswith("<answer>42</answer>")
    assert all(r["category"] == "nonmedical" and r["source"] == "nonmedical:math" for r in result.rows)
    reasons = {q.source_locator: q.reason for q in result.quarantine}
    assert reasons == {
        "math.jsonl line 5": "empty or missing solution",
        "math.jsonl line 6": "malformed <think>/<answer> tags",
        "math.jsonl line 7": "neither 'messages' nor 'problem'/'solution'/'answer'",
        "math.jsonl line 8": reasons["math.jsonl line 8"],
        "math.jsonl line 9": reasons["math.jsonl line 9"],
    }
    assert reasons["math.jsonl line 8"].startswith("bad JSON") and reasons["math.jsonl line 9"].startswith("not UTF-8")
    monkeypatch.setenv("CITRUS_NONMEDICAL_DIR", str(tmp_path))
    assert nonmedical_dir() == tmp_path and str(nonmedical_dir("elsewhere")) == "elsewhere"


def test_bundled_reasoning_sample_is_clean(repo_root):
    result = load_nonmedical(repo_root / "sample" / "reasoning")
    assert len(result.rows) >= 10 and not result.quarantine and not result.duplicates
    assert all(is_think_answer(r["messages"][-1]["content"]) for r in result.rows)


def test_take_is_deterministic_and_exact():
    ids = [f"id-{i}" for i in range(100)]
    first = take(ids, 20, seed=0)
    assert len(first) == 20 and take(list(reversed(ids)), 20, seed=0) == first
    assert take(ids, 20, seed=1) != first
    assert set(take(ids + ["id-new"], 20, seed=0)) - set(first) <= {"id-new"}  # stable under additions
    assert take(ids, 500) == take(ids, 100) and len(take(ids, 500)) == 100
    assert (share_count(10, 0.2), share_count(7, 0.25), share_count(3, 1.0), share_count(3, 0.0)) == (2, 2, 3, 0)


def _example(i: int, qid: str, assistant: str | None = None) -> dict:
    return {
        "record_id": f"sftex-{i:020x}",
        "parent_ids": [f"trace-{i}"],
        "question_id": qid,
        "language": "en",
        "messages": [
            {"role": "user", "content": f"Case {i}: what is the most likely diagnosis?"},
            {"role": "assistant", "content": assistant or f"<think>reasoning {i}</think><answer>dx {i}</answer>"},
        ],
        "response": "",
        "final_answer": f"dx {i}",
        "n_tokens": 10,
    }


def _label(qid: str, label: str) -> dict:
    return {
        "record_id": f"diff-{qid}",
        "parent_ids": [qid],
        "question_id": qid,
        "difficulty": label,
        "rule": "all_correct",
        "judges": ["m"],
        "judges_correct": [label == EASY],
    }


def _stage3_inputs():
    examples = [_example(i, f"q{i}") for i in range(30)]
    examples.append(_example(30, "q-unlabeled"))
    examples.append(_example(31, "q31", assistant="plain text, no tags"))
    labels = [_label(f"q{i}", HARD if i < 10 else EASY) for i in range(32) if i != 30]
    labels.append(_label("q0", EASY))  # conflicting label from another seed set: hard wins
    gen = {f.name: None for f in SFT_EXAMPLE_SCHEMA if f.name.startswith("gen_")}
    return (
        pa.Table.from_pylist([dict(e, **gen) for e in examples], schema=SFT_EXAMPLE_SCHEMA),
        pa.Table.from_pylist(labels, schema=DIFFICULTY_SCHEMA),
    )


def _nonmedical(n: int) -> list[dict]:
    return [
        {
            "record_id": f"nonmed-{i:020x}",
            "parent_ids": [f"src-{i}"],
            "source": "nonmedical:t",
            "category": "nonmedical",
            "source_uri": "t.jsonl",
            "source_locator": f"line {i + 1}",
            "messages": [
                {"role": "user", "content": f"Puzzle {i}?"},
                {"role": "assistant", "content": f"<think>work {i}</think><answer>{i}</answer>"},
            ],
        }
        for i in range(n)
    ]


def test_stage3_selection_takes_all_hard_a_share_of_easy_and_comparable_nonmedical():
    examples, difficulty = _stage3_inputs()
    sel = select_stage3(examples, difficulty, _nonmedical(40), easy_share=0.25, nonmedical_ratio=1.0, seed=0)
    c = sel.counts
    assert c["medical_hard"] == 11  # 10 hard + the unlabeled one (counted hard)
    assert c["medical_easy_available"] == 20 and c["medical_easy"] == 5
    assert c["unlabeled_counted_hard"] == 1 and sel.unlabeled == ["q-unlabeled"]
    assert c["label_conflicts"] == 1 and c["quarantined"] == 1
    assert "not <think>" in sel.quarantine[0].reason and sel.quarantine[0].source_locator == "sftex-" + f"{31:020x}"
    assert c["nonmedical_target"] == 16 and c["nonmedical"] == 16 and c["nonmedical_shortfall"] == 0
    cats = [r["category"] for r in sel.rows]
    assert cats.count("medical_hard") == 11 and cats.count("medical_easy") == 5 and cats.count("nonmedical") == 16
    q0 = next(r for r in sel.rows if r["parent_ids"][0] == "sftex-" + "0" * 20)
    assert q0["category"] == "medical_hard" and q0["parent_ids"][1] == "diff-q0"
    # deterministic; another seed picks other easy rows
    again = select_stage3(examples, difficulty, _nonmedical(40), easy_share=0.25, nonmedical_ratio=1.0, seed=0)
    assert [r["record_id"] for r in again.rows] == [r["record_id"] for r in sel.rows]
    other = select_stage3(examples, difficulty, _nonmedical(40), easy_share=0.25, nonmedical_ratio=1.0, seed=7)
    easy = lambda s: {r["record_id"] for r in s.rows if r["category"] == "medical_easy"}  # noqa: E731
    assert easy(other) != easy(sel) and len(easy(other)) == 5
    # fewer non-medical rows than the target: all of them, shortfall reported
    short = select_stage3(examples, difficulty, _nonmedical(4), easy_share=0.25, nonmedical_ratio=1.0)
    assert short.counts["nonmedical"] == 4 and short.counts["nonmedical_shortfall"] == 12
    assert (
        select_stage3(examples, difficulty, [], easy_share=0.0, nonmedical_ratio=0.5).counts["nonmedical_target"] == 6
    )


def test_stage3_drops_repeated_prompts_keeping_the_hard_one():
    examples, difficulty = _stage3_inputs()
    rows = examples.to_pylist()
    twin = dict(rows[12], record_id="sftex-" + "f" * 20, question_id="q3")  # easy q12's prompt, but a hard question
    table = pa.Table.from_pylist(rows + [twin], schema=examples.schema)
    nonmed = _nonmedical(2) + [dict(_nonmedical(1)[0], record_id="nonmed-dup", messages=rows[1]["messages"])]
    sel = select_stage3(table, difficulty, nonmed, easy_share=1.0, nonmedical_ratio=1.0)
    kept = [r["parent_ids"][0] for r in sel.rows]
    assert twin["record_id"] in kept and rows[12]["record_id"] not in kept
    dups = {d["record_id"]: d for d in sel.duplicates}
    assert dups[rows[12]["record_id"]]["duplicate_of"] == twin["record_id"]
    assert dups["nonmed-dup"]["reason"] == "same user prompt as a medical row"


def test_stage_rule():
    rule = StageRule(multi_turn_user_turns=2, long_response_tokens=100, file_stage={"hard_file": 2, "easy_file": 1})
    assert assign_stage(1, 10, "x", rule) == (1, "single_turn")
    assert assign_stage(2, 10, "x", rule) == (2, "multi_turn")
    assert assign_stage(1, 100, "x", rule) == (2, "long_response")
    assert assign_stage(1, 99, "x", rule) == (1, "single_turn")
    assert assign_stage(1, 10, "hard_file", rule) == (2, "file")
    assert assign_stage(3, 999, "easy_file", rule) == (1, "file")
    with pytest.raises(ValueError):
        assign_stage(1, 1, "bad", StageRule(file_stage={"bad": 3}))


def test_stage_mixes_partition_the_deduplicated_conversations(repo_root):
    folder = repo_root / "sample" / "instructions"
    tables = [load_instruction_file(folder / f"{k}.jsonl", k).table() for k in ("general_chat_demo", "sharegpt_demo")]
    examples = pa.concat_tables(tables)
    tok = WordTokenizer()
    rule = StageRule(long_response_tokens=20)
    s1, s2 = (build_stage_mix(examples, s, rule, tok) for s in (1, 2))
    ids1 = {r["parent_ids"][0] for r in s1.rows}
    ids2 = {r["parent_ids"][0] for r in s2.rows}
    assert not ids1 & ids2 and len(ids1 | ids2) == examples.num_rows - 1  # the kitten is in both files
    assert s2.reasons["multi_turn"] == 3 and s2.reasons["long_response"] >= 1
    _, asst = token_counts(tok, [r["messages"] for r in s1.rows])
    assert max(asst) < 20
    dup = s1.duplicates + s2.duplicates
    assert len(dup) == 1 and dup[0]["reason"] == "exact duplicate conversation" and dup[0]["source"] == "sharegpt_demo"


class CharTokenizer:
    def __call__(self, texts, add_special_tokens=False):
        return {"input_ids": [list(t) for t in texts]}


def test_real_chinese_sample_splits_by_response_length(shared_data):
    path = shared_data / "instructions" / "medical_sft_zh.sample.jsonl"
    examples = load_instruction_file(path, "medical_sft_zh").table()
    rule = StageRule(long_response_tokens=300)
    s1, s2 = (build_stage_mix(examples, s, rule, CharTokenizer()) for s in (1, 2))
    assert s1.rows and s2.rows and set(s2.reasons) == {"long_response"}  # the sample is single-turn
    longest_stage1 = max(len(r["messages"][-1]["content"]) for r in s1.rows)
    shortest_stage2 = min(len(r["messages"][-1]["content"]) for r in s2.rows)
    assert longest_stage1 < 300 <= shortest_stage2
    n_dups = len(s1.duplicates) + len(s2.duplicates)
    assert len(s1.rows) + len(s2.rows) + n_dups == examples.num_rows


def test_nonmedical_floor_keeps_the_mix_non_empty_without_medical_examples():
    empty = pa.Table.from_pylist([], schema=SFT_EXAMPLE_SCHEMA)
    no_labels = pa.Table.from_pylist([], schema=DIFFICULTY_SCHEMA)
    assert select_stage3(empty, no_labels, _nonmedical(20), easy_share=0.2, nonmedical_ratio=1.0).rows == []
    sel = select_stage3(empty, no_labels, _nonmedical(20), easy_share=0.2, nonmedical_ratio=1.0, min_nonmedical=8)
    assert len(sel.rows) == 8 and sel.counts["nonmedical_target"] == 8
    assert {r["category"] for r in sel.rows} == {"nonmedical"}
