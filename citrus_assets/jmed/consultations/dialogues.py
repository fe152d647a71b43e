"""Consultation loaders: JSON dialogue lists and plain-text transcripts -> one row per consultation.

Formats (a file may hold many consultations):

* JSON list (or JSONL) of records, any of
  - COVID-Dialogue style: ``{"Id", "Dialogue": ["病人：…", "医生：…"], …}`` (speaker prefix per line);
  - ChatDoctor style: ``{"instruction", "input", "output"}`` (input = patient, output = doctor);
  - generic: ``{"id", "month"|"date", "turns": [{"role"|"speaker", "text"|"content"}]}`` or
    ``"dialogue"``/``"transcript"`` as a list of prefixed lines or one prefixed text.
* JSON list of lists: each inner list one consultation, its turns prefixed lines (``["病人：…", "医生：…"]``,
  the processed COVID-Dialogue Chinese files) or turn objects.
* Plain text (``.txt``): lines ``Doctor:``/``Patient:`` or ``医生：``/``患者：``/``病人：``; a line without a
  prefix continues the previous turn; consultations are separated by a line of ``---``/``===`` and may
  start with header lines ``ID: …`` and ``Date: …``.
* The published English COVID-Dialogue text file: blocks that open with a line ``id=N``, then the page URL,
  ``Description``, the patient's question, ``Dialogue``, then turns ``Patient:`` / ``Doctor:`` (the text on
  the same line or the lines after); blank lines in between are not separators, the next ``id=`` line is.

Month of a consultation (its ``dialogue_months`` partition, ``YYYY-MM``), first that applies: the
record's ``month`` field; a date field (``date``, ``time``, ``created_at``, ``timestamp``,
``consultation_date``, ``日期``; or a ``Date:`` header); the file name ``<anything>_YYYY-MM.<ext>``
(``month_from``: ``record`` / ``file_name``). Consultations with none are "undated" (the original Chinese
COVID-Dialogue JSON has no dates at all); where they go is the undated policy (``undated_policy``:
argument, else env ``CITRUS_DIALOGUE_UNDATED``, else ``file``):

* ``file``: a partition named after the file (``undated_key``: ``covid_dialogue_zh.sample.json`` ->
  ``covid_dialogue_zh_sample``), ``month_from`` = ``undated:file``;
* ``import_date``: the month the file arrived in the inbox (its modification time, UTC), ``month_from`` =
  ``undated:import_date``;
* ``none``: in no partition (``month`` null), only counted.

The ``month`` column holds the partition key either way; the asset reports the policy and the counts.

Quarantined with a reason, one consultation at a time (never the whole file for one bad consultation): a
record that is not an object or a list of turns, has no readable turns, a line without a speaker before
the first speaker line, no doctor turn or no patient turn. Only a file that cannot be read at all (not
UTF-8, unreadable) is one quarantined unit.
"""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa

from citrus_assets.common.text.language import detect_language
from resources import inbox
from resources.lake import QuarantineRecord
from resources.lineage.ids import canonical_json, record_id, source_id
from resources.lineage.schema import PARENT_IDS, RECORD_ID, SOURCE_LOCATOR, SOURCE_URI

