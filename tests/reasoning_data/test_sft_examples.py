"""SFT rewrite filters, and reasoning_traces + sft_examples materialized end to end (scripted and tiny model)."""

import json

import dagster as dg
import pyarrow as pa
import pytest

from citrus_assets.common.decontamination.leakage import find_process_leaks
from citrus_assets.common.metadata import output
from citrus_assets.reasoning_data.schemas import OPEN_QUESTION_SCHEMA, SFT_EXAMPLE_SCHEMA, TRACE_SCHEMA
from citrus_assets.reasoning_data.seeds.assets import seed_sets
from citrus_assets.reasoning_data.traces.assets import reasoning_traces
from citrus_assets.reasoning_data.traces.checks import SFT_EXAMPLES_VALID, TRACES_VALID, checks
from citrus_assets.reasoning_data.traces.dual_expert import LoopConfig
from citrus_assets.reasoning_data.traces.sft_assets import SftRewriteConfig, build_sft_examples, sft_examples
from citrus_assets.reasoning_data.traces.sft_rewrite import (
    LEAK,
    MALFORMED,
    WRONG_ANSWER,
    check_response,
    parse_response,
)
from citrus_assets.reasoning_data.traces.trace_rows import run_traces
from resources.lake import Lake
from resources.llm import GenerationCache, LLMClient, LLMResource
from tests.support.demo_questions import open_question_rows, open_questions_from_seed_file
from tests.support.resources import make_resources
from tests.support.scripted_backend import Policy, ScriptedBackend

PARTITION = "medqa_demo"
OPTS = [{"letter": "A", "text": "Iron deficiency anemia"}, {"letter": "B", "text": "Vitamin B12 deficiency"}]
GOOD = (
    "<think>Low ferritin and microcytosis... wait, let me reconsider B12: no, MCV is low.</think>\n"
    "<answer>Iron deficiency anemia</answer>"
)


@pytest.mark.parametrize(
    "text, reason",
    [
        (GOOD, ""),
        ("<think>Low ferritin.</think>", MALFORMED),
        ("Low ferritin.<answer>Iron deficiency anemia</answer>", MALFORMED),
        ("<think>a</think><answer>Iron deficiency anemia</answer> trailing", MALFORMED),
        ("<think><think>a</think><answer>Iron deficiency anemia</answer>", MALFORMED),
        ("<think>  </think><answer>Iron deficiency anemia</answer>", MALFORMED),
        ("", "empty_response"),
        ("<think>The reviewer said ferritin matters.</think><answer>Iron deficiency anemia</answer>", LEAK),
        ("<think>The ground truth is IDA.</think><answer>Iron deficiency anemia</answer>", LEAK),
        ("<think>参考答案是缺铁性贫血。</think><answer>Iron deficiency anemia</answer>", LEAK),
        ("<think>Macrocytosis.</think><answer>Vitamin B12 deficiency</answer>", WRONG_ANSWER),
        ("<think>Unsure.</think><answer>some anemia</answer>", WRONG_ANSWER),
    ],
)
def test_rewrite_filters(text, reason):
    got = check_response(text, OPTS, ["A"], "Iron deficiency anemia")
    assert got.split(":")[0] == reason


def test_leak_phrases_do_not_flag_medical_feedback_loops():
    assert not find_process_leaks("TSH is suppressed by negative feedback from T4; 负反馈.")
    assert find_process_leaks("As I was told, the answer is A") == ["i was told"]


def scripted_questions() -> pa.Table:
    seeds = [
        {
            "record_id": "qseed-1",
            "stem": "A woman with heavy periods has low ferritin. What is the diagnosis?",
            "options": OPTS,
            "answer_letters": ["A"],
            "language": "en",
        },
        {
            "record_id": "qseed-2",
            "stem": "A vegan has macrocytic anemia and neuropathy. What is the diagnosis?",
            "options": OPTS,
            "answer_letters": ["B"],
            "language": "en",
        },
        {
            "record_id": "qseed-3",
            "stem": "A man has a microcytic anemia. What is the diagnosis?",
            "options": OPTS,
            "answer_letters": ["B"],
            "language": "en",
        },  # the scripted expert never finds B
    ]
    return pa.Table.from_pylist(open_question_rows(seeds), schema=OPEN_QUESTION_SCHEMA)


def scripted_policy(questions: pa.Table, cls=Policy) -> Policy:
    cands = {}
    for q in questions.to_pylist():
        wrong = [o["text"] for o in q["options"] if o["letter"] not in q["answer_letters"]]
        cands[q["open_question"]] = wrong + [q["ground_truth"]] if q["question_id"] != "qseed-3" else wrong
    return cls(cands)


