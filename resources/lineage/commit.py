"""The one commit protocol of an asset partition: its lineage commit is the single point that makes it visible.

Write (:func:`publish_partition`), in this order; each step is a fault point of :mod:`resources.faults`:

1. **clean up** after interrupted writes of the partition (:func:`clean_partition`): a staged file whose commit
   exists is rolled forward first; then staged files without a commit, temporaries, a ``data.parquet`` that no
   commit names, and (for runs no longer live) ``record_lineage`` files without a commit are removed and counted;
2. **stage** the table at the hidden ``<partition>/.data.parquet.<data_version>-<run_id>.staged`` (written under a
   temporary name and renamed; never matches ``*.parquet``), tagged with its commit key in the Parquet key-value
   metadata ``citrus.commit``                                                                  -> ``lake.staged``
3. **lineage rows**: ``record_lineage/<asset>/<partition>/<key>.parquet``                      -> ``lineage.rows``
4. **commit**: the materializations row ``materializations/<asset>/<partition>/<key>.parquet``, written under a
   temporary name (``lineage.commit_tmp``) and renamed: from here the version is committed   -> ``lineage.committed``
5. **publish**: the staged file is renamed to ``data.parquet``                                -> ``lake.published``

A kill before step 4 leaves only hidden files and lineage files no commit names: every reader, a user's
``read_parquet('lake/<asset>/*/*.parquet')`` included, sees the previous committed version (or nothing), and the
lineage store never ingests an uncommitted file. A kill between 4 and 5 leaves a committed version whose data is
still staged: :func:`read_committed` (the IO manager's reader) and the next write roll it forward (publish the
staged file); a plain glob sees the previous committed version until then. A commit whose staged file is gone is
not rolled forward; the data file keeps the version it has, which its own commit names.

Read (:func:`read_committed`): the ``data.parquet`` is accepted only when the commit its tag names exists. A file
without the tag (written outside the IO manager: test fixtures, lakes of earlier versions) is accepted when its
content's data version has a commit, or when no commit of that partition exists at all (data never under
lineage); otherwise it is ignored (:class:`UncommittedDataError`) and removed by the next write.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.parquet as pq

from resources.faults import fault_point
from resources.lineage import schema as S
from resources.lineage.data_version import table_data_version
from resources.lineage.writer import LineageWriter, commit_key, is_temp_of, path_component, write_error

if TYPE_CHECKING:
    from resources.lake import Lake, StagedParquet

log = logging.getLogger(__name__)

DATA_FILE = "data.parquet"  # = resources.lake.DATA_FILE (not imported: resources.lake imports this package)
COMMIT_METADATA = b"citrus.commit"  # Parquet key-value metadata of a data file: the key of the commit naming it
_LINEAGE_TEMP = re.compile(r"\.(?P<key>[^/]+)\.parquet\.[0-9a-f]{32}\.tmp")  # writer.temp_name of a lineage file
_STAGED = re.compile(rf"\.{re.escape(DATA_FILE)}\.(?P<key>[^/]+)\.staged")


class UncommittedDataError(FileNotFoundError):
    """A partition's data file exists but no lineage commit names it: it is not (or no longer) visible."""


def staged_name(key: str) -> str:
    """``.data.parquet.<key>.staged``: hidden, never matches ``*.parquet``."""
    return f".{DATA_FILE}.{key}.staged"


def staged_key(name: str) -> str | None:
    m = _STAGED.fullmatch(name)
    return m.group("key") if m else None


def data_commit_key(table: pa.Table) -> str | None:
    """The commit key a data file's tag names (None for a file written without the protocol)."""
    raw = (table.schema.metadata or {}).get(COMMIT_METADATA)
    return raw.decode() if raw is not None else None


def untagged(table: pa.Table) -> pa.Table:
    """``table`` without the commit tag (a table read from the lake must not carry its file's tag further)."""
    meta = table.schema.metadata or {}
    if COMMIT_METADATA not in meta:
        return table
    return table.replace_schema_metadata({k: v for k, v in meta.items() if k != COMMIT_METADATA} or None)


