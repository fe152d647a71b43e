"""The one lineage writer: Parquet files per materialization, never DuckDB.

Layout (relative to the lineage root, a local folder or an fsspec URL)::

    <table>/<asset>/<partition>/<data_version>-<run_id>.parquet

for every table of :data:`schema.LINEAGE_TABLES`. Asset and partition names are made path-safe by
:func:`path_component` (``|`` -> ``__``, ``/`` -> ``_``); the rows keep the original names. Every file is
written under a temporary hidden name in its final folder and renamed into place, so a reader never sees
a partial file. ``write_materialization`` writes ``records``, ``edges``, ``sources``, ``generations``
(only the non-empty ones) and then the ``materializations`` row, which is the commit marker: the store
ingests a data file only once the materialization file with the same relative path exists.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from datetime import datetime, timezone
from typing import Any, Iterable

import fsspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from . import schema as S
from .settings import is_local, local_path

# Parquet settings: ids are random hex (dictionaries never pay off), the constant columns
# (asset, partition, data_version, run_id) are dictionary arrays and written as such.
_CONSTANT_COLUMNS = ["asset", "partition", "data_version", "run_id", "uri", "model_id", "model_revision",
                     "prompt_template", "sampling"]


def path_component(name: str | None) -> str:
    """Path-safe folder/file name: ``|`` -> ``__``, ``/`` and ``\\`` -> ``_``; empty -> ``__all__``."""
    if name is None or name == "":
        return S.UNPARTITIONED
    out = str(name).replace("|", "__").replace("/", "_").replace("\\", "_")
    if out in (".", ".."):
        out = out.replace(".", "_")
    return out


def lineage_file_relpath(asset: str, partition: str | None, data_version: str, run_id: str) -> str:
    """``<asset>/<partition>/<data_version>-<run_id>.parquet`` (path-safe), shared by all tables."""
    return "/".join(
        [path_component(asset), path_component(partition), f"{path_component(data_version)}-{path_component(run_id)}.parquet"]
    )


def table_data_version(table: pa.Table) -> str:
    """Content hash of an asset table: sha256 over its column names and its sorted ``record_id`` column.

    Record ids are content-derived, so equal ids mean equal content; the result does not depend on
    row order or chunking. 16 hex chars. This is the data version the IO manager stamps on materializations.
    """
    if S.RECORD_ID not in table.column_names:
        raise ValueError(f"table has no {S.RECORD_ID!r} column")
    ids = table.column(S.RECORD_ID)
    if ids.null_count:
        raise ValueError(f"{S.RECORD_ID!r} has {ids.null_count} null values")
    n = table.num_rows
    h = hashlib.sha256()
    h.update(json.dumps(sorted(table.column_names)).encode("utf-8"))
    h.update(n.to_bytes(8, "little"))
    if n:
        offsets, data = _sorted_string_buffers(ids.cast(pa.large_string()).combine_chunks())
        h.update(offsets)
        h.update(data)
    return h.hexdigest()[:16]


def _sorted_string_buffers(ids: pa.LargeStringArray) -> tuple[bytes | memoryview, bytes | memoryview]:
    """(int64 offsets, utf-8 bytes) of ``ids`` sorted bytewise (= code point order)."""
    n = len(ids)
    off = np.frombuffer(ids.buffers()[1], dtype=np.int64, count=n + 1, offset=8 * ids.offset)
    lengths = np.diff(off)
    width = int(lengths[0])
    if width > 0 and (lengths == width).all():
        # Fast path (the usual case: one id kind per asset): equal-length ids sort as fixed-width bytes.
        raw = np.frombuffer(ids.buffers()[2], dtype=np.uint8, count=n * width, offset=int(off[0]))
        if not (raw.reshape(n, width)[:, -1] == 0).any():  # numpy S ignores trailing NULs when comparing
            data = raw.view(f"S{width}")
            return np.arange(0, n * width + 1, width, dtype=np.int64).tobytes(), np.sort(data).tobytes()
    srt = ids.take(pc.sort_indices(ids))  # fresh array: offsets start at 0
    offsets = memoryview(srt.buffers()[1])[: 8 * (n + 1)]
    end = int(np.frombuffer(srt.buffers()[1], dtype=np.int64, count=n + 1)[-1])
    return offsets, memoryview(srt.buffers()[2])[:end]


def _const(value: Any, n: int, type_: pa.DataType = pa.string()) -> pa.Array:
    """``n`` copies of ``value`` as a dictionary array (no per-row copies; Parquet stores it as RLE)."""
    if value is None:
        return pa.nulls(n, type_)
    return pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, dtype=np.int32)), pa.array([value], type_))


def _column(table: pa.Table, name: str, type_: pa.DataType) -> pa.ChunkedArray | pa.Array:
    if name in table.column_names:
        col = table.column(name)
        return col if col.type == type_ else col.cast(type_)
    return pa.nulls(table.num_rows, type_)


def _flatten_parents(parents: pa.ChunkedArray | pa.Array) -> tuple[pa.Array, pa.Array]:
    """(flattened parent ids, index of the owning row) of a list<string> column."""
    arr = parents.combine_chunks() if isinstance(parents, pa.ChunkedArray) else parents
    if pa.types.is_large_list(arr.type) or pa.types.is_list(arr.type) or pa.types.is_fixed_size_list(arr.type):
        flat = pc.list_flatten(arr)
        owner = pc.list_parent_indices(arr)
    else:
        raise TypeError(f"{S.PARENT_IDS!r} must be a list<string> column, got {arr.type}")
    if flat.type != pa.string():
        flat = flat.cast(pa.string())
    if flat.null_count:
        keep = pc.is_valid(flat)
        flat, owner = flat.filter(keep), owner.filter(keep)
    return flat, owner


class LineageWriter:
    """Writes lineage Parquet files under ``root`` (local folder or fsspec URL). Safe in any number of processes."""

    def __init__(self, root: str, *, compression: str | None = None, **storage_options: Any):
        """``compression``: Parquet codec of the lineage files; default ``none`` for a local root (fastest:
        lineage capture sits on every materialization's critical path) and ``zstd`` for a remote one
        (3-4x fewer bytes to upload)."""
        self.root = root.rstrip("/") or "/"
        self._local = is_local(self.root)
        self.compression = compression or ("none" if self._local else "zstd")
        if self._local:
            self.root = os.path.abspath(local_path(self.root))
            self.fs = fsspec.filesystem("file")
        else:
            self.fs, _ = fsspec.core.url_to_fs(self.root, **storage_options)

    @classmethod
    def from_env(cls, lake: str | None = None) -> "LineageWriter":
        from .settings import default_paths

        return cls(default_paths(lake).lineage_root)

    # ------------------------------------------------------------------ files
    def path(self, table: str, asset: str, partition: str | None, data_version: str, run_id: str) -> str:
        rel = lineage_file_relpath(asset, partition, data_version, run_id)
        if self._local:
            return os.path.join(self.root, table, *rel.split("/"))
        return f"{self.root}/{table}/{rel}"

    def _write_atomic(self, table: pa.Table, final_path: str) -> None:
        """Write to a hidden temp name in the final folder, then rename (never a partial ``.parquet``)."""
        if self._local:
            folder, name = os.path.split(final_path)
            os.makedirs(folder, exist_ok=True)
        else:
            folder, name = final_path.rsplit("/", 1)
            self.fs.makedirs(folder, exist_ok=True)
        tmp = f"{folder}/.{name}.{uuid.uuid4().hex}.tmp"
        dict_cols = [c for c in table.column_names if c in _CONSTANT_COLUMNS]
        try:
            with self.fs.open(tmp, "wb") as fh:
                pq.write_table(
                    table,
                    fh,
                    compression=self.compression,
                    compression_level=1 if self.compression == "zstd" else None,
                    use_dictionary=dict_cols or False,
                    # min/max of random ids prune nothing; keep them for the constant columns (file pruning)
                    write_statistics=dict_cols or False,
                    store_schema=False,
                )
            if self._local:
                os.replace(tmp, final_path)
            else:
                self.fs.mv(tmp, final_path)
        except BaseException:
            try:
                if self.fs.exists(tmp):
                    self.fs.rm(tmp)
            except Exception:
                pass
            raise

    # ------------------------------------------------------------------ API
    def write_materialization(
        self,
        *,
        asset: str,
        partition: str | None,
        run_id: str,
        data_version: str,
        code_version: str | None,
        table: pa.Table,
        data_path: str,
    ) -> dict[str, Any]:
        """Write the lineage of one materialized asset partition; the commit row goes last.

        ``table`` is the asset table (``record_id``, ``parent_ids`` and optionally ``source_uri``,
        ``source_locator`` and the ``gen_*`` columns). Returns row counts per lineage table and the
        commit file path.
        """
        partition = partition if partition not in (None, "") else S.UNPARTITIONED
        for col in (S.RECORD_ID, S.PARENT_IDS):
            if col not in table.column_names:
                raise ValueError(f"asset {asset!r}: table has no {col!r} column")
        n = table.num_rows
        rid = table.column(S.RECORD_ID)
        if rid.type != pa.string():
            rid = rid.cast(pa.string())
        if rid.null_count:
            raise ValueError(f"asset {asset!r}: {rid.null_count} null record ids")
        rid = rid.combine_chunks() if n else pa.array([], pa.string())

        def consts(m: int) -> dict[str, pa.Array]:
            return {
                "asset": _const(asset, m),
                "partition": _const(partition, m),
                "data_version": _const(data_version, m),
                "run_id": _const(run_id, m),
            }

        counts: dict[str, Any] = {}
        pending: list[tuple[str, pa.Table]] = []

        # records
        c = consts(n)
        pending.append((S.T_RECORDS, pa.table({"record_id": rid, **c})))
        counts[S.T_RECORDS] = n

        # edges: one per (record, parent)
        flat, owner = _flatten_parents(table.column(S.PARENT_IDS))
        m = len(flat)
        c = consts(m)
        edges = pa.table(
            {"child_id": rid.take(owner), "parent_id": flat, "asset": c["asset"], "partition": c["partition"],
             "data_version": c["data_version"], "run_id": c["run_id"]}
        )
        pending.append((S.T_EDGES, edges))
        counts[S.T_EDGES] = m

        # sources: parents of rows read from an input file are source ids
        counts[S.T_SOURCES] = 0
        if S.SOURCE_URI in table.column_names:
            uri = _column(table, S.SOURCE_URI, pa.string())
            has_uri = pc.is_valid(uri)
            if pc.any(has_uri).as_py():
                sel = pc.is_valid(pc.take(uri, owner))
                s_owner = owner.filter(sel)
                s_ids = flat.filter(sel)
                loc = _column(table, S.SOURCE_LOCATOR, pa.string())
                k = len(s_ids)
                c = consts(k)
                src = pa.table(
                    {"source_id": s_ids, "uri": pc.take(uri, s_owner), "locator": pc.take(loc, s_owner),
                     "asset": c["asset"], "partition": c["partition"], "data_version": c["data_version"],
                     "run_id": c["run_id"]}
                )
                pending.append((S.T_SOURCES, src))
                counts[S.T_SOURCES] = k

        # generations: rows with a model id
        counts[S.T_GENERATIONS] = 0
        if S.GEN_MODEL_ID in table.column_names:
            model = _column(table, S.GEN_MODEL_ID, pa.string())
            sel = pc.is_valid(model)
            k = pc.sum(sel.cast(pa.int64())).as_py() or 0
            if k:
                sub = table.select([c for c in S.GEN_COLUMNS if c in table.column_names]).filter(sel)
                c = consts(k)
                gen = pa.table(
                    {
                        "record_id": rid.filter(sel),
                        "asset": c["asset"],
                        "partition": c["partition"],
                        "data_version": c["data_version"],
                        "model_id": _column(sub, S.GEN_MODEL_ID, pa.string()),
                        "model_revision": _column(sub, S.GEN_MODEL_REVISION, pa.string()),
                        "prompt_template": _column(sub, S.GEN_PROMPT_TEMPLATE, pa.string()),
                        "prompt_hash": _column(sub, S.GEN_PROMPT_HASH, pa.string()),
                        "sampling": _column(sub, S.GEN_SAMPLING, pa.string()),
                        "prompt_tokens": _column(sub, S.GEN_PROMPT_TOKENS, pa.int64()),
                        "completion_tokens": _column(sub, S.GEN_COMPLETION_TOKENS, pa.int64()),
                        "run_id": c["run_id"],
                    }
                )
                pending.append((S.T_GENERATIONS, gen))
                counts[S.T_GENERATIONS] = k

        for name, tbl in pending:
            if tbl.num_rows:
                self._write_atomic(tbl, self.path(name, asset, partition, data_version, run_id))

        # commit marker, last
        commit = pa.table(
            {
                "asset": [asset],
                "partition": [partition],
                "run_id": [run_id],
                "data_version": [data_version],
                "code_version": [code_version],
                "created_at": pa.array([datetime.now(timezone.utc)], pa.timestamp("us", tz="UTC")),
                "n_records": pa.array([n], pa.int64()),
                "data_path": [data_path],
            },
            schema=S.SCHEMAS[S.T_MATERIALIZATIONS],
        )
        commit_path = self.path(S.T_MATERIALIZATIONS, asset, partition, data_version, run_id)
        self._write_atomic(commit, commit_path)
        counts[S.T_MATERIALIZATIONS] = 1
        counts["commit_path"] = commit_path
        return counts

    def write_checkpoint_inputs(
        self,
        *,
        checkpoint_asset: str,
        checkpoint_partition: str | None,
        checkpoint_data_version: str,
        run_id: str,
        inputs: Iterable[tuple[str, str | None, str | None]],
    ) -> str:
        """Record which asset partitions (at which data versions) a checkpoint was trained on.

        One file (its own commit unit) under ``checkpoint_inputs/``; returns its path.
        """
        checkpoint_partition = checkpoint_partition if checkpoint_partition not in (None, "") else S.UNPARTITIONED
        rows = [(a, p if p not in (None, "") else S.UNPARTITIONED, dv) for a, p, dv in inputs]
        k = len(rows)
        tbl = pa.table(
            {
                "checkpoint_asset": [checkpoint_asset] * k,
                "checkpoint_partition": [checkpoint_partition] * k,
                "checkpoint_data_version": [checkpoint_data_version] * k,
                "input_asset": [r[0] for r in rows],
                "input_partition": [r[1] for r in rows],
                "input_data_version": [r[2] for r in rows],
            },
            schema=S.SCHEMAS[S.T_CHECKPOINT_INPUTS],
        )
        path = self.path(S.T_CHECKPOINT_INPUTS, checkpoint_asset, checkpoint_partition, checkpoint_data_version, run_id)
        self._write_atomic(tbl, path)
        return path
