"""Textbook files -> heading and paragraph blocks (plain Python, no Dagster).

``read_textbook(path, uri)`` returns ``(TextbookDoc, None)`` or ``(None, QuarantineRecord)`` and never raises
for a bad file. Formats by suffix: ``.md``/``.markdown`` (ATX headings ``#`` .. ``######``, fenced code kept
as text), ``.txt``/``.text`` (numbered headings "1.2 Title", "Chapter 3 ...", ALL-CAPS lines) and ``.pdf``
(``pdf_extract.extract_pdf``: reading order, running headers removed, references cut out of the body; the
title is the level-1 heading, other headings are short one-line paragraphs: numbered, ALL-CAPS or a few
capitalised words without final punctuation).

Sections headed "References"/"Bibliography"/... (``pdf_text.REFERENCES_RE``) are left out of Markdown and
plain text as ``extract_pdf`` leaves them out of a PDF body; their paragraph count is ``references_dropped``.

Locators: Markdown and plain text blocks carry 1-based line numbers, PDF blocks 1-based page numbers.
Quarantine reason codes (before the ":"): ``unreadable``, ``empty_file``, ``binary``, ``not_utf8``,
``unknown_type``, ``no_text`` and every ``extract_pdf`` code (``encrypted``, ``truncated``, ``corrupt``, ...).
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field
from pathlib import Path

from citrus_assets.cpt_corpus.pdf.extract import extract_pdf
from citrus_assets.cpt_corpus.pdf.text import REFERENCES_RE
from resources.lake import QuarantineRecord, describe_bytes
from resources.lineage.ids import source_id

MARKDOWN = ("md", "markdown")
PLAIN = ("txt", "text")
PDF = ("pdf",)

_ATX = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.+?)[ \t]*#*[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(```|~~~)")
_CHAPTER = re.compile(r"^(?:chapter|part|unit)\s+(?:\d+|[ivxlc]+)\b[\s:.\-–]*(.*)$", re.I)
_NUMBERED = re.compile(r"^(\d{1,3}(?:\.\d{1,3}){0,4})\.?\s+(\S.*)$")
_CAPTION = re.compile(r"^(?:table|figure|fig\.|box)\s+\d", re.I)
_END_PUNCT = re.compile(r"[.;,:!?]$")


@dataclass
class Block:
    """A heading (``level`` >= 1) or a paragraph (``level`` 0) with its first/last line or page."""

    text: str
    level: int
    start: int
    end: int


@dataclass
class TextbookDoc:
    uri: str
    fmt: str  # "markdown" | "text" | "pdf"
    unit: str  # "lines" | "pages"
    parent_id: str
    title: str
    blocks: list[Block] = field(default_factory=list)
    references_dropped: int = 0


def _words(s: str) -> list[str]:
    return s.split()


def plain_heading_level(line: str, *, loose: bool = False) -> int:
    """Heading level of one line of plain text (0 = not a heading).

    "Chapter 3 ..." -> 1; an ALL-CAPS line -> 1; "2 Title" -> 2, "2.1 Title" -> 3 (number of parts + 1).
    With ``loose`` (PDF paragraphs) a few capitalised words without final punctuation or digits are a
    level-1 heading too (``pdf_blocks`` puts every PDF heading at level 2 or deeper, under the title).
    """
    s = line.strip()
    if not s or len(s) > 90 or len(_words(s)) > 12 or _CAPTION.match(s):
        return 0
    if _CHAPTER.match(s):
        return 1
    m = _NUMBERED.match(s)
    if m and not _END_PUNCT.search(s) and m.group(2)[:1].isupper():
        return m.group(1).count(".") + 2
    letters = [c for c in s if c.isalpha()]
    if len(letters) >= 3 and all(c.isupper() for c in letters) and not s.endswith("."):
        return 1
    if (
        loose
        and len(_words(s)) <= 6
        and s[:1].isupper()
        and not _END_PUNCT.search(s)
        and not any(c.isdigit() for c in s)
    ):
        return 1
    return 0


def _clean_heading(s: str) -> str:
    return re.sub(r"\s+", " ", s.strip().strip("#*_ ").strip())


def parse_markdown(text: str) -> list[Block]:
    blocks: list[Block] = []
    para: list[str] = []
    start = 0
    in_fence = False

    def flush(end: int) -> None:
        nonlocal para
        body = "\n".join(para).strip()
        if body:
            blocks.append(Block(body, 0, start, end))
        para = []

    for i, line in enumerate(text.splitlines(), 1):
        if _FENCE.match(line):
            in_fence = not in_fence
        m = None if in_fence else _ATX.match(line)
        if m:
            flush(i - 1)
            blocks.append(Block(_clean_heading(m.group(2)), len(m.group(1)), i, i))
        elif not line.strip() and not in_fence:
            flush(i - 1)
        else:
            if not para:
                start = i
            para.append(line)
    flush(len(text.splitlines()))
    return blocks


def parse_plain(text: str) -> list[Block]:
    """Blank-line separated paragraphs; a paragraph's first line may be a heading."""
    blocks: list[Block] = []
    group: list[tuple[int, str]] = []

    def flush() -> None:
        nonlocal group
        if not group:
            return
        first_no, first = group[0]
        level = plain_heading_level(first)
        rest = group
        if level:
            blocks.append(Block(_clean_heading(first), level, first_no, first_no))
            rest = group[1:]
        body = "\n".join(ln for _, ln in rest).strip()
        if body:
            blocks.append(Block(body, 0, rest[0][0], rest[-1][0]))
        group = []

    for i, line in enumerate(text.splitlines(), 1):
        if line.strip():
            group.append((i, line.rstrip()))
        else:
            flush()
    flush()
    return blocks


