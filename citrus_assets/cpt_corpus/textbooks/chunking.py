"""Textbook blocks -> section chunks with bounded size and overlap (plain Python, no Dagster).

Lengths are counted in whitespace-separated words. ``ChunkSpec(max_words, overlap_words, min_words)``:

* a section (the paragraphs under one heading path) of at most ``max_words`` is one chunk;
* a longer one is split at paragraph boundaries (a paragraph longer than ``max_words`` at sentence
  boundaries, a sentence longer than that at words); each piece after the first starts with whole trailing
  paragraphs of the previous piece totalling at most ``overlap_words`` (``overlap_words <= max_words // 2``),
  and never more than still fits under ``max_words``;
* a chunk under ``min_words`` is merged into the neighbouring chunk of the same file it shares more headings
  with (the next one on a tie) if the two fit under ``max_words``; the merged-in section's heading is kept
  as a line of text and the merged chunk's ``heading_path`` is the common prefix of the two paths.

A chunk row: ``record_id`` (``record_id("tbchunk", heading_path, text)``; the same text twice in a batch is
one row with both files' source ids in ``parent_ids``), ``parent_ids`` (the file's source id),
``source_uri``, ``source_locator`` ("lines 3-17" / "pages 2-3"), ``textbook``, ``format``, ``heading_path``
("Cardiology > Hypertension > Treatment"), ``headings`` (every section path in the chunk), ``text``,
``n_words``, ``n_chars``, ``overlap_words`` (words repeated from the previous chunk), ``chunk_index``,
``loc_start``/``loc_end``, ``max_words`` (the bound it was cut to: ``n_words <= max_words`` always).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from citrus_assets.cpt_corpus.textbooks.sources import TextbookDoc, read_textbook
from resources.lake import QuarantineRecord
from resources.lineage.ids import keep_first_by_id, record_id
from resources.lineage.schema import PARENT_IDS, RECORD_ID, SOURCE_LOCATOR, SOURCE_URI

KIND = "tbchunk"
PATH_SEP = " > "
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(\"'])")


def n_words(text: str) -> int:
    return len(text.split())


@dataclass(frozen=True)
class ChunkSpec:
    max_words: int = 220
    overlap_words: int = 40
    min_words: int = 60

    def __post_init__(self) -> None:
        if self.max_words < 10:
            raise ValueError(f"max_words must be >= 10, got {self.max_words}")
        if not 0 <= self.overlap_words <= self.max_words // 2:
            raise ValueError(
                f"overlap_words must be in 0..max_words//2 ({self.max_words // 2}), got {self.overlap_words}"
            )
        if not 0 <= self.min_words <= self.max_words:
            raise ValueError(f"min_words must be in 0..max_words, got {self.min_words}")


@dataclass
class Piece:
    """A paragraph (or a part of one) with its locator."""

    text: str
    start: int
    end: int

    @property
    def words(self) -> int:
        return n_words(self.text)


@dataclass
class Draft:
    path: list[str]
    pieces: list[Piece]
    overlap: int = 0
    headings: list[str] = field(default_factory=list)

    @property
    def words(self) -> int:
        return sum(p.words for p in self.pieces)


def sections(doc: TextbookDoc) -> list[tuple[list[str], list[Piece]]]:
    """(heading path, paragraphs) per section, in document order; sections without text are skipped."""
    out: list[tuple[list[str], list[Piece]]] = []
    stack: list[tuple[int, str]] = []
    current: list[Piece] = []

    def close() -> None:
        if current:
            out.append(([t for _, t in stack] or [doc.title], list(current)))
            current.clear()

    for b in doc.blocks:
        if b.level:
            close()
            while stack and stack[-1][0] >= b.level:
                stack.pop()
            stack.append((b.level, b.text))
        else:
            current.append(Piece(b.text, b.start, b.end))
    close()
    return out


def _split_long(piece: Piece, max_words: int) -> list[Piece]:
    if piece.words <= max_words:
        return [piece]
    units: list[str] = []
    for sent in _SENTENCE.split(piece.text):
        w = sent.split()
        units.extend(" ".join(w[i : i + max_words]) for i in range(0, len(w), max_words))
    out: list[list[str]] = [[]]
    for u in units:
        if out[-1] and n_words(" ".join(out[-1])) + n_words(u) > max_words:
            out.append([])
        out[-1].append(u)
    return [Piece(" ".join(g), piece.start, piece.end) for g in out if g]


def split_section(path: list[str], paras: list[Piece], spec: ChunkSpec) -> list[Draft]:
    pieces = [q for p in paras for q in _split_long(p, spec.max_words)]
    drafts: list[Draft] = []
    cur: list[Piece] = []
    overlap = 0
    for p in pieces:
        if cur and sum(x.words for x in cur) + p.words > spec.max_words:
            drafts.append(Draft(path, cur, overlap, [PATH_SEP.join(path)]))
            carry: list[Piece] = []
            for prev in reversed(cur[1:]):  # never the whole previous chunk
                if sum(x.words for x in carry) + prev.words > spec.overlap_words:
                    break
                carry.insert(0, prev)
            while carry and sum(x.words for x in carry) + p.words > spec.max_words:
                carry.pop(0)
            cur, overlap = list(carry), sum(x.words for x in carry)
        cur.append(p)
    if cur:
        drafts.append(Draft(path, cur, overlap, [PATH_SEP.join(path)]))
    return drafts


def _common(a: list[str], b: list[str]) -> list[str]:
    out = []
    for x, y in zip(a, b):
        if x != y:
            break
        out.append(x)
    return out


def _merge(a: Draft, b: Draft) -> Draft:
    """``b`` appended to ``a``; a different section's heading becomes a line of text. The merged chunk's path
    is the two paths' common prefix (the larger one's path when they share nothing)."""
    extra = list(b.pieces)
    if b.path != a.path and extra:
        extra.insert(0, Piece(b.path[-1], extra[0].start, extra[0].start))
    headings = a.headings + [h for h in b.headings if h not in a.headings]
    path = _common(a.path, b.path) or (a.path if a.words >= b.words else b.path)
    return Draft(path, a.pieces + extra, a.overlap, headings)


def _closeness(d: Draft, other: Draft) -> int:
    """Headings ``d`` shares with the closest section in ``other``."""
    return max((len(_common(d.path, h.split(PATH_SEP))) for h in other.headings), default=0)


def _extra_words(a: Draft, b: Draft) -> int:
    return 0 if a.path == b.path else n_words(b.path[-1])


def merge_small(drafts: list[Draft], spec: ChunkSpec) -> list[Draft]:
    """Chunks under ``min_words`` merged into the neighbour (same file) they share more headings with,
    the next one on a tie, if the two fit under ``max_words``."""
    out = list(drafts)
    i = 0
    while i < len(out):
        d = out[i]
        if d.words >= spec.min_words or len(out) == 1:
            i += 1
            continue
        options = []
        if i + 1 < len(out):
            nxt = out[i + 1]
            nxt_pieces = nxt.pieces[_overlap_count(nxt) :] if nxt.path == d.path else nxt.pieces
            b = Draft(nxt.path, nxt_pieces, 0, nxt.headings)
            if d.words + b.words + _extra_words(d, b) <= spec.max_words:
                options.append((_closeness(d, nxt), 1, i, lambda d=d, b=b: _merge(d, b)))
        if i > 0:
            prev = out[i - 1]
            b = Draft(d.path, d.pieces[_overlap_count(d) :] if d.path == prev.path else d.pieces, 0, d.headings)
            if prev.words + b.words + _extra_words(prev, b) <= spec.max_words:
                options.append((_closeness(d, prev), 0, i - 1, lambda p=prev, b=b: _merge(p, b)))
        if not options:
            i += 1
            continue
        _, _, at, merge = max(options, key=lambda o: (o[0], o[1]))
        out[at : at + 2] = [merge()]
        i = at
    return out


def _overlap_count(d: Draft) -> int:
    """How many leading pieces of ``d`` repeat the previous chunk."""
    total, k = 0, 0
    while k < len(d.pieces) and total < d.overlap:
        total += d.pieces[k].words
        k += 1
    return k


def chunk_doc(doc: TextbookDoc, spec: ChunkSpec) -> list[dict]:
    drafts = [d for path, paras in sections(doc) for d in split_section(path, paras, spec)]
    rows = []
    for i, d in enumerate(merge_small(drafts, spec)):
        text = "\n\n".join(p.text for p in d.pieces).strip()
        if not text:
            continue
        start, end = min(p.start for p in d.pieces), max(p.end for p in d.pieces)
        path = PATH_SEP.join(d.path)
        rows.append(
            {
                RECORD_ID: record_id(KIND, path, text),
                PARENT_IDS: [doc.parent_id],
                SOURCE_URI: doc.uri,
                SOURCE_LOCATOR: f"{doc.unit} {start}-{end}",
                "textbook": doc.title,
                "format": doc.fmt,
                "heading_path": path,
                "headings": d.headings,
                "text": text,
                "n_words": n_words(text),
                "n_chars": len(text),
                "overlap_words": d.overlap,
                "chunk_index": i,
                "loc_start": start,
                "loc_end": end,
                "max_words": spec.max_words,
            }
        )
    return rows


def chunk_batch(
    paths: Iterable[Path | str], spec: ChunkSpec, uris: dict[str, str] | None = None
) -> tuple[list[dict], list[QuarantineRecord], dict]:
    """Read and chunk many files: (rows, quarantine, stats); one bad file never stops the batch."""
    rows: list[dict] = []
    by_id: dict[str, dict] = {}
    quarantine: list[QuarantineRecord] = []
    reasons: Counter = Counter()
    formats: Counter = Counter()
    files_in = duplicates = refs = 0
    for p in paths:
        files_in += 1
        doc, bad = read_textbook(Path(p), (uris or {}).get(str(p)))
        if bad is not None:
            quarantine.append(bad)
            reasons[bad.reason.split(":", 1)[0]] += 1
            continue
        formats[doc.fmt] += 1
        refs += doc.references_dropped
        for row in chunk_doc(doc, spec):
            if keep_first_by_id(by_id, row):
                rows.append(row)
            else:
                duplicates += 1
    stats = {
        "files_in": files_in,
        "files_ok": sum(formats.values()),
        "formats": dict(sorted(formats.items())),
        "chunks": len(rows),
        "duplicate_chunks": duplicates,
        "quarantined": len(quarantine),
        "quarantined_by_reason": dict(sorted(reasons.items())),
        "reference_paragraphs_dropped": refs,
        "words": sum(r["n_words"] for r in rows),
        "max_overlap_words": max((r["overlap_words"] for r in rows), default=0),
    }
    return rows, quarantine, stats
