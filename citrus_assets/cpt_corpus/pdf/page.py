"""What pymupdf gives for one page: text lines (``get_text("dict")``) and tables (``find_tables``).

``page_lines`` turns the dict into ``pdf_layout.Line`` objects in the frame of the page's dominant
text direction (landscape pages stored with ``/Rotate 90`` come out upright); lines in other
directions (margin stamps, the portrait running header of a landscape table page) are dropped,
and so are lines that are only a typeset rule (a row of dots or dashes). Ligatures are expanded
by MuPDF (no ``TEXT_PRESERVE_LIGATURES``).

Table detection (``find_tables``: pymupdf's layout model, ~0.5-1 s a page on 2 shared CPU cores)
is gated by ``looks_tabular``.
"""

from __future__ import annotations

from collections import Counter

import pymupdf

from citrus_assets.cpt_corpus.pdf.layout import Line, PageLines
from citrus_assets.cpt_corpus.pdf.text import CAPTION_RE, clean_line

TEXT_FLAGS = pymupdf.TEXT_MEDIABOX_CLIP | pymupdf.TEXT_PRESERVE_WHITESPACE  # no ligatures kept, no images
RULE_CHARS = " .-_·…=*~–—"  # a line made only of these is a typeset rule
RULE_MIN_SHARE = 0.2  # a ruling line is at least this share of the page's shorter side long
TABLE_CELL_SHARE = 0.35  # a table cell line is shorter than this share of the rules' span
_BOLD_MARKS = ("Bold", "Black", "Heavy", ".B", "Semibold", "Demi")
_bold_cache: dict[tuple[str, int], bool] = {}


def _is_bold(font: str, flags: int) -> bool:
    key = (font, flags)
    v = _bold_cache.get(key)
    if v is None:
        v = _bold_cache[key] = bool(flags & 16) or any(k in font for k in _BOLD_MARKS)
    return v


def read_page(page: pymupdf.Page, number: int) -> PageLines:
    return page_lines(page.get_text("dict", flags=TEXT_FLAGS), number, page.cropbox.width, page.cropbox.height)


def page_lines(d: dict, number: int, w: float, h: float) -> PageLines:
    """``page.get_text("dict")`` output -> ``PageLines`` (1-based page ``number``, page size w x h)."""
    raw = []
    by_dir: Counter = Counter()
    for b in d["blocks"]:
        bno = b["number"]
        for ln in b.get("lines", ()):
            parts, n, n_bold, main, main_n, first_bold = [], 0, 0, None, -1, None
            for s in ln["spans"]:
                t = s["text"]
                parts.append(t)
                k = len(t.strip())
                if k:
                    n += k
                    bold = _is_bold(s["font"], s["flags"])
                    if first_bold is None:
                        first_bold = bold
                    if bold:
                        n_bold += k
                    if k > main_n:
                        main, main_n = s, k
            if not n:
                continue
            dxy = (round(ln["dir"][0], 2), round(ln["dir"][1], 2))
            by_dir[dxy] += n
            raw.append((bno, ln["bbox"], dxy, "".join(parts), n, n_bold, main, first_bold))
    if not raw:
        return PageLines(number, (0.0, 0.0, w, h))
    dom = by_dir.most_common(1)[0][0]
    a, b_, c = dom[0], -dom[1], dom[1]  # rotation taking the dominant direction to (1, 0)
    turned = dom != (1.0, 0.0)
    frame = _turn((0.0, 0.0, w, h), a, b_, c) if turned else (0.0, 0.0, w, h)
    lines = []
    for bno, bbox, dxy, text, n, n_bold, main, first_bold in raw:
        if dxy != dom:
            continue
        text = clean_line(text)
        if not text or (len(text) >= 5 and not text.strip(RULE_CHARS)):
            continue
        x0, y0, x1, y1 = _turn(bbox, a, b_, c) if turned else bbox
        lines.append(
            Line(
                x0,
                y0,
                x1,
                y1,
                text,
                main["size"],
                n_bold >= 0.9 * n,
                bool(first_bold),
                main["font"],
                bno,
                (bbox[0] + bbox[2]) / 2,
                (bbox[1] + bbox[3]) / 2,
            )
        )
    return PageLines(number, frame, lines)


def _turn(r, a: float, b: float, c: float) -> tuple[float, float, float, float]:
    """Bounding box of rectangle r under the rotation matrix (a, b, c, a)."""
    xs, ys = [], []
    for x, y in ((r[0], r[1]), (r[2], r[1]), (r[0], r[3]), (r[2], r[3])):
        xs.append(a * x + c * y)
        ys.append(b * x + a * y)
    return min(xs), min(ys), max(xs), max(ys)


