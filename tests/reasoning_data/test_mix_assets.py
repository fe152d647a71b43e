"""The SFT mix assets end to end: dg.materialize on sample files and hand-built upstream tables,
decontamination of a planted MedQA question, side files, and loading with `datasets` for TRL."""

import json
import shutil

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from citrus_assets.common.metadata import output
from citrus_assets.reasoning_data.chat import is_think_answer
from citrus_assets.reasoning_data.instructions.assets import instruction_examples, instruction_sets
from citrus_assets.reasoning_data.mixes.assets import sft_stage1_mix, sft_stage2_mix, sft_stage3_mix
from citrus_assets.reasoning_data.mixes.checks import checks
from citrus_assets.reasoning_data.mixes.mixing import MIX_SCHEMA
from citrus_assets.reasoning_data.mixes.nonmedical_assets import NONMEDICAL_ASSET, nonmedical_reasoning
from citrus_assets.reasoning_data.schemas import DIFFICULTY_SCHEMA, EASY, HARD, SFT_EXAMPLE_SCHEMA
from citrus_assets.reasoning_data.seeds.assets import seed_sets
from resources.inbox import InboxResource
from resources.lake import Lake
from resources.lineage.ids import record_id
from tests.support.resources import make_resources

MEDQA = "benchmarks/medqa/us_4_options_test.jsonl"


@pytest.fixture
def eval_dir(tmp_path, shared_data):
    """A benchmark folder with the first 20 real MedQA test questions (small: the index builds in ms)."""
    dst = tmp_path / "eval" / MEDQA
    dst.parent.mkdir(parents=True)
    lines = (shared_data / MEDQA).read_text(encoding="utf-8").splitlines()[:20]
    dst.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return tmp_path / "eval", json.loads(lines[3])


def resources_for(tmp_path, **inbox):
    root = str(tmp_path / "lake")
    return root, make_resources(root, inbox=InboxResource(**inbox))


def md(result, asset):
    ev = [e for e in result.get_asset_materialization_events() if e.asset_key == dg.AssetKey(asset)]
    assert len(ev) == 1
    return {k: v.value for k, v in ev[0].materialization.metadata.items()}


def loads_for_trl(lake_root, asset, tokenizer_dir):
    """Both exports load with `datasets` in the conversational format TRL's SFTTrainer takes."""
    from datasets import load_dataset
    from transformers import AutoTokenizer

    lake = Lake(lake_root)
    ds = load_dataset("parquet", data_files=lake.data_path(asset, None), split="train")
    js = load_dataset("json", data_files=lake.data_path(asset, None, "export.jsonl"), split="train")
    assert js.column_names == ["messages"] and len(js) == len(ds)
    assert [r["messages"] for r in js] == [r["messages"] for r in ds]
    tok = AutoTokenizer.from_pretrained(tokenizer_dir)
    for row in ds:
        assert set(row["messages"][0]) == {"role", "content"}
        text = tok.apply_chat_template(row["messages"], tokenize=False)
        assert row["messages"][-1]["content"] in text
    return ds


