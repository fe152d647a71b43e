"""End to end: rejection_samples -> preference_pairs with their checks, through dg.materialize.

Upstream assets (open_questions, sft_stage3_checkpoint) are stand-ins defined here with the contract
schemas; the real ones are built elsewhere.
"""

import json

import dagster as dg
import pyarrow as pa
import pytest

from citrus_assets.common.metadata import output
from citrus_assets.model_training.preference.assets import preference_pairs, rejection_samples
from citrus_assets.model_training.preference.checks import checks
from citrus_assets.model_training.schemas import CHECKPOINT_SCHEMA
from citrus_assets.reasoning_data.mixes.nonmedical_assets import NONMEDICAL_ASSET, nonmedical_reasoning
from citrus_assets.reasoning_data.schemas import OPEN_QUESTION_SCHEMA, SFT_EXAMPLE_SCHEMA
from citrus_assets.reasoning_data.seeds.assets import seed_sets
from resources.inbox import InboxResource
from resources.lake import Lake
from resources.llm import LLMResource
from tests.support.resources import make_resources
from tests.training.preference_fakes import ScriptedLLM
from tests.training.test_preference_pairs import MIXED, NONE_OK, SCRIPT, oq

PARTITION = "rl_demo"


def sft_row(question_id: str, response: str, i: int = 1) -> dict:
    row = {name: None for name in SFT_EXAMPLE_SCHEMA.names}
    row.update(
        record_id=f"sft-{i:020x}",
        parent_ids=[f"trace-{i:020x}"],
        question_id=question_id,
        language="en",
        messages=[],
        response=response,
        final_answer="",
        n_tokens=1,
        ground_truth="",
    )
    return row


def make_env(tmp_path, model_path: str, llm, sft_rows: list[dict] | None = None, nonmedical_dir=None):
    """``nonmedical_dir``: the folder the real ``nonmedical_reasoning`` asset reads (an empty one by default)."""
    questions = pa.Table.from_pylist(
        [oq(1, MIXED), oq(3, NONE_OK, letters=("D",)), oq(4, "No options?", options=[])], schema=OPEN_QUESTION_SCHEMA
    )

    @dg.asset(name="open_questions", partitions_def=seed_sets)
    def open_questions_standin() -> dg.Output:
        return output(questions)

    @dg.asset(name="sft_examples", partitions_def=seed_sets)
    def sft_examples_standin() -> dg.Output:
        return output(pa.Table.from_pylist(sft_rows or [], schema=SFT_EXAMPLE_SCHEMA))

    @dg.asset(name="sft_stage3_checkpoint")
    def checkpoint_standin() -> dg.Output:
        row = {
            "record_id": "ckpt-" + "0" * 20,
            "parent_ids": [],
            "stage": "sft_stage3",
            "model_path": model_path,
            "base_model": model_path,
            "weights_sha256": "0" * 64,
            "steps": 1,
            "tokens_seen": 1,
            "wall_s": 0.0,
            "final_loss": 0.0,
            "hyperparameters": "{}",
            "data_versions": "{}",
        }
        return output(pa.Table.from_pylist([row], schema=CHECKPOINT_SCHEMA))

    lake_root = str(tmp_path / "lake")
    resources = make_resources(lake_root, inbox=InboxResource(seeds_dir=str(tmp_path)), llm=llm)
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(seed_sets.name, [PARTITION])
    assert dg.materialize([checkpoint_standin], resources=resources, instance=instance).success
    if nonmedical_dir is None:
        nonmedical_dir = tmp_path / "no-nonmedical"
        nonmedical_dir.mkdir(exist_ok=True)
    assert dg.materialize(
        [nonmedical_reasoning],
        resources=resources,
        instance=instance,
        run_config={"ops": {NONMEDICAL_ASSET: {"config": {"nonmedical_dir": str(nonmedical_dir)}}}},
    ).success
    return (
        lake_root,
        resources,
        instance,
        [open_questions_standin, sft_examples_standin, checkpoint_standin, nonmedical_reasoning],
    )


def run(env, rejection: dict, pairs: dict | None = None, **kw):
    lake_root, resources, instance, standins = env
    return dg.materialize(
        [*standins, rejection_samples, preference_pairs, *checks],
        selection=["open_questions", "sft_examples", "rejection_samples", "preference_pairs"],
        partition_key=PARTITION,
        resources=resources,
        instance=instance,
        run_config={"ops": {"rejection_samples": {"config": rejection}, "preference_pairs": {"config": pairs or {}}}},
        **kw,
    )


def md(result, asset: str) -> dict:
    ev = [e for e in result.get_asset_materialization_events() if e.asset_key == dg.AssetKey(asset)]
    assert len(ev) == 1
    return {k: v.value for k, v in ev[0].materialization.metadata.items()}


