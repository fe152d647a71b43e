"""The pdf_documents asset: one batch with a good PDF and bad files; bad files quarantined, checks pass."""

import shutil

import dagster as dg

from citrus_assets.common.stages import load_stage
from citrus_assets.cpt_corpus.pdf.assets import pdf_batches, pdf_documents
from resources.inbox import InboxResource
from resources.lake import Lake
from tests.support.resources import make_resources


def test_pdf_batch_materializes_and_quarantines_bad_files(tmp_path, repo_root):
    batch = tmp_path / "pdfs" / "batch_a"
    batch.mkdir(parents=True)
    sample = repo_root / "sample" / "pdfs" / "batch_001" / "hypertension_primer.pdf"
    shutil.copy(sample, batch / "primer.pdf")
    (batch / "empty.pdf").write_bytes(b"")
    (batch / "notes.pdf").write_text("this is not a pdf")
    (batch / "truncated.pdf").write_bytes(sample.read_bytes()[:3000])
    lake_root = str(tmp_path / "lake")
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(pdf_batches.name, ["batch_a"])
    result = dg.materialize(
        [pdf_documents, *load_stage("citrus_assets.cpt_corpus").checks],
        partition_key="batch_a",
        instance=instance,
        resources=make_resources(lake_root, inbox=InboxResource(pdfs_dir=str(tmp_path / "pdfs"))),
    )
    assert result.success
    md = {k: v.value for k, v in result.get_asset_materialization_events()[0].materialization.metadata.items()}
    assert md["dagster/row_count"] == 1
    assert md["quarantined"] == 3
    assert md["tables"] == 1 and md["pages"] == 2
    assert all(e.passed for e in result.get_asset_check_evaluations())
    lake = Lake(lake_root)
    doc = lake.read_table("pdf_documents", "batch_a").to_pylist()[0]
    assert "Citrus Lake Clinical Primer" not in doc["body"]  # running header removed
    assert "diagnosis is made" in doc["body"]  # "diag-\nnosis" re-joined
    assert doc["references"].startswith("References")
    reasons = {
        q["source_uri"].rsplit("/", 1)[-1]: q["reason"]
        for q in lake.read_quarantine("pdf_documents", "batch_a").to_pylist()
    }
    assert set(reasons) == {"empty.pdf", "notes.pdf", "truncated.pdf"}


def test_pdf_check_rules_fail_on_leftover_headers_and_hyphens():
    import pandas as pd

    from citrus_assets.cpt_corpus.pdf.checks import no_hyphenation, no_running_lines

    pages = [
        "Journal of Tests 2020\nReal text one about the heart.\n",
        "Journal of Tests 2020\nMore text on the kid-\nney.\n",
        "Journal of Tests 2020\nThe end.\n",
    ]
    body = "".join(pages)
    offsets = [0, len(pages[0]), len(pages[0]) + len(pages[1])]
    df = pd.DataFrame([{"body": body, "page_offsets": offsets, "pages": 3}])
    assert list(no_running_lines.derive(df)) == [False]
    assert list(no_hyphenation.derive(df)) == [False]
    clean = pd.DataFrame(
        [{"body": "Real text.\nMore text on the kidney.\nThe end.\n", "page_offsets": [0, 11, 37], "pages": 3}]
    )
    assert list(no_running_lines.derive(clean)) == [True]
    assert list(no_hyphenation.derive(clean)) == [True]
