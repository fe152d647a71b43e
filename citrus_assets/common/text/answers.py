"""The one answer-letter parser of the project (evaluation, difficulty labels, rejection sampling).

Rule, in order (documented in docs/answers.md):
1. Span: the content of the LAST ``<answer>…</answer>`` block (an unclosed last ``<answer>``
   runs to the end); without one, the text after the last "answer is" / "answer:" marker;
   without that, the whole text.
2. A span that starts with an option letter token — ``B``, ``B.``, ``(B)``, ``B)``, ``B:`` — is
   that letter ("B. Aspirin" is B, never A and B). Lower-case letters count only as ``b.``,
   ``b)``, ``(b)`` or a span that is just the letter.
3. A span made only of letters and separators ("A, C", "A and C", "A/C") is that set of letters.
4. Otherwise the option whose full text appears in the span (case- and space-insensitive);
   if several do, the longest; if none, no answer.
Letters must fall inside the question's option count (A–U at most: 21 options), so "E" is not
an answer to a 4-option question. An empty result means "no answer" (scored wrong, reported apart).
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

MAX_OPTIONS = 21
ALL_LETTERS = string.ascii_uppercase[:MAX_OPTIONS]  # A..U

_ANSWER_BLOCK = re.compile(r"<answer>(.*?)(?:</answer>|$)", re.IGNORECASE | re.DOTALL)
_MARKER = re.compile(r"(?:answer\s+is|answer\s*:|答案(?:是|为|：|:))", re.IGNORECASE)
_LEAD_UPPER = re.compile(r"^\s*[\(\[]?\s*([A-U])\s*(?:[\)\]\.:：、,;]|\s|$)")
_LEAD_LOWER = re.compile(r"^\s*(?:\(([a-u])\)|([a-u])[\.\)])(?:\s|$)")
_ONLY_LETTER_LOWER = re.compile(r"^\s*([a-u])\s*$")
_LETTER_LIST = re.compile(r"^\s*[\(\[]?[A-U][\)\]]?(?:\s*(?:,|/|;|、|and|&|和|及)\s*[\(\[]?[A-U][\)\]]?)+\s*\.?\s*$")


def letters_for(n_options: int) -> str:
    if not 1 <= n_options <= MAX_OPTIONS:
        raise ValueError(f"option count must be 1..{MAX_OPTIONS}, got {n_options}")
    return ALL_LETTERS[:n_options]


@dataclass(frozen=True)
class ExtractedAnswer:
    letters: tuple[str, ...]
    method: str  # "letter" | "letter_list" | "option_text" | "none"
    span: str = field(repr=False, default="")

    @property
    def is_answer(self) -> bool:
        return bool(self.letters)


def answer_span(text: str) -> str:
    blocks = _ANSWER_BLOCK.findall(text or "")
    if blocks:
        return blocks[-1].strip()
    marks = list(_MARKER.finditer(text or ""))
    if marks:
        return text[marks[-1].end() :].strip()
    return (text or "").strip()


def _norm(s: str) -> str:
    return re.sub(r"\s+", " ", s).strip().strip(".").casefold()


def extract_answer(text: str, options: Mapping[str, str] | Sequence[str] | int) -> ExtractedAnswer:
    """Parse the answer letters of ``text`` for a question with ``options``.

    ``options`` is a letter→text mapping, a list of option texts, or just the option count.
    """
    if isinstance(options, int):
        valid, texts = letters_for(options), {}
    elif isinstance(options, Mapping):
        texts = {str(k).upper(): str(v) for k, v in options.items()}
        valid = letters_for(len(texts))
    else:
        valid = letters_for(len(options))
        texts = dict(zip(valid, map(str, options)))
    span = answer_span(text)
    if not span:
        return ExtractedAnswer((), "none", span)
    if _LETTER_LIST.match(span):
        found = tuple(sorted(set(re.findall(r"[A-U]", span))))
        if found and all(letter in valid for letter in found):
            return ExtractedAnswer(found, "letter_list", span)
        return ExtractedAnswer((), "none", span)
    m = _LEAD_UPPER.match(span)
    letter = m.group(1) if m else None
    if letter is None:
        ml = _LEAD_LOWER.match(span) or _ONLY_LETTER_LOWER.match(span)
        if ml:
            letter = next(g for g in ml.groups() if g).upper()
    if letter is not None:
        # "A patient…" is prose, not option A: a bare capital followed by a lower-case word
        prose = re.match(r"^\s*[A-U]\s+[a-z]", span) is not None and not re.match(r"^\s*[A-U]\s*$", span)
        if not prose:
            return ExtractedAnswer((letter,) if letter in valid else (), "letter" if letter in valid else "none", span)
    nspan = _norm(span)
    hits = [(len(t), letter) for letter, t in texts.items() if _norm(t) and _norm(t) in nspan]
    if hits:
        best = max(hits)[1]
        return ExtractedAnswer((best,), "option_text", span)
    return ExtractedAnswer((), "none", span)


def is_correct(predicted: Sequence[str], truth: Sequence[str]) -> bool:
    """Exact set match: every correct letter and nothing else (multi-answer JMED items too)."""
    return bool(predicted) and set(predicted) == set(truth)