def test_tiny_model_from_the_checkpoint(tmp_path, tiny_model_dir):
    llm = LLMResource(model=tiny_model_dir, cache_dir=str(tmp_path / "cache"))
    env = make_env(tmp_path, tiny_model_dir, llm)
    result = run(env, {"n": 3, "max_tokens": 8})
    assert result.success
    s, p = md(result, "rejection_samples"), md(result, "preference_pairs")
    assert s["model_source"] == "checkpoint" and s["model"] == tiny_model_dir
    assert s["dagster/row_count"] == 6 and s["quarantined"] == 1 and s["cache_hits"] == 0
    assert p["questions"] == 2 == p["all_correct"] + p["none_correct"] + p["paired"]
    assert p["open_questions_without_samples"] == 1
    assert all(e.passed for e in result.get_asset_check_evaluations())
    if p["dagster/row_count"] == 0:  # the tiny model paired nothing: the asset says why (has_rows quotes it)
        assert p["empty_reason"].startswith("0 pairs from 2 questions")
    assert {r["sampler_checkpoint"] for r in Lake(env[0]).read_table("rejection_samples", PARTITION).to_pylist()} == {
        Lake(env[0]).read_table("sft_stage3_checkpoint")["record_id"][0].as_py()
    }
    lake = Lake(env[0])
    samples = lake.read_table("rejection_samples", PARTITION).to_pylist()
    assert {r["gen_model_id"] for r in samples} == {tiny_model_dir}
    assert all(r["question"] in r["prompt"] and "<Question>" in r["prompt"] for r in samples)
    assert lake.read_quarantine("rejection_samples", PARTITION)["reason"].to_pylist() == [
        "no options to verify the answer against"
    ]
    again = run(env, {"n": 3, "max_tokens": 8})  # resume: every sample comes from the request cache
    assert md(again, "rejection_samples")["cache_hits"] == 6


def test_scripted_model_pairs_nonmedical_and_checks(tmp_path):
    src = tmp_path / "nonmedical"
    src.mkdir()
    (src / "arith.jsonl").write_text(
        json.dumps({"problem": "What is 12 times 12?", "solution": "12 x 12 = 144.", "answer": "144"}) + "\n"
    )
    env = make_env(tmp_path, "unused-checkpoint", ScriptedLLM(SCRIPT), nonmedical_dir=src)
    result = run(env, {"model": "resource", "n": 5, "nonmedical_share": 0.5}, {"nonmedical_share": 0.5})
    assert result.success
    s, p = md(result, "rejection_samples"), md(result, "preference_pairs")
    assert s["model_source"] == "resource" and s["questions"] == {"medical": 2, "nonmedical": 1}
    assert (p["pairs"], p["paired"], p["none_correct"]) == (2, 2, 1)
    evals = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert evals == {
        "rejection_samples_valid": True,
        "preference_pairs_valid": True,
        "preference_pairs_verified": True,
        "preference_pairs_current_sampler": True,
    }
    pairs = Lake(env[0]).read_table("preference_pairs", PARTITION).to_pylist()
    assert sorted(r["category"] for r in pairs) == ["medical", "nonmedical"]
    for r in pairs:
        q = MIXED if r["category"] == "medical" else "What is 12 times 12?"
        assert q in r["prompt"][1]["content"] and q in r["prompt_text"] and "{" not in r["prompt_text"]
    # lineage: a non-medical sample's parent is the nonmedical_reasoning record, which cites the file and line
    lake = Lake(env[0])
    [record] = lake.read_table(NONMEDICAL_ASSET).to_pylist()
    samples = [r for r in lake.read_table("rejection_samples", PARTITION).to_pylist() if r["category"] == "nonmedical"]
    assert len(samples) == 5 and {tuple(r["parent_ids"]) for r in samples} == {(record["record_id"],)}
    assert {r["source_uri"] for r in samples} == {None}
    assert (record["source_uri"], record["source_locator"]) == (str(src / "arith.jsonl"), "line 1")


def test_reference_chosen_when_no_sample_is_correct(tmp_path):
    """A model that solves nothing (the main job's 135M model) still yields pairs with reference_chosen:
    a verified sft_examples trace (medical) or a worked solution (non-medical) vs the best wrong sample."""
    src = tmp_path / "nonmedical"
    src.mkdir()
    (src / "arith.jsonl").write_text(
        json.dumps({"problem": "What is 7 times 6?", "solution": "7 x 6 = 42.", "answer": "42"}) + "\n"
    )
    script = {**SCRIPT, "What is 7 times 6?": ["<answer>48</answer>", "no idea"]}
    trace = "<think>Post-operative clots call for a parenteral anticoagulant.</think><answer>Heparin</answer>"
    bad_trace = "<think>Guess.</think><answer>Warfarin</answer>"  # does not verify: never attached
    env = make_env(
        tmp_path,
        "unused",
        ScriptedLLM(script),
        sft_rows=[sft_row(oq(3, NONE_OK)["record_id"], trace, 1), sft_row(oq(1, MIXED)["record_id"], bad_trace, 2)],
        nonmedical_dir=src,
    )
    rejection = {"model": "resource", "n": 3, "nonmedical_share": 0.1, "min_nonmedical": 1}
    off = run(env, rejection)
    assert off.success and md(off, "preference_pairs")["pairs"] == 1  # paper default: only the MIXED pair
    s = md(off, "rejection_samples")
    assert s["questions"] == {"medical": 2, "nonmedical": 1}
    assert s["questions_with_reference"] == {"medical": 1, "nonmedical": 1}
    on = run(env, rejection, {"reference_chosen": True, "min_nonmedical_pairs": 1})
    assert on.success
    p = md(on, "preference_pairs")
    assert (p["pairs"], p["reference_pairs"], p["none_correct"]) == (3, 2, 2)
    assert {e.check_name: e.passed for e in on.get_asset_check_evaluations()} == {
        "rejection_samples_valid": True,
        "preference_pairs_valid": True,
        "preference_pairs_verified": True,
        "preference_pairs_current_sampler": True,
    }
    rows = {r["question_id"]: r for r in Lake(env[0]).read_table("preference_pairs", PARTITION).to_pylist()}
    med = rows[oq(3, NONE_OK)["question_id"]]
    assert med["chosen_origin"] == "reference" and med["chosen"][0]["content"] == trace
    assert med["parent_ids"][1] == "sft-" + f"{1:020x}" and "Heparin" not in med["rejected"][0]["content"]
    arith = next(r for r in rows.values() if r["category"] == "nonmedical")
    assert arith["chosen"][0]["content"] == "<think>7 x 6 = 42.</think><answer>42</answer>"
    assert arith["rejected"][0]["content"] == "<answer>48</answer>"  # a real wrong answer ranks before none
    assert len(arith["parent_ids"]) == 2  # the source line is the question and the reference: listed once
    assert rows[oq(1, MIXED)["question_id"]]["chosen_origin"] == "sample"


