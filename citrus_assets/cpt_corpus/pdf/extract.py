"""PDF -> one clean document row per file, for the CPT corpus (plain Python, no Dagster).

``extract_pdf(path, uri)`` returns ``(row, None)`` or ``(None, QuarantineRecord)`` and never
raises for a bad file; ``extract_batch(paths)`` returns ``(rows, quarantine, stats)``.

Modules: ``pdf_page`` (what pymupdf gives per page: text lines from ``page.get_text("dict")``,
tables from ``page.find_tables()``, as Markdown), ``pdf_layout`` (reading order, running
headers/footers), ``pdf_text`` (paragraphs, de-hyphenation, captions, references, title, and the
checker functions re-exported here).

Table detection is the expensive step, so ``tables="auto"`` runs it only on pages with a
"Table n" caption line or ruled text that looks tabular (``pdf_page.looks_tabular``); ``"all"``
runs it on every page, ``"off"`` never. Text inside a found table's box is left out of the body
(the table is kept as Markdown in ``tables_markdown``).

Row fields beyond the lake contract: ``title``, ``body`` (clean text in reading order, paragraphs
separated by blank lines, references left out), ``references`` (from the references heading on),
``references_offset`` (char offset in ``body`` where the references were cut out, -1 if none),
``tables_markdown``, ``captions`` (also kept in the body), ``pages``/``page_start``/``page_end``,
``page_offsets`` (char offset in ``body`` where each page's text starts; ``body_pages(row)``),
``flagged_pages`` (1-based pages with images and < ``MIN_TEXT_CHARS`` characters: no text layer),
``n_chars`` (= len(body)), ``removed_header_footer_lines``, ``dehyphenated``. The ``record_id`` is
``record_id("pdfdoc", title, body, references, tables_markdown, captions)``: the same document
under two file names is one record (``extract_batch`` keeps it once, with both source ids).

Quarantine reasons (the part before ":" is the stable code counted in the batch stats):
``unreadable``, ``empty_file``, ``not_pdf``, ``truncated`` (no ``%%EOF`` near the end: MuPDF would
"repair" such a file and silently lose pages), ``corrupt`` (MuPDF cannot open or read a page),
``encrypted`` (a user password is needed; owner-password-only files open and are extracted),
``zero_pages``, ``too_large`` (more pages than ``max_pdf_pages``, ``resources/limits.py``), ``no_text_layer``
(every page is an image without text; the page numbers are in the reason), ``no_text`` (pages, but no text
at all: a blank file), the unusable-text codes of ``pdf_text.unusable_text`` (``too_little_text`` -- a deck
that is mostly images --, ``too_much_text``, ``garbage_text`` -- a scan's OCR layer of noise --,
``repeated_lines``; the same gates ``pdf_documents_valid`` re-checks, so one such document never fails a batch)
and ``extract_error`` (an unexpected error in this code on that file: a bug to look at).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import pymupdf

from citrus_assets.cpt_corpus.pdf.layout import (
    Block,
    Line,
    PageLines,
    body_style,
    find_running_lines,
    make_blocks,
    mark_footnotes,
    order_blocks,
)
from citrus_assets.cpt_corpus.pdf.page import TEXT_FLAGS, looks_tabular, page_lines, page_tables
from citrus_assets.cpt_corpus.pdf.text import (
    REFERENCES_RE,
    Para,
    Vocabulary,
    body_pages,
    is_deck,
    join_paras,
    join_slides,
    leftover_hyphenations,
    max_repeated_line_page_share,
    merge_continuations,
    plausible_metadata_title,
    split_paragraphs,
    split_references,
    text_per_page,
    title_from_blocks,
    unusable_text,
)
from resources.lake import QuarantineRecord, describe_bytes
from resources.limits import limits, over
from resources.lineage.ids import keep_first_by_id, record_id, source_id
from resources.lineage.schema import PARENT_IDS, RECORD_ID, SOURCE_LOCATOR, SOURCE_URI

__all__ = [
    "extract_pdf",
    "extract_batch",
    "max_repeated_line_page_share",
    "leftover_hyphenations",
    "text_per_page",
    "body_pages",
    "MIN_TEXT_CHARS",
]

KIND = "pdfdoc"
MIN_TEXT_CHARS = 30  # a page with images and fewer characters than this has no text layer
EOF_TAIL = 4096  # "%%EOF" must occur in the last this many bytes


class Rejected(Exception):
    def __init__(self, code: str, detail: str = ""):
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code


# ------------------------------------------------------------------ files
def _open(data: bytes) -> pymupdf.Document:
    if not data:
        raise Rejected("empty_file")
    if b"%PDF-" not in data[:1024]:
        raise Rejected("not_pdf", f"no %PDF- header in the first 1024 bytes (of {len(data)})")  # no raw bytes
    if b"%%EOF" not in data[-EOF_TAIL:]:
        raise Rejected("truncated", "no %%EOF marker at the end of the file")
    try:
        doc = pymupdf.open(stream=data, filetype="pdf")
    except Exception as e:  # noqa: BLE001 - MuPDF raises several types for broken files
        raise Rejected("corrupt", f"{type(e).__name__}: {e}") from None
    if doc.needs_pass:
        doc.close()
        raise Rejected("encrypted", "a password is needed to open it")
    if doc.page_count == 0:
        doc.close()
        raise Rejected("zero_pages")
    max_pages = limits().max_pdf_pages
    if over(doc.page_count, max_pages):  # a page bomb is refused before any page is read
        n = doc.page_count
        doc.close()
        raise Rejected("too_large", f"{n} pages, over max_pdf_pages={max_pages} ($CITRUS_MAX_PDF_PAGES)")
    return doc


def _quarantine(uri: str, locator: str, reason: str, data: bytes) -> QuarantineRecord:
    # never raw bytes: a "PDF" may be any file (a link to /etc/passwd); its size and hash identify it
    return QuarantineRecord(uri, locator, reason, describe_bytes(data, b"%PDF-"))


def extract_pdf(
    path: Path, uri: str | None = None, *, tables: str = "auto", table_markdown: str = "words"
) -> tuple[dict | None, QuarantineRecord | None]:
    """One document row for a PDF, or a quarantine record saying why there is none.

    ``uri`` defaults to the file name; ``tables`` is "auto" | "all" | "off" (see the module
    docstring); ``table_markdown`` is "words" | "to_markdown" (see ``pdf_page.page_tables``).
    """
    path = Path(path)
    uri = uri or path.name
    try:
        data = path.read_bytes()
    except OSError as e:
        return None, QuarantineRecord(uri, "file", f"unreadable: {type(e).__name__}: {e}", "")
    try:
        doc = _open(data)
    except Rejected as e:
        return None, _quarantine(uri, "file", str(e), data)
    try:
        return _extract(doc, uri, data, tables, table_markdown), None
    except Rejected as e:
        return None, _quarantine(uri, f"pages 1-{doc.page_count}", str(e), data)
    except Exception as e:  # noqa: BLE001 - one bad file must never stop a batch
        # not a MuPDF read failure (those are "corrupt"): an unexpected error, kept apart so it shows
        return None, _quarantine(uri, f"pages 1-{doc.page_count}", f"extract_error: {type(e).__name__}: {e}", data)
    finally:
        doc.close()


def _extract(doc: pymupdf.Document, uri: str, data: bytes, tables_mode: str, table_markdown: str) -> dict:
    pages: list[PageLines] = []
    page_tables_: list[list[tuple[pymupdf.Rect, str]]] = []
    flagged: list[int] = []
    sizes: list[tuple[float, float]] = []
    for i in range(doc.page_count):
        try:  # MuPDF failing on a page means a broken file
            page = doc.load_page(i)
            sizes.append((page.rect.width, page.rect.height))
            d = page.get_text("dict", flags=TEXT_FLAGS)
            lines = page_lines(d, i + 1, page.cropbox.width, page.cropbox.height)
            n_chars = sum(len(ln.text) for ln in lines.lines)
            if n_chars < MIN_TEXT_CHARS and page.get_image_info():
                flagged.append(i + 1)
        except Exception as e:  # noqa: BLE001
            raise Rejected("corrupt", f"page {i + 1}: {type(e).__name__}: {e}") from None
        want = tables_mode == "all" or (tables_mode == "auto" and n_chars > 0 and looks_tabular(page, lines))
        page_tables_.append(page_tables(page, table_markdown) if want else [])
        pages.append(lines)
    if len(flagged) == doc.page_count:
        raise Rejected("no_text_layer", f"pages {_ranges(flagged)} are images without text")

    running = find_running_lines(pages)
    refs_at = None
    for pi, page in enumerate(pages):
        for li, ln in enumerate(page.lines):
            if REFERENCES_RE.match(ln.text):
                refs_at = (pi, li)
    body_size, body_font = body_style(pages, refs_at)
    vocab = Vocabulary()
    for p in pages:
        for ln in p.lines:
            vocab.add(ln.text)
    ordered: list[Block] = []
    first_page_blocks: list[Block] | None = None
    tables_md: list[str] = []
    for pi, page in enumerate(pages):
        boxes = [r for r, _ in page_tables_[pi]]
        tables_md.extend(md for _, md in page_tables_[pi])
        keep = [(pi, li) not in running and not any(_inside(ln, r) for r in boxes) for li, ln in enumerate(page.lines)]
        blocks, _ = make_blocks(page, pi, keep)
        mark_footnotes(blocks, page, body_size)
        blocks = order_blocks(blocks)
        if first_page_blocks is None and blocks:
            first_page_blocks = blocks
        ordered.extend(blocks)

    paras, joins1 = split_paragraphs(ordered, body_size, body_font, vocab)
    paras, joins2 = merge_continuations(paras, vocab)
    before, refs, after = split_references(paras)
    if is_deck(sizes):  # a slide's title and its bullets are one paragraph
        before, after = join_slides(before), join_slides(after)
    body_paras = before + after
    body = join_paras(body_paras)
    if not body.strip() and not tables_md:  # e.g. a blank 5,000-page file: no document, a quarantined file
        raise Rejected("no_text", f"{doc.page_count} pages without any text")
    references = join_paras(refs)
    ref_offset = len(join_paras(before)) + (2 if before and after else 0) if refs else -1
    captions = [p.text for p in paras if p.caption]
    title = plausible_metadata_title(doc.metadata.get("title") if doc.metadata else None)
    if not title:
        title = title_from_blocks(first_page_blocks or [], vocab)
    n = doc.page_count
    src = source_id(uri, data)
    rid = record_id(KIND, title, body, references, tables_md, captions)
    row = {
        RECORD_ID: rid,
        PARENT_IDS: [src],
        SOURCE_URI: uri,
        SOURCE_LOCATOR: f"pages 1-{n}",
        "title": title,
        "body": body,
        "references": references,
        "references_offset": ref_offset,
        "tables_markdown": tables_md,
        "captions": captions,
        "pages": n,
        "page_start": 1,
        "page_end": n,
        "page_offsets": _page_offsets(body_paras, n),
        "flagged_pages": flagged,
        "n_chars": len(body),
        "removed_header_footer_lines": len(running),
        "dehyphenated": joins1 + joins2,
    }
    problem = unusable_text(row)
    if problem:  # set aside here, with its reason: never left for the blocking check to fail the batch on
        raise Rejected(*problem.split(": ", 1))
    return row


def _inside(line: Line, rect: pymupdf.Rect, pad: float = 1.0) -> bool:
    return rect.x0 - pad <= line.ocx <= rect.x1 + pad and rect.y0 - pad <= line.ocy <= rect.y1 + pad


def _page_offsets(paras: list[Para], n_pages: int) -> list[int]:
    """Char offset in the body where each page's text starts (monotonic; paragraphs count on their first page)."""
    offsets, pos, k = [], 0, 0
    starts = []
    for p in paras:
        if p.text:
            starts.append((p.page, pos))
            pos += len(p.text) + 2
    for page in range(n_pages):
        while k < len(starts) and starts[k][0] < page:
            k += 1
        offsets.append(starts[k][1] if k < len(starts) else max(0, pos - 2))
    return offsets


