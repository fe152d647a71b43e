"""Consultation loaders: JSON dialogue lists and plain-text transcripts -> one row per consultation.

Formats (a file may hold many consultations):

* JSON list (or JSONL) of records, any of
  - COVID-Dialogue style: ``{"Id", "Dialogue": ["病人：…", "医生：…"], …}`` (speaker prefix per line);
  - ChatDoctor style: ``{"instruction", "input", "output"}`` (input = patient, output = doctor);
  - generic: ``{"id", "month"|"date", "turns": [{"role"|"speaker", "text"|"content"}]}`` or
    ``"dialogue"``/``"transcript"`` as a list of prefixed lines or one prefixed text.
* Plain text (``.txt``): lines ``Doctor:``/``Patient:`` or ``医生：``/``患者：``/``病人：``; a line without a
  prefix continues the previous turn; consultations are separated by a line of ``---``/``===`` and may
  start with header lines ``ID: …`` and ``Date: …``.

Month of a consultation (its ``dialogue_months`` partition, ``YYYY-MM``), first that applies: the
record's ``month`` field; a date field (``date``, ``time``, ``created_at``, ``timestamp``,
``consultation_date``, ``日期``; or a ``Date:`` header); the file name ``<anything>_YYYY-MM.<ext>``.
Consultations with none are "undated": loaded by the loaders but in no partition (the month lister
and the asset metadata report them).

Quarantined with a reason: a record that is not an object, has no readable turns, a line without a
speaker before the first speaker line, no doctor turn or no patient turn.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from resources.lake import QuarantineRecord
from resources.lineage.ids import canonical_json, record_id, source_id
from resources.lineage.schema import PARENT_IDS, RECORD_ID, SOURCE_LOCATOR, SOURCE_URI

TURN = pa.struct([("role", pa.string()), ("text", pa.string())])
DIALOGUE_SCHEMA = pa.schema([
    (RECORD_ID, pa.string()), (PARENT_IDS, pa.list_(pa.string())), ("dialogue_id", pa.string()),
    ("month", pa.string()), ("language", pa.string()), (SOURCE_URI, pa.string()), (SOURCE_LOCATOR, pa.string()),
    ("turns", pa.list_(TURN)), ("transcript", pa.string()),
])
SUFFIXES = (".json", ".jsonl", ".txt")
MONTH_RE = re.compile(r"^(19|20)\d{2}-(0[1-9]|1[0-2])$")
_NAME_MONTH = re.compile(r"_((?:19|20)\d{2}-(?:0[1-9]|1[0-2]))$")
_DATE_IN = re.compile(r"((?:19|20)\d{2})\s*[-/.年]\s*(\d{1,2})")
_DATE_FIELDS = ("date", "time", "created_at", "timestamp", "consultation_date", "日期")
_SPEAKER = re.compile(r"^\s*(doctor|dr|physician|patient|pt|user|assistant|医生|大夫|病人|患者|家属)\s*[:：]\s*", re.I)
_ROLES = {"doctor": "doctor", "dr": "doctor", "physician": "doctor", "assistant": "doctor", "医生": "doctor",
          "大夫": "doctor", "patient": "patient", "pt": "patient", "user": "patient", "病人": "patient",
          "患者": "patient", "家属": "patient"}
LABELS = {"en": {"doctor": "Doctor", "patient": "Patient"}, "zh": {"doctor": "医生", "patient": "患者"}}


class BadDialogue(ValueError):
    pass


@dataclass
class LoadResult:
    rows: list[dict] = field(default_factory=list)
    quarantine: list[QuarantineRecord] = field(default_factory=list)
    duplicates: int = 0

    def table(self) -> pa.Table:
        return pa.Table.from_pylist(self.rows, schema=DIALOGUE_SCHEMA)


def month_of_name(path: Path) -> str | None:
    stem = path.name
    for suffix in SUFFIXES:
        stem = stem[: -len(suffix)] if stem.lower().endswith(suffix) else stem
    m = _NAME_MONTH.search(stem)
    return m.group(1) if m else None


def month_of_value(value) -> str | None:
    s = str(value or "").strip()
    if MONTH_RE.match(s):
        return s
    m = _DATE_IN.search(s)
    if m and 1 <= int(m.group(2)) <= 12:
        return f"{m.group(1)}-{int(m.group(2)):02d}"
    return None


def detect_language(text: str) -> str:
    cjk = len(re.findall(r"[\u4e00-\u9fff]", text))
    latin = len(re.findall(r"[A-Za-z]", text))
    return "zh" if cjk and cjk * 2 >= latin else "en"


def parse_lines(lines: list[str]) -> list[dict]:
    """Speaker-prefixed lines -> turns (unprefixed lines continue the previous turn)."""
    turns: list[dict] = []
    for line in lines:
        if not str(line).strip():
            continue
        m = _SPEAKER.match(str(line))
        if m:
            turns.append({"role": _ROLES[m.group(1).lower()], "text": str(line)[m.end():].strip()})
        elif turns:
            turns[-1]["text"] = (turns[-1]["text"] + "\n" + str(line).strip()).strip()
        else:
            raise BadDialogue(f"text {str(line).strip()[:30]!r} before any speaker prefix")
    return turns


def _get(o: dict, *names: str):
    low = {str(k).lower(): v for k, v in o.items()}
    return next((low[n] for n in names if low.get(n) not in (None, "", [])), None)


def turns_of_record(o) -> list[dict]:
    if not isinstance(o, dict):
        raise BadDialogue(f"record is a {type(o).__name__}, expected an object")
    turns = _get(o, "turns", "messages")
    if isinstance(turns, list):
        out = []
        for t in turns:
            if not isinstance(t, dict):
                raise BadDialogue("a turn is not an object")
            role = _ROLES.get(str(_get(t, "role", "speaker", "from") or "").strip().lower())
            if role is None:
                raise BadDialogue(f"unknown speaker {_get(t, 'role', 'speaker', 'from')!r}")
            out.append({"role": role, "text": str(_get(t, "text", "content", "value") or "").strip()})
        return out
    lines = _get(o, "dialogue", "transcript", "conversation")
    if isinstance(lines, str):
        lines = lines.splitlines()
    if isinstance(lines, list):
        return parse_lines([str(x) for x in lines])
    if _get(o, "input") and _get(o, "output"):
        return [{"role": "patient", "text": str(_get(o, "input")).strip()},
                {"role": "doctor", "text": str(_get(o, "output")).strip()}]
    raise BadDialogue("no turns (expected turns, dialogue, transcript or input/output)")


def transcript(turns: list[dict], language: str) -> str:
    labels = LABELS[language]
    sep = "：" if language == "zh" else ": "
    return "\n".join(f"{labels[t['role']]}{sep}{t['text']}" for t in turns)


def make_row(turns: list[dict], *, uri: str, locator: str, raw: str, dialogue_id: str | None,
             month: str | None) -> dict:
    turns = [t for t in turns if t["text"]]
    roles = {t["role"] for t in turns}
    if not turns:
        raise BadDialogue("no non-empty turns")
    for role in ("doctor", "patient"):
        if role not in roles:
            raise BadDialogue(f"no {role} turn")
    language = detect_language(" ".join(t["text"] for t in turns))
    return {
        RECORD_ID: record_id("dlg", uri.rsplit("/", 1)[-1], turns),
        PARENT_IDS: [source_id(uri, raw)],
        "dialogue_id": dialogue_id or "",
        "month": month,
        "language": language,
        SOURCE_URI: uri,
        SOURCE_LOCATOR: locator,
        "turns": turns,
        "transcript": transcript(turns, language),
    }


def _units(path: Path) -> list[tuple[str, object, str]]:
    """(locator, parsed unit, raw text) of each consultation in a file."""
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".txt":
        blocks = re.split(r"(?m)^\s*(?:-{3,}|={3,})\s*$", text)
        out, line = [], 1
        for b in blocks:
            if b.strip():
                out.append((f"line {line + (len(b) - len(b.lstrip(chr(10))))}", b, b.strip()))
            line += b.count("\n")
        return out
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        data = None
    if data is None:  # JSONL
        out = []
        for n, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    out.append((f"line {n}", json.loads(line), line))
                except json.JSONDecodeError as e:
                    out.append((f"line {n}", BadDialogue(f"invalid JSON: {e.msg}"), line))
        return out
    records = data if isinstance(data, list) else data.get("dialogues", [data]) if isinstance(data, dict) else [data]
    return [(f"record {i}", r, canonical_json(r)) for i, r in enumerate(records)]


def _text_block(block: str) -> tuple[list[dict], dict]:
    header, body = {}, []
    for line in block.strip().splitlines():
        m = re.match(r"^\s*(ID|Id|Date|Month|编号|日期)\s*[:：]\s*(.+)$", line)
        if m and not body:
            header[m.group(1).lower()] = m.group(2).strip()
        else:
            body.append(line)
    return parse_lines(body), header


def load_dialogue_file(path: Path, uri: str | None = None) -> LoadResult:
    """Every consultation of one file (see the module docstring); never raises on bad records."""
    uri = uri or path.name
    name_month = month_of_name(path)
    result, seen = LoadResult(), set()
    for n, (locator, unit, raw) in enumerate(_units(path)):
        try:
            if isinstance(unit, Exception):
                raise unit
            if isinstance(unit, str):
                turns, header = _text_block(unit)
                did = header.get("id") or header.get("编号")
                month = month_of_value(header.get("month")) or month_of_value(header.get("date") or header.get("日期"))
            else:
                turns = turns_of_record(unit)
                did = _get(unit, "id", "dialogue_id", "conversation_id")
                month = month_of_value(_get(unit, "month")) or month_of_value(_get(unit, *_DATE_FIELDS))
            stem = path.name.split(".")[0]
            row = make_row(turns, uri=uri, locator=locator, raw=raw, dialogue_id=str(did) if did not in (None, "")
                           else f"{stem}-{n}", month=month or name_month)
        except BadDialogue as e:
            result.quarantine.append(QuarantineRecord(uri, locator, str(e), raw[:4000]))
            continue
        if row[RECORD_ID] in seen:
            result.duplicates += 1
            continue
        seen.add(row[RECORD_ID])
        result.rows.append(row)
    return result


def dialogue_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")
                  and p.name.lower().endswith(SUFFIXES))


def list_months(folder: Path) -> tuple[list[str], int]:
    """(sorted months present in the folder, number of undated consultations)."""
    months, undated = set(), 0
    for p in dialogue_files(folder):
        for row in load_dialogue_file(p).rows:
            if row["month"]:
                months.add(row["month"])
            else:
                undated += 1
    return sorted(months), undated


def load_month(folder: Path, month: str) -> tuple[LoadResult, int]:
    """All consultations of ``month`` in the folder (quarantine from the files that hold some), and the
    folder's undated count."""
    out, undated, seen = LoadResult(), 0, set()
    for p in dialogue_files(folder):
        r = load_dialogue_file(p)
        mine = [row for row in r.rows if row["month"] == month]
        undated += sum(1 for row in r.rows if not row["month"])
        if mine or month_of_name(p) == month:
            out.quarantine += r.quarantine
            out.duplicates += r.duplicates
        for row in mine:
            if row[RECORD_ID] in seen:
                out.duplicates += 1
                continue
            seen.add(row[RECORD_ID])
            out.rows.append(row)
    return out, undated
