"""datatrove readers that never fail a shard: bad units go to a quarantine side file.

``QuarantiningWarcReader`` and ``QuarantiningJsonlReader`` subclass datatrove's ``WarcReader`` and
``JsonlReader`` (same HTML/charset handling via datatrove's ``process_record``, same adapter) and add:

* per-unit lineage in ``doc.metadata``: ``source_uri``, ``source_locator`` (``warc record N`` /
  ``line N``, 1-based) and ``source_id`` (``source_id(uri, raw)``: the WARC payload bytes, the
  JSONL line bytes);
* quarantine of what cannot be read -- a malformed or non-UTF-8 JSONL line, an undecodable HTML
  payload, a corrupt record, a truncated WARC.gz (the records before it are kept), a file that
  cannot be opened at all -- written as JSON lines to ``<side_folder>/quarantine/<rank>.jsonl``;
* unit counts per kind to ``<side_folder>/reader/<rank>.json`` (the ``read`` step of the funnel);
* documents the reader reads but does not pass on -- a second fetch of the same URL with an identical
  payload (``exact_duplicate_fetch``, naming the kept record's WARC-Record-ID), a payload that is not HTML
  (``non_html``), an empty one (``empty``) -- written as datatrove document dicts with a
  ``filter_reason`` to ``<side_folder>/rejects/<rank>.jsonl``: they become reject rows of the ``read``
  step, never a bare funnel count.

The HTTP ``Content-Type`` a server declared wins over the crawler's identified payload type and over
libmagic's sniffing when it is HTML: a page served as ``text/html`` whose payload starts like a script is
still a page (libmagic guesses "JavaScript" for pages that open with inline code).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
from collections import Counter
from pathlib import Path

import orjson
from datatrove.pipeline.readers import JsonlReader, WarcReader
from datatrove.pipeline.readers.warc import process_record

from resources.limits import Oversize, bounded_lines, limits, over, too_large
from resources.lineage.ids import source_id

RAW_PREVIEW = 2000  # characters of a quarantined unit kept in `raw`
_HTML_TYPES = ("text/html", "application/xhtml+xml")


def detect_format(path: str | Path) -> str:
    """``warc``, ``wet`` or ``jsonl`` from the name, else from the first bytes (gzip-aware)."""
    name = str(path).lower()
    for suffix in (".gz", ".zst", ".bz2"):
        name = name.removesuffix(suffix)
    if name.endswith(".wet"):  # Common Crawl WET: WARC "conversion" records, text already extracted
        return "wet"
    if name.endswith((".warc", ".arc")):
        return "warc"
    if name.endswith((".jsonl", ".json", ".ndjson")):
        return "jsonl"
    try:
        with open(path, "rb") as fh:
            head = fh.read(2)
            fh.seek(0)
            head = (gzip.GzipFile(fileobj=fh).read(8) if head == b"\x1f\x8b" else fh.read(8)).lstrip()
    except (OSError, EOFError):
        return "unknown"
    if head.startswith(b"WARC/"):
        return "warc"
    if head.startswith(b"{"):
        return "jsonl"
    return "unknown"


class _SideFiles:
    """Quarantine rows and unit counts of one reader task, written under a local folder."""

    def __init__(self, folder: str, rank: int):
        self.folder = Path(folder)
        self.rank = rank
        self.counts: Counter = Counter()
        (self.folder / "quarantine").mkdir(parents=True, exist_ok=True)
        (self.folder / "reader").mkdir(parents=True, exist_ok=True)
        self._q = open(self.folder / "quarantine" / f"{rank:05d}.jsonl", "ab")
        (self.folder / "rejects").mkdir(parents=True, exist_ok=True)
        self._r = open(self.folder / "rejects" / f"{rank:05d}.jsonl", "ab")

    def quarantine(self, uri: str, locator: str, reason: str, raw: bytes | str = b"") -> None:
        if isinstance(raw, bytes):
            raw = raw[: RAW_PREVIEW * 4].decode("utf-8", "replace")
        row = {"source_uri": uri, "source_locator": locator, "reason": reason, "raw": raw[:RAW_PREVIEW]}
        self._q.write(orjson.dumps(row) + b"\n")
        self.counts["quarantined"] += 1

    def reject(self, doc: dict, uri: str, locator: str, raw: bytes, reason: str) -> None:
        """A document read but not passed on: a reject row of the ``read`` step (datatrove document shape)."""
        meta = {k: v for k, v in doc.items() if k not in ("text", "id")}
        meta.update(source_uri=uri, source_locator=locator, source_id=source_id(uri, raw), filter_reason=reason)
        row = {"id": doc.get("id"), "text": doc.get("text") or "", "metadata": meta}
        self._r.write(orjson.dumps(row, default=str) + b"\n")
        self.counts[f"rejected_{reason.split(':', 1)[0]}"] += 1

    def close(self) -> None:
        self._q.close()
        self._r.close()
        path = self.folder / "reader" / f"{self.rank:05d}.json"
        old = json.loads(path.read_text()) if path.exists() else {}
        path.write_text(json.dumps(dict(Counter(old) + self.counts)))


def _jsonl_rows(folder: Path) -> list[dict]:
    rows: list[dict] = []
    for p in sorted(folder.glob("*.jsonl")):
        rows.extend(orjson.loads(line) for line in p.read_bytes().splitlines() if line)
    return rows


def read_side_files(folder: str | Path) -> tuple[list[dict], dict[str, int]]:
    """All quarantine rows and the summed unit counts written by the readers under ``folder``."""
    folder = Path(folder)
    counts: Counter = Counter()
    for p in sorted((folder / "reader").glob("*.json")):
        counts.update(json.loads(p.read_text()))
    return _jsonl_rows(folder / "quarantine"), dict(counts)


def read_side_rejects(folder: str | Path) -> list[dict]:
    """The documents the readers under ``folder`` read but did not pass on (document dicts, ``filter_reason``)."""
    return _jsonl_rows(Path(folder) / "rejects")


def declared_content_type(record) -> str | None:
    """The media type of the HTTP ``Content-Type`` header of a response record (lower case), else None."""
    headers = getattr(record, "http_headers", None)
    value = headers.get_header("Content-Type") if headers is not None else None
    return value.split(";", 1)[0].strip().lower() or None if value else None


def _tag(doc, uri: str, locator: str, raw: bytes) -> None:
    doc.metadata["source_uri"] = uri
    doc.metadata["source_locator"] = locator
    doc.metadata["source_id"] = source_id(uri, raw)


class _Quarantining:
    """What both quarantining readers add to datatrove's reader: a side folder, the lineage uri, the rank."""

    def __init__(self, data_folder, side_folder: str, uri: str | None = None, **kwargs):
        super().__init__(data_folder, **kwargs)
        self.side_folder = side_folder
        self.uri = uri

    def run(self, data=None, rank: int = 0, world_size: int = 1):
        self._rank = rank
        yield from super().run(data, rank, world_size)