@dataclass
class CleanupReport:
    """What :func:`clean_partition` found after interrupted writes (paths as the lake's fs names them)."""

    rolled_forward: str | None = None  # the commit key published from its staged file
    removed_staged: list[str] = field(default_factory=list)  # staged or temporary files of data.parquet
    removed_uncommitted_data: str | None = None  # a data.parquet no commit names
    removed_lineage: list[str] = field(default_factory=list)  # record_lineage files without a commit (dead runs)

    @property
    def count(self) -> int:
        return (
            len(self.removed_staged)
            + len(self.removed_lineage)
            + int(bool(self.removed_uncommitted_data))
            + int(bool(self.rolled_forward))
        )


@dataclass(frozen=True)
class PublishResult:
    path: str  # the published data file
    key: str  # its commit key (``<data_version>-<run_id>``)
    cleanup: CleanupReport
    counts: dict | None  # the lineage writer's counts (None without lineage capture)
    lineage_s: float = 0.0  # seconds spent writing the lineage rows and the commit


class PartitionFiles:
    """The files of one asset partition: its data file, staged files and lineage commits."""

    def __init__(self, lake: Lake, writer: LineageWriter | None, asset: str, partition: str | None):
        self.lake, self.writer, self.asset = lake, writer, asset
        self.partition = partition if partition not in (None, "") else S.UNPARTITIONED
        self.dir = lake.partition_dir(asset, partition)
        self.data = lake.data_path(asset, partition)

    def staged(self, key: str) -> str:
        return f"{self.dir}/{staged_name(key)}"

    def entries(self) -> list[str]:
        try:
            return [e.rstrip("/").rsplit("/", 1)[-1] for e in self.lake.fs.ls(self.dir, detail=False)]
        except FileNotFoundError:
            return []

    def committed(self, key: str) -> bool:
        return self.writer is not None and self.writer.fs.exists(
            self.writer.commit_path(self.asset, self.partition, key)
        )

    def commit_keys(self) -> list[str]:
        """Keys of every commit of this partition."""
        if self.writer is None:
            return []
        folder = self.writer.partition_dir(S.T_MATERIALIZATIONS, self.asset, self.partition)
        try:
            names = [e.rstrip("/").rsplit("/", 1)[-1] for e in self.writer.fs.ls(folder, detail=False)]
        except FileNotFoundError:
            return []
        return [n[: -len(".parquet")] for n in names if n.endswith(".parquet") and not n.startswith(".")]

    def created_at(self, key: str) -> float:
        assert self.writer is not None
        with self.writer.fs.open(self.writer.commit_path(self.asset, self.partition, key), "rb") as fh:
            return pq.read_table(fh, columns=["created_at"]).column(0)[0].as_py().timestamp()

    def data_key(self) -> str | None:
        """The commit key tagged on ``data.parquet`` (None: no file, or a file without the tag)."""
        try:
            with self.lake.fs.open(self.data, "rb") as fh:
                meta = pq.read_schema(fh).metadata or {}
        except FileNotFoundError:
            return None
        raw = meta.get(COMMIT_METADATA)
        return raw.decode() if raw is not None else None

    def move(self, src: str, dst: str) -> None:
        if self.lake.is_local:
            os.replace(src, dst)  # atomic on POSIX
        else:
            self.lake.fs.mv(src, dst)

    def remove(self, path: str) -> bool:
        try:
            self.lake.fs.rm(path)
            return True
        except FileNotFoundError:  # removed by another writer meanwhile
            return False

    def data_committed(self) -> bool | None:
        """Whether a commit names ``data.parquet`` (None: there is no data file)."""
        try:
            with self.lake.fs.open(self.data, "rb") as fh:
                meta = pq.read_schema(fh).metadata or {}
                raw = meta.get(COMMIT_METADATA)
                if raw is not None:
                    return self.committed(raw.decode())
                if not self.commit_keys():
                    return True
                fh.seek(0)
                return self.is_committed_table(pq.read_table(fh))
        except FileNotFoundError:
            return None

    def is_committed_table(self, table: pa.Table) -> bool:
        """Whether a commit names this data: by its tag, else by its content's data version."""
        key = data_commit_key(table)
        if key is not None:
            return self.committed(key)
        keys = self.commit_keys()
        if not keys:
            return True  # never under lineage: a file written outside the IO manager
        prefix = f"{path_component(table_data_version(table))}-"
        return any(k.startswith(prefix) for k in keys)


