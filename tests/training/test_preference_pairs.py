"""Rejection sampling and pair selection with a scripted model (no real model: control flow only)."""

import datasets
import pyarrow as pa
import pytest

from citrus_assets.model_training.preference import nonmedical as nm
from citrus_assets.model_training.preference.checks import question_block, verification_table
from citrus_assets.model_training.preference.pairs import (
    RANDOM,
    SHORTEST_VS_LONGEST,
    build_pairs,
    rank_pairs,
)
from citrus_assets.model_training.preference.rejection import medical_items, nonmedical_items, rescore, sample_items
from citrus_assets.model_training.schemas import PREFERENCE_SCHEMA
from citrus_assets.reasoning_data.schemas import OPEN_QUESTION_SCHEMA
from resources.llm import SamplingParams
from tests.training.preference_fakes import ScriptedLLM

OPTS = [("A", "Aspirin"), ("B", "Ibuprofen"), ("C", "Warfarin"), ("D", "Heparin")]


def oq(i: int, question: str, letters=("A",), options=OPTS) -> dict:
    return {
        "record_id": f"oq-{i:020x}",
        "parent_ids": [f"qseed-{i:020x}"],
        "question_id": f"qseed-{i:020x}",
        "language": "en",
        "closed_stem": question,
        "open_question": question,
        "ground_truth": "; ".join(t for letter, t in options if letter in letters),
        "answer_letters": list(letters),
        "options": [{"letter": letter, "text": t} for letter, t in options],
        "rewrite_method": "rule",
        "rewrite_rejections": [],
        "prompt": "",
        "gen_model_id": None,
        "gen_model_revision": None,
        "gen_prompt_template": None,
        "gen_prompt_hash": None,
        "gen_sampling": None,
        "gen_prompt_tokens": None,
        "gen_completion_tokens": None,
    }


def ans(text: str, think: str = "thinking") -> str:
    return f"<think>{think}</think>\n<answer>{text}</answer>"


MIXED = "Which drug is an irreversible COX inhibitor used after a heart attack?"
ALL_OK = "Which drug is the classic oral antiplatelet from willow bark?"
NONE_OK = "Which drug prevents clots after surgery in this mixed case?"
SCRIPT = {
    # sample 0: correct short; 1: wrong B; 2: correct long; 3: wrong C; 4: wrong B (most confident wrong = B)
    MIXED: [
        ans("Aspirin"),
        ans("Ibuprofen"),
        ans(
            "Aspirin",
            "an irreversible COX inhibitor acetylates the enzyme for the platelet's whole life; after a "
            "heart attack the classic choice is low-dose aspirin, taken daily",
        ),
        ans("Warfarin", "a very very long wrong chain of thought " * 8),
        ans("Ibuprofen"),
    ],
    ALL_OK: [ans("Aspirin.")],
    NONE_OK: [ans("Warfarin"), ans("A"), "no answer tags at all"],
    "What is 12 times 12?": [ans("144"), ans("\\boxed{144.0}"), ans("124")],
}


def open_questions() -> pa.Table:
    return pa.Table.from_pylist(
        [oq(1, MIXED), oq(2, ALL_OK), oq(3, NONE_OK, letters=("D",))], schema=OPEN_QUESTION_SCHEMA
    )


def sampled(n: int = 5, with_nonmedical: bool = False):
    llm = ScriptedLLM(SCRIPT)
    items = medical_items(open_questions()).items
    if with_nonmedical:
        items += nonmedical_items([nm.Problem("src-" + "0" * 20, "x.jsonl", "line 1", "What is 12 times 12?", "144")])
    return sample_items(items, llm, SamplingParams(n=n, temperature=1.2, max_tokens=64, seed=0)), llm


