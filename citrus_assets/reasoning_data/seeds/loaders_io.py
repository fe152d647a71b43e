"""Streaming readers and the shared row driver of the benchmark loaders (``loaders.py``).

Every reader yields ``Unit``s — one input row with its locator (``line N``, ``row N (line L)``,
``key K (line L)``), its raw bytes (hashed into the row's source id) and either the parsed value or
the reason it could not be read. ``collect`` turns units into seeds through ``make_seed`` and
quarantines every failure with its reason; nothing here re-implements seed validation or ids.

Text is decoded as UTF-8 with ``surrogateescape``, so one bad byte sequence quarantines its own row
("not UTF-8") instead of the whole file.
"""

from __future__ import annotations

import codecs
import csv
import json
import logging
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from citrus_assets.common.text.answers import MAX_OPTIONS, letters_for
from citrus_assets.reasoning_data.seeds.seed_files import BadRecord, LoadResult, iter_lines, make_seed
from resources.lake import QuarantineRecord
from resources.limits import Oversize, too_large
from resources.lineage.schema import PARENT_IDS, RECORD_ID

log = logging.getLogger(__name__)

_SURROGATE = re.compile("[\udc80-\udcff]")
_WS = re.compile(r"\s*")
_SPLIT_WORDS = {
    "test": "test",
    "dev": "dev",
    "val": "validation",
    "valid": "validation",
    "validation": "validation",
    "train": "train",
}


@dataclass
class Unit:
    locator: str
    raw: bytes
    value: Any = None
    error: str | None = None


def split_from_name(path: Path, default: str = "train") -> str:
    """``test``/``dev``/``validation``/``train`` from a word of the file name (``us_4_options_test``,
    ``dev.jsonl``) or a parent folder named exactly so (CMMLU's ``test/anatomy.csv``); else ``default``."""
    for word in reversed(re.split(r"[^a-z0-9]+", path.name.lower())):
        if word in _SPLIT_WORDS:
            return _SPLIT_WORDS[word]
    return _SPLIT_WORDS.get(path.parent.name.lower(), default)


def _not_utf8(text: str) -> str | None:
    m = _SURROGATE.search(text)
    return f"not UTF-8: invalid byte 0x{ord(m.group()) - 0xDC00:02x}" if m else None


# ---------------------------------------------------------------- JSON Lines
def jsonl_units(path: Path) -> Iterator[Unit]:
    for n, raw in iter_lines(path):
        unit = Unit(f"line {n}", raw)
        if isinstance(raw, Oversize):  # none of its bytes were kept
            unit.error = too_large("the line", raw.size, "max_record_bytes")
            yield unit
            continue
        try:
            obj = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError as e:
            unit.error = f"not UTF-8: {e.reason} at byte {e.start}"
        except json.JSONDecodeError as e:
            unit.error = f"malformed JSON: {e.msg} at column {e.colno}"
        else:
            unit.value = obj if isinstance(obj, dict) else None
            unit.error = None if isinstance(obj, dict) else "line is not a JSON object"
        yield unit


