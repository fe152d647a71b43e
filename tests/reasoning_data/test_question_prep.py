"""Control flow of the judge panel, the easy/hard rules and the open-ended rewrite, with a scripted LLM."""

import pyarrow as pa
import pytest

from citrus_assets.reasoning_data.questions.difficulty import label_difficulty
from citrus_assets.reasoning_data.questions.open_rules import check_rewrite
from citrus_assets.reasoning_data.questions.rewrite import RewriteSettings, rewrite_seeds
from citrus_assets.reasoning_data.schemas import DIFFICULTY_SCHEMA, OPEN_QUESTION_SCHEMA
from citrus_assets.reasoning_data.seeds.judges import JudgePanelResource, JudgeSpec
from citrus_assets.reasoning_data.seeds.judging import ANSWER_SCHEMA, answer_seeds, answer_with_panel, judge_stats
from citrus_assets.reasoning_data.seeds.seed_files import SEED_SCHEMA, detect_language, make_seed
from resources.llm import Generation, LLMResource, SamplingParams


class ScriptedLLM:
    """Same surface as LLMResource; ``reply(prompt_text, params, call_no)`` -> text; records each call."""

    def __init__(self, reply, model_id="fake-model", finish_reason="stop"):
        self.reply, self.model_id, self.model_revision, self.finish_reason = reply, model_id, "r1", finish_reason
        self.calls = []  # (number of prompts, params)

    def render(self, messages):
        return messages if isinstance(messages, str) else "\n".join(f"<{m['role']}>{m['content']}" for m in messages)

    def generate(self, prompts, params):
        call_no = len(self.calls)
        self.calls.append((len(prompts), params))
        return [
            [Generation(self.reply(self.render(p), params, call_no), 10, 5, self.finish_reason, False)] for p in prompts
        ]


def seed(stem, options, answer, n):
    return make_seed(
        uri="test.jsonl",
        locator=f"line {n}",
        raw=stem.encode(),
        seed_set="t",
        source="medqa",
        split="train",
        stem=stem,
        options=options,
        answers=[answer],
    )


ANEMIA = seed(
    "A 24-year-old woman has heavy menses. Hemoglobin is 9.1 g/dL and ferritin 6 ng/mL. "
    "Which of the following is the most likely diagnosis?",
    {"A": "Iron deficiency anemia", "B": "Vitamin B12 deficiency", "C": "Thalassemia trait"},
    "A",
    1,
)
MI = seed(
    "A 58-year-old man has chest pain for 40 minutes with ST elevation in II, III and aVF. "
    "Which coronary artery is most likely occluded?",
    {"A": "Left anterior descending artery", "B": "Left circumflex artery", "C": "Right coronary artery"},
    "C",
    2,
)
ZH = seed(
    "患者男，45岁，发热3天，体温39.5℃，咳铁锈色痰。胸片示右下肺大片实变影。最可能的诊断是",
    {"A": "大叶性肺炎", "B": "肺结核", "C": "肺癌"},
    "A",
    3,
)
SEEDS = pa.Table.from_pylist([ANEMIA, MI, ZH], schema=SEED_SCHEMA)
GOOD_EN = {
    ANEMIA["stem"][:20]: "A 24-year-old woman has heavy menses, hemoglobin 9.1 g/dL and ferritin 6 ng/mL. "
    "What is the most likely diagnosis?",
    MI["stem"][:20]: "A 58-year-old man has 40 minutes of chest pain with ST elevation in II, III and aVF. "
    "Which coronary artery is occluded?",
}
GOOD_ZH = "患者男，45岁，发热3天，体温39.5℃，咳铁锈色痰，胸片示右下肺大片实变影。最可能的诊断是什么？"


def good_rewrite(prompt: str) -> str:
    if "开放式问题" in prompt:
        return GOOD_ZH
    return next(v for k, v in GOOD_EN.items() if k in prompt)


# ------------------------------------------------------------------------------------- judge panel
def judge(correct_for: set[str]):
    """A judge that answers the right letter for the seeds whose stem starts with one of ``correct_for``."""

    def reply(prompt, params, call_no):
        for s in (ANEMIA, MI, ZH):
            if s["stem"][:25] in prompt:
                right = s["answer_letters"][0]
                return f"<answer>{right if s['stem'][:10] in correct_for else 'B'}</answer>"
        raise AssertionError("unknown prompt")

    return ScriptedLLM(reply)


def panel_answers(spec: dict[str, set[str]]) -> pa.Table:
    judges = [(name, judge(ok)) for name, ok in spec.items()]
    table = answer_with_panel(SEEDS, judges, SamplingParams(max_tokens=8))
    assert all(len(llm.calls) == 1 and llm.calls[0][0] == 3 for _, llm in judges)  # one batched call per judge
    return table


