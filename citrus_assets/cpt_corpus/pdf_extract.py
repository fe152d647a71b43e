"""PDF -> one clean document row per file, for the CPT corpus (plain Python, no Dagster).

``extract_pdf(path, uri)`` returns ``(row, None)`` or ``(None, QuarantineRecord)`` and never
raises for a bad file; ``extract_batch(paths)`` returns ``(rows, quarantine, stats)``.

Per page, pymupdf gives the text lines (``page.get_text("dict")``, ligatures expanded) and, on
pages that look like they hold a table, the tables (``page.find_tables()`` + ``to_markdown()``).
The rules for reading order and running headers/footers are in ``pdf_layout``, those for
paragraphs, de-hyphenation, captions, references and the title in ``pdf_text``.

Table detection is the expensive step (pymupdf's layout model, ~0.5-1 s a page on 2 CPU cores),
so ``tables="auto"`` runs it only on pages with a "Table n" caption line or ruled text that looks
tabular (``looks_tabular``). ``"all"`` runs it on every page,
``"off"`` never. Text inside a found table's box is left out of the body (the table is kept as
Markdown in ``tables_markdown``).

Quarantine reasons (the part before ":" is the stable code counted in the batch stats):
``unreadable``, ``empty_file``, ``not_pdf``, ``truncated`` (no ``%%EOF`` near the end: MuPDF would
"repair" such a file and silently lose pages), ``corrupt`` (MuPDF cannot open or read a page),
``encrypted`` (a user password is needed; owner-password-only files open and are extracted),
``zero_pages``, ``no_text_layer`` (every page is an image without text; the page numbers are in
the reason) and ``extract_error`` (an unexpected error in this code on that file: a bug to look at).
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Iterable

import pymupdf

from resources.lake import QuarantineRecord
from resources.lineage.ids import record_id, source_id
from resources.lineage.schema import PARENT_IDS, RECORD_ID, SOURCE_LOCATOR, SOURCE_URI

from .pdf_layout import (
    Block,
    Line,
    PageLines,
    body_style,
    find_running_lines,
    make_blocks,
    mark_footnotes,
    order_blocks,
)
from .pdf_text import (
    CAPTION_RE,
    REFERENCES_RE,
    Para,
    Vocabulary,
    body_pages,
    clean_line,
    join_paras,
    leftover_hyphenations,
    max_repeated_line_page_share,
    merge_continuations,
    plausible_metadata_title,
    split_paragraphs,
    split_references,
    text_per_page,
    title_from_blocks,
)

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
TEXT_FLAGS = pymupdf.TEXT_MEDIABOX_CLIP | pymupdf.TEXT_PRESERVE_WHITESPACE  # ligatures expanded, no images
EOF_TAIL = 4096
RULE_MIN_SHARE = 0.2
TABLE_CELL_SHARE = 0.35
RULE_CHARS = " .-_·…=*~–—"  # a ruling line spans at least this share of the page width


class Rejected(Exception):
    def __init__(self, code: str, detail: str = ""):
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code


# ------------------------------------------------------------------ pages
def read_page(page: pymupdf.Page, number: int) -> PageLines:
    """Text lines of a page, turned so that its dominant text direction reads left to right."""
    return page_lines(page.get_text("dict", flags=TEXT_FLAGS), number, page.cropbox.width, page.cropbox.height)


def page_lines(d: dict, number: int, w: float, h: float) -> PageLines:
    """``page.get_text("dict")`` output -> lines in the frame of the dominant direction.

    Lines in other directions (margin stamps, a running header on a landscape page) are dropped.
    """
    raw = []
    by_dir: Counter = Counter()
    for b in d["blocks"]:
        for ln in b.get("lines", ()):
            spans = ln["spans"]
            if not any(s["text"].strip() for s in spans):
                continue
            dxy = (round(ln["dir"][0], 2), round(ln["dir"][1], 2))
            n = sum(len(s["text"].strip()) for s in spans)
            by_dir[dxy] += n
            raw.append((b["number"], ln["bbox"], dxy, spans, n))
    if not raw:
        return PageLines(number, (0.0, 0.0, w, h))
    dom = by_dir.most_common(1)[0][0]
    mat = None if dom == (1.0, 0.0) else pymupdf.Matrix(dom[0], -dom[1], dom[1], dom[0], 0, 0)
    frame = pymupdf.Rect(0, 0, w, h) if mat is None else pymupdf.Rect(0, 0, w, h) * mat
    lines = []
    for bno, bbox, dxy, spans, n in raw:
        if dxy != dom:
            continue
        r = pymupdf.Rect(bbox)
        fr = r if mat is None else r * mat
        text = clean_line("".join(s["text"] for s in spans))
        if not text or (len(text) >= 5 and not text.strip(RULE_CHARS)):
            continue  # empty, or a rule typeset as a row of dots/dashes
        inked = [s for s in spans if s["text"].strip()]
        main = max(inked, key=lambda s: len(s["text"]))
        bold_chars = sum(len(s["text"]) for s in inked if _is_bold(s))
        lines.append(
            Line(fr.x0, fr.y0, fr.x1, fr.y1, text, main["size"], bold_chars >= 0.9 * n, _is_bold(inked[0]),
                 main["font"], bno, (r.x0 + r.x1) / 2, (r.y0 + r.y1) / 2)
        )
    return PageLines(number, (frame.x0, frame.y0, frame.x1, frame.y1), lines)


def _is_bold(span: dict) -> bool:
    font = span.get("font", "")
    return bool(span.get("flags", 0) & 16) or any(k in font for k in ("Bold", "Black", "Heavy", ".B", "Semibold"))


def looks_tabular(page: pymupdf.Page, lines: PageLines) -> bool:
    """Cheap gate for ``find_tables``: a "Table n" caption line, or ruled tabular text.

    A rule is a stroked line segment, or a path drawn as a thin bar, at least 20% of the page's
    shorter side long; paths with curves (rounded boxes) do not count. Ruled tabular text: at least
    two horizontal rules, and between the top and bottom rule at least 6 lines, half of them short
    (< 35% of the rule span): table cells, not an abstract box. On a turned page (landscape
    table pages) two rules in any direction are enough.
    """
    if any(l.text[:3].lower() == "tab" and CAPTION_RE.match(l.text) for l in lines.lines):
        return True
    min_len = RULE_MIN_SHARE * min(page.rect.width, page.rect.height)
    horiz: list[tuple[float, float, float]] = []
    n_vert = 0
    for path in page.get_cdrawings():
        items = path.get("items", ())
        if any(it[0] in ("c", "qu") for it in items):
            continue
        if path.get("type") == "s":
            segs = [(it[1][0], it[1][1], it[2][0], it[2][1]) if it[0] == "l" else tuple(it[1])
                    for it in items if it[0] in ("l", "re")]
        else:
            segs = [tuple(path["rect"])]
        for x0, y0, x1, y1 in segs:
            w, h = abs(x1 - x0), abs(y1 - y0)
            if h < 2 and w >= min_len:
                horiz.append((min(x0, x1), (y0 + y1) / 2, max(x0, x1)))
            elif w < 2 and h >= min_len:
                n_vert += 1
    turned = page.rotation != 0 or (lines.frame[0], lines.frame[1]) != (0.0, 0.0)
    if turned:
        return len(horiz) + n_vert >= 2
    if len(horiz) < 2:
        return False
    x0, x1 = min(h[0] for h in horiz), max(h[2] for h in horiz)
    y0, y1 = min(h[1] for h in horiz), max(h[1] for h in horiz)
    inside = [l for l in lines.lines if x0 - 2 <= l.ocx <= x1 + 2 and y0 <= l.ocy <= y1]
    short = sum(1 for l in inside if l.x1 - l.x0 < TABLE_CELL_SHARE * (x1 - x0))
    return len(inside) >= 6 and short >= 0.5 * len(inside)


def page_tables(page: pymupdf.Page) -> list[tuple[pymupdf.Rect, str]]:
    """(box in unrotated page coordinates, Markdown) of each table pymupdf finds on the page.

    ``Table.to_markdown()`` re-extracts every cell (~15 ms a cell, about 1 s for a 60-cell table);
    ``Table.extract()`` is 20x faster but loses spaces and decimal points in these journals
    ("67 .7", "Privacygiven"), so the Markdown comes from ``to_markdown``.
    """
    found = page.find_tables()
    if found is None:  # pymupdf returns None when its detector fails on a page
        return []
    out = []
    for t in found.tables:
        if t.row_count < 2 or t.col_count < 2:
            continue
        try:
            md = t.to_markdown(clean=False, fill_empty=False)
        except Exception:  # noqa: BLE001 - a table we cannot render is left in the body text
            continue
        rect = pymupdf.Rect(t.bbox)
        if page.rotation:
            rect = rect * page.derotation_matrix
        out.append((rect, _clean_markdown(md)))
    return out


def _clean_markdown(md: str) -> str:
    """Drop rows that hold only dot leaders/rules or nothing (typeset rules drawn as text)."""
    rows = md.strip().splitlines()
    keep = rows[:2] + [r for r in rows[2:] if r.strip("|").replace("|", "").strip(" .-_·…") != ""]
    return "\n".join(keep)


# ------------------------------------------------------------------ files
def _open(data: bytes) -> pymupdf.Document:
    if not data:
        raise Rejected("empty_file")
    if b"%PDF-" not in data[:1024]:
        raise Rejected("not_pdf", f"no %PDF- header, starts with {data[:16]!r}")
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
    return doc


def _quarantine(uri: str, locator: str, reason: str, data: bytes) -> QuarantineRecord:
    return QuarantineRecord(uri, locator, reason, data[:200].decode("latin-1"))


def extract_pdf(
    path: Path, uri: str | None = None, *, tables: str = "auto"
) -> tuple[dict | None, QuarantineRecord | None]:
    """One document row for a PDF, or a quarantine record saying why there is none.

    ``uri`` defaults to the file name; ``tables`` is "auto" | "all" | "off" (see the module
    docstring).
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
        return _extract(doc, uri, data, tables), None
    except Rejected as e:
        return None, _quarantine(uri, f"pages 1-{doc.page_count}", str(e), data)
    except Exception as e:  # noqa: BLE001 - one bad file must never stop a batch
        # not a MuPDF read failure (those are "corrupt"): an unexpected error, kept apart so it shows
        return None, _quarantine(uri, f"pages 1-{doc.page_count}", f"extract_error: {type(e).__name__}: {e}", data)
    finally:
        doc.close()


