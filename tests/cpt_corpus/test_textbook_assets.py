"""textbook_chunks and textbook_questions materialized (tiny model and scripted LLM), checks, sensor keys."""

import shutil

import dagster as dg
import pyarrow as pa

from citrus_assets.cpt_corpus.sensors import textbook_batch_keys
from citrus_assets.cpt_corpus.textbooks.assets import textbook_batches, textbook_chunks, textbook_questions
from citrus_assets.cpt_corpus.textbooks.checks import QUESTION_RULES, _with_chunks, checks
from resources.inbox import InboxResource
from resources.lake import Lake
from resources.llm import LLMResource
from tests.support.resources import make_resources


def _inbox(tmp_path, repo_root):
    inbox = tmp_path / "textbooks"
    shutil.copytree(repo_root / "sample" / "textbooks" / "cardiology", inbox / "cardiology")
    (inbox / "cardiology" / "broken.txt").write_bytes(b"Fi\xe8vre\n")
    (inbox / "loose.md").write_text("# Loose\n\nA loose file is a batch of its own about the kidney.\n")
    return inbox


def _run(tmp_path, inbox, llm, run_config=None):
    lake_root = str(tmp_path / "lake")
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(textbook_batches.name, ["cardiology"])
    res = dg.materialize(
        [textbook_chunks, textbook_questions, *checks],
        partition_key="cardiology",
        instance=instance,
        resources=make_resources(lake_root, inbox=InboxResource(textbooks_dir=str(inbox)), llm=llm),
        run_config=run_config,
    )
    md = {
        e.asset_key.to_user_string(): {k: v.value for k, v in e.materialization.metadata.items()}
        for e in res.get_asset_materialization_events()
    }
    return res, md, Lake(lake_root)


def test_sensor_keys_batches_and_loose_files(tmp_path, repo_root):
    assert textbook_batch_keys(InboxResource(textbooks_dir=str(_inbox(tmp_path, repo_root)))) == ["cardiology", "loose"]


def test_tiny_model_run_accounts_for_every_generation(tmp_path, repo_root, tiny_model_dir):
    inbox = _inbox(tmp_path, repo_root)
    fast = {"ops": {"textbook_questions": {"config": {"max_tokens": 6}}}}  # the random model only babbles
    res, md, lake = _run(tmp_path, inbox, LLMResource(model=tiny_model_dir, cache_dir=str(tmp_path / "cache")), fast)
    assert res.success and all(e.passed for e in res.get_asset_check_evaluations())
    assert len(res.get_asset_check_evaluations()) == 2  # an empty partition shows in its has_rows check (code location)
    chunks = lake.read_table("textbook_chunks", "cardiology")
    assert chunks.num_rows == 3 and md["textbook_chunks"]["quarantined"] == 1
    assert lake.read_quarantine("textbook_chunks", "cardiology")["reason"][0].as_py().startswith("not_utf8")
    funnel = md["textbook_questions"]["funnel"]
    assert funnel["prompts"] == funnel["generations"] == 6  # 3 chunks x 2 default operators, one call
    qs = lake.read_table("textbook_questions", "cardiology")
    assert funnel["kept"] == qs.num_rows and funnel["dropped"] == md["textbook_questions"]["quarantined"]
    assert sum(md["textbook_questions"]["dropped_by_reason"].values()) == funnel["dropped"]
    assert lake.read_quarantine("textbook_questions", "cardiology").num_rows == funnel["dropped"]
    assert set(sum(qs["parent_ids"].to_pylist(), [])) <= set(chunks["record_id"].to_pylist())


def test_scripted_run_lineage_and_drop_reasons(tmp_path, repo_root, scripted_llm):
    inbox = _inbox(tmp_path, repo_root)
    res, md, lake = _run(tmp_path, inbox, scripted_llm)
    assert res.success and all(e.passed for e in res.get_asset_check_evaluations())
    chunks = {r["record_id"]: r for r in lake.read_table("textbook_chunks", "cardiology").to_pylist()}
    qs = lake.read_table("textbook_questions", "cardiology").to_pylist()
    assert md["textbook_questions"]["dropped_by_reason"] == {
        "empty": 0,
        "unparseable": 0,
        "refusal": 2,
        "degenerate": 0,
        "off_topic": 2,
        "duplicate": 0,
    }
    assert len(qs) == 2 and {q["operator"] for q in qs} == {"deepen"}
    for q in qs:
        chunk = chunks[q["parent_ids"][0]]
        assert q["parent_ids"] == [q["chunk_id"]] and chunk["text"] in q["prompt"]
        assert q["answer"] == chunk["text"].split(". ")[0].strip() + "." or q["answer"] in chunk["text"]
        assert q["gen_model_id"] == "scripted" and q["gen_prompt_template"] == "evol_system+evol_deepen"
        assert q["gen_sampling"] and q["gen_prompt_hash"]
    assert all(c["parent_ids"][0].startswith("src-") for c in chunks.values())
    reasons = lake.read_quarantine("textbook_questions", "cardiology")["reason"].to_pylist()
    assert sorted(r.split(":")[0] for r in reasons) == ["off_topic"] * 2 + ["refusal"] * 2


def test_question_rules_catch_missing_parent_and_unrendered_prompt():
    chunks = pa.table({"record_id": ["c1"], "text": ["Aspirin inhibits platelets."]})
    qs = pa.table(
        {
            "parent_ids": [["c1"], ["c1"], ["gone"]],
            "prompt": ["Passage:\nAspirin inhibits platelets.", "Passage:\n{chunk}", "Aspirin inhibits platelets."],
        }
    )
    df = _with_chunks(qs, chunks).to_pandas()
    parent, rendered = QUESTION_RULES
    assert list(parent.flags(df)) == [True, True, False]
    assert list(rendered.flags(df)) == [True, False, False]
