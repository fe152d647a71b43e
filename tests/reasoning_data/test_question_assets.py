"""End to end: question_seeds -> judge_answers -> question_difficulty -> open_questions on the bundled sample."""

import shutil

import dagster as dg
import pytest

from citrus_assets.reasoning_data.questions.assets import open_questions, question_difficulty
from citrus_assets.reasoning_data.questions.checks import DIFFICULTY_VALID, OPEN_QUESTIONS_VALID, checks
from citrus_assets.reasoning_data.questions.open_rules import check_rewrite
from citrus_assets.reasoning_data.seeds.assets import judge_answers, question_seeds, seed_sets
from citrus_assets.reasoning_data.seeds.checks import checks as seed_checks
from citrus_assets.reasoning_data.seeds.judges import JudgePanelResource, JudgeSpec
from citrus_assets.reasoning_data.traces.trace_rows import spill_dir
from resources.inbox import InboxResource
from resources.lake import Lake
from resources.lineage import LineageStore
from resources.llm import LLMResource
from tests.support.resources import make_resources

PARTITION = "medqa_demo"
ASSETS = [question_seeds, judge_answers, question_difficulty, open_questions]


@pytest.fixture
def env(tmp_path, repo_root, tiny_model_dir):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    shutil.copy(repo_root / "sample" / "seeds" / "medqa_demo.jsonl", inbox / "medqa_demo.jsonl")
    lake_root = str(tmp_path / "lake")
    llm = LLMResource(model=tiny_model_dir, cache_dir=str(tmp_path / "cache"))
    resources = make_resources(
        lake_root, inbox=InboxResource(seeds_dir=str(inbox)), llm=llm, judges=JudgePanelResource()
    )
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(seed_sets.name, [PARTITION])
    return lake_root, resources, instance


def materialize(resources, instance, difficulty=None):
    ops = {"judge_answers": {"config": {"max_tokens": 12}}, "open_questions": {"config": {"max_tokens": 24}}}
    if difficulty:
        ops["question_difficulty"] = {"config": difficulty}
    result = dg.materialize(
        [*ASSETS, *seed_checks, *checks],
        partition_key=PARTITION,
        resources=resources,
        instance=instance,
        run_config={"ops": ops},
    )
    assert result.success
    md = {}
    for ev in result.get_asset_materialization_events():
        md[ev.asset_key.to_user_string()] = {k: v.value for k, v in ev.materialization.metadata.items()}
    evals = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    return md, evals


def test_slice_to_open_questions_with_the_default_judge(env):
    lake_root, resources, instance = env
    md, evals = materialize(resources, instance)
    assert evals[DIFFICULTY_VALID] and evals[OPEN_QUESTIONS_VALID] and all(evals.values())
    lake = Lake(lake_root)
    answers = lake.read_table("judge_answers", PARTITION).to_pylist()
    diff = lake.read_table("question_difficulty", PARTITION).to_pylist()
    assert len(answers) == 8 and {a["judge"] for a in answers} == {"default"}
    assert len(diff) == 8 and md["question_difficulty"]["rule"] == "all_correct"
    right = {a["question_id"]: a["correct"] for a in answers}
    assert all((d["difficulty"] == "easy") == right[d["question_id"]] for d in diff)  # one judge: easy iff right
    assert md["question_difficulty"]["easy"] + md["question_difficulty"]["hard"] == 8
    assert md["question_difficulty"]["per_judge"]["default"]["n"] == 8

    # The random tiny model cannot rewrite: every question shows up as a rule fallback with its reasons.
    om = md["open_questions"]
    assert om["llm_accepted"] + om["rule_fallback"] + om["quarantined"] == 8
    assert om["rule_fallback"] >= 1 and om["rejection_reasons"] and om["llm_calls"] == 2
    rows = lake.read_table("open_questions", PARTITION).to_pylist()
    assert len(rows) == 8 - om["quarantined"]
    for r in rows:
        assert (
            check_rewrite(r["closed_stem"], r["open_question"], r["options"], r["answer_letters"], r["language"]) == []
        )
        if r["rewrite_method"] == "rule":
            assert len(r["rewrite_rejections"]) == 2 and r["gen_model_id"] is None

    # lineage: an open question -> its seed -> the input line
    store = LineageStore(lake.lineage_root, str(lake_root) + "/_lineage/lineage.duckdb")
    text = repr(store.trace(rows[0]["record_id"]))
    assert "question_seeds" in text and "medqa_demo.jsonl" in text

    # a re-run is free: the rewrite calls come from the cache, the tables are identical
    md2, _ = materialize(resources, instance)
    first_try = om["llm_accepted"] - om["llm_accepted_on_retry"]
    assert om["cache_hits"] == 0 and md2["open_questions"]["cache_hits"] == 8 + (8 - first_try)
    assert md2["open_questions"]["data_version"] == om["data_version"]
    assert md2["question_difficulty"]["data_version"] == md["question_difficulty"]["data_version"]
    # the chunk stages: one chunk each, nothing resumed, the staging folder removed once published (issue 17)
    for asset in ("judge_answers", "open_questions"):
        assert (md[asset]["chunks"], md[asset]["chunks_resumed"], md2[asset]["chunks_resumed"]) == (1, 0, 0)
        assert not spill_dir(resources["llm"], asset, PARTITION).exists()


def test_two_judge_panel_and_strong_vs_weak(env, tiny_model_dir):
    lake_root, resources, instance = env
    resources = dict(
        resources,
        judges=JudgePanelResource(
            judges=[JudgeSpec(name="weak", same_as_llm=True), JudgeSpec(name="strong", model=tiny_model_dir)]
        ),
    )
    md, evals = materialize(resources, instance, difficulty={"rule": "strong_vs_weak", "weak_judges": ["weak"]})
    assert all(evals.values())
    assert md["judge_answers"]["dagster/row_count"] == 16 and md["judge_answers"]["judges"] == ["weak", "strong"]
    assert set(md["judge_answers"]["per_judge"]) == {"weak", "strong"}
    diff = Lake(lake_root).read_table("question_difficulty", PARTITION).to_pylist()
    assert all(d["judges"] == ["strong", "weak"] and len(d["parent_ids"]) == 3 for d in diff)
    assert all((d["difficulty"] == "easy") == d["judges_correct"][1] for d in diff)  # the weak judge decides