def test_one_batched_call_rewards_and_rendered_prompts():
    table, llm = sampled()
    assert llm.calls == [(3, SamplingParams(n=5, temperature=1.2, max_tokens=64, seed=0))]
    assert table.num_rows == 15 and len(set(table["record_id"].to_pylist())) == 15
    rows = table.to_pylist()
    mixed = [r for r in rows if r["question"] == MIXED]
    assert [r["reward"] for r in mixed] == [1.0, 0.0, 1.0, 0.0, 0.0]
    assert mixed[1]["extracted_letters"] == ["B"] and mixed[1]["extraction"] == "option_text"
    none_ok = [r for r in rows if r["question"] == NONE_OK]
    # a bare letter is not accepted for an open question (the model never saw the letters)
    assert [r["reward"] for r in none_ok] == [0.0, 0.0, 0.0, 0.0, 0.0]
    for r in rows:
        assert r["question"] in r["prompt"] and "{question}" not in r["prompt"] and "<Question>" in r["prompt"]
        assert r["parent_ids"] == [r["parent_ids"][0]] and r["parent_ids"][0].startswith("oq-")
        assert r["gen_model_id"] == "scripted-model" and r["gen_sampling"]


def test_unverifiable_questions_are_quarantined():
    bad = pa.Table.from_pylist(
        [
            oq(1, MIXED),
            oq(2, "No options here?", options=[]),
            oq(3, "", letters=("A",)),
            oq(4, "Letter out of range?", letters=("F",)),
        ],
        schema=OPEN_QUESTION_SCHEMA,
    )
    got = medical_items(bad)
    assert [i.question for i in got.items] == [MIXED]
    assert sorted(q.reason for q in got.quarantine) == [
        "answer letters not among the options",
        "empty open question",
        "no options to verify the answer against",
    ]


def test_default_rule_longest_correct_vs_most_confident_wrong_and_counts():
    table, _ = sampled()
    pairs, stats = build_pairs(table)
    assert (stats.questions, stats.paired, stats.all_correct, stats.none_correct, stats.pairs) == (3, 1, 1, 1, 1)
    assert stats.mean_reward == pytest.approx(7 / 15)
    p = pairs.to_pylist()[0]
    samples = {r["record_id"]: r for r in table.to_pylist()}
    chosen, rejected = samples[p["parent_ids"][1]], samples[p["parent_ids"][2]]
    assert chosen["sample_index"] == 2  # the longest correct
    assert rejected["sample_index"] == 1  # "Ibuprofen" is given by two samples (1, 4): the first of them
    assert p["chosen"] == [{"role": "assistant", "content": chosen["response"]}]
    assert [m["role"] for m in p["prompt"]] == ["system", "user"] and MIXED in p["prompt"][1]["content"]
    assert MIXED in p["prompt_text"] and question_block(p["prompt_text"]) == MIXED
    assert (p["n_samples"], p["n_correct"], p["category"]) == (5, 2, "medical")


def test_other_rules_and_max_pairs():
    table, _ = sampled()
    samples = {r["record_id"]: r for r in table.to_pylist()}
    pairs, _ = build_pairs(table, rule=SHORTEST_VS_LONGEST)
    p = pairs.to_pylist()[0]
    assert samples[p["parent_ids"][1]]["sample_index"] == 0 and samples[p["parent_ids"][2]]["sample_index"] == 3
    many, stats = build_pairs(table, max_pairs_per_question=10)
    assert stats.pairs == 6 == len({(r["parent_ids"][1], r["parent_ids"][2]) for r in many.to_pylist()})  # 2 x 3
    r1, _ = build_pairs(table, rule=RANDOM, seed=1, max_pairs_per_question=3)
    r2, _ = build_pairs(table, rule=RANDOM, seed=1, max_pairs_per_question=3)
    assert r1.equals(r2)
    seeds = {
        tuple(build_pairs(table, rule=RANDOM, seed=s, max_pairs_per_question=3)[0]["record_id"].to_pylist())
        for s in range(8)
    }
    assert len(seeds) > 1
    assert rank_pairs(2, 2, 4) == [(0, 0), (1, 1), (0, 1), (1, 0)]
    with pytest.raises(ValueError, match="unknown selection rule"):
        build_pairs(table, rule="best")


