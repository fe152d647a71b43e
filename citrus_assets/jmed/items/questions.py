"""Diagnostic question stems that do not give the diagnosis away.

Leak rule (``leaks``): a question leaks when it contains, case-insensitively, the diagnosis text or its
ICD-10 name in the item's language, or any English word of 4+ letters of those (structural words
such as "disease", "disorder", "syndrome", "with", "other", "unspecified" excepted), or any Chinese
two-character run of them (e.g. 膀胱 or 胱炎 of 急性膀胱炎).

Validator (``check_question``): at least 40 characters (English) / 15 (Chinese), ends with a question
mark, a Chinese item's question has at least 10 Chinese characters, no leak,
no left-over prompt text ("Medical record:", "{…}"), no de-identification placeholder.

Template fallback (``template_question``) from the record's fields, in the record's language:
"A 34-year-old man reports: … Examination and tests: … What is the most likely diagnosis?" /
"患者，男，28岁。主诉：…。检查：…。最可能的诊断是什么？". Sentences that leak or hold a placeholder
([NAME], [PHONE], …) are dropped; what remains must pass the validator, else the item is quarantined.
"""

from __future__ import annotations

import re

from citrus_assets.common.text.degeneration import degeneration_reason
from citrus_assets.jmed.items import icd10

_STRUCTURAL = {
    "disease",
    "disorder",
    "disorders",
    "syndrome",
    "with",
    "without",
    "other",
    "unspecified",
    "type",
    "due",
    "from",
    "that",
    "this",
    "their",
    "which",
}
_PLACEHOLDER = re.compile(r"\[(?:NAME|PHONE|ID|ADDRESS|EMAIL|DOB)\]")
ENDINGS = {"en": "What is the most likely diagnosis?", "zh": "最可能的诊断是什么？"}


def leak_terms(diagnoses: list[str], language: str) -> set[str]:
    terms: set[str] = set()
    names = list(diagnoses)
    for d in diagnoses:
        m = icd10.normalize(d)
        if m:
            names.append(m.entry.label(language))
    for n in names:
        n = icd10.clean(n)
        if not n:
            continue
        terms.add(n)
        terms |= {w for w in re.findall(r"[a-z]+", n) if len(w) >= 4 and w not in _STRUCTURAL}
        for run in re.findall(r"[\u4e00-\u9fff]+", n):
            terms |= {run[i : i + 2] for i in range(len(run) - 1)}
    return terms


def leaks(question: str, diagnoses: list[str], language: str) -> list[str]:
    """The leak terms found in ``question`` (empty: no leak)."""
    q = (question or "").casefold()
    found = []
    for t in sorted(leak_terms(diagnoses, language)):
        if re.fullmatch(r"[a-z ]+", t):
            if re.search(rf"\b{re.escape(t)}\w*", q):
                found.append(t)
        elif t in q:
            found.append(t)
    return found


def clean_question(text: str) -> str:
    s = re.sub(r"```.*?```", "", text or "", flags=re.S).strip()
    s = re.sub(r"^\s*(?:question|题干|问题)\s*[:：]\s*", "", s, flags=re.I)
    return s.strip().strip('"“”')


def check_question(question: str, diagnoses: list[str], language: str) -> list[str]:
    """Reasons to reject ``question`` (empty: accepted)."""
    q = question.strip()
    reasons = []
    if len(q) < (15 if language == "zh" else 40):
        reasons.append("too short")
    if not q.endswith(("?", "？")):
        reasons.append("does not end with a question")
    if language == "zh" and len(re.findall(r"[\u4e00-\u9fff]", q)) < 10:
        reasons.append("not written in Chinese")
    found = leaks(q, diagnoses, language)
    if found:
        reasons.append(f"names the diagnosis ({', '.join(found[:3])})")
    if re.search(r"medical record\s*:|病历[:：]|\{[a-z_]+\}", q, re.I):
        reasons.append("contains prompt text")
    if _PLACEHOLDER.search(q):
        reasons.append("contains a de-identification placeholder")
    degenerate = degeneration_reason(q, kind="question", language=language)  # the one degeneration filter
    if degenerate:
        reasons.append(f"degenerate ({degenerate})")
    return reasons


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in re.split(r"(?<=[.!?;])\s+|(?<=[。！？；])\s*|\n+", text or "") if s.strip()]


def _without_placeholders(sentence: str) -> str:
    """The sentence without its clauses that hold a placeholder (clauses split at commas)."""
    if not _PLACEHOLDER.search(sentence):
        return sentence
    clauses = re.split(r"(?<=[，,])\s*", sentence)
    kept = [c for c in clauses if not _PLACEHOLDER.search(c)]
    return "".join(k if k.endswith(("，", ",")) else k for k in kept).strip(" ，,") if kept else ""


def _keep(text: str, diagnoses: list[str], language: str) -> str:
    kept = [_without_placeholders(s) for s in _sentences(text) if not leaks(s, diagnoses, language)]
    kept = [
        k if k.endswith((".", "?", "!", "。", "？", "！", "；", ";")) else k + ("。" if language == "zh" else ".")
        for k in kept
        if len(k.strip(" .。")) > 2
    ]
    return (" " if language == "en" else "").join(kept)


def template_question(rec: dict, language: str) -> str:
    diagnoses = [rec.get("diagnosis") or ""]
    age, sex = rec.get("age"), rec.get("sex") or ""
    parts = {
        f: _keep(rec.get(f) or "", diagnoses, language)
        for f in ("chief_complaint", "present_illness", "history", "exam_results")
    }
    if language == "zh":
        who = (
            "患者" + (f"，{'男' if sex == 'male' else '女'}" if sex else "") + (f"，{age}岁" if age is not None else "")
        )
        body = [
            f"主诉：{parts['chief_complaint']}" if parts["chief_complaint"] else "",
            f"病情：{parts['present_illness']}" if parts["present_illness"] else "",
            f"既往史：{parts['history']}" if parts["history"] else "",
            f"检查：{parts['exam_results']}" if parts["exam_results"] else "",
        ]
        text = "。".join(x.rstrip("。") for x in [who, *body] if x) + "。"
        return text + ENDINGS["zh"]
    noun = {"male": "man", "female": "woman"}.get(sex, "patient")
    who = f"A {age}-year-old {noun}" if age is not None else f"A {noun}"
    body = [
        f"{who} reports: {parts['present_illness'] or parts['chief_complaint']}".rstrip()
        if parts["present_illness"] or parts["chief_complaint"]
        else f"{who} is seen in clinic.",
        f"History: {parts['history']}" if parts["history"] else "",
        f"Examination and tests: {parts['exam_results']}" if parts["exam_results"] else "",
    ]
    text = " ".join(x if x.endswith((".", "?", "!")) else x + "." for x in body if x)
    return f"{text} {ENDINGS['en']}"
