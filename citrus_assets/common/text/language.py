"""The one language detector of the lake (every stage tags and checks languages with it).

Rule (``detect_language``), in order:

1. no letter at all (empty, digits, punctuation)                          -> ``"und"``;
2. CJK ideographs are at least 20% of the letters                          -> ``"zh"``
   (``"ja"`` when kana are at least 10% of the letters; ``"ko"`` for Hangul, same 20% rule);
3. otherwise py3langid's shipped model (offline, normalised probabilities, Latin excluded because medical
   nomenclature reads as Latin): its language when the
   probability is at least ``MIN_CONFIDENCE``; below that, Latin-script text is ``"en"`` (one-word
   answers, drug names and short fragments are where the model is unsure; the project's sources are
   English unless the script says otherwise) and other scripts keep the model's best guess.

Counting letters rather than characters keeps numbers, units and punctuation out of the decision, so a
Chinese vignette full of lab values is still ``zh`` and an English one with a Chinese drug name is ``en``.
Before this module three detectors disagreed (``"und"``, ``"en"``, ``"en"`` for a text without letters).
"""

from __future__ import annotations

import re
from functools import lru_cache

UNDETERMINED = "und"
# medical nomenclature is Latin ("Streptococcus pneumoniae", "situs inversus totalis" -> py3langid "la" with
# p 0.6-0.9); no source of this lake is written in Latin, so it is never an answer
NOT_A_LANGUAGE_HERE = frozenset({"la"})
MIN_CONFIDENCE = 0.9  # measured: a MedMCQA stem read as Nigerian Pidgin at p 0.54; Spanish stems score 0.90-0.99
CJK_SHARE = 0.2
KANA_SHARE = 0.1

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_KANA = re.compile(r"[\u3040-\u30ff]")
_HANGUL = re.compile(r"[\uac00-\ud7af\u1100-\u11ff]")
_LATIN = re.compile(r"[A-Za-z\u00c0-\u024f]")


@lru_cache(maxsize=1)
def load_langid():
    """py3langid's shipped model with normalised probabilities (no download), loaded once per process."""
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def classify(text: str) -> tuple[str, float]:
    """(language, probability) from py3langid, Latin excluded (``NOT_A_LANGUAGE_HERE``), renormalised."""
    ranked = [
        (str(lang), float(p))
        for lang, p in load_langid().rank((text or "").replace("\n", " "))
        if lang not in NOT_A_LANGUAGE_HERE
    ]
    total = sum(p for _, p in ranked) or 1.0
    return ranked[0][0], ranked[0][1] / total


def detect_language(text: str | None) -> str:
    """ISO 639-1 code of ``text`` by the rule in the module docstring (``"und"`` without letters)."""
    text = text or ""
    n_letters = sum(1 for c in text if c.isalpha())
    if n_letters == 0:
        return UNDETERMINED
    n_cjk = len(_CJK.findall(text))
    if n_cjk / n_letters >= CJK_SHARE:
        return "ja" if len(_KANA.findall(text)) / n_letters >= KANA_SHARE else "zh"
    if len(_KANA.findall(text)) / n_letters >= KANA_SHARE:
        return "ja"
    if len(_HANGUL.findall(text)) / n_letters >= CJK_SHARE:
        return "ko"
    lang, score = classify(text)
    if score >= MIN_CONFIDENCE:
        return lang
    return "en" if len(_LATIN.findall(text)) * 2 >= n_letters else lang
