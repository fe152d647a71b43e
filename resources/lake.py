"""The Parquet lake: partition-aware paths, atomic file writes, quarantine, staged (chunked) outputs.

Every asset's data is one Parquet file written with pyarrow at
``<lake>/<asset>/<partition>/data.parquet``; it is readable by DuckDB, Polars and
``datasets.load_dataset("parquet", data_files=...)``. The root is a local folder or
an fsspec URL (``s3://bucket/prefix``). Plain file writes go to a hidden temporary name in the same
folder (``.data.parquet.<uuid>.tmp``, never matched by ``*.parquet``) and are renamed into
place; the next write of the same file removes such leftovers. The IO manager lives in
``resources/lake_io.py`` and publishes a partition through the commit protocol of
``resources/lineage/commit.py`` (the lineage commit is what makes a partition visible). Nothing is
ever pickled: the IO manager accepts only ``pyarrow.Table`` or a ``StagedParquet``.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import chain
from typing import Any

import dagster as dg
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from resources.lineage.data_version import DataVersionBuilder
from resources.lineage.schema import RECORD_ID, SOURCE_LOCATOR, SOURCE_URI, UNPARTITIONED
from resources.lineage.settings import default_paths, url_to_fs
from resources.lineage.writer import is_temp_of, temp_name, write_error
from resources.lineage.writer import path_component as safe_partition  # the one path-safe rule

DATA_FILE = "data.parquet"
# Schema-metadata key on a table read from several partitions: JSON ``[[partition, rows], ...]`` in row order,
# so a reader (e.g. a per-partition asset check in a backfill run) can split it again (``split_partitions``).
PARTITION_ROWS_METADATA = b"citrus.partition_rows"
QUARANTINE_DIR = "_quarantine"
LINEAGE_DIR = "_lineage"

QUARANTINE_SCHEMA = pa.schema(
    [
        (SOURCE_URI, pa.string()),
        (SOURCE_LOCATOR, pa.string()),
        ("reason", pa.string()),
        ("raw", pa.string()),
        ("asset", pa.string()),
        ("partition", pa.string()),
        ("quarantined_at", pa.timestamp("us", tz="UTC")),
    ]
)


def default_lake_root() -> str:
    """``$CITRUS_LAKE`` or ``lake``: the one rule, shared with the lineage settings."""
    return default_paths().lake


@dataclass(frozen=True)
class QuarantineRecord:
    """One rejected input unit, kept with where it came from and why."""

    source_uri: str
    source_locator: str
    reason: str
    raw: str


def describe_bytes(data: bytes, magic: bytes = b"") -> str:
    """What a quarantined binary file was, without copying any of its bytes into the lake: its size, a
    SHA-256 prefix and whether it starts with the expected ``magic`` (e.g. ``%PDF-``)."""
    import hashlib

    kind = (
        ""
        if not magic
        else f", starts with {magic.decode('ascii', 'replace')!r}: {'yes' if data.startswith(magic) else 'no'}"
    )
    return f"[{len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()[:16]}{kind}; content not copied]"


QUARANTINE_CHUNK = 1000  # quarantine records converted (and written as one row group) at a time
ROW_GROUP_ROWS = 2000  # rows per Parquet row group of a streamed write (``Lake.write_batches``)


def copy_table(table: pa.Table) -> pa.Table:
    """A fresh copy of ``table``'s buffers (a slice or a column of a memory-mapped batch keeps its pages alive)."""
    return table.take(pa.array(np.arange(table.num_rows, dtype=np.int64)))


# Op tag of a consumer that reads its lake inputs batch by batch: the IO manager's ``load_input`` then returns a
# ``resources.lineage.commit.CommittedBatches`` (``{partition: CommittedBatches}`` for several partitions) instead of
# a table (``quality.checks.gx_asset_check(streamed=True)``).
BATCHED_INPUT_TAG = "citrus/lake_input"
BATCHES = "batches"


