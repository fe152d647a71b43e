"""The one record-id scheme of the lake.

Every record of every asset carries a ``record_id`` derived from its content, so
the same content always gets the same id (re-runs, re-ordered input files) and
different content gets a different id. Ids read ``<kind>-<20 hex chars>``: the
kind is a short prefix naming what the record is (``src``, ``qseed``, ``ans``...),
the hex is an 80-bit BLAKE2b digest of the canonical JSON of the parts.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

_KIND_RE = re.compile(r"^[a-z][a-z0-9_]{0,23}$")
ID_RE = re.compile(r"^[a-z][a-z0-9_]{0,23}-[0-9a-f]{20}$")


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no whitespace: the bytes that ids hash."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def content_hash(value: Any, digest_size: int = 10) -> str:
    data = value if isinstance(value, bytes) else canonical_json(value).encode("utf-8")
    return hashlib.blake2b(data, digest_size=digest_size).hexdigest()


def record_id(kind: str, *parts: Any) -> str:
    """Stable content-derived id: ``record_id("qseed", source, stem, options)``."""
    if not _KIND_RE.match(kind):
        raise ValueError(f"record kind must match {_KIND_RE.pattern!r}, got {kind!r}")
    if not parts:
        raise ValueError("record_id needs at least one content part")
    return f"{kind}-{content_hash(list(parts))}"


def source_id(uri: str, raw: bytes | str) -> str:
    """Id of one unit of an input file (a line, a page, a WARC record).

    Derived from the file's base name and the unit's raw content, not from its
    position, so re-ordering a file keeps ids; the position goes in the locator.
    """
    name = uri.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
    raw_bytes = raw.encode("utf-8") if isinstance(raw, str) else raw
    return record_id("src", name, hashlib.sha256(raw_bytes).hexdigest())


def is_record_id(value: str) -> bool:
    return bool(ID_RE.match(value))