def test_instruction_examples_to_stage_mixes(tmp_path, repo_root, tiny_model_dir, eval_dir):
    bench, medqa_item = eval_dir
    inbox = tmp_path / "inbox"
    shutil.copytree(repo_root / "sample" / "instructions", inbox)
    planted = {
        "messages": [
            {"role": "user", "content": medqa_item["question"]},
            {"role": "assistant", "content": medqa_item["answer"]},
        ]
    }
    with open(inbox / "general_chat_demo.jsonl", "a") as fh:
        fh.write(json.dumps(planted) + "\n")
    root, resources = resources_for(tmp_path, instructions_dir=str(inbox))
    instance = dg.DagsterInstance.ephemeral()
    keys = ["general_chat_demo", "sharegpt_demo"]
    instance.add_dynamic_partitions(instruction_sets.name, keys)
    for key in keys:
        r = dg.materialize(
            [instruction_examples, *checks[:1]], partition_key=key, resources=resources, instance=instance
        )
        assert r.success and all(e.passed for e in r.get_asset_check_evaluations())
    assert md(r, "instruction_examples")["quarantined"] == 1
    cfg = {"config": {"tokenizer": tiny_model_dir, "eval_data_dir": str(bench), "long_response_tokens": 100000}}
    result = dg.materialize(
        [instruction_examples, sft_stage1_mix, sft_stage2_mix, *checks[1:3]],
        selection=[sft_stage1_mix, sft_stage2_mix, *checks[1:3]],
        resources=resources,
        instance=instance,
        run_config={"ops": {"sft_stage1_mix": cfg, "sft_stage2_mix": cfg}},
    )
    assert result.success
    assert {e.check_name: e.passed for e in result.get_asset_check_evaluations()} == {
        "sft_stage1_mix_valid": True,
        "sft_stage2_mix_valid": True,
    }
    m1, m2 = md(result, "sft_stage1_mix"), md(result, "sft_stage2_mix")
    assert m2["dagster/row_count"] == 3 and m2["stage_reasons"] == {"multi_turn": 3}
    assert m1["dagster/row_count"] == 8  # 9 + 4 loaded - 1 cross-file duplicate - 3 multi-turn - 1 planted
    assert m1["decontamination"]["removed"] == 1 and m1["decontamination"]["removed_per_benchmark"] == {"medqa": 1}
    assert m1["duplicates"] == 1 and m2["duplicates"] == 0
    lake = Lake(root)
    report = pq.read_table(lake.data_path("sft_stage1_mix", None, "decontaminated.parquet")).to_pylist()
    assert len(report) == 1 and report[0]["benchmark"] == "medqa" and report[0]["category"] == "instruction"
    ds1 = loads_for_trl(root, "sft_stage1_mix", tiny_model_dir)
    assert medqa_item["question"] not in json.dumps([r["messages"] for r in ds1], ensure_ascii=False)
    assert lake.read_table("sft_stage2_mix").schema == MIX_SCHEMA


def _sft_tables(medqa_question: str) -> dict[str, tuple[pa.Table, pa.Table]]:
    gen = {f.name: None for f in SFT_EXAMPLE_SCHEMA if f.name.startswith("gen_")}

    def ex(i, qid, question):
        answer = f"<think>Facts first; candidate diagnoses; test each; conclude {i}.</think><answer>dx {i}</answer>"
        return dict(
            gen,
            record_id=f"sftex-{i:020x}",
            parent_ids=[f"trace-{i:016x}"],
            question_id=qid,
            language="en",
            response=answer,
            final_answer=f"dx {i}",
            n_tokens=20,
            messages=[{"role": "user", "content": question}, {"role": "assistant", "content": answer}],
        )

    def label(qid, lab):
        return {
            "record_id": f"diff-{qid}",
            "parent_ids": [qid],
            "question_id": qid,
            "difficulty": lab,
            "rule": "all_correct" if lab == EASY else "any_wrong",
            "judges": ["a", "b"],
            "judges_correct": [lab == EASY] * 2,
        }

    out = {}
    for part, offset in (("set_a", 0), ("set_b", 100)):
        exs = [
            ex(offset + i, f"q{offset + i}", f"Patient {offset + i} presents with symptom {i}; what next?")
            for i in range(10)
        ]
        labels = [label(f"q{offset + i}", HARD if i < 3 else EASY) for i in range(9)]  # the last has no label
        if part == "set_a":
            exs.append(ex(99, "q99", medqa_question))
            labels.append(label("q99", HARD))
        out[part] = (
            pa.Table.from_pylist(exs, schema=SFT_EXAMPLE_SCHEMA),
            pa.Table.from_pylist(labels, schema=DIFFICULTY_SCHEMA),
        )
    return out