def _extract(doc: pymupdf.Document, uri: str, data: bytes, tables_mode: str) -> dict:
    pages: list[PageLines] = []
    page_tables_: list[list[tuple[pymupdf.Rect, str]]] = []
    flagged: list[int] = []
    for i in range(doc.page_count):
        try:  # MuPDF failing on a page means a broken file
            page = doc.load_page(i)
            d = page.get_text("dict", flags=TEXT_FLAGS)
        except Exception as e:  # noqa: BLE001
            raise Rejected("corrupt", f"page {i + 1}: {type(e).__name__}: {e}") from None
        lines = page_lines(d, i + 1, page.cropbox.width, page.cropbox.height)
        n_chars = sum(len(l.text) for l in lines.lines)
        if n_chars < MIN_TEXT_CHARS and page.get_image_info():
            flagged.append(i + 1)
        want = tables_mode == "all" or (tables_mode == "auto" and n_chars > 0 and looks_tabular(page, lines))
        page_tables_.append(page_tables(page) if want else [])
        pages.append(lines)
    if len(flagged) == doc.page_count:
        raise Rejected("no_text_layer", f"pages {_ranges(flagged)} are images without text")

    running = find_running_lines(pages)
    refs_at = None
    for pi, page in enumerate(pages):
        for li, l in enumerate(page.lines):
            if REFERENCES_RE.match(l.text):
                refs_at = (pi, li)
    body_size, body_font = body_style(pages, refs_at)
    vocab = Vocabulary()
    for p in pages:
        for l in p.lines:
            vocab.add(l.text)
    ordered: list[Block] = []
    first_page_blocks: list[Block] | None = None
    tables_md: list[str] = []
    for pi, page in enumerate(pages):
        boxes = [r for r, _ in page_tables_[pi]]
        tables_md.extend(md for _, md in page_tables_[pi])
        keep = [
            (pi, li) not in running and not any(_inside(l, r) for r in boxes)
            for li, l in enumerate(page.lines)
        ]
        blocks, _ = make_blocks(page, pi, keep)
        mark_footnotes(blocks, page, body_size)
        blocks = order_blocks(blocks)
        if first_page_blocks is None and blocks:
            first_page_blocks = blocks
        ordered.extend(blocks)

    paras, joins1 = split_paragraphs(ordered, body_size, body_font, vocab)
    paras, joins2 = merge_continuations(paras, vocab)
    before, refs, after = split_references(paras)
    body_paras = before + after
    body = join_paras(body_paras)
    references = join_paras(refs)
    ref_offset = len(join_paras(before)) + (2 if before and after else 0) if refs else -1
    captions = [p.text for p in paras if p.caption]
    title = plausible_metadata_title(doc.metadata.get("title") if doc.metadata else None)
    if not title:
        title = title_from_blocks(first_page_blocks or [], vocab)
    n = doc.page_count
    src = source_id(uri, data)
    rid = record_id(KIND, title, body, references, tables_md, captions)
    return {
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
        row, bad = extract_pdf(p, (uris or {}).get(str(p)), tables=tables)
        if bad is not None:
            quarantine.append(bad)
            reasons[bad.reason.split(":", 1)[0]] += 1
            continue
        seen = by_id.get(row[RECORD_ID])
        if seen is not None:
            duplicates += 1
            seen[PARENT_IDS] = sorted(set(seen[PARENT_IDS]) | set(row[PARENT_IDS]))
            continue
        by_id[row[RECORD_ID]] = row
        rows.append(row)
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