def input_tables(value: object, columns: list[str] | None = None) -> Iterator[pa.Table]:
    """The rows of an asset input in order, as tables of ``columns`` (all when None). ``value`` is a ``pa.Table``
    (one table), or what the IO manager gives an op tagged ``BATCHED_INPUT_TAG``: anything with
    ``tables(columns)`` (``CommittedBatches``), or a mapping of them by partition (read in order), batch by batch
    with only ``columns`` read from the file."""
    if isinstance(value, pa.Table):
        yield value if columns is None else value.select(columns)
        return
    parts = list(value.values()) if isinstance(value, Mapping) else [value]
    for part in parts:
        yield from getattr(part, "tables")(columns)  # noqa: B009 - CommittedBatches or StagedParquet


def input_table(value: object, columns: list[str] | None = None) -> pa.Table:
    """An asset input (see ``input_tables``) as one table of ``columns``: a step that needs its input whole reads
    only the columns it uses."""
    parts = list(input_tables(value, columns))
    if parts:
        return pa.concat_tables(parts) if len(parts) > 1 else parts[0]
    first = next(iter(value.values())) if isinstance(value, Mapping) and value else value
    schema: pa.Schema = getattr(first, "schema")  # noqa: B009 - CommittedBatches or StagedParquet
    return pa.schema([schema.field(c) for c in columns] if columns is not None else schema).empty_table()


def input_chunks(value: object, chunk_size: int, columns: list[str] | None = None) -> Iterator[pa.Table]:
    """An asset input (see ``input_tables``) in chunks of exactly ``chunk_size`` rows (the last one shorter): the
    same tables as ``table.slice(lo, chunk_size)`` for ``lo`` in ``range(0, n, chunk_size)``, whatever the batches
    it is read in, so a step chunked that way gives the same batched calls from a batched input."""
    chunk_size = max(1, int(chunk_size))
    buf: list[pa.Table] = []
    held = 0
    for t in input_tables(value, columns):
        while t.num_rows:
            take = min(chunk_size - held, t.num_rows)
            buf.append(t.slice(0, take))
            held += take
            t = t.slice(take)
            if held == chunk_size:
                yield pa.concat_tables(buf) if len(buf) > 1 else buf[0]
                buf, held = [], 0
    if held:
        yield pa.concat_tables(buf) if len(buf) > 1 else buf[0]


class RowsById:
    """The rows of an asset input (see ``input_tables``) with the given ids, found in one forward pass when the ids
    are asked for in (about) the input's order, as a consumer chunked over a table derived from this input in order
    asks for them: the pass keeps its place (the current batch) between calls, so each call reads only the batches
    it needs. Ids not found ahead of that place are looked up by a full pass from the start (``rescans`` counts
    them), so any order is answered, only more slowly. Holds one batch of ``columns`` (which must hold ``key``)."""

    def __init__(self, value: object, columns: list[str] | None = None, key: str = RECORD_ID) -> None:
        if columns is not None and key not in columns:
            columns = [key, *columns]
        self.value, self.columns, self.key = value, columns, key
        self._batches: Iterator[pa.Table] = input_tables(value, columns)
        self._current: pa.Table | None = None
        self.rescans = 0

    def take(self, ids: Iterable[str]) -> pa.Table:
        """The input's rows whose ``key`` is in ``ids`` (each once, in input order within each pass); ids absent
        from the input are simply not returned."""
        want = set(ids)
        found: list[pa.Table] = []
        want = self._scan(want, found, forward=True)
        if want:  # behind the current place (or absent): one pass from the start
            self.rescans += 1
            want = self._scan(want, found, forward=False)
        if found:
            return pa.concat_tables(found) if len(found) > 1 else found[0]
        return self._empty()

    def _scan(self, want: set, found: list[pa.Table], forward: bool) -> set:
        if not want:
            return want
        source = self._forward() if forward else input_tables(self.value, self.columns)
        for t in source:
            hit = t.filter(pc.is_in(t.column(self.key), value_set=pa.array(list(want), t.schema.field(self.key).type)))
            if hit.num_rows:
                found.append(copy_table(hit))
                want = want - set(hit.column(self.key).to_pylist())
            if not want:  # stop here: the next call starts from this batch
                break
        return want

    def _forward(self) -> Iterator[pa.Table]:
        """The current batch again (later ids may be in it), then the batches after it."""
        if self._current is not None:
            yield self._current
        for t in self._batches:
            self._current = t
            yield t

    def _empty(self) -> pa.Table:
        first = next(iter(self.value.values())) if isinstance(self.value, Mapping) and self.value else self.value
        schema: pa.Schema = getattr(first, "schema")  # noqa: B009 - pa.Table, CommittedBatches or StagedParquet
        return pa.schema([schema.field(c) for c in self.columns] if self.columns else schema).empty_table()