ALL = {ANEMIA["stem"][:10], MI["stem"][:10], ZH["stem"][:10]}


def test_panel_answers_every_seed_with_every_judge():
    table = panel_answers({"weak1": ALL, "weak2": ALL - {MI["stem"][:10]}, "strong": ALL})
    assert table.schema == ANSWER_SCHEMA and table.num_rows == 9
    assert len(set(table["record_id"].to_pylist())) == 9
    stats = judge_stats(table)
    assert stats["weak2"]["accuracy"] == 0.6667 and stats["weak2"]["n"] == 3
    assert stats["weak1"]["accuracy"] == 1.0 and stats["weak1"]["no_answer"] == 0


def test_single_default_judge_keeps_old_rows():
    llm = judge(ALL)
    params = SamplingParams(max_tokens=8)
    old = answer_seeds(SEEDS, llm, params)
    new = answer_with_panel(SEEDS, JudgePanelResource().clients(llm), params)
    assert new.equals(old) and set(new["judge"].to_pylist()) == {"default"}


def test_panel_resource_builds_one_client_per_judge(tmp_path):
    default = LLMResource(cache_dir=str(tmp_path))
    panel = JudgePanelResource(
        judges=[
            JudgeSpec(name="qwen7b", backend="openai", model="Qwen2.5-7B-Instruct", base_url="http://h:8000/v1"),
            JudgeSpec(name="local", same_as_llm=True),
        ]
    )
    (n1, c1), (n2, c2) = panel.clients(default)
    assert (n1, n2) == ("qwen7b", "local") and c2 is default
    assert c1.backend == "openai" and c1.model == "Qwen2.5-7B-Instruct" and c1.cache_dir == str(tmp_path)
    with pytest.raises(ValueError, match="unique"):
        JudgePanelResource(judges=[JudgeSpec(name="a"), JudgeSpec(name="a")]).clients(default)


# -------------------------------------------------------------------------------------- difficulty
def labels(answers, **kw):
    result = label_difficulty(SEEDS, answers, **kw)
    table = result.table()
    assert table.schema == DIFFICULTY_SCHEMA
    return {r["question_id"]: r["difficulty"] for r in table.to_pylist()}, result


def test_rules_all_any_min_and_strong_vs_weak():
    # weak1 right on all, weak2 wrong on MI, strong wrong on ZH
    answers = panel_answers({"weak1": ALL, "weak2": ALL - {MI["stem"][:10]}, "strong": ALL - {ZH["stem"][:10]}})
    a, m, z = ANEMIA["record_id"], MI["record_id"], ZH["record_id"]
    got, res = labels(answers, rule="all_correct")
    assert got == {a: "easy", m: "hard", z: "hard"}
    assert res.per_judge["weak2"]["correct"] == 2 and res.per_judge["strong"]["correct"] == 2
    assert labels(answers, rule="any_correct")[0] == {a: "easy", m: "easy", z: "easy"}
    assert labels(answers, rule="min_correct", min_correct=2)[0] == {a: "easy", m: "easy", z: "easy"}
    assert labels(answers, rule="min_correct", min_correct=3)[0] == {a: "easy", m: "hard", z: "hard"}
    got, res = labels(answers, rule="strong_vs_weak", weak_judges=["weak1", "weak2"])
    assert got == {a: "easy", m: "hard", z: "easy"}  # the strong judge's miss on ZH does not count
    assert res.strong_correct_on_hard == 1  # MI: weak2 missed it, strong solved it
    row = next(r for r in res.table().to_pylist() if r["question_id"] == m)
    assert row["judges"] == ["strong", "weak1", "weak2"] and row["judges_correct"] == [True, True, False]
    assert row["parent_ids"][0] == m and len(row["parent_ids"]) == 4


def test_all_correct_judges_make_everything_easy_and_unjudged_is_hard():
    answers = panel_answers({"j1": ALL, "j2": ALL})
    assert set(labels(answers, rule="all_correct")[0].values()) == {"easy"}
    only_two = answers.filter(pa.compute.not_equal(answers["question_id"], ZH["record_id"]))
    got, res = labels(only_two, rule="all_correct")
    assert got[ZH["record_id"]] == "hard" and res.unjudged == [ZH["record_id"]]
    row = next(r for r in res.table().to_pylist() if r["question_id"] == ZH["record_id"])
    assert row["judges"] == [] and row["judges_correct"] == []


def test_correctness_reparsed_with_the_answer_parser():
    # "B. Aspirin"-style answers are read as one letter; the stored `correct` column is not trusted
    answers = panel_answers({"j1": ALL}).to_pylist()
    for r in answers:
        r["correct"] = False
        r["response"] = "The answer is " + {"A": "A. Iron deficiency anemia", "C": "C) Right coronary artery"}.get(
            r["answer_letters"][0], "大叶性肺炎"
        )
    got, _ = labels(pa.Table.from_pylist(answers, schema=ANSWER_SCHEMA), rule="all_correct")
    assert set(got.values()) == {"easy"}