def test_stage3_mix_from_hand_built_upstream(tmp_path, repo_root, tiny_model_dir, eval_dir):
    bench, medqa_item = eval_dir
    tables = _sft_tables(medqa_item["question"])

    @dg.asset(name="sft_examples", partitions_def=seed_sets)
    def sft_examples_standin(context: dg.AssetExecutionContext) -> dg.Output:
        return output(tables[context.partition_key][0])

    @dg.asset(name="question_difficulty", partitions_def=seed_sets)
    def difficulty_standin(context: dg.AssetExecutionContext) -> dg.Output:
        return output(tables[context.partition_key][1])

    root, resources = resources_for(tmp_path)
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(seed_sets.name, list(tables))
    upstream = [sft_examples_standin, difficulty_standin]
    for key in tables:
        assert dg.materialize(upstream, partition_key=key, resources=resources, instance=instance).success
    nonmed_cfg = {"nonmedical_dir": str(repo_root / "sample" / "reasoning")}
    assert dg.materialize(
        [nonmedical_reasoning],
        resources=resources,
        instance=instance,
        run_config={"ops": {NONMEDICAL_ASSET: {"config": nonmed_cfg}}},
    ).success
    upstream.append(nonmedical_reasoning)
    cfg = {"tokenizer": tiny_model_dir, "eval_data_dir": str(bench), "easy_share": 0.5, "nonmedical_ratio": 0.5}
    result = dg.materialize(
        [*upstream, sft_stage3_mix, checks[3]],
        selection=[sft_stage3_mix, checks[3]],
        resources=resources,
        instance=instance,
        run_config={"ops": {"sft_stage3_mix": {"config": cfg}}},
    )
    assert result.success
    assert [e.passed for e in result.get_asset_check_evaluations()] == [True]
    m = md(result, "sft_stage3_mix")
    sel = m["selection"]
    # hard: 3 + 3 labelled, 2 unlabeled, the planted one; easy: 12 available, half taken
    assert (sel["medical_hard"], sel["medical_easy_available"], sel["medical_easy"]) == (9, 12, 6)
    assert sel["unlabeled_counted_hard"] == 2 and sel["nonmedical_target"] == 8 and sel["nonmedical"] == 8
    assert m["decontamination"]["removed_per_benchmark"] == {"medqa": 1}
    assert m["categories"] == {"medical_hard": 8, "medical_easy": 6, "nonmedical": 8}
    assert m["token_stats"]["nonmedical"]["rows"] == 8 and m["tokens"] > 0
    lake = Lake(root)
    report = pq.read_table(lake.data_path("sft_stage3_mix", None, "decontaminated.parquet")).to_pylist()
    assert [(r["benchmark"], r["category"]) for r in report] == [("medqa", "medical_hard")]
    assert report[0]["record_id"] == record_id("s3mix", f"sftex-{99:020x}")
    assert "messages" in report[0]["reason"] and report[0]["matched_item_id"]
    assert m["export_jsonl"] == lake.data_path("sft_stage3_mix", None, "export.jsonl")
    ds = loads_for_trl(root, "sft_stage3_mix", tiny_model_dir)
    assert len(ds) == 22 and all(is_think_answer(r["messages"][-1]["content"]) for r in ds)
    mix = lake.read_table("sft_stage3_mix")
    nonmed = [r for r in mix.to_pylist() if r["category"] == "nonmedical"]
    # lineage: mix row -> nonmedical_reasoning record (its only parent) -> file and line
    records = {r["record_id"]: r for r in lake.read_table(NONMEDICAL_ASSET).to_pylist()}
    assert len(nonmed) == 8 and all(len(r["parent_ids"]) == 1 and r["parent_ids"][0] in records for r in nonmed)
    assert all(r["record_id"] == record_id("s3mix", r["parent_ids"][0]) and r["source_uri"] is None for r in nonmed)
    parents = [records[r["parent_ids"][0]] for r in nonmed]
    assert all(
        p["source_uri"].endswith("logic_math_demo.jsonl")
        and p["source_locator"].startswith("line ")
        and p["messages"] == r["messages"]
        for p, r in zip(parents, nonmed)
    )
    from resources.lineage.store import LineageStore  # what `citrus lineage trace` walks

    text = repr(LineageStore(lake.lineage_root, str(root) + "/_lineage/lineage.duckdb").trace(nonmed[0]["record_id"]))
    assert "sft_stage3_mix" in text and NONMEDICAL_ASSET in text and "logic_math_demo.jsonl" in text
    assert parents[0]["source_locator"] in text
