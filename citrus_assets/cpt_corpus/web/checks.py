"""Checks of the web assets: GX suites for rows, and a blocking bound on the dedup rate."""

import dagster as dg
import pyarrow as pa
import pyarrow.compute as pc

from citrus_assets.cpt_corpus.web.assets import web_corpus, web_documents
from quality import gx_asset_check, id_suite, not_null
from quality.suites import between

WEB_DOCUMENTS_VALID = "web_documents_valid"
WEB_CORPUS_VALID = "web_corpus_valid"
WEB_DEDUP_RATE = "web_dedup_rate_in_bounds"
# A collapsed dedup (everything a "duplicate") would silently destroy the corpus: block above this rate.
MAX_DEDUP_RATE = 0.6


def dedup_rate(kept: pa.Table) -> float:
    """Removed / (kept + removed), from the kept table's ``duplicates_removed`` counts."""
    removed = int(pc.sum(kept["duplicates_removed"]).as_py() or 0) if kept.num_rows else 0
    total = kept.num_rows + removed
    return removed / total if total else 0.0


web_documents_check = gx_asset_check(
    asset=web_documents,
    name=WEB_DOCUMENTS_VALID,
    blocking=True,
    description="Unique ids, non-empty text, source recorded.",
    suite=lambda: id_suite() + not_null(["text", "source_uri"]) + between("n_chars", 1, None),
)
web_corpus_check = gx_asset_check(
    asset=web_corpus,
    name=WEB_CORPUS_VALID,
    blocking=True,
    description="Unique ids and non-empty text after dedup.",
    suite=lambda: id_suite() + not_null(["text"]),
)


@dg.asset_check(
    asset=web_corpus,
    name=WEB_DEDUP_RATE,
    blocking=True,
    description=f"Dedup removed at most {MAX_DEDUP_RATE:.0%} of the documents.",
)
def web_dedup_rate_check(web_corpus: pa.Table) -> dg.AssetCheckResult:
    rate = dedup_rate(web_corpus)
    return dg.AssetCheckResult(
        passed=rate <= MAX_DEDUP_RATE,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"dedup_rate": round(rate, 4), "max_dedup_rate": MAX_DEDUP_RATE},
    )


checks = [web_documents_check, web_corpus_check, web_dedup_rate_check]
