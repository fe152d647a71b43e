"""21 options per item: the correct ICD-10 diagnosis (or diagnoses), distractors to 20, "None of the above".

Rules (each tested):

* answers: the diagnosis field is normalized as a whole (``icd10.normalize``); if that fails it is split
  into several diagnoses (``icd10.split_diagnoses``) and every part must normalize; anything unmatched
  -> the item is quarantined. Answers in one category are kept once (by code).
* distractors: ICD-10 entries that are (a) not related to any answer nor to another chosen distractor
  (``icd10.related``: prefix or same 3-character category), (b) not a near-duplicate of any chosen
  option: token Jaccard ≥ ``NEAR_DUPLICATE`` (0.8) in English or Chinese, or one option's tokens a
  subset of another's ("Cirrhosis of liver" vs "Alcoholic cirrhosis of liver"), (c) labelled
  differently. Candidates from the answer's ICD chapter come first (plausible differentials), then
  those of another chapter of the same department (COVID-19, chapter XXII, draws from infectious
  diseases), then the rest; within each group the order is a fixed pseudo-random permutation seeded
  by the item key, so a rebuild gives the same options.
* the 20 diagnosis options are shuffled with ``random.Random(item key)``; "None of the above"
  (``以上都不是`` for Chinese items) is always the last option, U — it is never the answer here, since
  an item whose diagnosis is not in the list is quarantined rather than keyed to U.
* option letters come from the one answer module (``citrus_assets.common.text.answers.letters_for(21)``).
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass

from citrus_assets.common.text.answers import letters_for
from citrus_assets.jmed.items import icd10

N_OPTIONS = 21
NEAR_DUPLICATE = 0.8
NONE_OF_THE_ABOVE = {"en": "None of the above", "zh": "以上都不是"}


class NoAnswer(ValueError):
    pass


@dataclass(frozen=True)
class Item:
    options: dict[str, str]  # letter -> text, A..U
    option_codes: list[str]  # ICD code per option, "" for "None of the above"
    answer_letters: list[str]
    answer_codes: list[str]
    normalization: list[dict]


def normalize_answers(diagnosis: str) -> tuple[list[icd10.Entry], list[dict]]:
    whole = icd10.normalize(diagnosis)
    if whole and whole.method == "exact":
        matches = [(diagnosis, whole)]
    else:
        parts = icd10.split_diagnoses(diagnosis)
        matches = [(p, icd10.normalize(p)) for p in parts] if len(parts) > 1 else [(diagnosis, whole)]
        if any(m is None for _, m in matches) and whole is not None:
            matches = [(diagnosis, whole)]
    missing = [p for p, m in matches if m is None]
    if missing or not matches:
        raise NoAnswer(f"diagnosis not in the ICD-10 list: {', '.join(repr(p) for p in missing) or repr(diagnosis)}")
    entries, seen, info = [], set(), []
    for part, m in matches:
        info.append({"text": part, "code": m.entry.code, "name": m.entry.name, "method": m.method, "score": m.score})
        if m.entry.code not in seen:
            seen.add(m.entry.code)
            entries.append(m.entry)
    return entries, info


def _too_close(a: icd10.Entry, b: icd10.Entry) -> bool:
    if icd10.related(a.code, b.code):
        return True
    for x, y in ((a.name, b.name), (a.name_zh, b.name_zh)):
        if not x or not y:
            continue
        if x.casefold() == y.casefold() or icd10.jaccard(x, y) >= NEAR_DUPLICATE:
            return True
        tx, ty = icd10.tokens(x), icd10.tokens(y)
        if tx and ty and (tx <= ty or ty <= tx):
            return True
    return False


def _order(key: str, code: str) -> str:
    return hashlib.sha256(f"{key}|{code}".encode()).hexdigest()


def pick_distractors(answers: list[icd10.Entry], n: int, key: str) -> list[icd10.Entry]:
    chapter, dept, _ = icd10.chapter(answers[0].code)

    def rank(e: icd10.Entry) -> tuple:
        ch, d, _ = icd10.chapter(e.code)
        return (0 if ch == chapter else 1 if d == dept else 2, _order(key, e.code))

    pool = sorted(icd10.load_names(), key=rank)
    chosen: list[icd10.Entry] = []
    for e in pool:
        if len(chosen) == n:
            break
        if not any(_too_close(e, o) for o in (*answers, *chosen)):
            chosen.append(e)
    if len(chosen) < n:
        raise NoAnswer(f"only {len(chosen)} distractors available, {n} needed")
    return chosen


def build_item(diagnosis: str, language: str, key: str) -> Item:
    """The 21 options of one item (see the module docstring); raises ``NoAnswer`` when it cannot."""
    answers, info = normalize_answers(diagnosis)
    if len(answers) >= N_OPTIONS - 1:
        raise NoAnswer(f"{len(answers)} diagnoses, at most {N_OPTIONS - 2} fit")
    distractors = pick_distractors(answers, N_OPTIONS - 1 - len(answers), key)
    entries = [*answers, *distractors]
    random.Random(key).shuffle(entries)
    letters = letters_for(N_OPTIONS)
    options = {letters[i]: e.label(language) for i, e in enumerate(entries)}
    options[letters[-1]] = NONE_OF_THE_ABOVE.get(language, NONE_OF_THE_ABOVE["en"])
    codes = [e.code for e in entries] + [""]
    answer_codes = [a.code for a in answers]
    return Item(
        options=options,
        option_codes=codes,
        answer_letters=[letters[i] for i, c in enumerate(codes) if c in answer_codes],
        answer_codes=answer_codes,
        normalization=info,
    )


def item_problems(
    options: dict[str, str], option_codes: list[str], answer_letters: list[str], question: str, language: str
) -> list[str]:
    """Automatic quality checks of a finished item (the review's first step); [] when it passes."""
    out = []
    if list(options) != list(letters_for(N_OPTIONS)):
        out.append(f"{len(options)} options, expected {N_OPTIONS} lettered A-U")
    if not answer_letters or not set(answer_letters) <= set(options):
        out.append("answer letters not among the options")
    texts = [t.casefold().strip() for t in options.values()]
    if len(set(texts)) != len(texts) or any(not t for t in texts):
        out.append("duplicate or empty options")
    by_letter = dict(zip(options, option_codes))
    answer_codes = [by_letter.get(a, "") for a in answer_letters]
    for letter, code in by_letter.items():
        if code and letter not in answer_letters and any(c and icd10.related(code, c) for c in answer_codes):
            out.append(f"option {letter} ({code}) is in a parent/child relation with an answer")
    from citrus_assets.jmed.items.questions import leaks

    for a in answer_letters:
        if a in options and leaks(question, [options[a]], language):
            out.append(f"question contains the answer {options[a]!r}")
    return out
