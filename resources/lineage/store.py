"""DuckDB index over the lineage Parquet files: ``sync``, ``trace``, ``impact``.

Design
------
* Writers (:class:`~resources.lineage.writer.LineageWriter`) never open DuckDB. :meth:`LineageStore.sync`
  is the only DuckDB writer: it runs under ``filelock.FileLock(db_path + ".lock")`` and ingests every
  *committed* file not yet ingested. A data file ``<table>/<asset>/<partition>/<dv>-<run>.parquet`` is
  committed when ``materializations/<asset>/<partition>/<dv>-<run>.parquet`` exists (the writer writes it
  last); files of a materialization without its commit file are never ingested, so they are invisible.
  Commit files are listed before data files are looked up, and every ingested commit path is recorded in
  ``ingested_files`` in the same transaction as its rows, so ``sync`` is idempotent and crash-safe.
  ``checkpoint_inputs`` files are their own commit. Both file layouts are read: one ``record_lineage``
  file per materialization, and the ``records`` / ``edges`` / ``sources`` / ``generations`` files of
  earlier writers.
* The DuckDB file is a derived index; the Parquet files are the source of truth. ``sync`` checks
  ``lineage_meta.schema_version`` (:data:`~resources.lineage.index.SCHEMA_VERSION`) under the lock: a file
  of another version, one with tables but no version (older than versioning), or one DuckDB cannot open
  or read is deleted and rebuilt from every committed file (logged as a warning). Readers that open such
  a file call ``sync`` first, so a query never runs against a stale layout.
* Index tables, keys and views: see :mod:`~resources.lineage.index`; queries: :mod:`~resources.lineage.query.queries`.
  ``v_*`` views over the raw Parquet files (committed rows only): ``v_materializations``, ``v_records``,
  ``v_edges``, ``v_sources``, ``v_generations`` (both layouts), ``v_record_lineage`` (the record_lineage
  files with asset / partition / data_version / run_id), ``v_checkpoint_inputs``. For a remote root the
  connection needs the fsspec filesystem registered; :meth:`LineageStore.connect` does that.
* Readers open the DuckDB file read-only. DuckDB lets either one read-write process or any number of
  read-only processes hold the file, so both sides retry on a lock conflict; a query that finds new
  commits syncs first, or skips syncing when another process holds the sync lock (that process is
  ingesting them) and then waits for it to finish. A store keeps its read-only connection for
  ``keep_open`` seconds (default 1) between calls, since opening the file and warming its indexes costs
  more than a ``trace``; it lets go at once when another process holds the sync lock, and
  :meth:`LineageStore.close` (or ``with LineageStore(...) as store``) closes it.

Example::

    store = LineageStore.from_env()          # $CITRUS_LAKE / $CITRUS_LINEAGE_DB, see settings.py
    print(format_trace(store.trace("sft-0123456789abcdef0123")))
    print(json.dumps(store.impact("source", "train.jsonl"), indent=2))
    con = store.connect()                    # ad-hoc SQL: index tables and v_* views
    con.sql("SELECT asset, count(*) FROM v_records GROUP BY ALL").show()
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
import weakref
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import duckdb
from filelock import FileLock, Timeout

from resources.lineage import index
from resources.lineage import schema as S
from resources.lineage.index import KEY_SQL, SCHEMA_VERSION, id_key
from resources.lineage.query import queries
from resources.lineage.query.formatting import format_impact, format_trace
from resources.lineage.query.listing import LineageFiles
from resources.lineage.query.queries import UnknownRecord
from resources.lineage.settings import default_paths

__all__ = ["LineageStore", "UnknownRecord", "format_trace", "format_impact", "id_key", "KEY_SQL", "SCHEMA_VERSION"]

log = logging.getLogger(__name__)

_LOCK_ERRORS = ("lock", "different configuration", "Conflicting")
_KEPT: weakref.WeakSet[LineageStore] = weakref.WeakSet()


@atexit.register
def _close_kept() -> None:
    """Close kept read-only connections before the interpreter tears DuckDB down."""
    for store in list(_KEPT):
        store.close()


def _is_lock_error(exc: BaseException) -> bool:
    return any(s in str(exc) for s in _LOCK_ERRORS)


class LineageStore:
    """DuckDB lineage index at ``db_path`` over the lineage files under ``root``."""

    def __init__(
        self,
        root: str,
        db_path: str,
        *,
        lock_timeout: float = 600.0,
        keep_open: float = 1.0,
        **storage_options: Any,
    ):
        """``keep_open``: seconds an idle read-only connection is kept for the next query (0: close after
        every call). Opening the file and warming its indexes costs more than a ``trace`` itself; a kept
        connection is dropped at once when another process asks for the sync lock, and after
        ``keep_open`` idle seconds, so it delays another process's sync by at most that long."""
        self.keep_open = keep_open
        self._mutex = threading.RLock()
        self._cached: duckdb.DuckDBPyConnection | None = None
        self._cached_pid = 0
        self._last_used = 0.0
        self._timer: threading.Timer | None = None
        self._known: set[str] | None = None  # ingested commit paths, valid while _cached is open
        self.files = LineageFiles(root, **storage_options)
        self.root = self.files.root
        self.fs = self.files.fs
        self.db_path = os.path.abspath(os.path.expanduser(db_path))
        self.lock_path = self.db_path + ".lock"
        self.lock_timeout = lock_timeout

    @classmethod
    def from_env(cls, lake: str | None = None, db: str | None = None) -> LineageStore:
        paths = default_paths(lake, db)
        return cls(paths.lineage_root, paths.db_path)

    # ================================================================ queries
    def trace(self, record_id: str, *, max_depth: int | None = None, sync: bool = True) -> dict[str, Any]:
        """Every ancestor of ``record_id`` down to the source documents.

        Returns ``{"record_id", "n_nodes", "max_depth", "nodes": [...]}``; each node has ``record_id``,
        ``kind`` (``record`` | ``source`` | ``missing`` = referenced but never committed), ``asset``,
        ``partition``, ``data_version``, ``run_id``, ``depth`` (hops from ``record_id``), ``parents``,
        ``generation`` (model id/revision, prompt template + hash, sampling, token counts; or None),
        ``source`` (uri, locator; or None) and ``appearances`` (every committed (asset, partition,
        data_version) holding the record). Raises :class:`UnknownRecord` for an id without lineage.
        """
        with self._reader(sync) as con:
            return queries.trace(con, record_id, max_depth)

    def impact(
        self, asset: str, partition: str | None = None, *, max_records: int | None = 1000, sync: bool = True
    ) -> dict[str, Any]:
        """Everything derived from an asset (partition), or from a source file.

        ``asset == "source"``: ``partition`` is a source file URI or base name (``None``: every source).
        Returns ``{"target", "n_roots", "n_descendants", "max_depth", "by_partition": [{"asset",
        "partition", "n_records", "data_versions"}], "records": [...] (first ``max_records`` ids, all if
        None), "records_truncated", "checkpoints": [{"checkpoint_asset", "checkpoint_partition",
        "checkpoint_data_version", "inputs": [...]}]}``. Checkpoints are those whose ``checkpoint_inputs``
        name the target or any asset partition (at a data version) holding a derived record, transitively
        through checkpoints trained on checkpoints. Raises :class:`UnknownRecord` for an unknown target.
        """
        with self._reader(sync) as con:
            return queries.impact(con, asset, partition, max_records)

    def impact_record(self, record_id: str, *, max_records: int | None = 1000, sync: bool = True) -> dict[str, Any]:
        """Everything derived from one record (or source unit); same shape as :meth:`impact`."""
        with self._reader(sync) as con:
            return queries.impact_record(con, record_id, max_records)

    def query(self, sql: str, params: list | None = None, *, sync: bool = True) -> list[tuple]:
        """Rows of a read-only SQL query on the index (tables in ``index.py``)."""
        with self._reader(sync) as con:
            return con.execute(sql, params or []).fetchall()

    def stats(self, *, sync: bool = True) -> dict[str, Any]:
        """Counts (``records``/``edges``/...: distinct, by 64-bit key; ``*_rows``: stored rows, once per
        materialization) and the DB size in bytes."""
        with self._reader(sync) as con:
            out = queries.stats(con)
        out["db_bytes"] = os.path.getsize(self.db_path) + (
            os.path.getsize(self.db_path + ".wal") if os.path.exists(self.db_path + ".wal") else 0
        )
        return out

    # ================================================================ connections
    def connect(self, read_only: bool = True, timeout: float | None = None) -> duckdb.DuckDBPyConnection:
        """Open the DuckDB file, retrying while another process holds a conflicting lock."""
        deadline = time.monotonic() + (self.lock_timeout if timeout is None else timeout)
        delay = 0.005
        while True:
            try:
                con = duckdb.connect(self.db_path, read_only=read_only)
                break
            except (duckdb.IOException, duckdb.ConnectionException) as exc:
                if not _is_lock_error(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(delay)
                delay = min(delay * 1.5, 0.2)
        if not self.files.local:
            try:
                con.register_filesystem(self.fs)
            except Exception:  # already registered / protocol clash: views just won't resolve
                pass
        return con

    @contextmanager
    def _reader(self, sync: bool) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-only connection, synced first when the lineage root has new commits."""
        with self._mutex:
            con = self._take_cached()
            if con is None:
                con = self._open_reader()
            try:
                if sync and self._has_new_commits(con):
                    self._discard(con)
                    con = None
                    self.sync(wait=False)  # lock busy -> another process is ingesting; connect() waits for it
                    con = self.connect(read_only=True)
                yield con
            except UnknownRecord:
                if con is not None:  # a normal answer: the connection is fine
                    self._keep(con)
                raise
            except BaseException:
                if con is not None:
                    self._discard(con)
                raise
            else:
                self._keep(con)

    def _open_reader(self) -> duckdb.DuckDBPyConnection:
        """A fresh read-only connection to a current index: one that is stale or unreadable is rebuilt first."""
        if not os.path.exists(self.db_path):
            self.sync()
        try:
            con = self.connect(read_only=True)
        except duckdb.Error as exc:
            if _is_lock_error(exc):
                raise
        else:
            try:
                current = index.stale_reason(con) is None
            except duckdb.Error:
                current = False
            if current:
                return con
            self._discard(con)
        self.sync()  # checks again under the lock (another process may have rebuilt it meanwhile)
        return self.connect(read_only=True)

    def _take_cached(self) -> duckdb.DuckDBPyConnection | None:
        con, self._cached = self._cached, None
        if con is None:
            return None
        if self._cached_pid != os.getpid():  # inherited through fork: not ours to use or close
            self._known = None
            return None
        if self._sync_requested():
            self._discard(con)
            return None
        return con

    def _sync_requested(self) -> bool:
        """True when another process holds the sync lock (it waits for our read-only connection to go)."""
        lock = FileLock(self.lock_path)
        try:
            lock.acquire(timeout=0)
        except Timeout:
            return True
        except OSError:
            return False
        lock.release()
        return False

    def _keep(self, con: duckdb.DuckDBPyConnection) -> None:
        if self.keep_open <= 0:
            self._discard(con)
            return
        self._cached, self._cached_pid, self._last_used = con, os.getpid(), time.monotonic()
        _KEPT.add(self)
        if self._timer is None:
            self._schedule(self.keep_open)

    def _schedule(self, delay: float) -> None:
        self._timer = threading.Timer(delay, self._on_idle)
        self._timer.daemon = True
        self._timer.start()

    def _on_idle(self) -> None:
        with self._mutex:
            self._timer = None
            if self._cached is None:
                return
            idle = time.monotonic() - self._last_used
            if idle >= self.keep_open:
                con, self._cached = self._cached, None
                if self._cached_pid == os.getpid():
                    self._discard(con)
            else:
                self._schedule(self.keep_open - idle)

    def _discard(self, con: duckdb.DuckDBPyConnection) -> None:
        self._known = None
        try:
            con.close()
        except Exception:
            pass

    def close(self) -> None:
        """Close the kept read-only connection (if any)."""
        with self._mutex:
            con, self._cached = self._cached, None
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            if con is not None and self._cached_pid == os.getpid():
                self._discard(con)

    def __enter__(self) -> LineageStore:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _has_new_commits(self, con: duckdb.DuckDBPyConnection) -> bool:
        known = self._known
        if known is None:  # the file cannot change while we hold a read-only connection: cache per connection
            try:
                known = {r[0] for r in con.execute("SELECT path FROM ingested_files").fetchall()}
            except duckdb.CatalogException:
                return True
            self._known = known
        for table, rels in self.files.list_commits().items():
            if any(f"{table}/{r}" not in known for r in rels):
                return True
        return False

    # ================================================================ sync
    def sync(self, *, wait: bool = True) -> int:
        """Ingest every committed, not yet ingested lineage file; returns the number of commits ingested.

        Runs under the file lock ``db_path + ".lock"``. With ``wait=False`` returns 0 at once when another
        process holds the lock. Idempotent; a missing lineage root just yields an empty index. An index
        file of another schema version, or one DuckDB cannot read, is rebuilt from scratch first.
        """
        os.makedirs(os.path.dirname(self.db_path) or ".", exist_ok=True)
        with self._mutex:
            return self._sync(wait)

    def _sync(self, wait: bool) -> int:
        con, self._cached = self._cached, None  # our own read-only connection would block the write
        if con is not None and self._cached_pid == os.getpid():
            self._discard(con)
        self._known = None
        lock = FileLock(self.lock_path)
        try:
            lock.acquire(timeout=self.lock_timeout if wait else 0)
        except Timeout:
            if wait:
                raise
            return 0
        try:
            return self._sync_locked()
        finally:
            lock.release()

    def _open_index(self) -> duckdb.DuckDBPyConnection:
        """The read-write connection of a current index (under the lock); rebuilds a stale or broken file."""
        reason: str | None  # why the file is rebuilt
        try:
            con = self.connect(read_only=False)
        except duckdb.Error as exc:
            if _is_lock_error(exc):
                raise
            reason = f"DuckDB cannot open it ({exc})"
        else:
            try:
                reason = index.stale_reason(con)
                if reason is None:
                    index.create_tables(con)
                    con.execute("SELECT count(*) FROM ingested_files").fetchone()
                    return con
            except duckdb.Error as exc:
                reason = f"DuckDB cannot read it ({exc})"
            con.close()
        log.warning(
            "lineage index %s must be rebuilt: %s; re-ingesting every committed lineage file under %s",
            self.db_path,
            reason,
            self.root,
        )
        for path in (self.db_path, self.db_path + ".wal"):
            try:
                os.remove(path)
            except FileNotFoundError:
                pass
        con = self.connect(read_only=False)
        index.create_tables(con)
        return con

    def _sync_locked(self) -> int:
        commits = self.files.list_commits()  # commit files first: their data files are already complete
        con = self._open_index()
        try:
            known = {r[0] for r in con.execute("SELECT path FROM ingested_files").fetchall()}
            new_mat = sorted(r for r in commits[S.T_MATERIALIZATIONS] if f"{S.T_MATERIALIZATIONS}/{r}" not in known)
            new_ckpt = sorted(r for r in commits[S.T_CHECKPOINT_INPUTS] if f"{S.T_CHECKPOINT_INPUTS}/{r}" not in known)
            if new_mat or new_ckpt:
                self._ingest_commits(con, new_mat, new_ckpt, n_old=len(known))
            else:
                index.ensure_indexes(con)
            index.ensure_views(con, self.files.view_source)
            return len(new_mat) + len(new_ckpt)
        finally:
            con.close()

    def _ingest_commits(
        self, con: duckdb.DuckDBPyConnection, new_mat: list[str], new_ckpt: list[str], n_old: int
    ) -> None:
        """Ingest the given commits and their data files in one transaction."""
        data = {S.T_RECORD_LINEAGE: self.files.data_files(S.T_RECORD_LINEAGE, new_mat)}
        have_rl = set(data[S.T_RECORD_LINEAGE])
        rest = [r for r in new_mat if r not in have_rl]  # written by earlier versions: legacy files
        for table in S.LEGACY_DATA_TABLES:
            data[table] = self.files.data_files(table, rest)
        first_mid = index.one_row(con, "SELECT coalesce(max(mid), 0) + 1 FROM materializations")[0]
        mids = {r: first_mid + i for i, r in enumerate(new_mat)}
        bulk = len(new_mat) + len(new_ckpt) > max(64, n_old // 4)
        con.execute("BEGIN TRANSACTION")
        try:
            if bulk:  # rebuilding an ART index once is much cheaper than maintaining it row by row
                index.drop_indexes(con)
            workers = 4 if self.files.local else 16
            with ThreadPoolExecutor(max_workers=workers) as pool:
                for table, rels in [*data.items(), (S.T_MATERIALIZATIONS, new_mat), (S.T_CHECKPOINT_INPUTS, new_ckpt)]:
                    if rels:
                        index.ingest(
                            con,
                            table,
                            [self.files.file(table, r) for r in rels],
                            None if table == S.T_CHECKPOINT_INPUTS else [mids[r] for r in rels],
                            self.files.read,
                            pool,
                            group=2 * workers,
                        )
            tables_of: dict[str, list[str]] = {r: [] for r in new_mat}
            for table, rels in data.items():
                for r in rels:
                    tables_of[r].append(table)
            index.record_ingested(
                con,
                [(f"{S.T_MATERIALIZATIONS}/{r}", S.T_MATERIALIZATIONS, tables_of[r]) for r in new_mat]
                + [(f"{S.T_CHECKPOINT_INPUTS}/{r}", S.T_CHECKPOINT_INPUTS, []) for r in new_ckpt],
            )
            index.ensure_indexes(con)
            con.execute("COMMIT")
        except BaseException:
            try:
                con.execute("ROLLBACK")
            except Exception:
                pass
            raise