def roll_forward(files: PartitionFiles) -> str | None:
    """Publish the newest staged file whose commit exists when it is newer than what ``data.parquet`` holds (a
    write killed between its commit and its publish); returns its key, or None when nothing was rolled forward."""
    if files.writer is None:
        return None
    candidates = [k for k in (staged_key(n) for n in files.entries()) if k is not None and files.committed(k)]
    if not candidates:
        return None
    newest = max(candidates, key=files.created_at)
    current = files.data_key()
    if current is not None and files.committed(current) and files.created_at(current) >= files.created_at(newest):
        return None
    try:
        files.move(files.staged(newest), files.data)
    except FileNotFoundError:  # another reader or writer published (or removed) it meanwhile
        return None
    log.warning(
        "%s [%s]: data of commit %s rolled forward (its write was interrupted after the commit)",
        files.asset,
        files.partition,
        newest,
    )
    return newest


def clean_partition(
    files: PartitionFiles, run_is_dead: Callable[[str], bool] | None = None, keep: str | None = None
) -> CleanupReport:
    """Repair a partition after interrupted writes; see the module docstring. ``run_is_dead(run_id)``: whether a run
    can no longer commit (its uncommitted ``record_lineage`` files are removed); None leaves those files (the
    store never ingests them). ``keep``: the commit key of the write in progress (its files stay)."""
    report = CleanupReport(rolled_forward=roll_forward(files))
    for name in files.entries():
        key = staged_key(name)
        if key == keep and keep is not None:
            continue
        stale = (
            key is not None
            or is_temp_of(name, DATA_FILE)
            or (name.startswith(f"..{DATA_FILE}.") and name.endswith(".tmp"))
        )  # a temporary of a staged file
        if stale and files.remove(f"{files.dir}/{name}"):
            report.removed_staged.append(f"{files.dir}/{name}")
    if files.data_committed() is False and files.remove(files.data):
        report.removed_uncommitted_data = files.data
    if files.writer is not None and run_is_dead is not None:
        for table in (S.T_RECORD_LINEAGE, S.T_MATERIALIZATIONS):
            report.removed_lineage += _remove_uncommitted_lineage(files, table, run_is_dead, keep)
    if report.count:
        log.warning("%s [%s]: after an interrupted write: %s", files.asset, files.partition, report)
    return report


def _remove_uncommitted_lineage(
    files: PartitionFiles, table: str, run_is_dead: Callable[[str], bool], keep: str | None
) -> list[str]:
    """Lineage files of ``table`` in the partition's folder that no commit names (``record_lineage`` rows of a write
    killed before its commit) and temporaries of interrupted lineage writes, of runs that can no longer commit."""
    assert files.writer is not None
    folder = files.writer.partition_dir(table, files.asset, files.partition)
    try:
        names = [e.rstrip("/").rsplit("/", 1)[-1] for e in files.writer.fs.ls(folder, detail=False)]
    except FileNotFoundError:
        return []
    removed, committed = [], set(files.commit_keys())  # one listing, however long the partition's history
    for name in names:
        m = _LINEAGE_TEMP.fullmatch(name)
        if m:
            key = m.group("key")
        elif name.endswith(".parquet") and not name.startswith(".") and table != S.T_MATERIALIZATIONS:
            key = name[: -len(".parquet")]
            if key in committed:
                continue
        else:
            continue
        run_id = key.split("-", 1)[1] if "-" in key else ""
        if key == keep or not run_is_dead(run_id):
            continue
        path = f"{folder}/{name}"
        try:
            files.writer.fs.rm(path)
            removed.append(path)
        except FileNotFoundError:
            pass
    return removed


