"""The one lineage writer: Parquet files per materialization, never DuckDB.

Layout (relative to the lineage root, a local folder or an fsspec URL)::

    record_lineage/<asset>/<partition>/<data_version>-<run_id>.parquet     the lineage rows
    materializations/<asset>/<partition>/<data_version>-<run_id>.parquet   the commit row, written last

Asset and partition names are made path-safe by :func:`path_component` (``|`` -> ``__``, ``/`` -> ``_``);
the commit row keeps the original names. Every file is written under a temporary hidden name in its final
folder and renamed into place, so a reader never sees a partial file; the store ingests a
``record_lineage`` file only once the materialization file with the same relative path (the commit
marker) exists, and derives the ``records`` / ``edges`` / ``sources`` / ``generations`` rows from it.
The asset's data file is published only after that commit (``resources/lineage/commit.py``).
Lakes written by earlier versions hold one file per logical table (``records/``, ``edges/``,
``sources/``, ``generations/``) instead; the store still reads those.

The ``record_lineage`` file is one row per record of the asset table: exactly its lineage columns
(``record_id``, ``parent_ids``, and ``source_uri``, ``source_locator``, ``gen_*`` when the table has
them; see :data:`schema.SCHEMAS`), no per-row asset / partition / run columns. Lineage capture sits on
every materialization's critical path, so the file costs as little as Parquet allows: the asset table's
arrays are written as they are (no copies, no Python loops); a column without nulls is REQUIRED (no
definition levels); a constant string column (one model, one prompt template, one input file) is a
one-value dictionary; ``parent_ids`` with exactly one parent per record is stored flat as ``parent_id``;
no statistics; no compression for a local root (zstd for a remote one).
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import fsspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from resources.faults import fault_point
from resources.lineage import schema as S
from resources.lineage.data_version import table_data_version
from resources.lineage.settings import is_local, local_path

__all__ = [
    "LineageWriter",
    "commit_key",
    "is_temp_of",
    "lineage_file_relpath",
    "path_component",
    "table_data_version",
    "temp_name",
]

# Columns of the record_lineage file stored as a one-value dictionary when constant in the asset table
# (the usual case: one model, one prompt template, one input file per materialization).
_MAYBE_CONSTANT = (
    S.SOURCE_URI,
    *(c for c in S.GEN_COLUMNS if S.SCHEMAS[S.T_RECORD_LINEAGE].field(c).type == pa.string()),
)


def temp_name(name: str) -> str:
    """The hidden temporary name of an atomic write of file ``name``: ``.<name>.<32 hex>.tmp``. It never matches
    ``*.parquet``, so a leftover of a crash is not picked up by a reader's glob (``lake/<asset>/*/*.parquet``)."""
    return f".{name}.{uuid.uuid4().hex}.tmp"


def is_temp_of(candidate: str, name: str) -> bool:
    """Whether file name ``candidate`` is a temporary of an atomic write of ``name`` (``temp_name``, or the
    ``.tmp-<32 hex>-<name>`` of earlier versions), i.e. a leftover once no write of ``name`` is running."""
    return bool(
        re.fullmatch(rf"\.{re.escape(name)}\.[0-9a-f]{{32}}\.tmp|\.tmp-[0-9a-f]{{32}}-{re.escape(name)}", candidate)
    )


def write_error(exc: BaseException, target: str) -> BaseException:
    """The error to raise when writing ``target`` failed with ``exc``: an ``OSError`` (disk full, read-only
    file system, file too large, ...) is re-raised naming the file it was writing; anything else as is."""
    if not isinstance(exc, OSError):
        return exc
    if exc.errno is None:
        return OSError(f"could not write {target}: {exc}")
    return OSError(exc.errno, f"{exc.strerror or exc} (could not write the file)", target)


def path_component(name: str | None) -> str:
    """Path-safe folder/file name: ``|`` -> ``__``, ``/`` and ``\\`` -> ``_``; empty -> ``__all__``."""
    if name is None or name == "":
        return S.UNPARTITIONED
    out = str(name).replace("|", "__").replace("/", "_").replace("\\", "_")
    if out in (".", ".."):
        out = out.replace(".", "_")
    return out


def commit_key(data_version: str, run_id: str) -> str:
    """``<data_version>-<run_id>`` (path-safe): names one materialization's lineage files and its staged data file."""
    return f"{path_component(data_version)}-{path_component(run_id)}"


def lineage_file_relpath(asset: str, partition: str | None, data_version: str, run_id: str) -> str:
    """``<asset>/<partition>/<data_version>-<run_id>.parquet`` (path-safe), shared by all tables."""
    return "/".join([path_component(asset), path_component(partition), f"{commit_key(data_version, run_id)}.parquet"])


def _is_string(t: pa.DataType) -> bool:
    """Types Parquet stores as a UTF-8 byte array (read back as ``string``)."""
    return (
        pa.types.is_string(t)
        or pa.types.is_large_string(t)
        or (pa.types.is_dictionary(t) and (pa.types.is_string(t.value_type) or pa.types.is_large_string(t.value_type)))
    )


