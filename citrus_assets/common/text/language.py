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

Cost (the detector runs on every seed, open question and reasoning text; benchmarks/language_detect.py): answers
are remembered per process by the text's 128-bit hash (``MEMO_SIZE`` texts; the rewrite validator and its asset
check, the SFT rewrite and the SFT check detect the same texts), plain-ASCII text skips the script counts (it has
no CJK, kana or Hangul and all its letters are Latin), and py3langid's class-by-feature table is widened to float32
once (the scorer widened every row it read on each call). ``reference_detect`` is the rule without those shortcuts:
tests/platform/test_language.py checks that both answer alike on every real sample text.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from functools import lru_cache
from string import ascii_letters

import xxhash

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


MEMO_SIZE = 8192  # answers remembered per process (a 16-byte hash and a code each, never the text)
_ASCII_LETTERS = ascii_letters.encode()


@lru_cache(maxsize=1)
def load_langid():
    """py3langid's shipped model with normalised probabilities (no download), loaded once per process.

    The same model as ``LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)`` with its float16
    class-by-feature table widened to float32: float16 -> float32 is exact and the scorer multiplies the rows it
    reads by float32 counts, so it widened them on every call; the scores are the same (checked bit for bit on the
    sample texts in tests/platform/test_language.py), the product about 3x cheaper, the table 28 MB larger."""
    import numpy as np
    from py3langid.langid import MODEL_DIR, MODEL_FILE, LanguageIdentifier
    from py3langid.modelio import load_model

    ptc, pc, classes, nextmove, row, output = load_model(MODEL_DIR / MODEL_FILE)
    return LanguageIdentifier(
        np.asarray(ptc, dtype=np.float32), np.asarray(pc), classes, nextmove, output, norm_probs=True, tk_row=row
    )


def classify(text: str, identifier=None) -> tuple[str, float]:
    """(language, probability) from py3langid, Latin excluded (``NOT_A_LANGUAGE_HERE``), renormalised."""
    ranked = [
        (str(lang), float(p))
        for lang, p in (identifier or load_langid()).rank((text or "").replace("\n", " "))
        if lang not in NOT_A_LANGUAGE_HERE
    ]
    total = sum(p for _, p in ranked) or 1.0
    return ranked[0][0], ranked[0][1] / total


_memo: OrderedDict[bytes, str] = OrderedDict()
_memo_lock = threading.Lock()


def detect_language(text: str | None) -> str:
    """ISO 639-1 code of ``text`` by the rule in the module docstring (``"und"`` without letters)."""
    text = text or ""
    key = xxhash.xxh3_128_digest(text.encode("utf-8", "surrogatepass"))
    with _memo_lock:
        got = _memo.get(key)
        if got is not None:
            _memo.move_to_end(key)
            return got
    got = _detect(text)
    with _memo_lock:
        _memo[key] = got
        if len(_memo) > MEMO_SIZE:
            _memo.popitem(last=False)
    return got


def _detect(text: str) -> str:
    if text.isascii():  # no CJK, kana or Hangul, and every letter is Latin (A-Z, a-z): steps 2 and 3's fallback
        raw = text.encode("ascii")
        if len(raw.translate(None, _ASCII_LETTERS)) == len(raw):
            return UNDETERMINED
        lang, score = classify(text)
        return lang if score >= MIN_CONFIDENCE else "en"
    return reference_detect(text)


def reference_detect(text: str | None, identifier=None) -> str:
    """The rule of the module docstring step by step, without the memo or the ASCII shortcut (``identifier``:
    another py3langid model, e.g. the shipped float16 one; the benchmark and tests compare against this)."""
    text = text or ""
    n_letters = sum(map(str.isalpha, text))
    if n_letters == 0:
        return UNDETERMINED
    n_cjk = len(_CJK.findall(text))
    if n_cjk / n_letters >= CJK_SHARE:
        return "ja" if len(_KANA.findall(text)) / n_letters >= KANA_SHARE else "zh"
    if len(_KANA.findall(text)) / n_letters >= KANA_SHARE:
        return "ja"
    if len(_HANGUL.findall(text)) / n_letters >= CJK_SHARE:
        return "ko"
    lang, score = classify(text, identifier)
    if score >= MIN_CONFIDENCE:
        return lang
    return "en" if len(_LATIN.findall(text)) * 2 >= n_letters else lang
