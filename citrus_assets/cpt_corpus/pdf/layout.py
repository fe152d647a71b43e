"""Page geometry for PDF extraction: lines, columns, reading order, running headers/footers.

Pure Python over the lines that ``page.get_text("dict")`` returns (see ``pdf_extract.read_page``);
nothing here opens a PDF, so every rule is unit-testable with hand-made lines.

Coordinates are in a per-page *frame*: the page rotated so that the page's dominant text
direction reads left to right (landscape table pages stored with ``/Rotate 90`` come out
upright). ``Line.ocx/ocy`` keep the centre in unrotated page space, for matching table boxes.

Reading order (``order_blocks``): a gutter is looked for between 35% and 65% of the text width
as the x band crossed by the fewest lines; the page is two-column when the lines crossing it hold
at most 75% of the characters and each side holds at least 3 lines and 10% of the characters. Lines crossing
the gutter are full-width; MuPDF blocks that mix columns are split by column. Full-width blocks
cut the page into regions; within a region the left column is read top to bottom, then the right
one; a full-width block is read between the region above it and the region below it. Small-font
blocks at the page bottom below all body text of their column (footnotes, affiliations) are read
last on their page so that a sentence running from the left column into the right one stays whole.

Running headers/footers (``find_running_lines``): a line in the top or bottom band (12% of the
frame height) whose normalized text (lower case, digit runs -> ``#``, spaces collapsed) occurs at
a similar height (within 3% of the frame height) on at least ``max(2, ceil(25% of pages))`` pages.
The 25% share catches headers that alternate between even and odd pages. Bare page numbers
("12", "Page 3", "3 of 10", "- 4 -", "iv") in those bands are removed on any page. Outside the bands, a
line is running too when its exact text (digits kept) occurs at a similar height on more than half the
pages (at least 3): a
slide deck's footer sits wherever its template put it, and the same line on most pages is never body
text (the ``pdf_documents_valid`` check fails a document with a line on more than half its pages).
"""

from __future__ import annotations

import math
import re
from bisect import bisect_right
from collections import defaultdict
from dataclasses import dataclass, field

BAND = 0.12  # top/bottom share of the frame height searched for headers/footers
Y_TOL = 0.03  # "similar vertical position": share of the frame height
MIN_REPEAT_SHARE = 0.25
GUTTER_WINDOW = (0.35, 0.65)
MAX_FULL_SHARE = 0.75
MIN_COLUMN_SHARE = 0.10
FOOTNOTE_SIZE_RATIO = 0.9
FOOTNOTE_TOP = 0.7  # footnote blocks start below this share of the frame height

_DIGITS = re.compile(r"\d+")
_SPACES = re.compile(r"\s+")
PAGE_NUMBER_RE = re.compile(
    r"^[\s\-–—]*(?:page|p\.|pg\.?|seite)?\s*(?:\d{1,4}|[ivxlc]{1,7})(?:\s*(?:of|/|von)\s*\d{1,4})?[\s\-–—]*$",
    re.IGNORECASE,
)


@dataclass(slots=True)
class Line:
    """One text line in frame coordinates."""

    x0: float
    y0: float
    x1: float
    y1: float
    text: str
    size: float = 10.0
    bold: bool = False  # (almost) all characters bold: headings
    lead_bold: bool = False  # the first span bold: "**Figure 1** Flow chart..."
    font: str = ""  # font of the span holding the most characters
    block: int = 0  # MuPDF block number on its page
    ocx: float = 0.0  # centre in unrotated page coordinates (for table boxes)
    ocy: float = 0.0

    @property
    def yc(self) -> float:
        return (self.y0 + self.y1) / 2


@dataclass(slots=True)
class Block:
    lines: list[Line]
    page: int = 0
    kind: str = "full"  # full | left | right
    footnote: bool = False

    @property
    def x0(self) -> float:
        return min(ln.x0 for ln in self.lines)

    @property
    def x1(self) -> float:
        return max(ln.x1 for ln in self.lines)

    @property
    def y0(self) -> float:
        return min(ln.y0 for ln in self.lines)

    @property
    def y1(self) -> float:
        return max(ln.y1 for ln in self.lines)


@dataclass(slots=True)
class PageLines:
    """The text lines of one page (after dropping off-direction text) and its frame."""

    number: int  # 1-based
    frame: tuple[float, float, float, float]  # x0, y0, x1, y1
    lines: list[Line] = field(default_factory=list)

    @property
    def height(self) -> float:
        return max(1.0, self.frame[3] - self.frame[1])

    def rel_y(self, y: float) -> float:
        return (y - self.frame[1]) / self.height