def test_build_sft_examples_keeps_verified_and_drops_bad_rewrites(tmp_path):
    questions = scripted_questions()

    class Mixed(Policy):  # question 1: leaks on the first try, clean on the retry; question 2: wrong answer
        def rewrite(self, prompt):
            if "low ferritin" in prompt:
                return (
                    GOOD.replace("Low ferritin", "The reviewer noted low ferritin") if self.params.seed == 0 else GOOD
                )
            return "<think>Macrocytosis and neuropathy.</think><answer>Iron deficiency anemia</answer>"

    llm = LLMClient(ScriptedBackend(scripted_policy(questions, Mixed)), GenerationCache(tmp_path / "c.sqlite"))
    traces, failed, stats = run_traces(questions, llm, LoopConfig())
    assert traces.schema == TRACE_SCHEMA and traces.num_rows == 2 and len(failed) == 1
    assert stats["acceptance_rate"] == round(2 / 3, 4) and stats["early_stops"] == 2
    assert failed[0].source_locator == questions["record_id"][2].as_py()
    assert json.loads(failed[0].raw)["attempts"][1]["verification"]["correct"] is False

    table, dropped, sstats = build_sft_examples(traces, questions, llm, SftRewriteConfig())
    assert table.schema == SFT_EXAMPLE_SCHEMA and table.num_rows == 1
    row = table.to_pylist()[0]
    assert row["response"] == GOOD and row["final_answer"] == "Iron deficiency anemia"
    assert [m["role"] for m in row["messages"]] == ["system", "user", "assistant"]
    assert questions["open_question"][0].as_py() in row["messages"][1]["content"]
    assert row["parent_ids"] == [traces["record_id"][0].as_py()] and json.loads(row["gen_sampling"])["seed"] == 1
    assert [d.reason.split(":")[0] for d in dropped] == [WRONG_ANSWER]
    attempts = json.loads(dropped[0].raw)["attempts"]
    assert len(attempts) == 2 and "Macrocytosis" in attempts[0]["response"]
    assert sstats["dropped_by_reason"] == {WRONG_ANSWER: 1} and sstats["llm_calls"] == 4


class ScriptedLLM(LLMResource):
    """The real resource (client + persistent cache) around a scripted backend."""

    def get_backend(self):
        return BACKENDS[self.model]


BACKENDS: dict = {}


def materialize(tmp_path, questions: pa.Table, llm: LLMResource, run_config=None):
    @dg.asset(name="open_questions", partitions_def=seed_sets)
    def open_questions_standin() -> dg.Output:
        return output(questions)

    lake_root = str(tmp_path / "lake")
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(seed_sets.name, [PARTITION])
    result = dg.materialize(
        [open_questions_standin, reasoning_traces, sft_examples, *checks],
        partition_key=PARTITION,
        resources=make_resources(lake_root, llm=llm),
        instance=instance,
        run_config=run_config or {},
        raise_on_error=False,
    )
    return result, Lake(lake_root)


def metadata(result, asset):
    (ev,) = [e for e in result.get_asset_materialization_events() if e.asset_key == dg.AssetKey(asset)]
    return {k: v.value for k, v in ev.materialization.metadata.items()}


def test_scripted_model_end_to_end(tmp_path):
    questions = scripted_questions()
    BACKENDS["scripted-e2e"] = ScriptedBackend(scripted_policy(questions))
    result, lake = materialize(tmp_path, questions, ScriptedLLM(model="scripted-e2e", cache_dir=str(tmp_path / "c")))
    assert result.success
    tmd, smd = metadata(result, "reasoning_traces"), metadata(result, "sft_examples")
    assert (tmd["accepted"], tmd["failed"], tmd["quarantined"]) == (2, 1, 1)
    assert tmd["rounds_histogram"] == {"2": 2, "3": 1} and tmd["llm_calls"] > 0
    assert (smd["kept"], smd["dropped"]) == (2, 0) and smd["max_tokens"] > 0
    assert (smd["chunks"], smd["chunks_resumed"]) == (1, 0)  # a keyed chunk stage, nothing left to resume
    assert "data:image/png;base64" in smd["length_histogram"]
    evals = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert evals == {TRACES_VALID: True, SFT_EXAMPLES_VALID: True}
    sft = lake.read_table("sft_examples", PARTITION)
    assert all(parse_response(r) for r in sft["response"].to_pylist())


def test_tiny_model_failures_are_reported_not_hidden(tmp_path, repo_root, tiny_model_dir):
    questions = open_questions_from_seed_file(repo_root / "sample" / "seeds" / "medqa_demo.jsonl", limit=2)
    cfg = {
        "max_rounds": 1,
        "max_attempts": 2,
        "max_tokens_start": 8,
        "max_tokens": 8,  # the reasoning step's budget
        "max_tokens_reflection": 8,
        "max_tokens_judge": 2,
        "max_tokens_conclusion": 8,
    }
    llm = LLMResource(model=tiny_model_dir, cache_dir=str(tmp_path / "cache"))
    result, lake = materialize(tmp_path, questions, llm, {"ops": {"reasoning_traces": {"config": cfg}}})
    assert result.success
    tmd, smd = metadata(result, "reasoning_traces"), metadata(result, "sft_examples")
    assert tmd["dagster/row_count"] == 0 and tmd["failed"] == tmd["quarantined"] == 2
    assert tmd["acceptance_rate"] == 0.0 and tmd["attempts_histogram"] == {"2": 2}
    assert tmd["llm_calls"] > 0 and tmd["completion_tokens"] > 0 and sum(tmd["failure_reasons"].values()) == 2
    q = lake.read_quarantine("reasoning_traces", PARTITION).to_pylist()
    assert {r["source_locator"] for r in q} == set(questions["record_id"].to_pylist())
    transcript = json.loads(q[0]["raw"])
    assert len(transcript["attempts"]) == 2 and transcript["attempts"][0]["calls"][0]["prompt"].count("<Question>") == 1
    assert all(r["reason"].startswith("not verified after 2 attempt(s)") for r in q)
    assert smd["traces"] == 0 and smd["kept"] == 0 and smd["dagster/row_count"] == 0