# ---------------------------------------------------------------- one JSON document
class _JsonStream:
    """A top-level JSON array or object read one entry at a time (``raw_decode`` on a refilled buffer)."""

    CHUNK = 1 << 16

    def __init__(self, fh):
        self.fh, self.buf, self.pos, self.eof, self.line0 = fh, "", 0, False, 1
        self.dec = json.JSONDecoder()

    def _fill(self) -> bool:
        if self.eof:
            return False
        chunk = self.fh.read(max(self.CHUNK, len(self.buf)))  # grows geometrically for huge entries
        if not chunk:
            self.eof = True
            return False
        self.line0 += self.buf.count("\n", 0, self.pos)
        self.buf, self.pos = self.buf[self.pos :] + chunk, 0
        return True

    def line(self) -> int:
        return self.line0 + self.buf.count("\n", 0, self.pos)

    def peek(self) -> str:
        while True:
            self.pos = _WS.match(self.buf, self.pos).end()
            if self.pos < len(self.buf) or not self._fill():
                return self.buf[self.pos : self.pos + 1]

    def value(self) -> tuple[Any, str]:
        self.peek()
        while True:
            try:
                val, end = self.dec.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError as e:
                if self._fill():
                    continue
                raise ValueError(f"malformed JSON at line {self.line()}: {e.msg}") from None
            if end == len(self.buf) and self._fill():  # a number may go on in the next chunk
                continue
            text, self.pos = self.buf[self.pos : end], end
            return val, text

    def entries(self) -> Iterator[tuple[Any, Any, str, int]]:
        """(key or index, value, raw text of ``key: value`` or the item, line) per entry."""
        opener = self.peek()
        if opener not in "[{" or not opener:
            raise ValueError("not a JSON array or object")
        closer, self.pos, i = {"[": "]", "{": "}"}[opener], self.pos + 1, 0
        if self.peek() == closer:
            return
        while True:
            self.peek()
            line = self.line()
            if opener == "{":
                key, ktext = self.value()
                if not isinstance(key, str) or self.peek() != ":":
                    raise ValueError(f"malformed JSON at line {line}: object key expected")
                self.pos += 1
                val, vtext = self.value()
                text = f"{ktext}: {vtext}"
            else:
                key, (val, text) = i, self.value()
            yield key, val, text, line
            i += 1
            sep = self.peek()
            self.pos += 1
            if sep == closer:
                return
            if sep != ",":
                raise ValueError(f"malformed JSON at line {self.line()}: expected ',' or '{closer}'")


def json_units(path: Path) -> Iterator[Unit]:
    """Entries of a JSON array (``item N``) or object (``key K``), streamed; values must be objects."""
    with open(path, encoding="utf-8-sig", errors="surrogateescape") as fh:
        stream, n = _JsonStream(fh), 0
        try:
            for key, val, text, line in stream.entries():
                n += 1
                loc = f"key {key} (line {line})" if isinstance(key, str) else f"item {key + 1} (line {line})"
                raw = text.encode("utf-8", "surrogateescape")
                err = _not_utf8(text) or (None if isinstance(val, dict) else "entry is not a JSON object")
                yield Unit(loc, raw, None if err else (key, val), err)
        except ValueError as e:
            yield Unit(f"after entry {n}" if n else "file", b"", error=f"{e}; rest of the file skipped")


# ---------------------------------------------------------------- CSV
def csv_units(path: Path, header: bool = True, delimiter: str | None = None) -> Iterator[Unit]:
    """CSV rows as dicts (``header=True``; keys as written) or lists; quoted newlines are fine."""
    delimiter = delimiter or ("\t" if path.suffix.lower() in (".tsv", ".tab") else ",")
    consumed: list[str] = []
    line = 1

    def lines(fh) -> Iterator[str]:
        for text in fh:
            consumed.append(text)
            yield text

    with open(path, encoding="utf-8-sig", errors="surrogateescape", newline="") as fh:
        reader, names, n = csv.reader(lines(fh), delimiter=delimiter), None, 0
        while True:
            consumed.clear()
            start = line
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as e:
                if not consumed:
                    return
                row = e
            text = "".join(consumed)
            line += text.count("\n") or 1
            raw = text.rstrip("\r\n").encode("utf-8", "surrogateescape")
            if isinstance(row, list) and not any(c.strip() for c in row):
                continue
            if header and names is None:
                why = f"malformed CSV: {row}" if isinstance(row, csv.Error) else _not_utf8(text)
                if why:
                    yield Unit("header", raw, error=f"unreadable header ({why}); file skipped")
                    return
                names = [c.strip() for c in row]
                continue
            n += 1
            unit = Unit(f"row {n} (line {start})", raw)
            if isinstance(row, csv.Error):
                unit.error = f"malformed CSV: {row}"
            elif err := _not_utf8(text):
                unit.error = err
            elif names is None:
                unit.value = row
            elif len(row) > len(names) and any(c.strip() for c in row[len(names) :]):
                unit.error = f"{len(row)} fields, the header has {len(names)}"
            elif len(row) < len(names):
                unit.error = f"{len(row)} fields, the header has {len(names)} (missing fields)"
            else:
                unit.value = dict(zip(names, row))
            yield unit


