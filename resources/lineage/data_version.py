"""``table_data_version``: the content hash the IO manager stamps on every materialization.

sha256 over the table's sorted column names, its row count and its ``record_id`` column sorted bytewise
(int64 offsets + UTF-8 bytes, as a ``large_string`` array of the sorted ids); 16 hex chars. Record ids are
content-derived, so equal ids mean equal content; row order and chunking do not matter.

Sorting the ids is most of the cost. The usual column (one id kind per asset: ``<kind>-<20 hex>``, all of
one width) is sorted as integers: a 64-bit key per id from the bytes after the common prefix (4 bits per
lowercase hex digit, else 8 bits per byte), sorted together with the row index in one ``uint64`` sort;
ids whose keys tie are ordered by their full bytes. The order, and so the hash, is exactly the bytewise
order of the general path.

The last few results are remembered per table object (tables are immutable): an asset that returns
``Output(table, data_version=table_data_version(table))`` and the IO manager that stamps the same table
pay for one computation, not two.
"""

from __future__ import annotations

import hashlib
import json
import threading
import weakref

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from resources.lineage import schema as S

__all__ = ["DataVersionBuilder", "table_data_version"]

_HEX_NIBBLE = np.full(256, 255, dtype=np.uint8)
_HEX_NIBBLE[np.frombuffer(b"0123456789abcdef", dtype=np.uint8)] = np.arange(16, dtype=np.uint8)
_SMALL = 4096  # below this many ids a plain byte-string sort is as fast
_CACHE_SIZE = 16
_cache: dict[int, tuple[weakref.ref[pa.Table], str]] = {}  # id(table) -> (table, data version)
_cache_lock = threading.Lock()