@dataclass(frozen=True)
class StagedParquet:
    """An asset output left on local disk as chunk files (Arrow IPC ``.arrow`` or Parquet), handed to the IO manager
    instead of one ``pyarrow.Table``: the IO manager streams it batch by batch into the partition's staged data
    file, its data version and its lineage rows (``resources/lake_io.py``), so the step never holds the whole
    table. ``cleanup``: a folder removed once the output is published (the chunks stay after a failed write, so a
    re-run can resume from them). ``row_filter`` applies to every batch (the IO manager's retraction filter)."""

    paths: tuple[str, ...]
    schema: pa.Schema
    cleanup: str | None = None
    row_filter: Callable[[pa.Table], pa.Table] | None = field(default=None, compare=False)

    def tables(self, columns: list[str] | None = None) -> Iterator[pa.Table]:
        """The rows in order, one small table per stored batch / row group (filtered by ``row_filter``). Each
        chunk file is opened, read and closed in turn: only the batch being read is in memory."""
        for path in self.paths:
            if str(path).endswith(".parquet"):
                pf = pq.ParquetFile(path)
                batches: Iterator[pa.RecordBatch] = pf.iter_batches(columns=columns)
                for b in batches:
                    yield from self._filtered(pa.Table.from_batches([b]))
                pf.close()
                continue
            with pa.OSFile(str(path), "rb") as src:
                reader = pa.ipc.open_file(src)
                for i in range(reader.num_record_batches):
                    b = reader.get_batch(i)
                    yield from self._filtered(pa.Table.from_batches([b.select(columns) if columns else b]))

    def _filtered(self, t: pa.Table) -> Iterator[pa.Table]:
        want = self.select(t.column_names)
        t = t if t.schema == want else t.cast(want)
        if self.row_filter is not None:
            t = self.row_filter(t)
        if t.num_rows:
            yield t

    def select(self, columns: list[str]) -> pa.Schema:
        """The schema of ``columns`` (in that order)."""
        return pa.schema([self.schema.field(c) for c in columns])

    @property
    def num_rows(self) -> int:
        return sum(t.num_rows for t in self.tables([self.schema.names[0]])) if self.schema.names else 0

    def head(self, n: int) -> pa.Table:
        out, rows = [], 0
        for t in self.tables():
            out.append(copy_table(t.slice(0, n - rows)))
            rows += out[-1].num_rows
            if rows >= n:
                break
        return pa.concat_tables(out) if out else self.schema.empty_table()

    def data_version(self) -> str:
        """``table_data_version`` of the whole table, computed batch by batch (only the ids are held)."""
        version = DataVersionBuilder(self.schema.names)
        for t in self.tables([RECORD_ID]):
            version.update(t)
        return version.hexdigest()

    def read_all(self) -> pa.Table:
        """The whole table in memory (tests and small outputs only)."""
        parts = [copy_table(t) for t in self.tables()]
        return pa.concat_tables(parts) if parts else self.schema.empty_table()


# QuarantineRecord's fields as Arrow: the quarantine of a staged chunk, kept on disk next to its rows
QUARANTINE_RECORD_SCHEMA = pa.schema(
    [(SOURCE_URI, pa.string()), (SOURCE_LOCATOR, pa.string()), ("reason", pa.string()), ("raw", pa.string())]
)


def _records_table(records: list[QuarantineRecord]) -> pa.Table:
    cols = list(zip(*[(r.source_uri, r.source_locator, r.reason, r.raw) for r in records])) or [()] * 4
    return pa.table([pa.array(c, pa.string()) for c in cols], schema=QUARANTINE_RECORD_SCHEMA)


def _table_records(table: pa.Table) -> list[QuarantineRecord]:
    return [QuarantineRecord(*r.values()) for r in table.select(QUARANTINE_RECORD_SCHEMA.names).to_pylist()]