def publish_partition(
    lake: Lake,
    writer: LineageWriter | None,
    *,
    asset: str,
    partition: str | None,
    table: pa.Table | StagedParquet,
    run_id: str,
    code_version: str = "",
    data_version: str | None = None,
    run_is_dead: Callable[[str], bool] | None = None,
) -> PublishResult:
    """Write one partition's table through the commit protocol (module docstring). ``writer`` None: no lineage
    capture (the table is published untagged, as data never under lineage). Returns what was written.

    ``table`` may be a ``StagedParquet`` (chunk files on disk; ``data_version`` then required): it is streamed
    batch by batch into the staged data file, and only its lineage columns are kept in memory for the lineage
    rows; the same files, rows and commit as for the concatenated table."""
    from resources.lake import StagedParquet, copy_table

    files = PartitionFiles(lake, writer, asset, partition)
    if isinstance(table, StagedParquet) and data_version is None:
        raise ValueError("a StagedParquet output needs its data_version (DataVersionBuilder)")
    dv = data_version or table_data_version(table)
    key = commit_key(dv, run_id)
    cleanup = clean_partition(files, run_is_dead, keep=key)
    lineage_cols = [c for c in table.schema.names if c in S.SCHEMAS[S.T_RECORD_LINEAGE].names or c == S.PARENT_IDS]
    lineage_parts: list[pa.Table] = []

    def tee(staged: StagedParquet):  # the batches to write; their lineage columns copied aside
        for t in staged.tables():
            lineage_parts.append(copy_table(t.select(lineage_cols)))
            yield t

    if writer is None:
        if isinstance(table, StagedParquet):
            return PublishResult(lake.write_batches(table.tables(), table.schema, files.data)[0], key, cleanup, None)
        return PublishResult(lake.write_table(table, files.data), key, cleanup, None)
    staged = files.staged(key)
    meta = {**(table.schema.metadata or {}), COMMIT_METADATA: key.encode()}
    try:
        if isinstance(table, StagedParquet):
            lake.write_batches(tee(table), table.schema.with_metadata(meta), staged)
        else:
            lake.write_table(table.replace_schema_metadata(meta), staged)
    except OSError as exc:  # name the file the user knows (disk full, read-only lake, ...)
        raise write_error(exc, lake.url(files.data)) from exc
    if isinstance(table, StagedParquet):  # the lineage writer reads only these columns and the row count
        schema = table.select(lineage_cols)
        table = pa.concat_tables(lineage_parts) if lineage_parts else schema.empty_table()
        lineage_parts.clear()
    fault_point("lake.staged", asset=asset)
    t0 = time.perf_counter()
    try:
        counts = writer.write_materialization(
            asset=asset,
            partition=files.partition,
            run_id=run_id,
            data_version=dv,
            code_version=code_version,
            table=table,
            data_path=lake.url(files.data),
        )
    except BaseException:
        files.remove(staged)  # not committed: nothing of this write may become visible
        raise
    lineage_s = time.perf_counter() - t0
    try:
        files.move(staged, files.data)
    except FileNotFoundError:
        if files.data_key() != key:  # not published by a reader's roll-forward either
            raise
    fault_point("lake.published", asset=asset)
    return PublishResult(files.data, key, cleanup, counts, lineage_s)


def read_committed(lake: Lake, asset: str, partition: str | None, writer: LineageWriter | None = None) -> pa.Table:
    """The committed data of one partition (module docstring), its tag removed. Raises ``FileNotFoundError`` when
    there is none (``UncommittedDataError`` when a data file exists that no commit names)."""
    writer = writer if writer is not None else LineageWriter(lake.lineage_root)
    files = PartitionFiles(lake, writer, asset, partition)
    roll_forward(files)
    try:
        with lake.fs.open(files.data, "rb") as fh:
            table = pq.read_table(fh)
    except FileNotFoundError:
        raise FileNotFoundError(
            f"no data for asset {asset!r} partition {partition!r} at {lake.url(files.data)}"
        ) from None
    if not files.is_committed_table(table):
        raise UncommittedDataError(
            f"data file {lake.url(files.data)} of asset {asset!r} partition {partition!r} has no lineage commit "
            f"(a write interrupted before its commit): ignored; the next write of the partition removes it"
        )
    return untagged(table)


