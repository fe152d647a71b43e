"""CPT-corpus assets (paper Figure 3, continued pre-training): documents extracted from PDFs."""

import dagster as dg
import pyarrow as pa

from citrus_assets.common.plots import funnel_md
from citrus_assets.common.scheduling.backfill import per_partition, single_run
from citrus_assets.common.scheduling.inbox_sensor import inbox_metadata
from citrus_assets.cpt_corpus.pdf.extract import extract_batch
from resources.inbox import InboxResource
from resources.lake import LakeResource
from resources.lineage.schema import PARENT_IDS, RECORD_ID, SOURCE_LOCATOR, SOURCE_URI

pdf_batches = dg.DynamicPartitionsDefinition(name="pdf_batches")

PDF_SCHEMA = pa.schema(
    [
        (RECORD_ID, pa.string()),
        (PARENT_IDS, pa.list_(pa.string())),
        (SOURCE_URI, pa.string()),
        (SOURCE_LOCATOR, pa.string()),
        ("title", pa.string()),
        ("body", pa.string()),
        ("references", pa.string()),
        ("references_offset", pa.int64()),
        ("tables_markdown", pa.list_(pa.string())),
        ("captions", pa.list_(pa.string())),
        ("pages", pa.int64()),
        ("page_start", pa.int64()),
        ("page_end", pa.int64()),
        ("page_offsets", pa.list_(pa.int64())),
        ("flagged_pages", pa.list_(pa.int64())),
        ("n_chars", pa.int64()),
        ("removed_header_footer_lines", pa.int64()),
        ("dehyphenated", pa.int64()),
    ]
)


class PdfExtractionConfig(dg.Config):
    """Table detection: "auto" (pages that look tabular), "all" (slow), or "off"."""

    tables: str = "auto"


@dg.asset(
    partitions_def=pdf_batches,
    code_version="pdf-v1",
    kinds={"parquet", "pymupdf"},
    backfill_policy=single_run(),
    description="Papers and guidelines extracted with pymupdf: reading order, no running headers, tables as "
    "Markdown, references separated, image-only pages flagged; one partition per PDF batch (a backfill over "
    "many batches is one run; each batch is still written, quarantined and checked on its own).",
)
def pdf_documents(
    context: dg.AssetExecutionContext, config: PdfExtractionConfig, inbox: InboxResource, lake: LakeResource
) -> dg.Output:
    return per_partition(context, lambda key: extract_pdf_batch(key, config, inbox, lake))


def extract_pdf_batch(key: str, config: PdfExtractionConfig, inbox: InboxResource, lake: LakeResource):
    """One PDF batch: its documents table and its materialization metadata (funnel picture included)."""
    paths = inbox.pdf_batch(key)
    rows, quarantine, stats = extract_batch(paths, uris={str(p): str(p) for p in paths}, tables=config.tables)
    _, n_bad = lake.lake().write_quarantine("pdf_documents", key, quarantine)
    table = pa.Table.from_pylist(rows, schema=PDF_SCHEMA)
    funnel = {
        "files in": stats["files_in"],
        "extracted": stats["ok"],
        "duplicates": stats["duplicates"],
        "quarantined": stats["quarantined"],
    }
    pages = [("pages extracted", stats["pages"]), ("pages flagged (no text layer)", stats["flagged_pages"])]
    return table, dict(
        **inbox_metadata(paths),
        funnel=dg.MetadataValue.json(funnel),
        funnel_picture=funnel_md(list(funnel.items()), f"pdf_documents {key}: files", unit="files"),
        pages_picture=funnel_md(pages, f"pdf_documents {key}: pages", unit="pages"),
        quarantined=n_bad,
        quarantined_by_reason=dg.MetadataValue.json(stats["quarantined_by_reason"]),
        pages=stats["pages"],
        flagged_pages=stats["flagged_pages"],
        tables=stats["tables"],
        removed_header_footer_lines=stats["removed_header_footer_lines"],
        dehyphenated=stats["dehyphenated"],
    )