def test_nonmedical_rule_share_cap_and_verification():
    table, _ = sampled(n=3, with_nonmedical=True)
    nonmed = [r for r in table.to_pylist() if r["category"] == "nonmedical"]
    assert [(r["reward"], r["extraction"]) for r in nonmed] == [(1.0, "exact"), (1.0, "numeric"), (0.0, "none")]
    # 1 medical pair: share 0.5 allows 1 non-medical pair, 0.1 allows none (dropped and counted)
    half, s_half = build_pairs(table, nonmedical_share=0.5)
    tenth, s_tenth = build_pairs(table, nonmedical_share=0.1)
    assert sorted(half["category"].to_pylist()) == ["medical", "nonmedical"]
    assert tenth["category"].to_pylist() == ["medical"] and s_tenth.nonmedical_pairs_dropped == 1
    assert s_half.per_category["nonmedical"]["pairs"] == 1
    flags = verification_table(half, table).to_pylist()
    assert all(f["chosen_correct"] and f["rejected_incorrect"] and f["same_question"] for f in flags)
    # a swapped pair fails the re-check
    bad = half.to_pylist()
    bad[0]["parent_ids"] = [bad[0]["parent_ids"][0], bad[0]["parent_ids"][2], bad[0]["parent_ids"][1]]
    flags = verification_table(pa.Table.from_pylist(bad, schema=PREFERENCE_SCHEMA), table).to_pylist()
    assert not flags[0]["chosen_correct"] and not flags[0]["rejected_incorrect"]


@pytest.mark.parametrize(
    "pred,gold,ok",
    [
        ("144", "144", True),
        ("\\boxed{1/2}", "0.5", True),
        ("1,000", "1000", True),
        ("x = 3", "3", True),
        ("Paris.", "paris", True),
        ("50%", "50", True),
        ("144 or 124", "144", False),
        ("", "1", False),
        ("The answer is Blue", "blue", True),
        ("3.0001", "3", False),
        ("5", "x = 5", True),
        ("0.375", "3/8", True),
    ],
)
def test_free_answer_rule(pred, gold, ok):
    assert nm.free_answer_matches(pred, gold)[0] is ok


def test_nonmedical_problems_from_the_asset_rows(tmp_path):
    """RL problems are nonmedical_reasoning's records that state their answer; an answer only inferred from
    the last line (chat row without an <answer> block) is no ground truth."""
    from citrus_assets.reasoning_data.mixes.nonmedical import load_nonmedical

    (tmp_path / "logic.jsonl").write_text(
        "\n".join(
            [
                '{"problem": "What is 2+2?", "solution": "Two and two.", "answer": "4"}',
                '{"messages": [{"role": "user", "content": "Capital of France?"},'
                ' {"role": "assistant", "content": "<think>x</think><answer>Paris</answer>"}]}',
                '{"messages": [{"role": "user", "content": "3 times 3?"}, {"role": "assistant", "content": "So it is 9"}]}',
                '{"problem": "No answer here"}',
                "not json",
            ]
        )
    )
    (tmp_path / "other.json").write_text('[{"problem": "1+1?", "solution": "One and one.", "answer": "2"}]')
    load = load_nonmedical(tmp_path)
    assert [q.source_locator for q in load.quarantine] == ["logic.jsonl line 4", "logic.jsonl line 5"]
    got = nm.problems_from_rows(load.rows, "*.jsonl")
    assert [(p.problem, p.answer) for p in got.problems] == [("What is 2+2?", "4"), ("Capital of France?", "Paris")]
    assert got.unanswered == 1 and got.files == ["logic.jsonl"]
    assert [p.record_id for p in got.problems] == [load.rows[0]["record_id"], load.rows[1]["record_id"]]
    assert got.problems[0].reference == "<think>Two and two.</think><answer>4</answer>"
    assert got.problems[1].source_locator == "line 2"
    assert [p.problem for p in nm.problems_from_rows(load.rows).problems][-1] == "1+1?"  # pattern "*": every file
    assert nm.share_count(45, 0.1) == 5 and nm.share_count(0, 0.1) == 0