TURN = pa.struct([("role", pa.string()), ("text", pa.string())])
DIALOGUE_SCHEMA = pa.schema(
    [
        (RECORD_ID, pa.string()),
        (PARENT_IDS, pa.list_(pa.string())),
        ("dialogue_id", pa.string()),
        ("month", pa.string()),
        ("language", pa.string()),
        (SOURCE_URI, pa.string()),
        (SOURCE_LOCATOR, pa.string()),
        ("turns", pa.list_(TURN)),
        ("transcript", pa.string()),
        ("month_from", pa.string()),
    ]
)
SUFFIXES = (".json", ".jsonl", ".txt")
MONTH_RE = re.compile(r"^(19|20)\d{2}-(0[1-9]|1[0-2])$")
_NAME_MONTH = re.compile(r"_((?:19|20)\d{2}-(?:0[1-9]|1[0-2]))$")
_DATE_IN = re.compile(r"((?:19|20)\d{2})\s*[-/.年]\s*(\d{1,2})")
_DATE_FIELDS = ("date", "time", "created_at", "timestamp", "consultation_date", "日期")
_SPEAKER = re.compile(r"^\s*(doctor|dr|physician|patient|pt|user|assistant|医生|大夫|病人|患者|家属)\s*[:：]\s*", re.I)
_ROLES = {
    "doctor": "doctor",
    "dr": "doctor",
    "physician": "doctor",
    "assistant": "doctor",
    "医生": "doctor",
    "大夫": "doctor",
    "patient": "patient",
    "pt": "patient",
    "user": "patient",
    "病人": "patient",
    "患者": "patient",
    "家属": "patient",
}
LABELS = {"en": {"doctor": "Doctor", "patient": "Patient"}, "zh": {"doctor": "医生", "patient": "患者"}}
_ID_LINE = re.compile(r"(?m)^[ \t]*id[ \t]*=[ \t]*(\d+)[ \t]*$")  # English COVID-Dialogue: a block opens with id=N
UNDATED_POLICIES = ("file", "import_date", "none")
UNDATED_ENV = "CITRUS_DIALOGUE_UNDATED"


def undated_policy(configured: str = "") -> str:
    """Where undated consultations go: ``configured``, else env CITRUS_DIALOGUE_UNDATED, else ``file``."""
    policy = (configured or os.environ.get(UNDATED_ENV) or "file").strip().lower()
    if policy not in UNDATED_POLICIES:
        raise ValueError(f"undated consultations policy {policy!r}: choose one of {', '.join(UNDATED_POLICIES)}")
    return policy


def undated_key(path: Path, policy: str) -> str | None:
    """The partition of a file's undated consultations under ``policy`` (None for ``none``)."""
    if policy == "file":
        stem = path.name
        for suffix in SUFFIXES:
            stem = stem[: -len(suffix)] if stem.lower().endswith(suffix) else stem
        return re.sub(r"[^A-Za-z0-9_-]+", "_", stem).strip("_") or "undated"
    if policy == "import_date":
        return datetime.fromtimestamp(path.stat().st_mtime, tz=UTC).strftime("%Y-%m")
    return None


class BadDialogue(ValueError):
    pass


class LoadResult(inbox.LoadResult):
    """Dialogue rows of one JMED input file (``DIALOGUE_SCHEMA``)."""

    SCHEMA = DIALOGUE_SCHEMA


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


def parse_lines(lines: list[str]) -> list[dict]:
    """Speaker-prefixed lines -> turns (unprefixed lines continue the previous turn)."""
    turns: list[dict] = []
    for line in lines:
        if not str(line).strip():
            continue
        m = _SPEAKER.match(str(line))
        if m:
            turns.append({"role": _ROLES[m.group(1).lower()], "text": str(line)[m.end() :].strip()})
        elif turns:
            turns[-1]["text"] = (turns[-1]["text"] + "\n" + str(line).strip()).strip()
        else:
            raise BadDialogue(f"text {str(line).strip()[:30]!r} before any speaker prefix")
    return turns


def _get(o: dict, *names: str):
    low = {str(k).lower(): v for k, v in o.items()}
    return next((low[n] for n in names if low.get(n) not in (None, "", [])), None)


def _turn_objects(turns: list) -> list[dict]:
    out = []
    for t in turns:
        if not isinstance(t, dict):
            raise BadDialogue("a turn is not an object")
        role = _ROLES.get(str(_get(t, "role", "speaker", "from") or "").strip().lower())
        if role is None:
            raise BadDialogue(f"unknown speaker {_get(t, 'role', 'speaker', 'from')!r}")
        out.append({"role": role, "text": str(_get(t, "text", "content", "value") or "").strip()})
    return out