def record_units(path: Path, header: bool = True) -> Iterator[Unit]:
    """Any record file: JSON Lines, a JSON array/object of records, or CSV/TSV (by name, then content)."""
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv", ".tab"):
        return csv_units(path, header=header)
    if suffix == ".jsonl":
        return jsonl_units(path)
    if suffix == ".json" or first_char(path) in ("[", "{"):
        if _looks_like_jsonl(path):
            return jsonl_units(path)
        return (Unit(u.locator, u.raw, _keyed(*u.value) if u.value else None, u.error) for u in json_units(path))
    return csv_units(path, header=header)


def _keyed(key: Any, value: dict) -> dict:
    """A record of a JSON object of records carries its key as ``_key``."""
    return {**value, "_key": key} if isinstance(key, str) and "_key" not in value else value


def first_char(path: Path) -> str:
    with open(path, "rb") as fh:
        head = codecs.decode(fh.read(4096), "utf-8", "replace").lstrip("\ufeff \t\r\n")
    return head[:1]


def _looks_like_jsonl(path: Path) -> bool:
    """Its first non-blank line is a complete JSON object and another line follows (or it is all there is)."""
    lines = iter_lines(path)
    for _, raw in lines:
        try:
            ok = isinstance(json.loads(raw.decode("utf-8", "replace").lstrip("\ufeff")), dict)
        except json.JSONDecodeError:
            return False
        return ok and next(lines, None) is not None
    return False


