"""The web assets: two shards curated as partitions, then deduplicated across both."""

import json
import shutil

import dagster as dg

from citrus_assets.common.stages import load_stage
from citrus_assets.cpt_corpus.web.assets import web_corpus, web_documents, web_shards
from citrus_assets.cpt_corpus.web.checks import dedup_rate
from resources.inbox import InboxResource
from resources.lake import Lake
from tests.support.resources import make_resources


def test_shards_then_cross_shard_dedup(tmp_path, repo_root):
    inbox = tmp_path / "web"
    inbox.mkdir()
    shutil.copy(repo_root / "sample" / "web" / "web_demo.jsonl", inbox / "shard_a.jsonl")
    # shard_b repeats shard_a's asthma page exactly: a cross-shard duplicate
    asthma = next(json.loads(ln) for ln in (inbox / "shard_a.jsonl").read_text().splitlines()[:5] if "asthma" in ln)
    asthma["id"] = "other-id"
    (inbox / "shard_b.jsonl").write_text(json.dumps(asthma) + "\n")
    lake_root = str(tmp_path / "lake")
    resources = make_resources(lake_root, inbox=InboxResource(web_dir=str(inbox)))
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(web_shards.name, ["shard_a", "shard_b"])
    cpt_checks = load_stage("citrus_assets.cpt_corpus").checks
    web_checks = [c for c in cpt_checks if any(k.asset_key.path[0].startswith("web_") for k in c.check_keys)]
    for key in ("shard_a", "shard_b"):
        res = dg.materialize(
            [web_documents, web_corpus, *web_checks],
            selection=[web_documents],
            partition_key=key,
            resources=resources,
            instance=instance,
        )
        assert res.success
    res = dg.materialize(
        [web_documents, web_corpus, *web_checks], selection=[web_corpus], resources=resources, instance=instance
    )
    assert res.success
    assert all(e.passed for e in res.get_asset_check_evaluations())
    lake = Lake(lake_root)
    a, b = lake.read_table("web_documents", "shard_a"), lake.read_table("web_documents", "shard_b")
    assert a.num_rows == 4 and b.num_rows == 1  # spam page dropped in shard_a
    import pyarrow.parquet as pq

    rejects = pq.read_table(lake.data_path("web_documents", "shard_a", "rejects.parquet")).to_pylist()
    assert len(rejects) == 1 and rejects[0]["filter"] and "click here" in rejects[0]["text"]
    kept = lake.read_table("web_corpus", None)
    assert kept.num_rows == 3  # near-duplicate anemia page and the cross-shard asthma copy removed
    assert 0 < dedup_rate(kept) <= 0.6
    assert lake.read_quarantine("web_documents", "shard_a").num_rows == 1  # the broken JSON line


def test_corpus_labels_and_shards_from_pdf_web_and_textbooks(tmp_path, repo_root, tiny_model_dir, scripted_llm):
    from citrus_assets.cpt_corpus.corpus.assets import cpt_documents, cpt_shards
    from citrus_assets.cpt_corpus.pdf.assets import pdf_batches, pdf_documents
    from citrus_assets.cpt_corpus.textbooks.assets import textbook_batches, textbook_chunks, textbook_questions

    lake_root = str(tmp_path / "lake")
    resources = make_resources(
        lake_root,
        inbox=InboxResource(
            web_dir=str(repo_root / "sample" / "web"),
            pdfs_dir=str(repo_root / "sample" / "pdfs"),
            textbooks_dir=str(repo_root / "sample" / "textbooks"),
        ),
        llm=scripted_llm,
    )
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(web_shards.name, ["web_demo"])
    instance.add_dynamic_partitions(pdf_batches.name, ["batch_001"])
    instance.add_dynamic_partitions(textbook_batches.name, ["cardiology"])
    everything = [
        pdf_documents,
        web_documents,
        web_corpus,
        textbook_chunks,
        textbook_questions,
        cpt_documents,
        cpt_shards,
        *load_stage("citrus_assets.cpt_corpus").checks,
    ]
    assert dg.materialize(
        everything, selection=[web_documents], partition_key="web_demo", resources=resources, instance=instance
    ).success
    assert dg.materialize(
        everything, selection=[pdf_documents], partition_key="batch_001", resources=resources, instance=instance
    ).success
    assert dg.materialize(
        everything,
        selection=[textbook_chunks, textbook_questions],
        partition_key="cardiology",
        resources=resources,
        instance=instance,
    ).success
    # A made-up evaluation set whose one question quotes the sample's asthma page: that page must go.
    bench = tmp_path / "eval" / "benchmarks" / "medqa"
    bench.mkdir(parents=True)
    asthma = next(
        json.loads(ln)["text"]
        for ln in (repo_root / "sample" / "web" / "web_demo.jsonl").read_text().splitlines()
        if "asthma" in ln.lower() and ln.strip().endswith("}")
    )
    stem = " ".join(asthma.split()[:30]) + " What is the diagnosis?"
    (bench / "test.jsonl").write_text(
        json.dumps({"question": stem, "options": {"A": "Asthma", "B": "COPD"}, "answer_idx": "A"}) + "\n"
    )
    cfg = {"tokenizer": tiny_model_dir, "target_tokens_per_shard": 400, "eval_data_dir": str(tmp_path / "eval")}
    res = dg.materialize(
        everything,
        selection=[web_corpus, cpt_documents, cpt_shards],
        resources=resources,
        instance=instance,
        run_config={"ops": {"cpt_documents": {"config": cfg}, "cpt_shards": {"config": cfg}}},
    )
    assert res.success and all(e.passed for e in res.get_asset_check_evaluations())
    lake = Lake(lake_root)
    docs = lake.read_table("cpt_documents", None)
    by_source = {s: docs["source"].to_pylist().count(s) for s in set(docs["source"].to_pylist())}
    assert by_source == {"pdf": 1, "web": 2, "textbook_chunks": 3, "textbook_questions": 2}
    qa = next(r for r in docs.to_pylist() if r["source"] == "textbook_questions")
    question = lake.read_table("textbook_questions", "cardiology").to_pylist()
    assert qa["text"].startswith("Question: ") and "\nAnswer: " in qa["text"]
    assert qa["parent_ids"][0] in {q["record_id"] for q in question}
    chunk_ids = set(lake.read_table("textbook_chunks", "cardiology")["record_id"].to_pylist())
    assert {p for r in docs.to_pylist() if r["source"] == "textbook_chunks" for p in r["parent_ids"]} == chunk_ids
    import pyarrow.parquet as pq

    removed = pq.read_table(lake.data_path("cpt_documents", None, "decontaminated.parquet")).to_pylist()
    assert len(removed) == 1 and removed[0]["benchmark"] == "medqa" and removed[0]["matched_item_id"]
    assert dict(zip(docs["source"].to_pylist(), docs["domain"].to_pylist()))["pdf"] == "medical"
    manifest = lake.read_table("cpt_shards", None)
    assert sum(manifest["documents"].to_pylist()) == docs.num_rows
    assert sum(manifest["tokens"].to_pylist()) == sum(docs["n_tokens"].to_pylist())
    assert sum(pq.read_table(p).num_rows for p in manifest["path"].to_pylist()) == docs.num_rows