def chunk_fingerprint(inputs: Iterable[object], llms: Iterable[Any] = (), *parts: str) -> str:
    """What the finished chunks of a resumable step depend on (the one fingerprint of ``ChunkStage`` keys and the
    traces' ``ChunkSpill``): every model's id and revision (``llms``: the step's LLM, or each judge of a panel), the
    step's ``parts`` (its config as JSON, prompt hashes or code version, the chunk size), then the record ids of
    every input in order, read batch by batch (``input_tables``: tables or batched inputs, never held whole). A
    changed input, model, config, prompt or chunk size gives another key, so nothing stale is resumed."""
    h = hashlib.sha256()
    heads = [p for llm in llms for p in (llm.model_id, llm.model_revision)]
    for part in (*heads, *parts):
        h.update(str(part).encode() + b"\0")
    for i, value in enumerate(inputs):
        if i:
            h.update(b"\1")  # between inputs (a single input hashes as before)
        for ids in input_tables(value, [RECORD_ID]):
            for rid in ids.column(RECORD_ID).to_pylist():
                h.update(str(rid).encode() + b"\0")
    return h.hexdigest()[:16]


class ChunkStage:
    """A step's output built chunk by chunk on local disk: ``add`` writes one chunk's rows and quarantine as Arrow
    IPC files (``chunk-NNNNNN.{rows,quarantine}.arrow``) and drops them from memory, then the chunk's statistics
    (``chunk-NNNNNN.json``, written last by an atomic rename: the marker of a finished chunk); ``staged()`` hands
    the rows to the IO manager as one ``StagedParquet`` (which removes ``root`` once published) and
    ``quarantine_tables()`` streams the quarantine, in chunk order, for ``Lake.write_quarantine``.

    Without ``key`` the folder is emptied when a stage starts (nothing resumed). With ``key`` (``chunk_fingerprint``
    of what the chunks depend on) the chunks live in ``root/<key>/``: the finished chunks of the same key, left by
    a run that crashed, are kept (other keys' folders are removed), and the step asks ``resume()`` before computing
    each chunk: the saved statistics of a finished chunk (the step skips its LLM work) or None (compute and
    ``add`` it). ``chunks_resumed`` counts the resumed ones."""

    def __init__(self, root: str | os.PathLike, schema: pa.Schema, key: str | None = None) -> None:
        import shutil

        self.root, self.schema, self.key = str(root), schema, key
        self.n = self.chunks_resumed = 0
        if key is None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.dir = self.root
        else:
            self.dir = os.path.join(self.root, key)
            if os.path.isdir(self.root):
                for other in os.scandir(self.root):
                    if other.name == key:
                        continue
                    if other.is_dir(follow_symlinks=False):
                        shutil.rmtree(other.path, ignore_errors=True)
                    else:
                        os.remove(other.path)
        os.makedirs(self.dir, exist_ok=True)

    def _path(self, k: int, kind: str) -> str:
        return os.path.join(self.dir, f"chunk-{k:06d}.{kind}")

    def done(self, k: int) -> dict | None:
        """The saved statistics of chunk ``k`` when it finished in an earlier run of this key, else None."""
        marker = self._path(k, "json")
        if self.key is None or not os.path.exists(marker):
            return None
        if not all(os.path.exists(self._path(k, f"{kind}.arrow")) for kind in ("rows", "quarantine")):
            return None
        with open(marker, encoding="utf-8") as fh:
            return json.load(fh)

    def resume(self) -> dict | None:
        """The next chunk's saved statistics when it finished in an earlier run (it is taken as it is: counted in
        ``chunks_resumed``, its files part of the output), else None (compute it and ``add`` it)."""
        stats = self.done(self.n)
        if stats is not None:
            self.n += 1
            self.chunks_resumed += 1
        return stats

    def rows(self, k: int) -> pa.Table:
        """Chunk ``k``'s rows, memory-mapped (e.g. to rebuild a resumed chunk's statistics from its rows)."""
        return pa.ipc.open_file(pa.memory_map(self._path(k, "rows.arrow"), "r")).read_all()

    def add(self, table: pa.Table, quarantine: Iterable[QuarantineRecord] = (), stats: dict | None = None) -> None:
        """Write the next chunk: rows, quarantine, then ``stats`` (JSON) as the marker that the chunk is complete."""
        bad = _records_table(list(quarantine))
        for t, schema, kind in ((table, self.schema, "rows"), (bad, QUARANTINE_RECORD_SCHEMA, "quarantine")):
            path = self._path(self.n, f"{kind}.arrow")
            with pa.OSFile(path + ".tmp", "wb") as sink, pa.ipc.new_file(sink, schema) as w:
                w.write_table(t.cast(schema), max_chunksize=512)
            os.replace(path + ".tmp", path)
        marker = self._path(self.n, "json")
        with open(marker + ".tmp", "w", encoding="utf-8") as fh:
            json.dump(stats or {}, fh)  # key order kept: merged counts read as the uninterrupted run
        os.replace(marker + ".tmp", marker)
        self.n += 1

    def staged(self) -> StagedParquet:
        """The rows of every chunk (resumed and new) in chunk order; the IO manager removes ``root`` once published."""
        paths = tuple(self._path(k, "rows.arrow") for k in range(self.n))
        return StagedParquet(paths, self.schema, cleanup=self.root)

    def quarantine_tables(self) -> Iterator[pa.Table]:
        """The quarantine of every chunk in order, as Arrow (``Lake.write_quarantine`` takes these as they are)."""
        yield from StagedParquet(
            tuple(self._path(k, "quarantine.arrow") for k in range(self.n)), QUARANTINE_RECORD_SCHEMA
        ).tables()

    def quarantine_records(self) -> Iterator[QuarantineRecord]:
        for t in self.quarantine_tables():
            yield from _table_records(t)