def table_data_version(table: pa.Table) -> str:
    """Content hash of an asset table: sha256 over its column names and its sorted ``record_id`` column.

    Record ids are content-derived, so equal ids mean equal content; the result does not depend on
    row order or chunking. 16 hex chars. This is the data version the IO manager stamps on materializations.
    """
    with _cache_lock:
        hit = _cache.get(id(table))
    if hit is not None and hit[0]() is table:
        return hit[1]
    dv = _data_version(table)
    with _cache_lock:
        if len(_cache) >= _CACHE_SIZE:
            for k in [k for k, (ref, _) in _cache.items() if ref() is None] or list(_cache)[: _CACHE_SIZE // 2]:
                _cache.pop(k, None)
        _cache[id(table)] = (weakref.ref(table), dv)
    return dv


def _data_version(table: pa.Table) -> str:
    if S.RECORD_ID not in table.column_names:
        raise ValueError(f"table has no {S.RECORD_ID!r} column")
    return _hash(table.column_names, table.column(S.RECORD_ID))


def _hash(column_names: list[str], ids: pa.ChunkedArray | pa.Array) -> str:
    if ids.null_count:
        raise ValueError(f"{S.RECORD_ID!r} has {ids.null_count} null values")
    n = len(ids)
    h = hashlib.sha256()
    h.update(json.dumps(sorted(column_names)).encode("utf-8"))
    h.update(n.to_bytes(8, "little"))
    if n:
        ids = ids.cast(pa.large_string())
        offsets, data = _sorted_string_buffers(ids.combine_chunks() if isinstance(ids, pa.ChunkedArray) else ids)
        h.update(offsets)
        h.update(data)
    return h.hexdigest()[:16]


class DataVersionBuilder:
    """``table_data_version`` of a table that arrives batch by batch (a staged output streamed row group by row
    group): only the ``record_id`` column is kept (the hash sorts all ids), never the other columns. Gives exactly
    the value ``table_data_version`` gives the concatenated table (tests/lineage/test_data_version_stream.py)."""

    def __init__(self, column_names: list[str]) -> None:
        if S.RECORD_ID not in column_names:
            raise ValueError(f"table has no {S.RECORD_ID!r} column")
        self.column_names = list(column_names)
        self._ids: list[pa.Array] = []

    def update(self, batch: pa.RecordBatch | pa.Table) -> None:
        col = batch.column(S.RECORD_ID)
        chunks = col.chunks if isinstance(col, pa.ChunkedArray) else [col]
        # a copy of the ids alone: the batch (memory-mapped pages of a chunk file) is not kept alive
        self._ids += [c.cast(pa.large_string()).take(pa.array(np.arange(len(c), dtype=np.int64))) for c in chunks]

    def hexdigest(self) -> str:
        return _hash(self.column_names, pa.chunked_array(self._ids, pa.large_string()))


def _sorted_string_buffers(ids: pa.LargeStringArray) -> tuple[bytes | memoryview, bytes | memoryview]:
    """(int64 offsets, utf-8 bytes) of ``ids`` sorted bytewise (= code point order)."""
    n = len(ids)
    off = np.frombuffer(ids.buffers()[1], dtype=np.int64, count=n + 1, offset=8 * ids.offset)
    lengths = np.diff(off)
    width = int(lengths[0])
    if width > 0 and (lengths == width).all():
        # Equal-length ids (the usual case: one id kind per asset) sort as fixed-width bytes.
        raw = np.frombuffer(ids.buffers()[2], dtype=np.uint8, count=n * width, offset=int(off[0]))
        if not (raw.reshape(n, width)[:, -1] == 0).any():  # numpy S ignores trailing NULs when comparing
            fixed = raw.view(f"S{width}")
            srt = _sort_fixed(ids, raw.reshape(n, width), fixed) if n > _SMALL else np.sort(fixed)
            return np.arange(0, n * width + 1, width, dtype=np.int64).tobytes(), srt.tobytes()
    srt = ids.take(pc.sort_indices(ids))  # fresh array: offsets start at 0
    offsets = memoryview(srt.buffers()[1])[: 8 * (n + 1)]
    end = int(np.frombuffer(srt.buffers()[1], dtype=np.int64, count=n + 1)[-1])
    return offsets, memoryview(srt.buffers()[2])[:end]


def _sort_fixed(ids: pa.LargeStringArray, mat: np.ndarray, fixed: np.ndarray) -> np.ndarray:
    """``np.sort(fixed)`` (rows of ``mat`` = ``fixed`` as bytes) by an integer sort of 64-bit prefix keys."""
    n, width = mat.shape
    mm = pc.min_max(ids)  # the common prefix of all ids is the common prefix of the least and the greatest
    lo, hi = mm["min"].as_py().encode("utf-8"), mm["max"].as_py().encode("utf-8")
    p = next((i for i, (a, b) in enumerate(zip(lo, hi)) if a != b), width)
    if p == width:
        return fixed.copy()  # all equal
    nib = np.take(_HEX_NIBBLE, mat[:, p : p + 16])
    if int(nib.max()) < 16:  # lowercase hex after the prefix: 4 bits per digit
        if nib.shape[1] < 16:
            nib = np.concatenate([nib, np.zeros((n, 16 - nib.shape[1]), np.uint8)], axis=1)
        pairs = nib.view(np.uint16)  # (first digit | second digit << 8) on a little-endian machine
        if not np.little_endian:
            pairs = pairs.byteswap()
        key_bytes = (((pairs & np.uint16(0xFF)) << np.uint16(4)) | (pairs >> np.uint16(8))).astype(np.uint8)
    else:  # any bytes: 8 bits per byte
        key_bytes = np.zeros((n, 8), np.uint8)
        key_bytes[:, : min(8, width - p)] = mat[:, p : p + 8]
    key = key_bytes.view(">u8").ravel().astype(np.uint64)
    bits = max(1, int(n - 1).bit_length())
    mask = np.uint64((1 << bits) - 1)
    combined = np.sort((key & ~mask) | np.arange(n, dtype=np.uint64))  # key order, then row index
    order = (combined & mask).astype(np.intp)
    high = combined >> np.uint64(bits)
    ties = np.flatnonzero(high[1:] == high[:-1])
    if len(ties):
        if len(ties) > n // 64:  # low-entropy keys: a plain sort is cheaper than fixing many runs
            return np.sort(fixed)
        # runs of equal (truncated) keys: order each by the full bytes
        starts = ties[np.r_[True, np.diff(ties) > 1]]
        ends = ties[np.r_[np.diff(ties) > 1, True]] + 2
        for s, e in zip(starts.tolist(), ends.tolist()):
            run = order[s:e]
            order[s:e] = run[np.argsort(fixed[run], kind="stable")]
    return fixed[order]
