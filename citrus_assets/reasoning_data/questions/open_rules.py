"""Rules of the open-ended rewrite: the validator every rewrite must pass, and the rule rewrite.

``check_rewrite(closed, rewrite, options, answer_letters, language)`` returns the reasons a
rewrite is rejected (empty list = accepted). It is used on every LLM rewrite, on the rule
fallback, and by the ``open_questions`` asset check. A rewrite is rejected when it

- is empty or a refusal                                        -> ``empty`` / ``refusal``
- still lists options (lines "A. …", "(B) …", "C) …"; or inline "(A) … (B) …")  -> ``lists_options``
- loses a number of the stem (each number must reappear; a short unit written right after it
  — "9.1 g/dL", "45%", "39.5℃" — must reappear right after it too)  -> ``lost_number:<n unit>``
- contains the text of a correct option that the stem did not contain  -> ``gives_answer_away``
- is in another language than the seed (``detect_language``)        -> ``language_changed:<a>-><b>``
- fails the one degeneration filter (``common.degeneration``: repetition the stem does not have itself,
  fewer than 3 words)
                                                                 -> ``degenerate:<reason>``

``rule_rewrite`` strips option lines, turns "Which of the following is …" into "What is …",
ends the text with a question (a diagnosis question only where the stem asks for one), and is
held to the same validator.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

from citrus_assets.common.text.degeneration import degeneration_reason, reason_code, repetition_reason
from citrus_assets.common.text.language import detect_language

_OPTION_LINE = re.compile(r"(?m)^\s*(?:\(\s*[A-Ua-u]\s*\)|[A-U]\s*[\.\)\]:：、]|[a-u]\s*[\)\]])(?=\s*\S)")
_INLINE_MARK = re.compile(r"(?:^|[\s,;])\(([A-U])\)|(?:^|[\s,;])([A-U])\)")
_NUMBER = re.compile(
    r"(?<![A-Za-z0-9.])(\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?)(?!\d|\.\d)"
    r"(?:\s?([A-Za-zµμ°%℃][A-Za-zµμ°%℃/0-9²³]*))?"
)
_REFUSAL = re.compile(
    r"^\s*(?:i'?m sorry|i am sorry|sorry|i cannot|i can'?t|i am unable|i'm unable|as an ai"
    r"|抱歉|对不起|很抱歉|我无法|我不能|作为(?:一个)?(?:ai|人工智能))",
    re.IGNORECASE,
)
# Phrases that only make sense next to a list of options (reported, not rejected: some closed
# questions, e.g. "all of the following EXCEPT", have no faithful open form).
_REFERS_TO_OPTIONS = re.compile(
    r"of the following|following (?:options|choices|statements)|all of these|"
    r"\bexcept\b|以下|下列|选项",
    re.IGNORECASE,
)


_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}\b)")
_SPACES = re.compile(r"\s+")
_CJK = re.compile(r"[\u3400-\u9fff]")


def _digits(text: str) -> str:
    """Thousands separators removed ("1,200" -> "1200") so numbers compare by value text."""
    return _THOUSANDS.sub("", text)


# Patterns built from a row's own numbers and option texts: compiled once per distinct value (the ``re`` module's
# own cache holds 512 patterns and thrashed at scale: ~4 compiles per row).
@lru_cache(maxsize=16384)
def _number_pattern(number: str, unit: str) -> re.Pattern:
    pat = r"(?<![0-9.])" + re.escape(number) + r"(?!\d|\.\d)"
    if unit:
        pat += r"\s?" + re.escape(unit).replace(r"\ ", r"\s?")
    return re.compile(pat, re.IGNORECASE)


@lru_cache(maxsize=16384)
def _word_pattern(phrase: str) -> re.Pattern:
    return re.compile(r"(?<!\w)" + re.escape(phrase) + r"(?!\w)")


def _short_unit(unit: str | None) -> str:
    """The unit kept for checking: one with a symbol (/, %, °, ℃) or at most 4 letters (mg, fL, mmHg)."""
    if not unit:
        return ""
    if any(c in unit for c in "/%°℃µμ") or len(unit) <= 4:
        return unit
    return ""


def stem_numbers(text: str) -> list[tuple[str, str]]:
    """``[(number, short unit or "")]`` of ``text``, in order, without repeats."""
    out: list[tuple[str, str]] = []
    for m in _NUMBER.finditer(_digits(text or "")):
        item = (m.group(1), _short_unit(m.group(2)))
        if item not in out:
            out.append(item)
    return out


def _has_number(text: str, number: str, unit: str) -> bool:
    return _number_pattern(number, unit).search(_digits(text)) is not None


def lists_options(text: str) -> bool:
    if _OPTION_LINE.search(text or ""):
        return True
    marks = {a or b for a, b in _INLINE_MARK.findall(text or "")}
    return {"A", "B"} <= marks


def _norm(s: str) -> str:
    return _SPACES.sub(" ", s or "").strip().strip(".。").casefold()


def _contains(text: str, phrase: str) -> bool:
    """Whole-word containment for Latin text, substring for CJK, case- and space-insensitive."""
    t, p = _norm(text), _norm(phrase)
    if not p:
        return False
    return _word_pattern(p).search(t) is not None or (_CJK.search(p) is not None and p in t)


def correct_texts(options: Sequence[dict], answer_letters: Sequence[str]) -> list[str]:
    by_letter = {o["letter"]: o["text"] for o in options or []}
    return [by_letter[letter] for letter in answer_letters or [] if by_letter.get(letter, "").strip()]


def ground_truth(options: Sequence[dict], answer_letters: Sequence[str]) -> str:
    """The text of the correct option(s), "; "-joined."""
    return "; ".join(t.strip() for t in correct_texts(options, answer_letters))


def check_rewrite(
    closed: str, rewrite: str, options: Sequence[dict], answer_letters: Sequence[str], language: str
) -> list[str]:
    """Why ``rewrite`` is not a faithful open-ended form of ``closed`` (empty list: it is)."""
    text = (rewrite or "").strip()
    if not text:
        return ["empty"]
    reasons = []
    if _REFUSAL.search(text):
        reasons.append("refusal")
    if lists_options(text):
        reasons.append("lists_options")
    reasons += lost_numbers(closed, text)
    if gives_answer_away(closed, text, options, answer_letters):
        reasons.append("gives_answer_away")
    got = detect_language(text)
    if language in ("en", "zh") and got != language:
        reasons.append(f"language_changed:{language}->{got}")
    degenerate = degeneration_reason(text, kind="question")  # the language is judged just above
    # a stem that holds a table ("Patient 1 22 breaths per minute" x7) repeats by itself: lines copied from the
    # stem are not the rewrite's repetition, so only the rewrite's own lines are judged for it
    stem_lines = {ln.strip() for ln in (closed or "").splitlines() if ln.strip()}
    own = "\n".join(ln for ln in text.splitlines() if ln.strip() not in stem_lines)
    inherited = reason_code(degenerate) == "repetition" and not repetition_reason(own)
    if degenerate and not inherited:
        reasons.append(f"degenerate:{degenerate}")
    return reasons


def lost_numbers(closed: str, rewrite: str) -> list[str]:
    """``lost_number:...`` reasons: numbers (with their short unit) of ``closed`` missing from ``rewrite``."""
    text = (rewrite or "").strip()
    return [
        f"lost_number:{number}{' ' + unit if unit else ''}"
        for number, unit in stem_numbers(closed)
        if not _has_number(text, number, unit)
    ]


def gives_answer_away(closed: str, rewrite: str, options: Sequence[dict], answer_letters: Sequence[str]) -> bool:
    """The correct option's text is in ``rewrite`` although ``closed`` did not have it."""
    text = (rewrite or "").strip()
    return any(_contains(text, t) and not _contains(closed, t) for t in correct_texts(options, answer_letters))