class QuarantiningWarcReader(_Quarantining, WarcReader):
    """datatrove's ``WarcReader`` with per-record error isolation, quarantine and lineage tags."""

    name = "🕷 Warc (quarantining)"

    def read_file(self, filepath: str):
        from warcio.archiveiterator import ArchiveIterator

        uri = self.uri or self.data_folder.resolve_paths(filepath)
        side = _SideFiles(self.side_folder, getattr(self, "_rank", 0))
        self._fetched: dict[tuple, tuple[str, str]] = {}  # (url, payload digest) -> (locator, WARC-Record-ID)
        n = 0
        # warcio reads (multi-member) gzip itself and, unlike a decompressed stream, keeps the records
        # before a cut; other compressions (zstd, bz2) go through fsspec as in datatrove
        compression = self.compression if filepath.endswith((".zst", ".zstd", ".bz2")) else None
        lim, total = limits(), 0
        try:
            with self.data_folder.open(filepath, "rb", compression=compression) as f:
                for n, record in enumerate(ArchiveIterator(f), start=1):
                    side.counts["units"] += 1
                    locator = f"warc record {n}"
                    total += max(0, int(record.length or 0))
                    if over(total, lim.max_decompressed_bytes):  # a decompression bomb: stop reading the file
                        side.quarantine(
                            uri,
                            locator,
                            too_large(
                                f"the file decompressed past record {n - 1} (its records)",
                                total,
                                "max_decompressed_bytes",
                            ),
                        )
                        break
                    with self.track_time():
                        # never more than the record limit in memory, whatever the headers claim
                        content = record.content_stream().read(lim.max_record_bytes + 1 if lim.max_record_bytes else -1)
                        if over(len(content), lim.max_record_bytes):
                            size = max(int(record.length or 0), len(content))
                            side.quarantine(uri, locator, too_large("the record", size, "max_record_bytes"))
                            continue
                        missing = getattr(record.raw_stream, "limit", 0) or 0
                        if missing > 0:  # the file ends inside this record
                            side.quarantine(
                                uri,
                                locator,
                                f"truncated WARC record: {missing} of its {record.length} bytes missing (file cut?)",
                                content,
                            )
                            continue
                        try:
                            doc = self._record_to_document(record, content, filepath, n, uri, locator, side)
                        except Exception as e:  # one bad record never fails the shard
                            side.quarantine(uri, locator, f"bad WARC record: {type(e).__name__}: {e}", content)
                            continue
                    if doc is not None:
                        yield doc
        except Exception as e:  # truncated gzip, corrupt stream, unreadable file: keep what was read
            where = f"warc record {n + 1}" if n else "file"
            what = "truncated or corrupt WARC" if n else "unreadable WARC file"
            side.quarantine(uri, where, f"{what} after {n} records: {type(e).__name__}: {e}")
        finally:
            side.close()

    def _record_to_document(self, record, content: bytes, filepath, n, uri, locator, side):
        record.content_stream = lambda: io.BytesIO(content)  # datatrove's process_record reads it again
        if record.rec_type not in ("response", "conversion"):  # request, warcinfo, metadata: not documents
            side.counts[f"skipped_{record.rec_type}"] += 1
            return None
        declared = declared_content_type(record)
        if declared in _HTML_TYPES:  # the server said HTML: trust it over the crawler's or libmagic's guess
            record.rec_headers.replace_header("WARC-Identified-Payload-Type", declared)
        extracted = process_record(record)
        warc_id = record.rec_headers.get("WARC-Record-ID")
        url = record.rec_headers.get("WARC-Target-URI")
        stub = {"id": warc_id, "url": url, "date": record.rec_headers.get("WARC-Date"), "text": ""}
        if not extracted:
            mime = record.rec_headers.get("WARC-Identified-Payload-Type", None)
            if mime is None:
                import magic

                mime = magic.from_buffer(content, mime=True)
            if mime in _HTML_TYPES or (record.rec_type == "conversion" and mime == "text/plain"):
                side.quarantine(uri, locator, "undecodable payload: not UTF-8 and no charset detected", content)
            else:
                side.reject(
                    stub, uri, locator, content, f"non_html: payload type {mime!r} (declared {declared or 'none'})"
                )
            return None
        key = (url, hashlib.sha256(content).hexdigest())
        if key in self._fetched:  # the same URL fetched again with an identical payload: keep the first
            first_locator, first_id = self._fetched[key]
            side.reject(
                {**stub, "text": extracted.get("text") or ""},
                uri,
                locator,
                content,
                f"exact_duplicate_fetch: {warc_id} repeats {first_id} ({first_locator}): same URL and payload",
            )
            return None
        self._fetched[key] = (locator, warc_id)
        doc = self.get_document_from_dict(extracted, filepath, n - 1)
        if doc is None:
            side.reject(stub, uri, locator, content, "empty: no text in the payload")
            return None
        _tag(doc, uri, locator, content)
        side.counts["documents"] += 1
        return doc


