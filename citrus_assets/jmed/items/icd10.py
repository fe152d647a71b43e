"""The shipped ICD-10 name list and the rules built on it (normalization, relations, chapters).

``icd10_names.tsv`` (next to this module): ``code<TAB>name<TAB>name_zh<TAB>aliases`` — a few hundred
common conditions written for this project with WHO ICD-10 codes; ``aliases`` is ``|``-separated
(English and Chinese lay names, abbreviations). Symptom codes (chapter R) are left out on purpose:
they are not diagnoses and would overlap the real ones.

Normalization of a free-text diagnosis (``normalize``), in order:

1. clean: lower-case, drop bracketed qualifiers and hedges ("possible", "probable", "疑似", "考虑"...);
2. exact: the cleaned text equals an entry's name, Chinese name or an alias (also after dropping
   a leading "acute"/"急性"-style word on either side is NOT done: acuteness is part of the name);
3. fuzzy: token Jaccard (English words without stop words; Chinese character bigrams) against every
   name and alias; the best score ≥ ``FUZZY_THRESHOLD`` (0.6) wins, ties go to the lower code;
4. otherwise unmatched (the caller quarantines the item).

Relations (``related``): two codes are related (parent/child, or siblings in one category) when one
is a prefix of the other or they share the 3-character category ("J18.1" ~ "J18.9" ~ "J18").
Chapters (``chapter``) follow the WHO chapter ranges; ``department`` maps a chapter to a clinic.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

NAMES_FILE = Path(__file__).resolve().parent / "icd10_names.tsv"
FUZZY_THRESHOLD = 0.6

# (first code, last category, chapter, English department, Chinese department)
CHAPTERS = [
    ("A00", "B99", "I", "Infectious Diseases", "感染科"),
    ("C00", "D48", "II", "Oncology", "肿瘤科"),
    ("D50", "D89", "III", "Hematology", "血液科"),
    ("E00", "E90", "IV", "Endocrinology", "内分泌科"),
    ("F00", "F99", "V", "Psychiatry", "精神心理科"),
    ("G00", "G99", "VI", "Neurology", "神经内科"),
    ("H00", "H59", "VII", "Ophthalmology", "眼科"),
    ("H60", "H95", "VIII", "Otolaryngology", "耳鼻喉科"),
    ("I00", "I99", "IX", "Cardiology", "心血管内科"),
    ("J00", "J99", "X", "Respiratory Medicine", "呼吸内科"),
    ("K00", "K93", "XI", "Gastroenterology", "消化内科"),
    ("L00", "L99", "XII", "Dermatology", "皮肤科"),
    ("M00", "M99", "XIII", "Rheumatology and Orthopedics", "骨科"),
    ("N00", "N99", "XIV", "Nephrology, Urology and Gynecology", "泌尿外科"),
    ("O00", "O99", "XV", "Obstetrics", "产科"),
    ("P00", "P96", "XVI", "Neonatology", "新生儿科"),
    ("Q00", "Q99", "XVII", "Pediatrics", "儿科"),
    ("S00", "T98", "XIX", "Emergency and Trauma", "急诊科"),
    ("U00", "U99", "XXII", "Infectious Diseases", "感染科"),
]

_STOP = {
    "of",
    "the",
    "and",
    "or",
    "with",
    "without",
    "due",
    "to",
    "in",
    "a",
    "an",
    "other",
    "unspecified",
    "disease",
    "disorder",
    "syndrome",
}
_HEDGES = re.compile(
    r"^(?:possible|probable|probably|likely|suspected|presumed|a case of|signs of|"
    r"疑似|可能是|可能|考虑为|考虑是|考虑|初步诊断为?|诊断为)\s*",
    re.I,
)
_BRACKETS = re.compile(r"[（(\[【][^）)\]】]*[）)\]】]")


@dataclass(frozen=True)
class Entry:
    code: str
    name: str
    name_zh: str
    aliases: tuple[str, ...]

    @property
    def category(self) -> str:
        return self.code[:3]

    def label(self, language: str) -> str:
        return self.name_zh if language == "zh" and self.name_zh else self.name


@lru_cache(maxsize=4)
def load_names(path: str | None = None) -> tuple[Entry, ...]:
    p = Path(path) if path else NAMES_FILE
    with p.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    out = [
        Entry(
            r["code"].strip(),
            r["name"].strip(),
            (r.get("name_zh") or "").strip(),
            tuple(a.strip() for a in (r.get("aliases") or "").split("|") if a.strip()),
        )
        for r in rows
    ]
    codes = [e.code for e in out]
    if len(set(codes)) != len(codes):
        raise ValueError(f"duplicate codes in {p.name}")
    return tuple(sorted(out, key=lambda e: e.code))


def by_code(code: str) -> Entry:
    for e in load_names():
        if e.code == code:
            return e
    raise KeyError(code)


def clean(text: str) -> str:
    s = _BRACKETS.sub(" ", (text or "").strip().lower())
    s = re.sub(r"[\"'“”‘’]", "", s)
    prev = None
    while prev != s:
        prev, s = s, _HEDGES.sub("", s.strip(" .。,，;；:：!！"))
    return re.sub(r"\s+", " ", s).strip()


def tokens(text: str) -> set[str]:
    """English words (stop words dropped) plus Chinese character bigrams (single characters alone)."""
    s = clean(text)
    words = {w for w in re.findall(r"[a-z0-9]+", s.replace("'s", "")) if w not in _STOP}
    for run in re.findall(r"[\u4e00-\u9fff]+", s):
        words |= {run[i : i + 2] for i in range(len(run) - 1)} if len(run) > 1 else {run}
    return words


def jaccard(a: str, b: str) -> float:
    ta, tb = tokens(a), tokens(b)
    return len(ta & tb) / len(ta | tb) if ta and tb else 0.0


@lru_cache(maxsize=1)
def _surface_forms() -> tuple[tuple[str, Entry], ...]:
    return tuple((clean(form), e) for e in load_names() for form in (e.name, e.name_zh, *e.aliases) if form)


@dataclass(frozen=True)
class Match:
    entry: Entry
    method: str  # "exact" | "fuzzy"
    score: float


def normalize(diagnosis: str, threshold: float = FUZZY_THRESHOLD) -> Match | None:
    """The ICD-10 entry of one free-text diagnosis (see the module docstring), or None."""
    s = clean(diagnosis)
    if not s:
        return None
    for form, e in _surface_forms():
        if form == s:
            return Match(e, "exact", 1.0)
    best: Match | None = None
    for form, e in _surface_forms():
        score = jaccard(s, form)
        if score >= threshold and (best is None or score > best.score):
            best = Match(e, "fuzzy", round(score, 3))
    return best


def split_diagnoses(text: str) -> list[str]:
    """Several diagnoses in one field: split on ; ； 、 , ， '/' ' and ' '和' '合并' '伴' (Chinese) and numbering."""
    parts = re.split(r"\s*(?:;|；|、|,|，|/|\band\b|\bplus\b|和|合并|伴|\d+[\.、)])\s*", text or "")
    return [p.strip() for p in parts if p and p.strip(" .。")]


def related(a: str, b: str) -> bool:
    """Parent/child or same 3-character category (see the module docstring)."""
    a, b = a.replace(".", ""), b.replace(".", "")
    return a.startswith(b) or b.startswith(a) or a[:3] == b[:3]


def chapter(code: str) -> tuple[str, str, str]:
    """(chapter numeral, English department, Chinese department) of a code."""
    cat = code[:3]
    for first, last, numeral, dept, dept_zh in CHAPTERS:
        if first <= cat <= last:
            return numeral, dept, dept_zh
    return "?", "General Medicine", "全科"


def department(code: str, language: str) -> str:
    _, en, zh = chapter(code)
    return zh if language == "zh" else en
