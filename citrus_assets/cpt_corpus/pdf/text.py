"""Text assembly for PDF extraction: paragraphs, de-hyphenation, captions, references, title.

Plus the pure checker functions the quality checks use (``max_repeated_line_page_share``,
``leftover_hyphenations``, ``text_per_page``) and ``unusable_text``: the per-document gates that extraction
quarantines on and ``pdf_documents_valid`` re-checks (one home for both, so a document extraction should
have set aside never reaches the blocking check): characters per page with text, letter share and
English dictionary-word share (pyspellchecker's word list; a garbage OCR layer "1 1 / I / 1 I 1 1" has
neither), share of one-or-two-character tokens, and the largest share of pages one line repeats on.

References: the *main* list, not the last heading: with a supplement bundled after the article
("Supplementary online data", "Appendix", "Supplementary material", ...), the references are the last
references heading before the first supplement heading that follows one; the supplement (with its own
short reference list) stays in the body after them.

Titles: metadata placeholders are refused ("PowerPoint Presentation", "Slide 1", "Presentation1",
"Microsoft Word - <file>", "Untitled", "Document1", file names). Slide decks (most pages landscape) get
one paragraph per slide: its title, then its bullets, one per line.

Body format: one paragraph per line-group, paragraphs separated by a blank line; the lines of a
paragraph are joined with one space (reflowed), so the body never contains a line-end hyphen.
A paragraph is continued (not started anew) across a column, page, footnote or table break when
the text before the break does not end a sentence and the next text starts in lower case (or the
text before ends in a hyphen); footnotes, captions and small print in between are stepped over.

De-hyphenation rule, applied where a line (or a paragraph cut by a column/page break) ends in a
hyphen that follows a letter and the next line starts with a letter:
  * a soft hyphen (U+00AD) is always removed: the parts are joined;
  * before "and", "or", "to"... the hyphen is a suspended one and is kept with a space
    ("first-|and second-line" -> "first- and second-line");
  * the hyphen is kept (parts joined without a space: "COVID-19", "anti-TNF", "IL-6") when the next
    part starts with an upper-case letter or a digit, or the part before it is an acronym or
    holds a digit, or the same vowel meets at the break ("meta-analysis", "co-operate");
  * otherwise the document decides: if the hyphenated form ("dementia-free") occurs inside a line
    elsewhere in the same document more often than the joined form ("dementiafree"), the hyphen is
    kept; if the joined form ("treatment") occurs at least as often, the parts are joined;
  * with no evidence either way the hyphen is kept after a prefix that English always hyphenates
    (self-, well-, ill-, all-, ex-, cross-, half-, quasi-) and before a compound-forming word
    (-based, -related, -free, -up, -specific, ...) after a part of at least 4 letters or one that
    is a word of the document ("age-related" kept, "cor-related" joined);
  * else the parts are joined ("treat-|ment" -> "treatment"): in typeset text a line-end hyphen is
    far more often a syllable break than a real one.
Only joins that remove the hyphen are counted in ``dehyphenated``. A dash (– —) at a line end is
joined without a space; any other line break becomes one space.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from citrus_assets.cpt_corpus.pdf.layout import Block, normalize_line

KEEP_PREFIXES = frozenset({"self", "well", "ill", "all", "ex", "cross", "half", "quasi"})
KEEP_SUFFIXES = frozenset(
    {
        "based",
        "related",
        "free",
        "like",
        "specific",
        "induced",
        "term",
        "year",
        "old",
        "up",
        "wide",
        "level",
        "associated",
        "dependent",
        "positive",
        "negative",
        "reported",
        "rated",
        "centred",
        "centered",
        "making",
        "month",
        "week",
        "day",
    }
)
SUSPENDED_NEXT = frozenset({"and", "or", "nor", "to", "but", "vs", "versus", "than"})
_WORD = re.compile(r"[^\W\d_]+(?:[-\u2010][^\W\d_]+)*")
_LEAD_WORD = re.compile(r"^[^\W\d_]+")
_TRAIL_PART = re.compile(r"([^\W\d_]+)[-\u2010]$")
_SENTENCE_END = tuple(".!?:;)]\"”’'")
CAPTION_RE = re.compile(r"^\s*(?:fig(?:ure)?\.?|table|tab\.|plate|chart)\s*(\d+|[ivx]+)[a-z]?(\s*[.:|—–-]|\b)", re.I)
REFERENCES_RE = re.compile(
    r"^\s*(?:\d+(?:\.\d+)*\.?|[ivx]+\.)?\s*(references?|bibliography|literature cited|works cited|"
    r"reference list|cited literature|references and notes)\s*:?\s*$",
    re.I,
)
AFTER_REFERENCES_RE = re.compile(
    r"^\s*(?:\d+\.?\s*|[a-z]\.?\s+)?(appendix|appendices|"
    r"(?:supplementary|supplemental|online)(?: online)? (?:material|materials|information|data|appendix|files?)|"
    r"online supplement|supporting information|figure legends|about the authors?|author biograph(?:y|ies))\b",
    re.I,
)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\ufffd]")
_LIGATURES = {
    "\ufb00": "ff",
    "\ufb01": "fi",
    "\ufb02": "fl",
    "\ufb03": "ffi",
    "\ufb04": "ffl",
    "\ufb05": "st",
    "\ufb06": "st",
}
_LIG_RE = re.compile("[\ufb00-\ufb06]")


def clean_line(text: str) -> str:
    text = _CONTROL.sub(" ", text)
    if _LIG_RE.search(text):
        text = _LIG_RE.sub(lambda m: _LIGATURES[m.group(0)], text)
    return " ".join(text.split())


@dataclass
class Vocabulary:
    """How often each word and each hyphenated compound occurs inside lines of one document."""

    words: Counter = field(default_factory=Counter)
    compounds: Counter = field(default_factory=Counter)

    def add(self, text: str) -> None:
        for w in _WORD.findall(text):
            w = w.lower()
            if "-" in w or "\u2010" in w:
                self.compounds[w.replace("\u2010", "-")] += 1
                for part in re.split("[-\u2010]", w):
                    self.words[part] += 1
            else:
                self.words[w] += 1


def keep_hyphen(left_part: str, left_token: str, right_part: str, vocab: Vocabulary) -> bool:
    """The de-hyphenation rule of the module docstring, for 'left_part-' + 'right_part'."""
    if right_part[:1].isupper() or right_part[:1].isdigit():
        return True
    if any(c.isdigit() for c in left_token) or sum(c.isupper() for c in left_token) >= 2:
        return True
    if left_part[-1:].lower() in "aeiou" and left_part[-1:].lower() == right_part[:1]:
        return True  # "meta-|analysis", "co-|operate", "anti-|inflammatory": no syllable break there
    n_hyph = vocab.compounds.get(f"{left_part}-{right_part}".lower(), 0)
    n_joined = vocab.words.get((left_part + right_part).lower(), 0)
    if n_hyph or n_joined:
        return n_hyph > n_joined
    if left_part.lower() in KEEP_PREFIXES:
        return True
    return right_part.lower() in KEEP_SUFFIXES and (len(left_part) >= 4 or vocab.words.get(left_part.lower(), 0) > 0)


def join_break(left: str, right: str, vocab: Vocabulary) -> tuple[str, bool]:
    """Join two pieces of text across a line break; returns (text, a hyphen was removed)."""
    if not left:
        return right, False
    if not right:
        return left, False
    last = left[-1]
    if last == "\u00ad":
        return left[:-1] + right, True
    if last in "-\u2010" and len(left) >= 2 and left[-2].isdigit():
        return left + right, False  # "482-|5" (page range), "317-|day"
    if last in "-\u2010" and len(left) >= 2 and left[-2].isalpha():
        lead = _LEAD_WORD.match(right)
        if right[0].isdigit():
            return left + right, False
        if lead and lead.group(0) in SUSPENDED_NEXT:
            return left + " " + right, False  # suspended hyphen: "first- and second-line"
        if lead:
            part = _TRAIL_PART.search(left)
            token = left.rsplit(None, 1)[-1][:-1]
            if part and keep_hyphen(part.group(1), token, lead.group(0), vocab):
                return left + right, False
            if part:
                return left[:-1] + right, True
        return left + " " + right, False
    if last in "\u2013\u2014" and len(left) >= 2 and not left[-2].isspace():
        return left + right, False
    return left + " " + right, False


# ------------------------------------------------------------------ paragraphs
@dataclass
class Para:
    text: str
    page: int  # 0-based page index of its first line
    heading: bool = False
    caption: bool = False
    n_lines: int = 1
    float_: bool = False  # footnote, caption or small print: may sit inside a running sentence


def split_paragraphs(
    blocks: list[Block], body_size: float, body_font: str, vocab: Vocabulary
) -> tuple[list[Para], int]:
    """Blocks (in reading order) -> paragraphs; heading lines and caption starts open a new paragraph.

    A heading line is short (<= 80 chars), has letters, is no caption, is followed by a body-style
    line (or is alone in its block) and is bold, or at least 0.9 pt larger than the body, or (<= 60
    chars, capitalized, not ending in . , ; :) set in another font of about the body size while the
    next line is in the body font (so an italic quotation is not a heading).
    """
    paras: list[Para] = []
    joins = 0

    def heading_like(line, nxt=None) -> bool:
        t = line.text
        if len(t) > 80 or not any(c.isalpha() for c in t) or CAPTION_RE.match(t):
            return False
        if line.bold or line.size >= body_size + 0.9:
            return True
        return (
            nxt is not None
            and bool(body_font)
            and line.font != body_font
            and nxt.font == body_font
            and len(t) <= 60
            and t[0].isupper()
            and not t.endswith((".", ",", ";", ":"))
            and line.size >= 0.85 * body_size
        )

    def flush(cur: list, block: Block) -> None:
        nonlocal joins
        if not cur:
            return
        text = ""
        for line in cur:
            text, joined = join_break(text, line.text, vocab)
            joins += joined
        first = cur[0]
        heading = len(cur) == 1 and (heading_like(first) or bool(REFERENCES_RE.match(text)))
        caption = _caption_style(first, text, body_size)
        small = sorted(ln.size for ln in cur)[len(cur) // 2] < 0.9 * body_size
        paras.append(Para(text, block.page, heading, caption, len(cur), block.footnote or caption or small))
        cur.clear()

    for block in blocks:
        cur: list = []
        lines = [ln for ln in block.lines if ln.text]
        for i, line in enumerate(lines):
            nxt = lines[i + 1] if i + 1 < len(lines) else None
            starts_section = heading_like(line, nxt) and nxt is not None and not heading_like(nxt)
            if REFERENCES_RE.match(line.text) or starts_section:
                flush(cur, block)
                cur.append(line)
                flush(cur, block)
            elif cur and _caption_style(line, line.text, body_size):
                flush(cur, block)
                cur.append(line)
            else:
                cur.append(line)
        flush(cur, block)
    return paras, joins


def _caption_style(line, text: str, body_size: float) -> bool:
    m = CAPTION_RE.match(text)
    return bool(m) and (m.group(2).strip() != "" or line.lead_bold or abs(line.size - body_size) >= 0.5)


MAX_FLOATS_SKIPPED = 4


def merge_continuations(paras: list[Para], vocab: Vocabulary) -> tuple[list[Para], int]:
    """Re-join paragraphs cut by a column, page, footnote or table break (see the module docstring).

    Up to ``MAX_FLOATS_SKIPPED`` float paragraphs (footnotes, captions, small print) between the two
    halves are stepped over; they follow the re-joined paragraph.
    """
    out: list[Para] = []
    joins = 0
    for p in paras:
        target = None
        if p.text and not p.heading and not p.float_:
            k = len(out) - 1
            while k >= 0 and out[k].float_ and len(out) - 1 - k < MAX_FLOATS_SKIPPED:
                k -= 1
            prev = out[k] if k >= 0 else None
            if prev is not None and not prev.heading and not prev.float_:
                cont_hyphen = prev.text[-1:] in ("-", "\u2010", "\u00ad") and p.text[:1].isalpha()
                cont_sentence = not prev.text.endswith(_SENTENCE_END) and p.text[:1].islower()
                if cont_hyphen or cont_sentence:
                    target = prev
        if target is None:
            out.append(p)
            continue
        target.text, joined = join_break(target.text, p.text, vocab)
        joins += joined
        target.n_lines += p.n_lines
    return out, joins


def split_references(paras: list[Para]) -> tuple[list[Para], list[Para], list[Para]]:
    """(before, references, after): the main references list, up to an appendix/supplement heading.

    Headings in order: the main list is the last references heading before the first supplement heading
    that follows a references heading (a bundled supplement's own short list stays in ``after``); with no
    supplement, the last references heading (a contents page listing "References" comes first)."""
    heads = [i for i, p in enumerate(paras) if p.n_lines == 1 and REFERENCES_RE.match(p.text)]
    if not heads:
        return paras, [], []
    supplement = next(
        (j for j, p in enumerate(paras) if j > heads[0] and p.n_lines == 1 and AFTER_REFERENCES_RE.match(p.text)), None
    )
    start = max(i for i in heads if supplement is None or i < supplement)
    end = len(paras)
    for j in range(start + 1, len(paras)):
        if paras[j].n_lines == 1 and AFTER_REFERENCES_RE.match(paras[j].text):
            end = j
            break
    return paras[:start], paras[start:end], paras[end:]


def join_paras(paras: list[Para]) -> str:
    return "\n\n".join(p.text for p in paras if p.text)


# ------------------------------------------------------------------ title
_BAD_TITLE = re.compile(r"^(untitled|microsoft word|document\d*|\S+\.(docx?|pdf|tex|dvi|indd|ps|rtf))\b", re.I)
# placeholders office programs write into the metadata title
_PLACEHOLDER_TITLE = re.compile(
    r"^(?:(?:microsoft )?powerpoint(?: presentation)?|presentation\s*\d*|slide\s*\d+|title|untitled(?: document)?"
    r"|document\s*\d*|new document|no title|click to (?:add|edit) title.*)$|^microsoft (?:word|powerpoint|excel) - ",
    re.I,
)


def plausible_metadata_title(title: str | None) -> str | None:
    t = clean_line(title or "")
    if _PLACEHOLDER_TITLE.match(t):
        return None
    words = [w for w in t.split() if sum(c.isalpha() for c in w) >= 3]
    if len(words) < 2 or len(t) < 10 or _BAD_TITLE.match(t):
        return None
    return t


def title_from_blocks(blocks: list[Block], vocab: Vocabulary) -> str:
    """The largest-font text of the first page with text: of the runs of consecutive largest-size
    lines in one font (at most 6 lines), the one with the most characters ("Research Article" in
    italics above the title is skipped)."""
    lines = [ln for b in blocks for ln in b.lines if sum(c.isalpha() for c in ln.text) >= 4]
    if not lines:
        return ""
    top = max(ln.size for ln in lines)
    runs: list[list] = []
    prev = None
    for ln in lines:
        if abs(ln.size - top) > 0.5:
            prev = None
            continue
        if prev is not None and ln.font == prev.font and len(runs[-1]) < 6:
            runs[-1].append(ln)
        else:
            runs.append([ln])
        prev = ln
    best = max(runs, key=lambda r: sum(len(ln.text) for ln in r))
    text = ""
    for ln in best:
        text, _ = join_break(text, ln.text, vocab)
    return text


def is_deck(page_sizes: list[tuple[float, float]]) -> bool:
    """A slide deck: most pages landscape (wider than high by a third or more)."""
    wide = sum(1 for w, h in page_sizes if w >= 1.3 * h)
    return bool(page_sizes) and wide * 2 > len(page_sizes)


def join_slides(paras: list[Para]) -> list[Para]:
    """One paragraph per slide: the slide's title, then its bullets, one per line."""
    out: list[Para] = []
    for p in paras:
        if out and out[-1].page == p.page and p.text:
            out[-1].text = f"{out[-1].text}\n{p.text}" if out[-1].text else p.text
            out[-1].n_lines += p.n_lines
            out[-1].heading = False
        else:
            out.append(Para(p.text, p.page, False, p.caption, p.n_lines, p.float_))
    return out


# ------------------------------------------------------------------ usable text (extraction gates = check rules)
MIN_CHARS_PER_PAGE, MAX_CHARS_PER_PAGE = 200, 12_000  # per page with text: below, no real text; above, duplicated
MIN_LETTER_SHARE = 0.5  # letters among the non-space characters
MIN_WORD_SHARE = 0.25  # English dictionary words among tokens of >= 2 Latin letters (measured: English articles
# 0.93-0.98, Spanish and French clinical prose 0.39-0.42, so other Latin-script languages are not "garbage")
MAX_SHORT_TOKEN_SHARE = 0.6  # tokens of one or two characters ("1 1 / I / 1 I 1 1")
MAX_REPEATED_LINE_SHARE = 0.5  # one line on more than half the pages: a running header/footer left in
_LATIN_TOKEN = re.compile(r"[A-Za-z]{2,}")
_CJK = re.compile(r"[\u3400-\u9fff\uac00-\ud7af\u3040-\u30ff]")


@lru_cache(maxsize=1)
def english_words():
    """pyspellchecker's English word list (~160k words, shipped in its wheel): membership tests only."""
    from spellchecker import SpellChecker

    return SpellChecker(language="en", distance=1).word_frequency.dictionary


def text_quality(text: str) -> dict[str, float | None]:
    """Character-class and word measures of a text (None where the text gives no evidence)."""
    nonspace = sum(1 for c in text if not c.isspace())
    letters = sum(1 for c in text if c.isalpha())
    tokens = text.split()
    latin = _LATIN_TOKEN.findall(text)
    cjk = len(_CJK.findall(text))
    words = english_words()
    latin_text = len(latin) >= 20 and cjk < 0.2 * max(1, letters)
    return {
        "letter_share": letters / nonspace if nonspace else None,
        "word_share": sum(1 for w in latin if w.lower() in words) / len(latin) if latin_text else None,
        "short_token_share": sum(1 for t in tokens if len(t) <= 2) / len(tokens)
        if len(tokens) >= 20 and not cjk
        else None,
    }


def unusable_text(row: dict[str, Any]) -> str | None:
    """Why a document row's text is unusable (``code: detail``), or None. Codes: ``too_little_text`` (a deck
    of images, a scan without OCR on most pages), ``too_much_text`` (text drawn twice), ``garbage_text`` (an
    OCR layer of noise), ``repeated_lines`` (a running line left on more than half the pages)."""
    pages = int(row.get("pages") or 0)
    flagged = len(row.get("flagged_pages") or [])
    per_page = int(row.get("n_chars") or 0) / max(1, pages - flagged)
    images = f"; {flagged} of {pages} pages are images without text" if flagged else ""
    if per_page < MIN_CHARS_PER_PAGE:
        return f"too_little_text: {per_page:.0f} characters per page with text (< {MIN_CHARS_PER_PAGE}){images}"
    if per_page > MAX_CHARS_PER_PAGE:
        return f"too_much_text: {per_page:.0f} characters per page with text (> {MAX_CHARS_PER_PAGE})"
    q = text_quality(row.get("body") or "")
    if q["letter_share"] is not None and q["letter_share"] < MIN_LETTER_SHARE:
        return f"garbage_text: {q['letter_share']:.0%} of the characters are letters (< {MIN_LETTER_SHARE:.0%})"
    if q["short_token_share"] is not None and q["short_token_share"] > MAX_SHORT_TOKEN_SHARE:
        return (
            f"garbage_text: {q['short_token_share']:.0%} of the tokens have one or two characters "
            f"(> {MAX_SHORT_TOKEN_SHARE:.0%})"
        )
    if q["word_share"] is not None and q["word_share"] < MIN_WORD_SHARE:
        return f"garbage_text: {q['word_share']:.0%} of the words are English words (< {MIN_WORD_SHARE:.0%})"
    share = max_repeated_line_page_share(body_pages(row))
    if share > MAX_REPEATED_LINE_SHARE:
        return f"repeated_lines: one line on {share:.0%} of the pages (> {MAX_REPEATED_LINE_SHARE:.0%})"
    return None


# ------------------------------------------------------------------ checkers (quality checks)
def max_repeated_line_page_share(body_pages: list[str]) -> float:
    """Largest share of pages on which one line (digits normalized) occurs; >0.5 means a header leaked.

    Lines shorter than 4 characters or with fewer than 3 letters are ignored. Below 3 pages there is no
    evidence (two similar sentences on two pages, digits normalized, are no running header): 0.0.
    """
    n = len(body_pages)
    if n < 3:
        return 0.0
    counts: Counter = Counter()
    for text in body_pages:
        keys = {normalize_line(ln) for ln in text.splitlines()}
        counts.update(k for k in keys if len(k) >= 4 and sum(c.isalpha() for c in k) >= 3)
    return max(counts.values(), default=0) / n


_LEFTOVER_BREAK = re.compile(r"[^\W\d_]{2,}[-\u2010\u00ad]\n[ \t]*[a-z]")
_LEFTOVER_SPACE = re.compile(
    r"\b[^\W\d_]{2,}[-\u2010\u00ad] (?!(?:and|or|to|nor|as|but|vs|versus|than|through|and/or)\b)[a-z]{2,}"
)


def leftover_hyphenations(text: str) -> int:
    """Words still cut at a line end: "treat-\\nment", or reflowed "treat- ment".

    Suspended hyphens ("pre- and post-operative") are not counted.
    """
    return len(_LEFTOVER_BREAK.findall(text)) + len(_LEFTOVER_SPACE.findall(text))


def text_per_page(row: dict[str, Any]) -> float:
    """Characters of body + references per page that has a text layer."""
    pages = int(row.get("pages") or 0) - len(row.get("flagged_pages") or [])
    chars = len(row.get("body") or "") + len(row.get("references") or "")
    return chars / pages if pages > 0 else 0.0


def body_pages(row: dict[str, Any]) -> list[str]:
    """The body cut at the row's ``page_offsets`` (one string per page, possibly empty)."""
    body, offs = row.get("body") or "", list(row.get("page_offsets") or [])
    ends = offs[1:] + [len(body)]
    return [body[a:b] for a, b in zip(offs, ends)]