class QuarantiningJsonlReader(_Quarantining, JsonlReader):
    """datatrove's ``JsonlReader`` reading bytes line by line: bad lines are quarantined, not logged."""

    name = "🐿 Jsonl (quarantining)"

    def read_file(self, filepath: str):
        uri = self.uri or self.data_folder.resolve_paths(filepath)
        side = _SideFiles(self.side_folder, getattr(self, "_rank", 0))
        n = 0
        try:
            lim, total = limits(), 0
            with self.data_folder.open(filepath, "rb", compression=self.compression) as f:
                for n, raw in enumerate(bounded_lines(f, lim.max_record_bytes), start=1):
                    if isinstance(raw, Oversize):  # none of its bytes kept
                        side.counts["units"] += 1
                        total += raw.size
                        side.quarantine(uri, f"line {n}", too_large("the line", raw.size, "max_record_bytes"))
                        continue
                    total += len(raw)
                    if over(total, lim.max_decompressed_bytes):
                        side.quarantine(
                            uri,
                            f"line {n}",
                            too_large(f"the file decompressed past line {n - 1}", total, "max_decompressed_bytes"),
                        )
                        break
                    if n == 1 and raw.startswith(b"\xef\xbb\xbf"):  # a byte-order mark: line 1 stays
                        raw = raw[3:]
                    raw = raw.rstrip(b"\r\n")
                    if not raw.strip():
                        side.counts["blank_lines"] += 1
                        continue
                    side.counts["units"] += 1
                    with self.track_time():
                        doc = self._line_to_document(raw, filepath, n, uri, side)
                    if doc is not None:
                        yield doc
        except Exception as e:  # gzip/zstd error, unreadable file: keep what was read
            where = f"line {n + 1}" if n else "file"
            what = "truncated or corrupt JSONL" if n else "unreadable JSONL file"
            side.quarantine(uri, where, f"{what} after {n} lines: {type(e).__name__}: {e}")
        finally:
            side.close()

    def _line_to_document(self, raw: bytes, filepath, n: int, uri: str, side: _SideFiles):
        locator = f"line {n}"
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as e:
            side.quarantine(uri, locator, f"not UTF-8: {e.reason} at byte {e.start}", raw)
            return None
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError as e:
            side.quarantine(uri, locator, f"malformed JSON: {e}", raw)
            return None
        if not isinstance(obj, dict):
            side.quarantine(uri, locator, f"line is a JSON {type(obj).__name__}, not an object", raw)
            return None
        text = obj.get(self.text_key)
        if not isinstance(text, str) or not text.strip():
            side.quarantine(uri, locator, f"no text: field {self.text_key!r} missing, empty or not a string", raw)
            return None
        if self.id_key in obj and not isinstance(obj[self.id_key], str):
            obj[self.id_key] = str(obj[self.id_key])
        try:
            doc = self.get_document_from_dict(obj, filepath, n - 1)
        except Exception as e:
            side.quarantine(uri, locator, f"bad document: {type(e).__name__}: {e}", raw)
            return None
        url = doc.metadata.get("url")
        if not isinstance(url, str):
            meta = doc.metadata.get("metadata")
            doc.metadata["url"] = meta.get("url") if isinstance(meta, dict) else None
        _tag(doc, uri, locator, raw)
        side.counts["documents"] += 1
        return doc