class Lake:
    """Plain lake accessor; tests and assets call it directly."""

    def __init__(self, root: str | None = None):
        self.root = (root or default_lake_root()).rstrip("/")
        self.fs, self._base = url_to_fs(self.root)  # remote: no listings cache (other processes write too)
        protocols = (self.fs.protocol,) if isinstance(self.fs.protocol, str) else tuple(self.fs.protocol)
        self.is_local = "file" in protocols or "local" in protocols

    # ---------------------------------------------------------------- paths
    def join(self, *parts: str) -> str:
        return "/".join([self._base.rstrip("/"), *[p.strip("/") for p in parts]])

    def url(self, path: str) -> str:
        """A user-facing address for an internal path (the fsspec URL for remote lakes)."""
        return path if self.is_local else self.fs.unstrip_protocol(path)

    def partition_dir(self, asset: str, partition: str | None) -> str:
        return self.join(asset, safe_partition(partition))

    def data_path(self, asset: str, partition: str | None, name: str = DATA_FILE) -> str:
        return self.join(asset, safe_partition(partition), name)

    @property
    def lineage_root(self) -> str:
        """The lineage root as a URL fsspec understands (a local path for a local lake)."""
        return self.url(self.join(LINEAGE_DIR))

    # --------------------------------------------------------------- writes
    def write_table(self, table: pa.Table, path: str) -> str:
        """Atomically write ``table`` as Parquet at ``path`` (temp name + rename). An ``OSError`` (disk full,
        read-only file system, ...) is raised naming ``path``; the temp file is removed, ``path`` untouched."""
        return self._write_atomic(path, lambda fh: pq.write_table(table, fh, compression="zstd"))

    def write_batches(
        self, tables: Iterable[pa.Table], schema: pa.Schema, path: str, row_group_rows: int = ROW_GROUP_ROWS
    ) -> tuple[str, int]:
        """``write_table`` of a table that arrives in pieces: streamed into one Parquet file (zstd) with row groups
        of ``row_group_rows`` rows; only one row group is held at a time. Returns (path, rows written)."""
        rows = 0

        def write(fh) -> None:
            nonlocal rows
            pending: list[pa.Table] = []
            held = 0
            with pq.ParquetWriter(fh, schema, compression="zstd") as w:
                for t in tables:
                    pending.append(t)
                    held += t.num_rows
                    if held >= row_group_rows:
                        w.write_table(
                            pa.concat_tables(pending).replace_schema_metadata(schema.metadata),
                            row_group_size=row_group_rows,
                        )
                        rows, pending, held = rows + held, [], 0
                if pending:
                    w.write_table(
                        pa.concat_tables(pending).replace_schema_metadata(schema.metadata),
                        row_group_size=row_group_rows,
                    )
                    rows += held

        return self._write_atomic(path, write), rows

    def _write_atomic(self, path: str, write: Callable) -> str:
        parent, name = path.rsplit("/", 1)
        tmp = f"{parent}/{temp_name(name)}"  # hidden, never matches *.parquet
        try:
            self.fs.makedirs(parent, exist_ok=True)
            self.remove_leftovers(path)
            with self.fs.open(tmp, "wb") as fh:
                write(fh)
            if self.is_local:
                os.replace(tmp, path)  # atomic on POSIX
            else:
                self.fs.mv(tmp, path)
        except BaseException as exc:
            try:
                if self.fs.exists(tmp):
                    self.fs.rm(tmp)
            except Exception:  # noqa: BLE001 - the write's own error is the one to report
                pass
            err = write_error(exc, self.url(path))
            if err is exc:
                raise
            raise err from exc
        return path

    def remove_leftovers(self, path: str) -> list[str]:
        """Remove the temporaries that interrupted writes of ``path`` left in its folder (a crash between the
        temp write and the rename); returns their paths. Called by every write of ``path``, so the next write
        of a partition cleans up after a killed one."""
        parent, name = path.rsplit("/", 1)
        try:
            entries = self.fs.ls(parent, detail=False)
        except FileNotFoundError:
            return []
        stale = [e for e in entries if is_temp_of(e.rstrip("/").rsplit("/", 1)[-1], name)]
        for entry in stale:
            try:
                self.fs.rm(entry)
            except FileNotFoundError:  # removed by another writer meanwhile
                pass
        return stale

    def write_asset(self, asset: str, partition: str | None, table: pa.Table) -> str:
        return self.write_table(table, self.data_path(asset, partition))

    def write_quarantine(
        self, asset: str, partition: str | None, rows: Iterable[QuarantineRecord | pa.Table]
    ) -> tuple[str | None, int]:
        """Write rejected input next to the lake (replacing that partition's file); returns (address, count),
        the address a user-facing one (``Lake.url``: the path of a local lake, ``s3://...`` for a remote one).
        ``rows`` may mix records and Arrow tables with ``QUARANTINE_RECORD_SCHEMA``'s columns (a staged step's
        chunk files: written without turning their strings into Python objects)."""
        import logging

        from resources.retraction import (  # a retracted file's bad lines stay out
            RetractionRegistry,
            drop_retracted_quarantine,
        )

        path = self.join(QUARANTINE_DIR, asset, safe_partition(partition), "quarantine.parquet")
        now = datetime.now(UTC)
        retracted = 0

        def record_tables() -> Iterator[pa.Table]:  # QUARANTINE_RECORD_SCHEMA tables, QUARANTINE_CHUNK rows at most
            pending: list[QuarantineRecord] = []
            for item in rows:
                if isinstance(item, pa.Table):  # Arrow already (a staged step's chunk files): no Python strings
                    if pending:
                        yield _records_table(pending)
                        pending = []
                    yield item.select(QUARANTINE_RECORD_SCHEMA.names).cast(QUARANTINE_RECORD_SCHEMA)
                    continue
                pending.append(item)
                if len(pending) >= QUARANTINE_CHUNK:
                    yield _records_table(pending)
                    pending = []
            if pending:
                yield _records_table(pending)

        def tables() -> Iterator[pa.Table]:  # any iterable, never all in memory
            nonlocal retracted
            for t in record_tables():
                if RetractionRegistry(self).sources():  # rare: the record rule, on this chunk's records
                    records, dropped = drop_retracted_quarantine(self, _table_records(t))
                    retracted += dropped
                    t = _records_table(records)
                if t.num_rows:
                    n = t.num_rows
                    yield pa.table(
                        [
                            *t.columns,
                            pa.array([asset] * n, pa.string()),
                            pa.array([partition or UNPARTITIONED] * n, pa.string()),
                            pa.array([now] * n, QUARANTINE_SCHEMA.field("quarantined_at").type),
                        ],
                        schema=QUARANTINE_SCHEMA,
                    )

        def warn_retracted() -> None:
            if retracted:
                logging.getLogger(__name__).warning(
                    "%s [%s]: %d quarantine records of retracted sources left out", asset, partition, retracted
                )

        batches = tables()
        first = next(batches, None)
        if (
            first is None
        ):  # nothing to set aside: write nothing (a read-only or full disk is not touched), drop a stale file
            warn_retracted()
            if self.fs.exists(path):
                self.fs.rm(path)
            return None, 0
        written, n = self.write_batches(
            chain([first], batches), QUARANTINE_SCHEMA, path, row_group_rows=QUARANTINE_CHUNK
        )
        warn_retracted()
        return self.url(written), n

    # ---------------------------------------------------------------- reads
    def exists(self, asset: str, partition: str | None) -> bool:
        return self.fs.exists(self.data_path(asset, partition))

    def read_table(self, asset: str, partition: str | None = None) -> pa.Table:
        path = self.data_path(asset, partition)
        if not self.fs.exists(path):
            raise FileNotFoundError(f"no data for asset {asset!r} partition {partition!r} at {self.url(path)}")
        with self.fs.open(path, "rb") as fh:
            return pq.read_table(fh)

    def read_partitions(
        self,
        asset: str,
        partitions: Iterable[str | None],
        row_filter: Callable[[pa.Table], pa.Table] | None = None,
        read: Callable[[str, str | None], pa.Table] | None = None,
    ) -> pa.Table:
        """The partitions' tables concatenated in order; which rows came from which partition is kept in the
        schema metadata (``PARTITION_ROWS_METADATA``; ``split_partitions`` undoes the concatenation).
        ``row_filter`` is applied to each partition's table before concatenation; ``read(asset, partition)``
        replaces ``read_table`` (the IO manager reads committed data only: resources/lineage/commit.py)."""
        partitions = list(partitions)
        tables = [(read or self.read_table)(asset, p) for p in partitions]
        if row_filter is not None:
            tables = [row_filter(t) for t in tables]
        if not tables:
            raise ValueError(f"no partitions requested for asset {asset!r}")
        table = pa.concat_tables(tables, promote_options="default")
        counts = json.dumps([[p or UNPARTITIONED, t.num_rows] for p, t in zip(partitions, tables)])
        return table.replace_schema_metadata({**(table.schema.metadata or {}), PARTITION_ROWS_METADATA: counts})

    def read_quarantine(self, asset: str, partition: str | None = None) -> pa.Table:
        path = self.join(QUARANTINE_DIR, asset, safe_partition(partition), "quarantine.parquet")
        if not self.fs.exists(path):
            return QUARANTINE_SCHEMA.empty_table()
        with self.fs.open(path, "rb") as fh:
            return pq.read_table(fh)

    def quarantine_metadata(self, asset: str, partition: str | None = None) -> dict:
        """``quarantine_path`` and ``quarantined`` of the partition's quarantine file (row count from the
        Parquet footer); ``{}`` when it has none. The IO manager adds them to every materialization."""
        path = self.join(QUARANTINE_DIR, asset, safe_partition(partition), "quarantine.parquet")
        if not self.fs.exists(path):
            return {}
        with self.fs.open(path, "rb") as fh:
            n = pq.ParquetFile(fh).metadata.num_rows
        return {"quarantine_path": dg.MetadataValue.path(self.url(path)), "quarantined": dg.MetadataValue.int(n)}