def normalize_line(text: str) -> str:
    """Key for "the same line on another page": lower case, digit runs -> '#', spaces collapsed."""
    return _SPACES.sub(" ", _DIGITS.sub("#", text.lower())).strip()


def is_page_number(text: str) -> bool:
    t = text.strip()
    return bool(t) and len(t) <= 16 and bool(PAGE_NUMBER_RE.match(t))


# ------------------------------------------------------------------ running headers/footers
def find_running_lines(pages: list[PageLines]) -> set[tuple[int, int]]:
    """(page index, line index) of every running header/footer line and banded page number."""
    n_pages = len(pages)
    min_pages = max(2, math.ceil(MIN_REPEAT_SHARE * n_pages))
    occurrences: dict[str, list[tuple[int, int, float]]] = defaultdict(list)
    drop: set[tuple[int, int]] = set()
    inner: dict[str, list[tuple[int, int, float]]] = defaultdict(list)  # lines outside the bands
    for pi, page in enumerate(pages):
        for li, line in enumerate(page.lines):
            top, bottom = page.rel_y(line.y1) <= BAND, page.rel_y(line.y0) >= 1 - BAND
            key = normalize_line(line.text)
            if not (top or bottom):  # exact text (digits kept): "Table 2" on page 2 is not "Table 3" on page 3
                exact = _SPACES.sub(" ", line.text.lower()).strip()
                if sum(c.isalpha() for c in exact) >= 3:
                    inner[exact].append((pi, li, page.rel_y(line.yc)))
                continue
            if is_page_number(line.text):
                drop.add((pi, li))
                continue
            if key:
                occurrences[key].append((pi, li, page.rel_y(line.yc)))
    if n_pages < 2:
        return drop
    inner_min = max(3, n_pages // 2 + 1)  # more than half the pages
    groups = [(occ, min_pages) for occ in occurrences.values()] + [(occ, inner_min) for occ in inner.values()]
    for occ, need in groups:
        if len({pi for pi, _, _ in occ}) < need:
            continue
        ys = sorted(y for _, _, y in occ)
        # densest height: the occurrence with the most others within Y_TOL
        best = max(ys, key=lambda y: sum(1 for o in ys if abs(o - y) <= Y_TOL))
        near = [(pi, li) for pi, li, y in occ if abs(y - best) <= Y_TOL]
        if len({pi for pi, _ in near}) >= need:
            drop.update(near)
    return drop


# ------------------------------------------------------------------ columns and reading order
def find_gutter(lines: list[Line]) -> float | None:
    """x of the column gutter of a two-column page, or None for a one-column page."""
    if len(lines) < 6:
        return None
    lo, hi = min(ln.x0 for ln in lines), max(ln.x1 for ln in lines)
    w0, w1 = lo + GUTTER_WINDOW[0] * (hi - lo), lo + GUTTER_WINDOW[1] * (hi - lo)
    # sweep over line starts/ends: count of lines covering each x segment inside the window
    events = sorted([(ln.x0, 1) for ln in lines] + [(ln.x1, -1) for ln in lines])
    active, prev_x = 0, lo
    best: tuple[int, float, float] | None = None  # (count, -width, centre)
    for x, delta in events:
        a, b = max(prev_x, w0), min(x, w1)
        if b > a:
            cand = (active, -(b - a), (a + b) / 2)
            if best is None or cand < best:
                best = cand
        active += delta
        prev_x = x
    if best is None:
        return None
    crossing, _, gutter = best
    chars = {"left": 0, "right": 0, "full": 0}
    count = {"left": 0, "right": 0, "full": 0}
    for ln in lines:
        k = _line_kind(ln, gutter)
        chars[k] += len(ln.text)
        count[k] += 1
    total = max(1, sum(chars.values()))
    if chars["full"] > MAX_FULL_SHARE * total:
        return None
    if min(count["left"], count["right"]) < 3 or min(chars["left"], chars["right"]) < MIN_COLUMN_SHARE * total:
        return None
    return gutter


def _line_kind(line: Line, gutter: float) -> str:
    if line.x1 <= gutter:
        return "left"
    if line.x0 >= gutter:
        return "right"
    return "full"


def make_blocks(page: PageLines, page_index: int, keep: list[bool]) -> tuple[list[Block], float | None]:
    """Group the kept lines by MuPDF block, split blocks that mix columns; returns (blocks, gutter)."""
    lines = [ln for ln, k in zip(page.lines, keep) if k]
    gutter = find_gutter(lines)
    groups: dict[tuple[int, str], list[Line]] = {}
    for line in lines:
        kind = _line_kind(line, gutter) if gutter is not None else "full"
        groups.setdefault((line.block, kind), []).append(line)
    blocks = []
    for (_, kind), ls in groups.items():
        ls.sort(key=lambda ln: (round(ln.y0, 1), ln.x0))
        blocks.append(Block(ls, page_index, kind))
    # a full-width paragraph's short lines (its last line, a heading above it) fit in a column:
    # column groups of a MuPDF block that touch its full-width group rejoin that group
    by_block: dict[int, list[Block]] = defaultdict(list)
    for b in blocks:
        by_block[b.lines[0].block].append(b)
    for bs in by_block.values():
        if len(bs) > 1 and any(b.kind == "full" for b in bs):
            full = next(b for b in bs if b.kind == "full")
            for b in bs:
                if b is not full and _touches(b, full):
                    full.lines.extend(b.lines)
                    b.lines = []
            full.lines.sort(key=lambda ln: (round(ln.y0, 1), ln.x0))
    return [b for b in blocks if b.lines], gutter


def _touches(a: Block, b: Block, gap: float = 4.0) -> bool:
    return a.y0 <= b.y1 + gap and b.y0 <= a.y1 + gap


def mark_footnotes(blocks: list[Block], page: PageLines, body_size: float) -> None:
    """Small-font blocks low on the page with no body-size text below them in their column."""
    limit = page.frame[1] + FOOTNOTE_TOP * page.height
    for b in blocks:
        size = _median_size(b)
        if b.y0 < limit or size >= FOOTNOTE_SIZE_RATIO * body_size:
            continue
        below = [
            o
            for o in blocks
            if o is not b
            and o.y0 > b.y0
            and (o.kind == b.kind or "full" in (o.kind, b.kind))
            and _median_size(o) >= FOOTNOTE_SIZE_RATIO * body_size
        ]
        b.footnote = not below


def _median_size(b: Block) -> float:
    sizes = sorted(ln.size for ln in b.lines)
    return sizes[len(sizes) // 2]


def order_blocks(blocks: list[Block]) -> list[Block]:
    """Reading order: regions cut by full-width blocks; left column, then right, in each."""
    main = [b for b in blocks if not b.footnote]
    notes = sorted((b for b in blocks if b.footnote), key=lambda b: (b.y0, b.x0))
    fulls = sorted((b for b in main if b.kind == "full"), key=lambda b: (b.y0, b.x0))
    cols = [b for b in main if b.kind != "full"]
    if not cols:
        return fulls + notes
    starts = [(f.y0 + f.y1) / 2 for f in fulls]
    regions: list[list[Block]] = [[] for _ in range(len(fulls) + 1)]
    for b in cols:
        regions[bisect_right(starts, (b.y0 + b.y1) / 2)].append(b)
    out: list[Block] = []
    for i, region in enumerate(regions):
        out.extend(sorted((b for b in region if b.kind == "left"), key=lambda b: (b.y0, b.x0)))
        out.extend(sorted((b for b in region if b.kind == "right"), key=lambda b: (b.y0, b.x0)))
        if i < len(fulls):
            out.append(fulls[i])
    return out + notes


def body_style(pages: list[PageLines], stop: tuple[int, int] | None = None) -> tuple[float, str]:
    """(size, font) carrying the most characters; the size rounded to 0.5 pt.

    ``stop`` = (page index, line index) of the references heading: the (often long, small-print)
    reference list would otherwise outvote the body text.
    """
    sizes: dict[float, int] = defaultdict(int)
    fonts: dict[str, int] = defaultdict(int)
    for pi, page in enumerate(pages):
        for li, line in enumerate(page.lines):
            if stop is not None and (pi, li) >= stop:
                break
            sizes[round(line.size * 2) / 2] += len(line.text)
            fonts[line.font] += len(line.text)
    if stop is not None and sum(sizes.values()) < 500:
        return body_style(pages)
    if not sizes:
        return 10.0, ""
    return max(sizes, key=sizes.get), max(fonts, key=fonts.get)