def pdf_blocks(row: dict) -> list[Block]:
    """Paragraphs of an ``extract_pdf`` row as blocks with page numbers; the title is the level-1 heading."""
    body, offsets, title = row["body"], list(row["page_offsets"]), (row.get("title") or "").strip()
    blocks: list[Block] = []
    pos = 0
    for para in body.split("\n\n"):
        start, end = pos, pos + len(para)
        pos = end + 2
        text = para.strip()
        if not text:
            continue
        first = max(1, bisect.bisect_right(offsets, start))
        last = max(first, bisect.bisect_right(offsets, max(start, end - 1)))
        if title and not blocks and text == title:
            blocks.append(Block(title, 1, first, first))
            continue
        level = plain_heading_level(text, loose=True) if "\n" not in text else 0
        blocks.append(Block(_clean_heading(text), max(2, level), first, last) if level else Block(text, 0, first, last))
    if title and (not blocks or blocks[0].level != 1 or blocks[0].text != title):
        blocks.insert(0, Block(title, 1, 1, 1))
    return blocks


def drop_references(blocks: list[Block]) -> tuple[list[Block], int]:
    """Blocks without "References"-headed sections (up to the next heading of the same or a higher level)."""
    out: list[Block] = []
    skip_level, dropped = 0, 0
    for b in blocks:
        if b.level and skip_level and b.level <= skip_level:
            skip_level = 0
        if b.level and not skip_level and REFERENCES_RE.match(b.text):
            skip_level = b.level
            continue
        if skip_level:
            dropped += b.level == 0
            continue
        out.append(b)
    return out, dropped


def _bad(uri: str, reason: str, data: bytes = b"") -> tuple[None, QuarantineRecord]:
    return None, QuarantineRecord(uri, "file", reason, describe_bytes(data) if data else "")


def read_textbook(path: Path | str, uri: str | None = None) -> tuple[TextbookDoc | None, QuarantineRecord | None]:
    path = Path(path)
    uri = uri or str(path)
    suffix = path.suffix.lower().lstrip(".")
    if suffix not in MARKDOWN + PLAIN + PDF:
        try:
            head = path.read_bytes()[:200]
        except OSError:
            head = b""
        return _bad(uri, f"unknown_type: suffix {path.suffix!r} (expected .md, .markdown, .txt, .text or .pdf)", head)
    try:
        data = path.read_bytes()
    except OSError as e:
        return _bad(uri, f"unreadable: {type(e).__name__}: {e}")
    if suffix in PDF:
        row, bad = extract_pdf(path, uri)
        if bad is not None:
            return None, bad
        doc = TextbookDoc(uri, "pdf", "pages", source_id(uri, data), row.get("title") or path.stem, pdf_blocks(row))
    else:
        if not data.strip():
            return _bad(uri, "empty_file", data)
        if b"\x00" in data:
            return _bad(uri, "binary: NUL bytes in a text file", data)
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as e:
            return _bad(uri, f"not_utf8: byte 0x{data[e.start]:02x} at offset {e.start}", data)
        md = suffix in MARKDOWN
        blocks = parse_markdown(text) if md else parse_plain(text)
        heads = [b.text for b in blocks if b.level]
        doc = TextbookDoc(
            uri, "markdown" if md else "text", "lines", source_id(uri, data), heads[0] if heads else path.stem, blocks
        )
    doc.blocks, doc.references_dropped = drop_references(doc.blocks)
    if not any(b.level == 0 and b.text.strip() for b in doc.blocks):
        return _bad(uri, "no_text: no paragraph text outside headings and references", data)
    return doc, None
