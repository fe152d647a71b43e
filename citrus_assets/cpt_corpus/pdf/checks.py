"""Great Expectations checks of the CPT-corpus assets (names are constants)."""

from citrus_assets.cpt_corpus.pdf.assets import pdf_documents
from citrus_assets.cpt_corpus.pdf.extract import body_pages, leftover_hyphenations, max_repeated_line_page_share
from citrus_assets.cpt_corpus.pdf.text import (
    MAX_CHARS_PER_PAGE,
    MAX_REPEATED_LINE_SHARE,
    MIN_CHARS_PER_PAGE,
    unusable_text,
)
from quality import RowRule, gx_asset_check, id_suite, not_null
from quality.suites import between

PDF_DOCUMENTS_VALID = "pdf_documents_valid"

# The per-document gates (characters per page with text, repeated lines, garbage text) live in
# pdf_text.unusable_text: extraction quarantines a document failing one, so these rules fail only when
# extraction let one through -- a fault of the batch's code, which must stop the batch.


def _rows(df):
    """Rows as plain dicts (list columns arrive from pandas as numpy arrays)."""
    return [
        {k: (list(v) if hasattr(v, "tolist") and not isinstance(v, str) else v) for k, v in r.items()}
        for r in df.to_dict("records")
    ]


no_running_lines = RowRule(
    name="no_header_footer_on_half_the_pages",
    description="No line is repeated on more than half the pages of a document (running headers/footers removed).",
    derive=lambda df: [max_repeated_line_page_share(body_pages(r)) <= MAX_REPEATED_LINE_SHARE for r in _rows(df)],
    columns=("body", "page_offsets", "pages"),
)
not_garbage = RowRule(
    name="text_not_garbage",
    description="Letters, English words and token lengths of real text (no OCR noise layer).",
    derive=lambda df: [not (unusable_text(r) or "").startswith("garbage_text") for r in _rows(df)],
    columns=("body", "n_chars", "pages", "flagged_pages", "page_offsets"),
)
no_hyphenation = RowRule(
    name="no_line_end_hyphenation",
    description="No word is left broken by a line-end hyphen.",
    derive=lambda df: [leftover_hyphenations(b or "") == 0 for b in df["body"]],
    columns=("body",),
)

pdf_check = gx_asset_check(
    asset=pdf_documents,
    name=PDF_DOCUMENTS_VALID,
    blocking=True,
    description="Unique ids, non-empty text, sane text per page, no running headers/footers, no hyphenation left.",
    suite=lambda: id_suite() + not_null(["body", "source_uri"]) + between("n_chars", 1, None),
    rules=[
        no_running_lines,
        no_hyphenation,
        not_garbage,
        RowRule(
            name="text_per_page_sane",
            description=f"{MIN_CHARS_PER_PAGE}..{MAX_CHARS_PER_PAGE} characters per page with text.",
            derive=lambda df: [
                MIN_CHARS_PER_PAGE <= n / max(1, p - len(f if f is not None else [])) <= MAX_CHARS_PER_PAGE
                for n, p, f in zip(df["n_chars"], df["pages"], df["flagged_pages"])
            ],
            columns=("n_chars", "pages", "flagged_pages"),
        ),
    ],
)

checks = [pdf_check]