def looks_tabular(page: pymupdf.Page, lines: PageLines) -> bool:
    """Cheap gate for ``find_tables``: a "Table n" caption line, or ruled tabular text.

    A rule is a stroked line segment, or a path drawn as a thin bar, at least 20% of the page's
    shorter side long; paths with curves (rounded boxes) do not count. Ruled tabular text: at least
    two horizontal rules, and between the top and bottom rule at least 6 lines, half of them short
    (< 35% of the rule span): table cells, not an abstract box. On a turned page (landscape table
    pages) two rules in any direction are enough.
    """
    if any(ln.text[:3].lower() == "tab" and CAPTION_RE.match(ln.text) for ln in lines.lines):
        return True
    min_len = RULE_MIN_SHARE * min(page.rect.width, page.rect.height)
    horiz: list[tuple[float, float, float]] = []
    n_vert = 0
    for path in page.get_cdrawings():
        items = path.get("items", ())
        if any(it[0] in ("c", "qu") for it in items):
            continue
        if path.get("type") == "s":
            segs = [
                (it[1][0], it[1][1], it[2][0], it[2][1]) if it[0] == "l" else tuple(it[1])
                for it in items
                if it[0] in ("l", "re")
            ]
        else:
            segs = [tuple(path["rect"])]
        for x0, y0, x1, y1 in segs:
            w, h = abs(x1 - x0), abs(y1 - y0)
            if h < 2 and w >= min_len:
                horiz.append((min(x0, x1), (y0 + y1) / 2, max(x0, x1)))
            elif w < 2 and h >= min_len:
                n_vert += 1
    if page.rotation != 0 or lines.frame[:2] != (0.0, 0.0):
        return len(horiz) + n_vert >= 2
    if len(horiz) < 2:
        return False
    x0, x1 = min(r[0] for r in horiz), max(r[2] for r in horiz)
    y0, y1 = min(r[1] for r in horiz), max(r[1] for r in horiz)
    inside = [ln for ln in lines.lines if x0 - 2 <= ln.ocx <= x1 + 2 and y0 <= ln.ocy <= y1]
    short = sum(1 for ln in inside if ln.x1 - ln.x0 < TABLE_CELL_SHARE * (x1 - x0))
    return len(inside) >= 6 and short >= 0.5 * len(inside)


def page_tables(page: pymupdf.Page, markdown: str = "words") -> list[tuple[pymupdf.Rect, str]]:
    """(box in unrotated page coordinates, Markdown) of each table ``page.find_tables()`` finds.

    ``markdown="words"`` (default) fills pymupdf's cell grid (``table.header`` + ``table.rows``)
    with MuPDF's words (``page.get_text("words")``), laid out like ``Table.to_markdown()`` (same
    header row, ``<br>`` between lines of a cell); ``"to_markdown"`` calls ``Table.to_markdown()``.
    On the real journal PDFs ``to_markdown`` loses spaces in some cells ("Respondentgroup",
    "43Treatmentprotocols") and adds emphasis marks ("_<_0.001"), and costs ~15 ms a cell (it
    re-extracts the page per cell: ~1 s for a 60-cell table) against ~10 ms a table for the words.
    Tables of one row or one column are not kept.
    """
    found = page.find_tables()
    if found is None:  # pymupdf returns None when its detector fails on a page
        return []
    words = None
    out = []
    for t in found.tables:
        if t.row_count < 2 or t.col_count < 2:
            continue
        try:
            if markdown == "to_markdown":
                md = t.to_markdown(clean=False, fill_empty=False)
            else:
                if words is None:
                    words = _display_words(page)
                md = words_markdown(t, words)
        except Exception:  # noqa: BLE001 - a table we cannot render stays in the body text
            continue
        rect = pymupdf.Rect(t.bbox)
        if page.rotation:
            rect = rect * page.derotation_matrix
        out.append((rect, clean_markdown(md)))
    return out


def _display_words(page: pymupdf.Page) -> list[tuple]:
    """Words in the coordinates of the turned page, where ``find_tables`` reports cells."""
    words = page.get_text("words", flags=TEXT_FLAGS)
    if not page.rotation:
        return words
    m = page.rotation_matrix
    return [tuple(pymupdf.Rect(w[:4]) * m) + tuple(w[4:]) for w in words]


def words_markdown(table, words: list[tuple]) -> str:
    """Markdown of a pymupdf ``Table`` with cell text made of the words whose centre is in the cell."""
    header = table.header
    x0, y0, x1, y1 = table.bbox
    if header.external:
        y0 = min(y0, header.bbox[1])
    words = [w for w in words if x0 - 2 <= (w[0] + w[2]) / 2 <= x1 + 2 and y0 - 2 <= (w[1] + w[3]) / 2 <= y1 + 2]
    grid = [list(r.cells) for r in table.rows]
    if header.external:
        grid.insert(0, list(header.cells))
    texts = [[_cell_text(c, words) if c else "" for c in row] for row in grid]
    names = [n or f"Col{i + 1}" for i, n in enumerate(texts[0])]
    lines = ["|" + "|".join(names) + "|", "|" + "|".join("---" for _ in names) + "|"]
    lines += ["|" + "|".join(row) + "|" for row in texts[1:]]
    return "\n".join(lines)


def _cell_text(rect, words: list[tuple]) -> str:
    x0, y0, x1, y1 = rect
    inside = sorted(
        (w for w in words if x0 <= (w[0] + w[2]) / 2 <= x1 and y0 <= (w[1] + w[3]) / 2 <= y1),
        key=lambda w: (w[5], w[6], w[7]),
    )
    out, key = [], None
    for w in inside:
        if out:
            out.append(" " if (w[5], w[6]) == key else "<br>")
        out.append(w[4])
        key = (w[5], w[6])
    return clean_line("".join(out)).replace("|", "\\|")


def clean_markdown(md: str) -> str:
    """Drop body rows that hold only dot leaders/rules or nothing (typeset rules drawn as text)."""
    rows = md.strip().splitlines()
    keep = rows[:2] + [r for r in rows[2:] if r.replace("|", "").replace("<br>", "").strip(RULE_CHARS) != ""]
    return "\n".join(keep)
