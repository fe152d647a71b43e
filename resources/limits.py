"""Size limits: a hostile or simply huge input unit is quarantined with its size; it never takes the machine down.

| limit | environment variable | default | where |
|---|---|---|---|
| ``max_record_bytes`` | ``CITRUS_MAX_RECORD_BYTES`` | 8 MiB | one JSONL line (seeds, web shards), one WARC record's payload |
| ``max_decompressed_bytes`` | ``CITRUS_MAX_DECOMPRESSED_BYTES`` | 16 GiB | everything read from one (compressed) file |
| ``max_pdf_pages`` | ``CITRUS_MAX_PDF_PAGES`` | 3000 | pages of one PDF |
| ``max_prompt_tokens`` | ``CITRUS_MAX_PROMPT_TOKENS`` | 32768 | one rendered LLM prompt (estimated: UTF-8 bytes / 4) |

Over a limit the unit (a line, a record, a file, a prompt) is quarantined or flagged with its size and the
partition goes on. A value of 0 switches that limit off. Limits are read from the environment when a unit
is read (``limits()``), so the code location's environment configures them for every asset.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

MiB = 1 << 20


@dataclass(frozen=True)
class Limits:
    max_record_bytes: int = 8 * MiB
    max_decompressed_bytes: int = 16 * 1024 * MiB
    max_pdf_pages: int = 3000
    max_prompt_tokens: int = 32768


_ENV = {
    "max_record_bytes": "CITRUS_MAX_RECORD_BYTES",
    "max_decompressed_bytes": "CITRUS_MAX_DECOMPRESSED_BYTES",
    "max_pdf_pages": "CITRUS_MAX_PDF_PAGES",
    "max_prompt_tokens": "CITRUS_MAX_PROMPT_TOKENS",
}


def limits() -> Limits:
    """The limits in force: the defaults, overridden by the environment variables of the table above."""
    values = {}
    for field, var in _ENV.items():
        raw = os.environ.get(var, "").strip()
        if raw:
            try:
                values[field] = max(0, int(float(raw)))
            except ValueError:
                raise ValueError(
                    f"${var} must be a number of {'pages' if 'pages' in field else 'units'}, got {raw!r}"
                ) from None
    return Limits(**values)


def over(value: int, limit: int) -> bool:
    return bool(limit) and value > limit


class Oversize(bytes):
    """Stands for a line that was too long: empty bytes with the line's real ``size`` (nothing of it is kept)."""

    size: int

    def __new__(cls, size: int):
        obj = super().__new__(cls, b"")
        obj.size = size
        return obj


def bounded_lines(fh: BinaryIO, max_bytes: int | None = None) -> Iterator[bytes]:
    """The lines of a binary stream (newline kept), like ``for line in fh``, but a line longer than
    ``max_bytes`` is never held in memory: it is read through in 1 MiB pieces and yielded as
    ``Oversize(size)``."""
    limit = limits().max_record_bytes if max_bytes is None else max_bytes
    while True:
        line = fh.readline(limit + 1) if limit else fh.readline()
        if not line:
            return
        if limit and len(line) > limit and not line.endswith(b"\n"):
            size = len(line)
            while True:
                piece = fh.readline(MiB)
                size += len(piece)
                if not piece or piece.endswith(b"\n"):
                    break
            yield Oversize(size)
            continue
        yield line


def too_large(what: str, size: int, limit_name: str) -> str:
    """The quarantine reason of a unit over a limit (stable prefix ``too_large``)."""
    return f"too_large: {what} is {size} bytes, over {limit_name}={getattr(limits(), limit_name)} (${_ENV[limit_name]})"


def estimate_tokens(text: str) -> int:
    """A cheap upper-bound-ish token estimate for the prompt limit (no tokenizer needed): UTF-8 bytes / 4."""
    return len(text.encode("utf-8", "surrogatepass")) // 4