def refers_to_options(text: str) -> bool:
    return _REFERS_TO_OPTIONS.search(text or "") is not None


# ---------------------------------------------------------------------------------- rule rewrite
_WH_FOLLOWING = [
    (
        re.compile(r"\bwhich (?:one )?of the followings? (is|are|was|were|would|will|could|best|most)\b", re.I),
        r"what \1",
    ),
    (re.compile(r"\bwhich (?:one )?of the followings?\b", re.I), "which"),
    (re.compile(r"(?:下列|以下)(?:哪一?项|哪个|哪些)"), "什么"),
]
_QUESTION_WORD = re.compile(r"^\s*(?:what|which|who|whom|whose|how|why|when|where|is|are|does|do|can|should)\b", re.I)
_OPEN_Q = {
    "en": {
        "diagnosis": "What is the most likely diagnosis?",
        "answer": "What is the answer?",
        "complete": "Complete the statement.",
    },
    "zh": {"diagnosis": "最可能的诊断是什么？", "answer": "答案是什么？", "complete": "请补全这句话。"},
}


def _capitalize_first(text: str, repl: str) -> str:
    return repl[:1].upper() + repl[1:] if text[:1].isupper() else repl


def rule_rewrite(stem: str, language: str) -> str:
    """Options stripped, "which of the following" opened up, ending in a question."""
    lang = "zh" if language == "zh" else "en"
    lines = [ln for ln in (stem or "").splitlines() if not _OPTION_LINE.match(ln)]
    text = "\n".join(lines).strip()
    for pat, repl in _WH_FOLLOWING:
        text = pat.sub(lambda m, repl=repl: _capitalize_first(m.group(0), m.expand(repl)), text)
    if text.rstrip("\"'”’)） ").endswith(("?", "？")):
        return text
    last = re.split(r"(?<=[.!?。！？])\s*", text.rstrip(":：-— "))
    tail = next((s for s in reversed(last) if s.strip()), "")
    q = _OPEN_Q[lang]
    if lang == "zh":
        body = text.rstrip(":：-—。 ")
        if body.endswith(("是", "为")):
            return body + "什么？"
        if re.search(r"什么|哪|何|吗|怎么|为什么|是否", tail):
            return body + "？"
    elif _QUESTION_WORD.match(tail) or re.search(r"\b(?:which|what|who|whom|how)\b", tail, re.I):
        return text.rstrip(":：-— .") + "?"
    if text.endswith((":", "：", "-", "—")) or not text.endswith((".", "。", "!", "！", ")", "）")):
        return (
            f"{text.rstrip(':：-— ')} ___\n{q['complete']}"
            if lang == "en"
            else f"{text.rstrip(':：-— ')}____\n{q['complete']}"
        )
    asks_diagnosis = re.search(r"diagnos|诊断", text, re.I) is not None
    return f"{text}\n{q['diagnosis'] if asks_diagnosis else q['answer']}"