def test_configured_model_replaces_the_checkpoint(tmp_path, tiny_model_dir):
    """`model` set: the checkpoint's model_path (here a folder that does not exist) is not used."""
    env = make_env(tmp_path, str(tmp_path / "no-such-checkpoint"), LLMResource(cache_dir=str(tmp_path / "cache")))
    result = run(env, {"model": tiny_model_dir, "n": 2, "max_tokens": 4})
    assert result.success and md(result, "rejection_samples")["model_source"] == "config"
    assert md(result, "rejection_samples")["model"] == tiny_model_dir


def test_pairs_go_through_trl_chat_template(tmp_path, tiny_model_dir):
    """TRL's CPO trainer applies the tokenizer's chat template to `prompt`: it must give `prompt_text`."""
    trl_data = pytest.importorskip("trl.data_utils")
    import datasets
    from transformers import AutoTokenizer

    from citrus_assets.model_training.preference.pairs import build_pairs
    from citrus_assets.model_training.preference.rejection import medical_items, sample_items
    from resources.llm import SamplingParams

    llm = LLMResource(model=tiny_model_dir, cache_dir=str(tmp_path / "cache"))
    items = medical_items(pa.Table.from_pylist([oq(1, MIXED)], schema=OPEN_QUESTION_SCHEMA)).items
    samples = sample_items(items, llm, SamplingParams(n=2, temperature=1.0, max_tokens=4)).to_pylist()
    samples[0]["reward"] = 1.0  # make a pair out of the (random) tiny-model samples; a chosen completion must pass
    samples[0]["response"] = "<think>It inhibits COX irreversibly.</think><answer>Aspirin</answer>"  # the filter
    pairs, _ = build_pairs(pa.Table.from_pylist(samples, schema=sample_items([], llm, SamplingParams()).schema))
    ds = datasets.Dataset(pairs)
    ex = ds[0]
    assert trl_data.is_conversational(ex)
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    applied = trl_data.maybe_apply_chat_template(ex, tok)
    assert applied["prompt"] == ex["prompt_text"] and applied["chosen"].startswith(ex["chosen"][0]["content"])


def test_sampling_model_resolution(tmp_path):
    from citrus_assets.model_training.preference.assets import RejectionConfig, sampling_llm

    ckpt = pa.Table.from_pylist([{"model_path": "/ckpt/stage3"}])
    llm = LLMResource(cache_dir=str(tmp_path / "cache"), batch_size=4)
    client, source = sampling_llm(llm, RejectionConfig(), ckpt)
    assert (client.model, client.backend, source) == ("/ckpt/stage3", "transformers", "checkpoint")
    assert client.cache_dir == llm.cache_dir and client.batch_size == 4  # the main resource's cache and settings
    client, source = sampling_llm(llm, RejectionConfig(model="org/other", base_url="http://h:8000/v1"), ckpt)
    assert (client.model, client.backend, client.base_url, source) == (
        "org/other",
        "openai",
        "http://h:8000/v1",
        "config",
    )
    served = LLMResource(backend="openai", model="judge", base_url="http://h:8000/v1", cache_dir=llm.cache_dir)
    client, _ = sampling_llm(served, RejectionConfig(model="policy"), ckpt)
    assert (client.backend, client.base_url) == ("openai", "http://h:8000/v1")
    assert sampling_llm(served, RejectionConfig(), ckpt)[0].backend == "transformers"  # a checkpoint folder is local
    assert sampling_llm(llm, RejectionConfig(model="resource"), ckpt)[0] is llm
    with pytest.raises(ValueError, match="no model_path"):
        sampling_llm(llm, RejectionConfig(), pa.Table.from_pylist([{"model_path": ""}]))