def turns_of_record(o) -> list[dict]:
    if isinstance(o, list):  # a consultation as a list of turns: prefixed lines or turn objects
        if all(isinstance(t, str) for t in o):
            return parse_lines(o)
        if all(isinstance(t, dict) for t in o):
            return _turn_objects(o)
        raise BadDialogue("a list of turns mixing text lines and other values")
    if not isinstance(o, dict):
        raise BadDialogue(f"record is a {type(o).__name__}, expected an object or a list of turns")
    turns = _get(o, "turns", "messages")
    if isinstance(turns, list):
        return _turn_objects(turns)
    lines = _get(o, "dialogue", "transcript", "conversation")
    if isinstance(lines, str):
        lines = lines.splitlines()
    if isinstance(lines, list):
        return parse_lines([str(x) for x in lines])
    if _get(o, "input") and _get(o, "output"):
        return [
            {"role": "patient", "text": str(_get(o, "input")).strip()},
            {"role": "doctor", "text": str(_get(o, "output")).strip()},
        ]
    raise BadDialogue("no turns (expected turns, dialogue, transcript or input/output)")


def transcript(turns: list[dict], language: str) -> str:
    labels = LABELS[language]
    sep = "：" if language == "zh" else ": "
    return "\n".join(f"{labels[t['role']]}{sep}{t['text']}" for t in turns)


def make_row(
    turns: list[dict],
    *,
    uri: str,
    locator: str,
    raw: str,
    dialogue_id: str | None,
    month: str | None,
    month_from: str | None = None,
) -> dict:
    turns = [t for t in turns if t["text"]]
    roles = {t["role"] for t in turns}
    if not turns:
        raise BadDialogue("no non-empty turns")
    for role in ("doctor", "patient"):
        if role not in roles:
            raise BadDialogue(f"no {role} turn")
    language = detect_language(" ".join(t["text"] for t in turns))
    if language not in LABELS:
        raise BadDialogue(f"language {language!r}: only {'/'.join(sorted(LABELS))} dialogues are supported")
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
        "month_from": month_from if month else None,
    }


def _units(path: Path) -> list[tuple[str, object, str]]:
    """(locator, parsed unit, raw text) of each consultation in a file."""
    text = path.read_text(encoding="utf-8-sig")
    if path.suffix.lower() == ".txt" and _ID_LINE.search(text):
        return _id_blocks(text)
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


def _id_blocks(text: str) -> list[tuple[str, str, str]]:
    """The ``id=N`` blocks of an English COVID-Dialogue text file: (``line N``, block, block)."""
    starts = [m.start() for m in _ID_LINE.finditer(text)]
    out = []
    if text[: starts[0]].strip():  # text before the first id= line: a unit of its own (quarantined if no dialogue)
        out.append(("line 1", text[: starts[0]], text[: starts[0]].strip()))
    for a, b in zip(starts, starts[1:] + [len(text)]):
        block = text[a:b]
        out.append((f"line {text.count(chr(10), 0, a) + 1}", block, block.strip()))
    return out


def _id_block(block: str) -> tuple[list[dict], dict]:
    """``id=N`` / URL / ``Description`` / question / ``Dialogue`` / turns -> (turns, header)."""
    lines = block.strip().splitlines()
    header = {"id": _ID_LINE.match(lines[0]).group(1)}
    rest = [x for x in lines[1:]]
    marks = [i for i, x in enumerate(rest) if x.strip().lower() == "dialogue"]
    if not marks:
        raise BadDialogue("no 'Dialogue' line in the id= block")
    for x in rest[: marks[0]]:
        if re.match(r"^\s*https?://", x) and "url" not in header:
            header["url"] = x.strip()
    return parse_lines(rest[marks[0] + 1 :]), header


