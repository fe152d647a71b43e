"""Pack labelled CPT documents into token-sized Parquet shards and describe them in a manifest.

``pack_shards`` keeps documents in order and closes a shard when adding the next document would pass the
target token count (a document larger than the target gets a shard of its own). ``write_shards`` writes
``shard-<source>-<nnnnn>.parquet`` files with ``Lake.write_table`` under ``lake.data_path(asset, partition,
name)``. ``manifest_table`` is what the training-side bandit sampler reads to pick shards per source/domain.

Manifest columns (``MANIFEST_SCHEMA``, one row per shard):

================  ==========  ==========================================================================
column            type        meaning
================  ==========  ==========================================================================
source            string      ``web`` | ``pdf`` | ``textbook`` (the arm the sampler draws from)
shard             string      file name, ``shard-<source>-<nnnnn>.parquet`` (``nnnnn`` from 00000)
path              string      where the shard lies (``Lake.url`` of the data path: local path or fsspec URL)
documents         int64       documents (rows) in the shard
tokens            int64       sum of ``n_tokens`` (target-model tokenizer) over the shard
medical_tokens    int64       sum of ``n_tokens`` of rows with ``domain == "medical"``
medical_share     float64     ``medical_tokens / tokens`` (0.0 for an empty shard)
================  ==========  ==========================================================================

Shard files carry the rows of ``labelling.label_documents`` unchanged (``record_id``, ``parent_ids``,
``text``, ``domain``, ``n_tokens``...), so record lineage flows through to training.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

MANIFEST_SCHEMA = pa.schema(
    [
        ("source", pa.string()),
        ("shard", pa.string()),
        ("path", pa.string()),
        ("documents", pa.int64()),
        ("tokens", pa.int64()),
        ("medical_tokens", pa.int64()),
        ("medical_share", pa.float64()),
    ]
)


def shard_name(source: str, index: int) -> str:
    return f"shard-{source}-{index:05d}.parquet"


def pack_shards(table: pa.Table, target_tokens_per_shard: int, token_column: str = "n_tokens") -> list[pa.Table]:
    """Split ``table`` (in row order) into consecutive slices of about ``target_tokens_per_shard`` tokens.

    A shard is closed before a document that would take it past the target, so every shard is at most the
    target unless it holds a single document larger than the target (which then gets its own shard).
    Every row lands in exactly one shard; an empty table gives no shards.
    """
    if target_tokens_per_shard <= 0:
        raise ValueError("target_tokens_per_shard must be positive")
    tokens = [int(n or 0) for n in table.column(token_column).to_pylist()]
    shards: list[pa.Table] = []
    start, acc = 0, 0
    for i, n in enumerate(tokens):
        if i > start and acc + n > target_tokens_per_shard:
            shards.append(table.slice(start, i - start))
            start, acc = i, 0
        acc += n
    if start < len(tokens):
        shards.append(table.slice(start, len(tokens) - start))
    return shards


def shard_stats(shard: pa.Table, token_column: str = "n_tokens") -> dict[str, Any]:
    tokens = int(pc.sum(shard.column(token_column)).as_py() or 0) if shard.num_rows else 0
    if shard.num_rows and "domain" in shard.column_names:
        mask = pc.equal(shard.column("domain"), "medical")
        medical = int(pc.sum(pc.if_else(mask, shard.column(token_column), 0)).as_py() or 0)
    else:
        medical = 0
    return {
        "documents": shard.num_rows,
        "tokens": tokens,
        "medical_tokens": medical,
        "medical_share": medical / tokens if tokens else 0.0,
    }


def write_shards(
    lake: Any, asset: str, partition: str | None, source: str, shards: Sequence[pa.Table]
) -> list[dict[str, Any]]:
    """Write each shard as ``shard-<source>-<nnnnn>.parquet`` (atomic) and return its manifest rows."""
    rows: list[dict[str, Any]] = []
    for i, shard in enumerate(shards):
        name = shard_name(source, i)
        path = lake.write_table(shard, lake.data_path(asset, partition, name))
        rows.append({"source": source, "shard": name, "path": lake.url(path), **shard_stats(shard)})
    return rows


def manifest_table(rows: Iterable[dict[str, Any]]) -> pa.Table:
    """The shard manifest (columns: see the module docstring / ``MANIFEST_SCHEMA``)."""
    return pa.Table.from_pylist([{k: r[k] for k in MANIFEST_SCHEMA.names} for r in rows], schema=MANIFEST_SCHEMA)