def _ranges(nums: list[int]) -> str:
    out, start, prev = [], None, None
    for n in nums:
        if start is None:
            start = prev = n
        elif n == prev + 1:
            prev = n
        else:
            out.append(f"{start}-{prev}" if start != prev else str(start))
            start = prev = n
    if start is not None:
        out.append(f"{start}-{prev}" if start != prev else str(start))
    return ",".join(out)


# ------------------------------------------------------------------ batches
def extract_batch(
    paths: Iterable[Path | str],
    *,
    uris: dict[str, str] | None = None,
    tables: str = "auto",
    table_markdown: str = "words",
) -> tuple[list[dict], list[QuarantineRecord], dict]:
    """Extract many PDFs; returns (rows, quarantine, funnel stats). Identical documents are kept once
    (the later file's source id is added to ``parent_ids``)."""
    t0 = time.perf_counter()
    rows: list[dict] = []
    by_id: dict[str, dict] = {}
    quarantine: list[QuarantineRecord] = []
    reasons: Counter = Counter()
    files_in = duplicates = 0
    for p in paths:
        files_in += 1
        p = Path(p)
        row, bad = extract_pdf(p, (uris or {}).get(str(p)), tables=tables, table_markdown=table_markdown)
        if bad is not None:
            quarantine.append(bad)
            reasons[bad.reason.split(":", 1)[0]] += 1
            continue
        if keep_first_by_id(by_id, row):
            rows.append(row)
        else:
            duplicates += 1
    stats = {
        "files_in": files_in,
        "ok": len(rows),
        "duplicates": duplicates,
        "quarantined": len(quarantine),
        "quarantined_by_reason": dict(sorted(reasons.items())),
        "pages": sum(r["pages"] for r in rows),
        "flagged_pages": sum(len(r["flagged_pages"]) for r in rows),
        "docs_with_flagged_pages": sum(1 for r in rows if r["flagged_pages"]),
        "tables": sum(len(r["tables_markdown"]) for r in rows),
        "docs_with_references": sum(1 for r in rows if r["references"]),
        "removed_header_footer_lines": sum(r["removed_header_footer_lines"] for r in rows),
        "dehyphenated": sum(r["dehyphenated"] for r in rows),
        "chars": sum(r["n_chars"] for r in rows),
        "seconds": round(time.perf_counter() - t0, 3),
    }
    return rows, quarantine, stats
