"""Question seeds: input-file loaders and the normalized seed schema.

One normalized schema for every benchmark-style question: ``stem``, ``context``,
``options`` (list of {letter, text}), ``answer_letters`` (a list: some benchmarks
have several correct options), ``source``, ``split``, ``language``, and a stable
content-derived ``record_id`` that survives re-ordering of the input file. Every
row keeps its ``source_uri``/``source_locator`` and the source id of its input
line as its parent. Rows that cannot be parsed are quarantined, never dropped
silently and never fatal.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa

from citrus_assets.common.text.answers import MAX_OPTIONS, letters_for
from citrus_assets.common.text.language import detect_language
from resources import inbox
from resources.lake import QuarantineRecord
from resources.limits import Oversize, bounded_lines, too_large
from resources.lineage.ids import record_id, source_id
from resources.lineage.schema import PARENT_IDS, RECORD_ID, SOURCE_LOCATOR, SOURCE_URI

OPTION_TYPE = pa.list_(pa.struct([("letter", pa.string()), ("text", pa.string())]))
SEED_SCHEMA = pa.schema(
    [
        (RECORD_ID, pa.string()),
        (PARENT_IDS, pa.list_(pa.string())),
        (SOURCE_URI, pa.string()),
        (SOURCE_LOCATOR, pa.string()),
        ("seed_set", pa.string()),
        ("source", pa.string()),
        ("split", pa.string()),
        ("language", pa.string()),
        ("stem", pa.string()),
        ("context", pa.string()),
        ("options", OPTION_TYPE),
        ("answer_letters", pa.list_(pa.string())),
        ("meta", pa.string()),
    ]
)


class BadRecord(ValueError):
    """A row that cannot become a seed; its message is the quarantine reason."""


class LoadResult(inbox.LoadResult):
    """Seed rows of one benchmark file (``SEED_SCHEMA``)."""

    SCHEMA = SEED_SCHEMA


def make_seed(
    *,
    uri: str,
    locator: str,
    raw: bytes,
    seed_set: str,
    source: str,
    split: str,
    stem: str,
    options: dict[str, str],
    answers: list[str],
    context: str = "",
    meta: dict | None = None,
) -> dict:
    """Validate one question and build its normalized row (raises BadRecord)."""
    stem = (stem or "").strip()
    if not stem:
        raise BadRecord("empty question stem")
    if not options:
        raise BadRecord("no options")
    if len(options) > MAX_OPTIONS:
        raise BadRecord(f"{len(options)} options, at most {MAX_OPTIONS} supported")
    letters = sorted(k.strip().upper() for k in options)
    if letters != list(letters_for(len(letters))):
        raise BadRecord(f"option letters {letters} are not consecutive from A")
    if any(not str(v).strip() for v in options.values()):
        raise BadRecord("an option has empty text")
    answers = sorted({a.strip().upper() for a in answers if a and a.strip()})
    if not answers:
        raise BadRecord("no answer given")
    outside = [a for a in answers if a not in letters]
    if outside:
        raise BadRecord(f"answer letter(s) {outside} not among the options {letters}")
    opts = [{"letter": k.strip().upper(), "text": str(v).strip()} for k, v in sorted(options.items())]
    src = source_id(uri, raw)
    rid = record_id("qseed", source, stem, context, [(o["letter"], o["text"]) for o in opts], answers)
    return {
        RECORD_ID: rid,
        PARENT_IDS: [src],
        SOURCE_URI: uri,
        SOURCE_LOCATOR: locator,
        "seed_set": seed_set,
        "source": source,
        "split": split,
        "language": detect_language(stem + " " + context),
        "stem": stem,
        "context": context,
        "options": opts,
        "answer_letters": answers,
        "meta": json.dumps(meta or {}, ensure_ascii=False, sort_keys=True),
    }


def iter_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """(line number, line without its newline) of every non-blank line; a UTF-8 byte-order mark at the
    start of the file is dropped (it would make line 1 malformed JSON).
    A line over ``max_record_bytes`` comes as ``resources.limits.Oversize`` (its size, none of its bytes)."""
    with open(path, "rb") as fh:
        for n, raw in enumerate(bounded_lines(fh), start=1):
            if isinstance(raw, Oversize):
                yield n, raw
                continue
            if n == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            if raw.strip():
                yield n, raw.rstrip(b"\r\n")


def load_medqa_jsonl(path: Path, seed_set: str, uri: str | None = None, split: str = "train") -> LoadResult:
    """MedQA JSONL (4- or 5-option): ``question``, ``options{A..}``, ``answer_idx``, ``answer``."""
    uri = uri or path.name
    out, seen = LoadResult(), set()
    for n, raw in iter_lines(path):
        loc = f"line {n}"
        try:
            if isinstance(raw, Oversize):
                raise BadRecord(too_large("the line", raw.size, "max_record_bytes"))
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise BadRecord(f"not UTF-8: {e.reason} at byte {e.start}") from None
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as e:
                raise BadRecord(f"malformed JSON: {e.msg} at column {e.colno}") from None
            if not isinstance(obj, dict):
                raise BadRecord("line is not a JSON object")
            options = obj.get("options")
            if not isinstance(options, dict):
                raise BadRecord("'options' is missing or not an object")
            answer = obj.get("answer_idx")
            if not answer and obj.get("answer") is not None:
                answer = next((k for k, v in options.items() if v == obj["answer"]), None)
            row = make_seed(
                uri=uri,
                locator=loc,
                raw=raw,
                seed_set=seed_set,
                source="medqa",
                split=split,
                stem=str(obj.get("question") or ""),
                options={str(k): str(v) for k, v in options.items()},
                answers=[str(answer)] if answer else [],
                meta={k: obj[k] for k in ("meta_info",) if k in obj},
            )
        except BadRecord as e:
            out.quarantine.append(QuarantineRecord(uri, loc, str(e), raw.decode("utf-8", "replace")[:2000]))
            continue
        if row[RECORD_ID] in seen:
            out.duplicates += 1
            continue
        seen.add(row[RECORD_ID])
        out.rows.append(row)
    return out


# Every published format of loaders.py (MedMCQA, PubMedQA, MMLU, MMLU-Pro, MedBullets, CareQA, JMED,
# CMMLU, CMExam, config-mapped files) registers itself here; ``loaders.load_seed_file`` dispatches on it.
# reasoning_data/seeds/seed_files.py imports no loader module (seeds <-> loaders was an import cycle).
LOADERS = {"medqa_jsonl": load_medqa_jsonl}