def test_pairs_load_as_trl_conversational_dataset():
    pairs, _ = build_pairs(sampled()[0], max_pairs_per_question=2)
    ds = datasets.Dataset(pairs)  # the pyarrow table as is (what a trainer step would load)
    assert {"prompt", "chosen", "rejected"} <= set(ds.column_names) and len(ds) == 2
    ex = ds[0]
    # TRL's is_conversational: prompt/chosen/rejected are lists of {"role", "content"} dicts
    for key in ("prompt", "chosen", "rejected"):
        assert isinstance(ex[key], list) and all(set(m) == {"role", "content"} for m in ex[key])
    assert ex["prompt"][-1]["role"] == "user" and ex["chosen"][0]["role"] == "assistant"
    assert ex["prompt_text"] == ScriptedLLM({}).render(
        ex["prompt"]
    )  # TRL's chat-template check: test_preference_assets


def test_rescore_matches_stored_reward():
    table, _ = sampled(with_nonmedical=True)
    assert all(rescore(r) == (r["reward"] == 1.0) for r in table.to_pylist())


def test_bundled_nonmedical_sample_loads(repo_root):
    """The SFT mix's bundled logic/math sample gives RL problems: every record states its answer."""
    from citrus_assets.reasoning_data.mixes.nonmedical import DEFAULT_DIR, load_nonmedical

    folder = repo_root / DEFAULT_DIR
    if not folder.is_dir():
        pytest.skip("no bundled non-medical sample")
    load = load_nonmedical(folder)
    got = nm.problems_from_rows(load.rows, "*.jsonl")
    assert len(got.problems) >= 5 and all(p.problem and nm.normalize_answer(p.answer) for p in got.problems)
    assert len(got.problems) + got.unanswered == len(load.rows) and all(p.reference for p in got.problems)


def test_reference_pairs_are_verified_and_tamper_evident():
    table, _ = sampled()
    rows = table.to_pylist()
    ref = ans("Heparin", "after surgery a parenteral anticoagulant")
    for r in rows:  # NONE_OK: every sample wrong; attach a reference the way sample_items does
        if r["question"] == NONE_OK:
            r["reference"], r["reference_id"] = ref, "sft-" + "1" * 20
    with_ref = pa.Table.from_pylist(rows, schema=table.schema)
    assert build_pairs(with_ref)[1].reference_pairs == 0  # off by default (the paper's rule)
    pairs, stats = build_pairs(with_ref, reference_chosen=True)
    assert (stats.pairs, stats.reference_pairs, stats.none_correct) == (2, 1, 1)
    p = next(r for r in pairs.to_pylist() if r["chosen_origin"] == "reference")
    assert p["chosen"][0]["content"] == ref and p["parent_ids"][1] == "sft-" + "1" * 20 and p["n_correct"] == 0
    assert all(all(f.values()) for f in verification_table(pairs, with_ref).to_pylist())
    forged = pairs.to_pylist()
    for r in forged:
        if r["chosen_origin"] == "reference":
            r["chosen"] = [{"role": "assistant", "content": ans("Heparin", "forged")}]
    flags = verification_table(pa.Table.from_pylist(forged, schema=PREFERENCE_SCHEMA), with_ref).to_pylist()
    assert sorted(f["chosen_correct"] for f in flags) == [False, True]


def test_unverified_reference_is_not_attached():
    wrong_ref = {oq(3, NONE_OK)["record_id"]: (ans("Aspirin"), "sft-" + "2" * 20)}
    items = medical_items(open_questions(), references=wrong_ref).items
    table = sample_items(items, ScriptedLLM(SCRIPT), SamplingParams(n=2, temperature=1.0, max_tokens=8, seed=0))
    assert set(table["reference"].to_pylist()) == {""}


def test_min_nonmedical_pairs_floor():
    table, _ = sampled(n=3, with_nonmedical=True)
    _, s = build_pairs(table, nonmedical_share=0.1)
    assert s.nonmedical_pairs_dropped == 1
    floor, s2 = build_pairs(table, nonmedical_share=0.1, min_nonmedical_pairs=1)
    assert sorted(floor["category"].to_pylist()) == ["medical", "nonmedical"] and s2.nonmedical_pairs_dropped == 0