@dataclass(frozen=True)
class CommittedBatches:
    """One partition's committed data read in record batches (:func:`committed_batches`): a consumer that reads it
    batch by batch (a streamed asset check, ``quality/batched.py``) never holds the table. ``tables(columns)``
    yields the rows in order, ``batch_rows`` at a time, filtered by ``row_filter`` (the IO manager's retraction
    filter, given the id and source columns it needs). Each call re-opens the file and refuses a file another
    commit has replaced meanwhile, so every pass reads the same version."""

    lake: Lake
    path: str
    key: str | None
    schema: pa.Schema
    batch_rows: int = 10_000
    row_filter: Callable[[pa.Table], pa.Table] | None = field(default=None, compare=False)

    def tables(self, columns: list[str] | None = None) -> Iterator[pa.Table]:
        names = self.schema.names
        filter_cols = [c for c in (S.RECORD_ID, S.SOURCE_URI) if self.row_filter is not None and c in names]
        read = None if columns is None else [c for c in names if c in {*columns, *filter_cols}]
        with self.lake.fs.open(self.path, "rb") as fh:
            pf = pq.ParquetFile(fh)
            raw = (pf.schema_arrow.metadata or {}).get(COMMIT_METADATA)
            if (raw.decode() if raw is not None else None) != self.key:
                raise UncommittedDataError(f"{self.lake.url(self.path)} was replaced while it was being read")
            for batch in pf.iter_batches(batch_size=self.batch_rows, columns=read):
                t = pa.Table.from_batches([batch]).replace_schema_metadata(None)
                if self.row_filter is not None:
                    t = self.row_filter(t)
                if columns is not None:
                    t = t.select(columns)
                if t.num_rows:
                    yield t

    def read_all(self) -> pa.Table:
        """The whole table (tests and small inputs): ``read_committed``'s rows, filtered."""
        parts = list(self.tables())
        return pa.concat_tables(parts) if parts else self.schema.empty_table()


def committed_batches(
    lake: Lake,
    asset: str,
    partition: str | None,
    writer: LineageWriter | None = None,
    *,
    row_filter: Callable[[pa.Table], pa.Table] | None = None,
    batch_rows: int = 10_000,
) -> CommittedBatches:
    """:func:`read_committed` without reading the table: the same roll-forward and commit test (a file without the
    tag is tested by its data version, computed from its ids batch by batch), then a :class:`CommittedBatches`."""
    from resources.lineage.data_version import DataVersionBuilder

    writer = writer if writer is not None else LineageWriter(lake.lineage_root)
    files = PartitionFiles(lake, writer, asset, partition)
    roll_forward(files)
    try:
        with lake.fs.open(files.data, "rb") as fh:
            pf = pq.ParquetFile(fh)
            schema = pf.schema_arrow
            raw = (schema.metadata or {}).get(COMMIT_METADATA)
            key = raw.decode() if raw is not None else None
            if key is not None:
                committed = files.committed(key)
            elif not (keys := files.commit_keys()):
                committed = True  # never under lineage: a file written outside the IO manager
            else:
                version = DataVersionBuilder(schema.names)
                for batch in pf.iter_batches(batch_size=batch_rows, columns=[S.RECORD_ID]):
                    version.update(batch)
                committed = any(k.startswith(f"{path_component(version.hexdigest())}-") for k in keys)
    except FileNotFoundError:
        raise FileNotFoundError(
            f"no data for asset {asset!r} partition {partition!r} at {lake.url(files.data)}"
        ) from None
    if not committed:
        raise UncommittedDataError(
            f"data file {lake.url(files.data)} of asset {asset!r} partition {partition!r} has no lineage commit "
            f"(a write interrupted before its commit): ignored; the next write of the partition removes it"
        )
    meta = {k: v for k, v in (schema.metadata or {}).items() if k != COMMIT_METADATA} or None
    schema = schema.with_metadata(meta) if meta else schema.remove_metadata()
    return CommittedBatches(lake, files.data, key, schema, batch_rows, row_filter)