def _string_column(col: pa.ChunkedArray) -> pa.ChunkedArray:
    return col if _is_string(col.type) else col.cast(pa.string())


def _parents_column(col: pa.ChunkedArray, asset: str) -> pa.ChunkedArray:
    """``parent_ids`` as it is when Parquet stores it as ``list<string>`` (any list kind), else cast."""
    t = col.type
    if not (pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t)):
        raise TypeError(f"asset {asset!r}: {S.PARENT_IDS!r} must be a list<string> column, got {t}")
    v = t.value_type
    return col if pa.types.is_string(v) or pa.types.is_large_string(v) else col.cast(pa.list_(pa.string()))


def _all_equal(col: pa.ChunkedArray) -> bool:
    """True when a string column without nulls holds one value: every chunk's values have one length
    and its bytes repeat with that period (one memcmp per chunk, no per-value work)."""
    first = None
    for c in col.chunks:
        n = len(c)
        if n == 0:
            continue
        dtype = np.int64 if pa.types.is_large_string(c.type) else np.int32
        off = np.frombuffer(c.buffers()[1], dtype, n + 1, offset=dtype().itemsize * c.offset)
        width = int(off[1] - off[0])
        if int(off[-1] - off[0]) != n * width or not (np.diff(off) == width).all():
            return False
        seg = c.buffers()[2].slice(int(off[0]), n * width)
        if not seg.slice(width).equals(seg.slice(0, (n - 1) * width)):
            return False
        if first is None:
            first = seg.slice(0, width)
        elif not first.equals(seg.slice(0, width)):
            return False
    return True


def _maybe_constant(col: pa.ChunkedArray, zeros: list[pa.Array | None]) -> pa.ChunkedArray | pa.Array:
    """A string column whose non-null values are all equal as a one-value dictionary array (no copy of
    the strings; Parquet writes one dictionary entry and a run of zero indices), else ``col`` unchanged."""
    n = len(col)
    if n == 0 or col.null_count == n or not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)):
        return col
    if col.null_count == 0:
        value = col[0]
        if value != col[n - 1] or not _all_equal(col):  # unique-ish columns (hashes) leave at once
            return col
        if zeros[0] is None:
            zeros[0] = pa.array(np.zeros(n, dtype=np.int32))
        indices = zeros[0]
    else:
        mm = pc.min_max(col)  # of the non-null values
        value = mm["min"]
        if value != mm["max"]:
            return col
        indices = pc.if_else(pc.is_valid(col), pa.scalar(0, pa.int32()), pa.scalar(None, pa.int32()))
        indices = indices.combine_chunks() if isinstance(indices, pa.ChunkedArray) else indices
    return pa.DictionaryArray.from_arrays(indices, pa.array([value.as_py()], pa.string()))


def _single_parents(parents: pa.ChunkedArray) -> pa.ChunkedArray | None:
    """The parent ids as a flat column when every record has exactly one non-null parent (zero-copy)."""
    if parents.null_count:
        return None
    flat = []
    for chunk in parents.chunks:
        if pa.types.is_fixed_size_list(chunk.type):
            if chunk.type.list_size != 1:
                return None
        else:
            off = np.asarray(chunk.offsets)
            if len(off) > 1 and not (np.diff(off) == 1).all():
                return None
        values = chunk.flatten()
        if values.null_count or len(values) != len(chunk):
            return None
        flat.append(values)
    return pa.chunked_array(flat, type=parents.type.value_type)


def _count_edges(parents: pa.ChunkedArray) -> int:
    flat = [c.flatten() for c in parents.chunks]
    return sum(len(f) - f.null_count for f in flat)