def test_bad_rule_config_is_an_error():
    answers = panel_answers({"j1": ALL})
    with pytest.raises(ValueError, match="weak_judges"):
        label_difficulty(SEEDS, answers, rule="strong_vs_weak")
    with pytest.raises(ValueError, match="not among"):
        label_difficulty(SEEDS, answers, rule="strong_vs_weak", weak_judges=["nobody"])


# ---------------------------------------------------------------------------------------- rewrite
def run(reply, **kw):
    llm = ScriptedLLM(reply)
    return rewrite_seeds(SEEDS, llm, RewriteSettings(**kw)), llm


def test_rewrite_accepted_first_try_chinese_stays_chinese():
    res, llm = run(lambda p, params, c: good_rewrite(p))
    assert len(llm.calls) == 1 and llm.calls[0][0] == 3 and llm.calls[0][1].temperature == 0
    assert res.counts == {"llm_accepted": 3, "llm_accepted_on_retry": 0, "rule_fallback": 0, "quarantined": 0}
    table = res.table()
    assert table.schema == OPEN_QUESTION_SCHEMA
    zh = next(r for r in table.to_pylist() if r["question_id"] == ZH["record_id"])
    assert zh["open_question"] == GOOD_ZH and detect_language(zh["open_question"]) == "zh"
    assert (
        "开放式问题" in zh["prompt"] and ZH["stem"] in zh["prompt"] and zh["gen_prompt_template"] == "open_rewrite_zh"
    )
    assert zh["ground_truth"] == "大叶性肺炎" and zh["rewrite_method"] == "llm" and zh["rewrite_rejections"] == []


def test_rewrite_accepted_on_retry_in_one_batched_call():
    def reply(prompt, params, call_no):
        if call_no == 0 and "coronary" in prompt:  # lists options and drops the 40 minutes
            return "Which artery is occluded?\nA. LAD\nB. Circumflex"
        if call_no == 0 and "Hemoglobin" in prompt:  # gives the answer away
            return GOOD_EN[ANEMIA["stem"][:20]] + " Is it iron deficiency anemia?"
        return good_rewrite(prompt)

    res, llm = run(reply, retries=2, seed=5)
    assert [n for n, _ in llm.calls] == [3, 2]  # the retry round asks only the two rejected ones, together
    assert llm.calls[1][1].temperature > 0 and llm.calls[1][1].seed == 6
    assert res.counts["llm_accepted"] == 3 and res.counts["llm_accepted_on_retry"] == 2
    assert res.rejection_reasons == {"lists_options": 1, "lost_number": 2, "gives_answer_away": 1}  # 58, 40 lost
    mi = next(r for r in res.rows if r["question_id"] == MI["record_id"])
    assert mi["rewrite_method"] == "llm" and "lists_options" in mi["rewrite_rejections"][0]
    assert '"temperature":0.8' in mi["gen_sampling"]


def test_all_rejected_falls_back_to_rule_rewrite():
    res, llm = run(lambda p, params, c: "I'm sorry, I cannot help with that.", retries=1)
    assert len(llm.calls) == 2
    assert res.counts == {"llm_accepted": 0, "llm_accepted_on_retry": 0, "rule_fallback": 3, "quarantined": 0}
    rows = {r["question_id"]: r for r in res.table().to_pylist()}
    an = rows[ANEMIA["record_id"]]
    assert an["rewrite_method"] == "rule" and an["prompt"] == "" and an["gen_model_id"] is None
    assert an["open_question"].endswith("What is the most likely diagnosis?") and "9.1 g/dL" in an["open_question"]
    assert len(an["rewrite_rejections"]) == 2 and "refusal" in an["rewrite_rejections"][0]
    assert rows[ZH["record_id"]]["open_question"].endswith("最可能的诊断是什么？")
    for r in res.rows:
        assert (
            check_rewrite(r["closed_stem"], r["open_question"], r["options"], r["answer_letters"], r["language"]) == []
        )


def test_fallback_off_quarantines_with_reasons():
    res, _ = run(lambda p, params, c: "", retries=0, rule_fallback=False)
    assert res.rows == [] and res.counts["quarantined"] == 3 and len(res.quarantine) == 3
    q = res.quarantine[0]
    assert "rule fallback is off" in q.reason and "attempt 1: empty" in q.reason and q.source_uri == "test.jsonl"


def test_truncated_rewrite_is_rejected():
    llm = ScriptedLLM(lambda p, params, c: good_rewrite(p), finish_reason="length")
    res = rewrite_seeds(SEEDS, llm, RewriteSettings(retries=0))
    assert res.counts["rule_fallback"] == 3 and res.rejection_reasons == {"truncated": 3}