# ---------------------------------------------------------------- field helpers
def text(value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    return (value if isinstance(value, str) else str(value)).strip()


def require(obj: dict, name: str) -> str:
    value = text(obj.get(name))
    if not value:
        raise BadRecord(f"missing field '{name}'")
    return value


def options_from(value: Any) -> dict[str, str]:
    """Options from a letter→text dict, a list of texts (A, B, ...; ``A. x`` prefixes dropped) or a
    ``"A x\\nB y"`` block; trailing empty or ``N/A`` options are dropped."""
    if isinstance(value, str):
        return options_from_block(value)
    if isinstance(value, dict):
        opts = dict(sorted((text(k).upper(), text(v)) for k, v in value.items()))
        while opts and list(opts.values())[-1].upper() in ("", "N/A"):
            opts.popitem()
        return opts
    if not isinstance(value, list):
        raise BadRecord(f"options are a {type(value).__name__}, expected an object, a list or text")
    items = [text(v) for v in value]
    while items and items[-1].upper() in ("", "N/A"):
        items.pop()
    if len(items) > MAX_OPTIONS:
        raise BadRecord(f"{len(items)} options, at most {MAX_OPTIONS} supported")
    letters = letters_for(len(items)) if items else ""
    pref = [re.match(rf"^\(?{letter}[\.\)、:：]\s*(.*)$", t, re.S) for letter, t in zip(letters, items)]
    if items and all(pref):
        items = [m.group(1) for m in pref]
    return dict(zip(letters, items))


_OPTION_LINE = re.compile(r"^\s*\(?([A-U])\s*[\.\)、:：．]?\s+|^\s*\(?([A-U])[\.\)、:：．]\s*")


def options_from_block(block: str) -> dict[str, str]:
    """``"A 选项1\\nB 选项2"`` (CMExam): a line starting with the next letter opens an option,
    other lines continue the current one."""
    out: dict[str, str] = {}
    last = None
    for line in block.splitlines():
        m = _OPTION_LINE.match(line)
        if m and len(out) < MAX_OPTIONS and (m.group(1) or m.group(2)) == letters_for(len(out) + 1)[-1]:
            last = m.group(1) or m.group(2)
            out[last] = line[m.end() :].strip()
        elif last and line.strip():
            out[last] += "\n" + line.strip()
        elif line.strip():
            raise BadRecord(f"option text {line.strip()[:40]!r} has no option letter")
    return out


_LETTER_SET = re.compile(r"^[A-Ua-u](?:\s*[,;/、，；&\s]\s*[A-Ua-u])*$|^[A-U]+$")


def letters_of(value: Any) -> list[str]:
    """Answer letters from ``"B"``, ``"A,C"``, ``"ACD"``, ``["A", "C"]``."""
    parts = value if isinstance(value, list) else [value]
    out: list[str] = []
    for p in parts:
        s = text(p).strip("()（）.。 ")
        if not s:
            continue
        if not _LETTER_SET.match(s):
            raise BadRecord(f"answer {text(p)[:40]!r} is not option letter(s)")
        out += re.findall(r"[A-U]", s.upper())
    return out


def letters_of_index(value: Any, base: int) -> list[str]:
    """Answer letters from option indexes (``base`` 0 or 1): ``2``, ``"2"``, ``"1,3"``, ``[1, 3]``."""
    parts = value if isinstance(value, list) else re.split(r"[,;\s]+", text(value))
    out = []
    for p in parts:
        s = text(p)
        if not s:
            continue
        try:
            num = float(s)
            if not num.is_integer():
                raise ValueError
        except ValueError:
            raise BadRecord(f"answer index {s[:20]!r} is not a number") from None
        i = int(num) - base
        if not 0 <= i < MAX_OPTIONS:
            raise BadRecord(f"answer index {int(num)} is outside the options ({base}-based)")
        out.append(letters_for(MAX_OPTIONS)[i])
    return out


def _norm(s: str) -> str:
    return re.sub(r"\s+", " ", s).strip().rstrip(".").casefold()


def letters_of_text(value: Any, options: dict[str, str]) -> list[str]:
    """Answer letters from answer text(s) equal to option texts (case- and space-insensitive)."""
    out = []
    for p in value if isinstance(value, list) else [value]:
        hits = [k for k, v in options.items() if _norm(v) == _norm(text(p))]
        if len(hits) != 1:
            raise BadRecord(f"answer text {text(p)[:40]!r} matches {len(hits)} options, expected 1")
        out += hits
    return out


# ---------------------------------------------------------------- the driver
Build = Callable[[Any], "dict | None"]


def collect(
    units: Iterable[Unit],
    build: Build,
    *,
    uri: str,
    seed_set: str,
    source: str,
    split: str,
    language: str | None = None,
) -> LoadResult:
    """``build(value)`` gives ``make_seed`` fields (stem, options, answers, context, meta, maybe split)
    or None to skip the unit silently (a header row); failures are quarantined. Of identical records
    (same ``record_id``) one is kept — the one with the smallest source id, so the choice does not
    depend on the file order — and the others are counted in ``duplicates``."""
    out, seen = LoadResult(), {}
    for u in units:
        try:
            if u.error:
                raise BadRecord(u.error)
            if isinstance(u.value, dict):
                u.value = {text(k).lower(): v for k, v in u.value.items()}
            fields = build(u.value)
            if fields is None:
                continue
            fields.setdefault("split", split)
            row = make_seed(uri=uri, locator=u.locator, raw=u.raw, seed_set=seed_set, source=source, **fields)
        except BadRecord as e:
            out.quarantine.append(QuarantineRecord(uri, u.locator, str(e), u.raw.decode("utf-8", "replace")[:2000]))
            continue
        except (TypeError, ValueError, KeyError, AttributeError, IndexError) as e:
            reason = f"unreadable row: {type(e).__name__}: {e}"
            out.quarantine.append(QuarantineRecord(uri, u.locator, reason, u.raw.decode("utf-8", "replace")[:2000]))
            continue
        if language:
            row["language"] = language
        at = seen.get(row[RECORD_ID])
        if at is None:
            seen[row[RECORD_ID]] = len(out.rows)
            out.rows.append(row)
            continue
        out.duplicates += 1
        if row[PARENT_IDS] < out.rows[at][PARENT_IDS]:  # keep the same copy whatever the file order
            out.rows[at] = row
    if out.quarantine or out.duplicates:
        log.info("%s: %d rows, %d quarantined, %d duplicates", uri, len(out.rows), len(out.quarantine), out.duplicates)
    return out
