"""Structured medical records from de-identified consultations (one batched LLM call per partition).

The model answers ``jmed_emr`` with one JSON object (age, sex, department, chief_complaint,
present_illness, history, exam_results, diagnosis). ``parse_json_object`` is tolerant: code fences,
text around the object, single trailing commas, Python-style ``None``/``True``.

Deterministic fallback, field by field, only where the model gave nothing usable (each field's
origin is kept in ``field_sources``: ``llm`` | ``rule`` | ``dialogue_copy`` | ``none``):

* ``age``: ``34-year-old``, ``I am 34``, ``aged 34``, ``age: 34``, ``34岁`` in the patient's turns (0-120);
* ``sex``: ``man/male/boy/woman/female/girl`` (en) or ``男/女`` next to 性别/，/岁 (zh) in the patient's turns;
* ``present_illness``: the patient's turns copied verbatim; ``exam_results``: the doctor's sentences that
  report examination/test findings (cue words) and contain no diagnosis phrase, copied verbatim;
* ``diagnosis``: ONLY from the model or from a doctor turn with an explicit diagnosis phrase
  ("diagnosis:", "diagnosed with", "you have", "you are suffering from", "诊断为", "诊断是", "确诊为",
  "初步诊断") — the text after the phrase up to the end of its clause. Otherwise the record is
  quarantined ("no diagnosis: …"). Nothing else (department, history, chief complaint) is guessed.
"""

from __future__ import annotations

import ast
import json
import re

from citrus_assets.common.prompts import load_prompt, prompt_hash
from citrus_assets.common.text.degeneration import DEGENERATE, first_degenerate

SYSTEM_PROMPT = "jmed_system"
EMR_PROMPT = "jmed_emr"
FIELDS = ("age", "sex", "department", "chief_complaint", "present_illness", "history", "exam_results", "diagnosis")
TEXT_FIELDS = FIELDS[2:]

_DX_EN = re.compile(
    r"(?:\bdiagnosis\s*(?:is|:)|\bdiagnosed (?:you )?with|"
    r"\byou (?:most likely |probably )?have(?!\s+(?:been|to|had|got|any|no|some|a few|not|done|taken|a history)\b)|"
    r"\byou are suffering from|\byou're suffering from)\s*(?:an?\s+|the\s+)?([^.;\n!?]+)",
    re.I,
)
_DX_ZH = re.compile(r"(?:诊断为|诊断是|诊断：|诊断:|确诊为|确诊是|初步诊断(?:为|是|：|:)?)\s*([^。；;，,！!？?\n]+)")
_EXAM_CUES = re.compile(
    r"exam|on examination|x-ray|ct\b|mri|ultrasound|count|level|tsh|pulse|blood pressure|"
    r"temperature|reflex|sounds|test|\d+\s*(?:mg|mmol|μmol|umol|g/l|mIU|x10)|"
    r"体温|查体|检查|常规|血|CT|B超|彩超|压痛|叩痛|黏膜|阳性|阴性|升高|降低",
    re.I,
)


def emr_messages(transcript: str) -> list[dict]:
    return [
        {"role": "system", "content": load_prompt(SYSTEM_PROMPT).text},
        {"role": "user", "content": load_prompt(EMR_PROMPT).render(dialogue=transcript)},
    ]


def emr_prompt_hash() -> str:
    return prompt_hash(SYSTEM_PROMPT, EMR_PROMPT)


def parse_json_object(text: str) -> dict | None:
    """The first JSON object in ``text`` (see the module docstring), or None."""
    s = re.sub(r"```(?:json)?", "", text or "")
    start = s.find("{")
    while start >= 0:
        depth, in_str, esc = 0, False, False
        for i in range(start, len(s)):
            c = s[i]
            if in_str:
                esc = (c == "\\") and not esc
                if c == '"' and not esc:
                    in_str = False
                continue
            if c == '"':
                in_str = True
            elif c == "{":
                depth += 1
            elif c == "}":
                depth -= 1
                if depth == 0:
                    obj = _loads(s[start : i + 1])
                    if isinstance(obj, dict):
                        return obj
                    break
        start = s.find("{", start + 1)
    return None


def _loads(chunk: str):
    for attempt in (chunk, re.sub(r",\s*([}\]])", r"\1", chunk)):
        try:
            return json.loads(attempt)
        except json.JSONDecodeError:
            pass
    try:
        return ast.literal_eval(re.sub(r"\bnull\b", "None", chunk.replace("true", "True").replace("false", "False")))
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None


def _text(v) -> str:
    if v is None:
        return ""
    if isinstance(v, list):
        return "; ".join(_text(x) for x in v if _text(x))
    s = str(v).strip()
    return "" if s.lower() in ("null", "none", "n/a", "unknown", "未知", "无法确定") else s


def clean_age(v) -> int | None:
    try:
        age = int(float(str(v).strip().rstrip("岁").split()[0]))
    except (ValueError, IndexError, TypeError):
        return None
    return age if 0 <= age <= 120 else None


def clean_sex(v) -> str:
    s = _text(v).lower()
    if s in ("male", "m", "man", "男", "男性"):
        return "male"
    if s in ("female", "f", "woman", "女", "女性"):
        return "female"
    return ""


def rule_age(patient_text: str) -> int | None:
    for pat in (
        r"(\d{1,3})[- ]years?[- ]old",
        r"\baged? (\d{1,3})\b",
        r"\bage\s*[:：]\s*(\d{1,3})",
        r"\bI(?:'m| am) (\d{1,3})\b(?! ?(?:kg|cm|days|weeks|months|%))",
        r"(\d{1,3})\s*岁",
    ):
        m = re.search(pat, patient_text, re.I)
        if m:
            return clean_age(m.group(1))
    return None