def _text_block(block: str) -> tuple[list[dict], dict]:
    if _ID_LINE.match(block.lstrip("\n")):
        return _id_block(block)
    header, body = {}, []
    for line in block.strip().splitlines():
        m = re.match(r"^\s*(ID|Id|Date|Month|编号|日期)\s*[:：]\s*(.+)$", line)
        if m and not body:
            header[m.group(1).lower()] = m.group(2).strip()
        else:
            body.append(line)
    return parse_lines(body), header


def load_dialogue_file(path: Path, uri: str | None = None, undated: str = "none") -> LoadResult:
    """Every consultation of one file (see the module docstring); never raises on bad records or on a
    file it cannot read (one quarantined unit). ``undated``: where consultations without a month go."""
    uri = uri or path.name
    name_month = month_of_name(path)
    fallback = undated_key(path, undated_policy(undated))
    result, seen = LoadResult(), set()
    try:
        units = _units(path)
    except (OSError, UnicodeDecodeError) as e:
        result.quarantine.append(QuarantineRecord(uri, "file", f"unreadable file: {type(e).__name__}: {e}", ""))
        return result
    for n, (locator, unit, raw) in enumerate(units):
        try:
            if isinstance(unit, Exception):
                raise unit
            if isinstance(unit, str):
                turns, header = _text_block(unit)
                did = header.get("id") or header.get("编号")
                month = month_of_value(header.get("month")) or month_of_value(header.get("date") or header.get("日期"))
            else:
                turns = turns_of_record(unit)
                fields = unit if isinstance(unit, dict) else {}  # a bare list of turns has no id or date
                did = _get(fields, "id", "dialogue_id", "conversation_id")
                month = month_of_value(_get(fields, "month")) or month_of_value(_get(fields, *_DATE_FIELDS))
            stem = path.name.split(".")[0]
            how = "record" if month else "file_name" if name_month else f"undated:{undated_policy(undated)}"
            row = make_row(
                turns,
                uri=uri,
                locator=locator,
                raw=raw,
                dialogue_id=str(did) if did not in (None, "") else f"{stem}-{n}",
                month=month or name_month or fallback,
                month_from=how,
            )
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
    return sorted(
        p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".") and p.name.lower().endswith(SUFFIXES)
    )


def list_months(folder: Path, undated: str = "") -> tuple[list[str], int]:
    """(sorted partition keys present in the folder, number of undated consultations). Undated consultations
    add the partition the undated policy (``undated_policy(undated)``) gives them."""
    months, n_undated = set(), 0
    policy = undated_policy(undated)
    for p in dialogue_files(folder):
        r = load_dialogue_file(p, undated=policy)
        for row in r.rows:
            n_undated += str(row["month_from"] or "undated").startswith("undated")
            if row["month"]:
                months.add(row["month"])
        if r.quarantine and not r.rows:  # nothing usable: its partition still shows the quarantine
            key = month_of_name(p) or undated_key(p, policy)
            if key:
                months.add(key)
    return sorted(months), n_undated


def load_month(folder: Path, month: str, undated: str = "") -> tuple[LoadResult, int]:
    """All consultations of partition ``month`` in the folder (quarantine from the files that hold some or
    whose partition it is), and the folder's undated count (placed by the policy or not)."""
    out, n_undated, seen = LoadResult(), 0, set()
    policy = undated_policy(undated)
    for p in dialogue_files(folder):
        r = load_dialogue_file(p, undated=policy)
        mine = [row for row in r.rows if row["month"] == month]
        n_undated += sum(1 for row in r.rows if str(row["month_from"] or "undated").startswith("undated"))
        if mine or month_of_name(p) == month or undated_key(p, policy) == month:
            out.quarantine += r.quarantine
            out.duplicates += r.duplicates
        for row in mine:
            if row[RECORD_ID] in seen:
                out.duplicates += 1
                continue
            seen.add(row[RECORD_ID])
            out.rows.append(row)
    return out, n_undated
