"""The one degeneration filter for every LLM-made text the lake keeps.

Textbook questions and answers, open rewrites, dual-expert steps, SFT rewrites, EMR fields, JMED questions
and options and the chosen completions of preference pairs all go through ``degeneration_reason`` before a
row is kept. A text is degenerate (reason code, then detail) when:

* ``empty`` -- nothing but whitespace;
* ``no_content`` -- no letter at all (only digits / punctuation; allowed for options and answers, where
  "0.05%" or "12" is an answer), or fewer words than ``min_words``;
* ``repetition:<rule>`` -- the Gopher repetition rules (Rae et al. 2021, table A1), computed with
  datatrove's own helpers (``datatrove.pipeline.filters.gopher_repetition_filter``: ``find_duplicates``
  for lines, ``find_all_duplicate`` for duplicated n-grams) and the same default thresholds:
  duplicate line fraction 0.30 and duplicate-line character fraction 0.20; top 2/3/4-gram character
  fraction 0.20/0.18/0.16; duplicated 5..10-gram character fraction 0.15 .. 0.10. Differences from
  datatrove's filter, for short generated texts rather than web pages: paragraphs are not checked
  separately (generations rarely have several); a top n-gram counts only when it occurs at least
  ``min_top_ngram_count`` (4) times (in a short text up to three occurrences are > 20% of the characters:
  关节 twice in the ICD name 关节病性关节炎, "periphery countries" three times in a real MMLU-Pro stem); words are
  ``\\w`` runs with every CJK ideograph a word of its own (no spaCy / jieba needed), n-grams are
  joined without separator so the fractions mean the same in Chinese and English, and in Chinese text
  (ideographs >= 20% of the letters) every n is multiplied by ``cjk_ngram_scale`` (2: about two characters
  a word -- with n=5 characters, 12 of 500 real Chinese medical answers were dropped for repeating a
  five-character term such as 输卵管粘连);
* ``language:<got>!=<want>`` -- the text is in another language than expected (``common.language``),
  judged only when it has at least ``min_letters_for_language`` letters;
* ``echo`` -- (``first_degenerate``, several fields of one generation) a field of at least
  ``min_echo_words`` words repeats an earlier field verbatim (case, spacing and punctuation ignored): the
  built-in model answers a textbook question with the question itself.

``DegenerationConfig`` holds the thresholds; ``KIND_CONFIGS`` the minimum content per kind of text.
Callers drop (quarantine) with ``f"degenerate:{reason}"`` and count the reason code in metadata.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, replace

from datatrove.pipeline.filters.gopher_repetition_filter import find_all_duplicate, find_duplicates

from citrus_assets.common.text.language import detect_language

DEGENERATE = "degenerate"

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_CJK_RE = re.compile(f"[{_CJK}]")
_WORDS = re.compile(rf"[{_CJK}]|[^\W_{_CJK}]+")
_LINES = re.compile(r"\n+")


@dataclass(frozen=True)
class DegenerationConfig:
    """Thresholds (defaults: the Gopher rules as datatrove ships them) and minimum content."""

    min_words: int = 1
    dup_line_frac: float | None = 0.3
    dup_line_char_frac: float | None = 0.2
    top_n_grams: tuple[tuple[int, float], ...] = ((2, 0.2), (3, 0.18), (4, 0.16))
    dup_n_grams: tuple[tuple[int, float], ...] = ((5, 0.15), (6, 0.14), (7, 0.13), (8, 0.12), (9, 0.11), (10, 0.10))
    min_letters_for_language: int = 20
    min_top_ngram_count: int = 4
    min_echo_words: int = 4
    cjk_ngram_scale: int = 2
    require_letters: bool = True


# minimum content per kind of generated text (thresholds shared; a question needs a few words, an option one)
KIND_CONFIGS: dict[str, DegenerationConfig] = {
    "text": DegenerationConfig(),
    "question": DegenerationConfig(min_words=2),  # "Hapten is?" is a real MedMCQA question
    "answer": DegenerationConfig(min_words=1, require_letters=False),
    "option": DegenerationConfig(min_words=1, require_letters=False),
    "field": DegenerationConfig(min_words=1),
    "reasoning": DegenerationConfig(min_words=8),
}


def words(text: str) -> list[str]:
    """Word tokens: ``\\w`` runs, each CJK ideograph on its own."""
    return _WORDS.findall(text)


def repetition_reason(text: str, config: DegenerationConfig = KIND_CONFIGS["text"]) -> str:
    """The first Gopher repetition rule ``text`` breaks ('' when none), with its measured fraction."""
    n_chars = len(text)
    if not n_chars:
        return ""
    lines = [ln for ln in _LINES.split(text.strip()) if ln.strip()]
    if len(lines) > 1:
        dup_lines, dup_chars = find_duplicates(lines)
        if config.dup_line_frac is not None and dup_lines / len(lines) > config.dup_line_frac:
            return f"dup_line_frac {dup_lines / len(lines):.2f}"
        if config.dup_line_char_frac is not None and dup_chars / n_chars > config.dup_line_char_frac:
            return f"dup_line_char_frac {dup_chars / n_chars:.2f}"
    toks = words(text)
    n_letters = sum(1 for c in text if c.isalpha())
    scale = config.cjk_ngram_scale if n_letters and len(_CJK_RE.findall(text)) / n_letters >= 0.2 else 1
    for n, limit in config.top_n_grams:
        n *= scale
        grams = Counter(tuple(toks[i : i + n]) for i in range(len(toks) - n + 1))
        if not grams:
            continue
        gram, count = grams.most_common(1)[0]
        frac = count * sum(map(len, gram)) / n_chars
        if count >= config.min_top_ngram_count and frac > limit:
            return f"top_{n}_gram {frac:.2f} ({' '.join(gram)!r} x{count})"
    for n, limit in config.dup_n_grams:
        n *= scale
        frac = find_all_duplicate(toks, n) / n_chars
        if frac > limit:
            return f"duplicated_{n}_n_grams {frac:.2f}"
    return ""


def degeneration_reason(
    text, *, kind: str = "text", language: str | None = None, config: DegenerationConfig | None = None
) -> str:
    """'' when ``text`` may be kept, else ``"<code>: <detail>"`` (codes in the module docstring).

    ``language``: the expected ISO code (``"en"``/``"zh"``); other values and None skip the language test.
    """
    cfg = config or KIND_CONFIGS.get(kind) or KIND_CONFIGS["text"]
    text = text if isinstance(text, str) else ""
    if not text.strip():
        return "empty: no text"
    n_letters = sum(1 for c in text if c.isalpha())
    if not n_letters and cfg.require_letters:
        return "no_content: no letters"
    toks = words(text)
    if len(toks) < cfg.min_words:
        return f"no_content: {len(toks)} words < {cfg.min_words}"
    rep = repetition_reason(text, cfg)
    if rep:
        return f"repetition: {rep}"
    if language in ("en", "zh") and n_letters >= cfg.min_letters_for_language:
        got = detect_language(text)
        if got != language:
            return f"language: {got}!={language}"
    return ""


def reason_code(reason: str) -> str:
    """``"repetition"`` from ``"repetition: top_2_gram 0.67 ..."``."""
    return reason.split(":", 1)[0]


def first_degenerate(
    fields: dict[str, str], *, kinds: dict[str, str] | None = None, language: str | None = None
) -> tuple[str, str] | None:
    """None when every field is fine, else ``(field name, reason)`` for the first degenerate one."""
    seen: dict[str, str] = {}
    for name, value in fields.items():
        kind = (kinds or {}).get(name, "text")
        reason = degeneration_reason(value, kind=kind, language=language)
        if reason:
            return name, reason
        key = " ".join(w.lower() for w in words(value))
        if key in seen and len(words(value)) >= (KIND_CONFIGS.get(kind) or KIND_CONFIGS["text"]).min_echo_words:
            return name, f"echo: repeats the {seen[key]} verbatim"
        seen.setdefault(key, name)
    return None


def with_thresholds(kind: str = "text", **overrides) -> DegenerationConfig:
    """A kind's config with some thresholds changed (benchmarks and run configs)."""
    return replace(KIND_CONFIGS[kind], **overrides)