def rule_sex(patient_text: str) -> str:
    if re.search(r"\b(?:wom[ae]n|female|girl|lady)\b", patient_text, re.I):
        return "female"
    if re.search(r"\b(?:m[ae]n|male|boy|gentleman)\b", patient_text, re.I):
        return "male"
    m = re.search(
        r"性别\s*[:：]?\s*([男女])|(?:^|[，,。\s：:])([男女])(?:性)?\s*[，,。、\s]|([男女])\s*[，,]?\s*\d{1,3}\s*岁|"
        r"\d{1,3}\s*岁\s*[，,]?\s*([男女])",
        patient_text,
    )
    if m:
        return "male" if next(g for g in m.groups() if g) == "男" else "female"
    return ""


def rule_diagnosis(doctor_texts: list[str]) -> str:
    """The diagnosis stated by an explicit phrase in the doctor's turns (the last one wins)."""
    found = ""
    for t in doctor_texts:
        for m in list(_DX_EN.finditer(t)) + list(_DX_ZH.finditer(t)):
            d = re.split(
                r",\s*(?:most likely|probably|which|likely|that|so|but)\b|\s+(?:most likely|probably|which|"
                r"likely|triggered|caused|due to)\b",
                m.group(1).strip(),
                maxsplit=1,
                flags=re.I,
            )[0]
            d = d.strip(" .。:：")
            if d and len(d) <= 80:
                found = d
    return found


_TREATMENT = re.compile(
    r"\b(?:start|take|prescrib|recommend|we will|avoid|go to|review in|recheck)|口服|服用|建议|多喝水|"
    r"用药|治疗|复查|可以用",
    re.I,
)


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in re.split(r"(?<=[.!?;])\s+|(?<=[。！？；])\s*", text) if s.strip()]


def rule_exam(doctor_texts: list[str]) -> str:
    keep = [
        s
        for t in doctor_texts
        for s in _sentences(t)
        if _EXAM_CUES.search(s)
        and not _TREATMENT.search(s)
        and not (_DX_EN.search(s) or _DX_ZH.search(s))
        and "?" not in s
        and "？" not in s
    ]
    return " ".join(keep)


def build_record(parsed: dict | None, turns: list[dict]) -> tuple[dict, dict]:
    """(record fields, field_sources) from the model's object and the dialogue (see the docstring)."""
    parsed = parsed if isinstance(parsed, dict) else {}
    parsed = {str(k).strip().lower(): v for k, v in parsed.items()}
    patient = "\n".join(t["text"] for t in turns if t["role"] == "patient")
    doctor = [t["text"] for t in turns if t["role"] == "doctor"]
    rec, src = {}, {}
    rec["age"], src["age"] = clean_age(parsed.get("age")), "llm"
    if rec["age"] is None:
        rec["age"] = rule_age(patient)
        src["age"] = "rule" if rec["age"] is not None else "none"
    rec["sex"], src["sex"] = clean_sex(parsed.get("sex")), "llm"
    if not rec["sex"]:
        rec["sex"] = rule_sex(patient)
        src["sex"] = "rule" if rec["sex"] else "none"
    for f in TEXT_FIELDS:
        rec[f] = _text(parsed.get(f))
        src[f] = "llm" if rec[f] else "none"
    if not rec["present_illness"] and patient:
        rec["present_illness"], src["present_illness"] = patient, "dialogue_copy"
    if not rec["exam_results"]:
        exam = rule_exam(doctor)
        if exam:
            rec["exam_results"], src["exam_results"] = exam, "dialogue_copy"
    if not rec["diagnosis"]:
        dx = rule_diagnosis(doctor)
        if dx:
            rec["diagnosis"], src["diagnosis"] = dx, "rule"
    return rec, src


def quarantine_reason(parsed: dict | None, rec: dict, language: str | None = None) -> str | None:
    if not rec["diagnosis"]:
        what = "model output is not a JSON object" if parsed is None else "model JSON has no diagnosis"
        return f"no diagnosis: {what} and no explicit diagnosis phrase in the doctor's turns"
    # every filled text field passes the one degeneration filter (repetition, content, the dialogue's language)
    bad = first_degenerate(
        {f: rec[f] for f in TEXT_FIELDS if rec.get(f)}, kinds=dict.fromkeys(TEXT_FIELDS, "field"), language=language
    )
    return f"{DEGENERATE}: {bad[0]} {bad[1]}" if bad else None


def record_text(rec: dict, language: str, with_diagnosis: bool = False) -> str:
    """The record as labelled lines (the question prompt's input)."""
    zh = language == "zh"
    labels = {
        "age": "年龄" if zh else "Age",
        "sex": "性别" if zh else "Sex",
        "department": "科室" if zh else "Department",
        "chief_complaint": "主诉" if zh else "Chief complaint",
        "present_illness": "现病史" if zh else "Present illness",
        "history": "既往史" if zh else "History",
        "exam_results": "检查结果" if zh else "Examination and tests",
        "diagnosis": "诊断" if zh else "Diagnosis",
    }
    lines = []
    for f in FIELDS:
        if f == "diagnosis" and not with_diagnosis:
            continue
        v = rec.get(f)
        if v not in (None, ""):
            lines.append(f"{labels[f]}: {v}")
    return "\n".join(lines)