def split_partitions(table: pa.Table) -> dict[str, pa.Table]:
    """``{partition: rows}`` of a table from ``Lake.read_partitions`` (raises if it carries no partition rows)."""
    raw = (table.schema.metadata or {}).get(PARTITION_ROWS_METADATA)
    if raw is None:
        raise ValueError("table carries no partition row counts (not read with Lake.read_partitions)")
    plain, out, start = without_partition_rows(table), {}, 0
    for partition, rows in json.loads(raw):
        out[partition] = plain.slice(start, rows)
        start += rows
    if start != table.num_rows:
        raise ValueError(f"partition row counts add up to {start}, the table has {table.num_rows} rows")
    return out


def without_partition_rows(table: pa.Table) -> pa.Table:
    """``table`` without the ``PARTITION_ROWS_METADATA`` key (stale once rows are written elsewhere)."""
    meta = table.schema.metadata or {}
    if PARTITION_ROWS_METADATA not in meta:
        return table
    return table.replace_schema_metadata({k: v for k, v in meta.items() if k != PARTITION_ROWS_METADATA} or None)


class LakeResource(dg.ConfigurableResource):
    """Lake root setting for assets that write side files (quarantine, shards, checkpoints)."""

    root: str = ""

    def lake(self) -> Lake:
        return Lake(self.root or None)