def _count_sources(parents: pa.ChunkedArray, uri: pa.ChunkedArray | None, n_edges: int) -> int:
    """Non-null parents of rows that have a source URI (= rows of the logical ``sources`` table)."""
    if uri is None or uri.null_count == len(uri):
        return 0
    if uri.null_count == 0:
        return n_edges
    p = parents.combine_chunks()
    flat, owner = pc.list_flatten(p), pc.list_parent_indices(p)
    keep = pc.and_(pc.is_valid(flat), pc.is_valid(pc.take(uri, owner)))
    return int(pc.sum(keep.cast(pa.int64())).as_py() or 0)


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
    def from_env(cls, lake: str | None = None) -> LineageWriter:
        from resources.lineage.settings import default_paths

        return cls(default_paths(lake).lineage_root)

    # ------------------------------------------------------------------ files
    def path(self, table: str, asset: str, partition: str | None, data_version: str, run_id: str) -> str:
        rel = lineage_file_relpath(asset, partition, data_version, run_id)
        if self._local:
            return os.path.join(self.root, table, *rel.split("/"))
        return f"{self.root}/{table}/{rel}"

    def commit_path(self, asset: str, partition: str | None, key: str) -> str:
        """The commit file (materializations row) of the materialization named by ``key`` (``commit_key``)."""
        return self._join(S.T_MATERIALIZATIONS, path_component(asset), path_component(partition), f"{key}.parquet")

    def partition_dir(self, table: str, asset: str, partition: str | None) -> str:
        return self._join(table, path_component(asset), path_component(partition))

    def _join(self, *parts: str) -> str:
        return os.path.join(self.root, *parts) if self._local else "/".join([self.root, *parts])

    def _write_atomic(
        self, table: pa.Table, final_path: str, fault: str | None = None, asset: str | None = None
    ) -> None:
        """Write to a hidden temp name in the final folder, then rename (never a partial ``.parquet``).
        ``fault``: the fault point (``resources.faults``) between the temp write and the rename."""
        folder, name = os.path.split(final_path) if self._local else final_path.rsplit("/", 1)
        tmp = f"{folder}/{temp_name(name)}"
        dict_cols = [f.name for f in table.schema if pa.types.is_dictionary(f.type)]
        options = dict(
            compression=self.compression,
            compression_level=1 if self.compression == "zstd" else None,
            use_dictionary=dict_cols or False,  # ids are random: dictionaries never pay off for them
            write_statistics=False,  # min/max of random ids prune nothing
            store_schema=False,  # read back as plain string / list<string>, whatever the asset's types
        )
        try:
            if self._local:
                os.makedirs(folder, exist_ok=True)
                pq.write_table(table, tmp, **options)  # native file writes, no Python file object
                if fault:
                    fault_point(fault, asset=asset)
                os.replace(tmp, final_path)
            else:
                self.fs.makedirs(folder, exist_ok=True)
                with self.fs.open(tmp, "wb") as fh:
                    pq.write_table(table, fh, **options)
                if fault:
                    fault_point(fault, asset=asset)
                self.fs.mv(tmp, final_path)
        except BaseException as exc:
            try:
                if self.fs.exists(tmp):
                    self.fs.rm(tmp)
            except Exception:
                pass
            err = write_error(exc, final_path if self._local else self.fs.unstrip_protocol(final_path))
            if err is exc:
                raise
            raise err from exc

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
        ``source_locator`` and the ``gen_*`` columns). Returns the row counts of the logical lineage
        tables (``records``, ``edges``, ``sources``, ``generations``, ``materializations``) and the commit
        file path (``commit_path``).
        """
        partition = partition if partition not in (None, "") else S.UNPARTITIONED
        for col in (S.RECORD_ID, S.PARENT_IDS):
            if col not in table.column_names:
                raise ValueError(f"asset {asset!r}: table has no {col!r} column")
        n = table.num_rows
        rid = table.column(S.RECORD_ID)
        if rid.null_count:
            raise ValueError(f"asset {asset!r}: {rid.null_count} null record ids")
        schema = S.SCHEMAS[S.T_RECORD_LINEAGE]
        parents = _parents_column(table.column(S.PARENT_IDS), asset)
        single = _single_parents(parents)
        cols: dict[str, Any] = {S.RECORD_ID: _string_column(rid)}
        if single is not None:  # a flat column is 3x cheaper to encode than a list
            cols[S.PARENT_ID] = single
        else:
            cols[S.PARENT_IDS] = parents
        zeros: list[pa.Array | None] = [None]
        for field in schema:  # optional columns: only those the asset table has
            if field.name in (S.RECORD_ID, S.PARENT_IDS) or field.name not in table.column_names:
                continue
            col = table.column(field.name)
            if field.type == pa.string():
                col = _string_column(col)
            elif col.type != field.type:
                col = col.cast(field.type)
            cols[field.name] = _maybe_constant(col, zeros) if field.name in _MAYBE_CONSTANT else col
        # Columns without nulls are written as REQUIRED: no definition levels to encode (2x faster for ids).
        fields = [pa.field(k, v.type, nullable=v.null_count > 0) for k, v in cols.items()]

        n_edges = _count_edges(parents)
        uri = table.column(S.SOURCE_URI) if S.SOURCE_URI in table.column_names else None
        model = table.column(S.GEN_MODEL_ID) if S.GEN_MODEL_ID in table.column_names else None
        counts: dict[str, Any] = {
            S.T_RECORDS: n,
            S.T_EDGES: n_edges,
            S.T_SOURCES: _count_sources(parents, uri, n_edges),
            S.T_GENERATIONS: 0 if model is None else n - model.null_count,
        }
        if n:
            self._write_atomic(
                pa.Table.from_arrays(list(cols.values()), schema=pa.schema(fields)),
                self.path(S.T_RECORD_LINEAGE, asset, partition, data_version, run_id),
            )
        fault_point("lineage.rows", asset=asset)

        # commit marker, last
        commit = pa.table(
            {
                "asset": [asset],
                "partition": [partition],
                "run_id": [run_id],
                "data_version": [data_version],
                "code_version": [code_version],
                "created_at": pa.array([datetime.now(UTC)], pa.timestamp("us", tz="UTC")),
                "n_records": pa.array([n], pa.int64()),
                "data_path": [data_path],
            },
            schema=S.SCHEMAS[S.T_MATERIALIZATIONS],
        )
        commit_path = self.path(S.T_MATERIALIZATIONS, asset, partition, data_version, run_id)
        self._write_atomic(commit, commit_path, fault="lineage.commit_tmp", asset=asset)  # the rename commits
        fault_point("lineage.committed", asset=asset)
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
