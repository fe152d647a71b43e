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
  ``checkpoint_inputs`` files are their own commit.
* Index tables (ad-hoc SQL welcome): ``materializations`` (the commit rows plus an integer ``mid``),
  ``records (rk, record_id, mid)``, ``edges (ck, pk, child_id, parent_id, mid)``, ``generations (rk,
  record_id, mid, model_id, ...)``, ``sources (sk, source_id, uri, uri_name, locator, mid)``,
  ``checkpoint_inputs``, ``ingested_files``, ``lineage_meta``; join ``materializations USING (mid)`` for
  asset / partition / data_version / run_id. Every id has a 64-bit key (``rk``/``ck``/``pk``/``sk`` =
  first 8 bytes of md5(id), see :func:`id_key`); ART indexes on ``records.rk``, ``edges.ck``,
  ``generations.rk``, ``sources.sk`` make ``trace`` a handful of index lookups, and ``impact`` walks
  children with integer semi-joins over ``edges.pk`` (one scan of an 8-byte column per level, no string
  hashing). Results are read back as the string ids; a 64-bit key collision (p~1e-6 at 10M ids) could
  only add records to an ``impact`` answer, never drop one, and ``trace`` re-checks every hop on the
  string ids. Rows are kept once per materialization (re-runs repeat them); queries de-duplicate.
* Views over the raw Parquet files, created by ``sync`` once a table has files (``read_parquet`` with
  ``union_by_name=true, hive_partitioning=false``; committed rows only for the per-materialization
  tables): ``v_materializations``, ``v_records``, ``v_edges``, ``v_sources``, ``v_generations``,
  ``v_checkpoint_inputs``. For a remote root the connection needs the fsspec filesystem registered
  (``con.register_filesystem(fs)``); :meth:`LineageStore.connect` does that.
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
import hashlib
import json
import os
import threading
import time
import uuid
import weakref
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, Iterable, Iterator

import duckdb
import fsspec
import numpy as np
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
from filelock import FileLock, Timeout

from . import schema as S
from .settings import default_paths, is_local, local_path
from .writer import path_component

__all__ = ["LineageStore", "UnknownRecord", "format_trace", "format_impact", "id_key"]


class UnknownRecord(KeyError):
    """No committed lineage for this record id (or asset/partition, or source file)."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else "unknown record"


def id_key(record_id: str) -> int:
    """64-bit key of an id: the first 8 bytes of its md5 digest, little-endian (= :func:`KEY_SQL` in DuckDB)."""
    return int.from_bytes(hashlib.md5(record_id.encode("utf-8")).digest()[:8], "little")


def KEY_SQL(col: str) -> str:  # noqa: N802 - reads like a constant template
    """DuckDB expression of :func:`id_key` (md5 is stable across DuckDB versions, ``hash()`` is not)."""
    return f"(md5_number({col}) & 18446744073709551615)::UBIGINT"


_SQL_BASENAME = "list_last(string_split(rtrim(replace(uri, '\\', '/'), '/'), '/'))"

# Index tables. Rows of a materialization point to it by ``mid`` (its row in ``materializations``), so
# the per-row asset / partition / data_version / run_id strings of the Parquet files are not stored again.
_DDL = [
    "CREATE TABLE IF NOT EXISTS lineage_meta (key VARCHAR PRIMARY KEY, value VARCHAR)",
    "CREATE TABLE IF NOT EXISTS ingested_files (path VARCHAR, tbl VARCHAR, n_data_files INTEGER,"
    " ingested_at TIMESTAMPTZ DEFAULT current_timestamp)",
    "CREATE TABLE IF NOT EXISTS materializations (mid INTEGER, asset VARCHAR, partition VARCHAR, run_id VARCHAR,"
    " data_version VARCHAR, code_version VARCHAR, created_at TIMESTAMPTZ, n_records BIGINT, data_path VARCHAR)",
    "CREATE TABLE IF NOT EXISTS records (rk UBIGINT, record_id VARCHAR, mid INTEGER)",
    "CREATE TABLE IF NOT EXISTS edges (ck UBIGINT, pk UBIGINT, child_id VARCHAR, parent_id VARCHAR, mid INTEGER)",
    "CREATE TABLE IF NOT EXISTS generations (rk UBIGINT, record_id VARCHAR, mid INTEGER, model_id VARCHAR,"
    " model_revision VARCHAR, prompt_template VARCHAR, prompt_hash VARCHAR, sampling VARCHAR,"
    " prompt_tokens BIGINT, completion_tokens BIGINT)",
    "CREATE TABLE IF NOT EXISTS sources (sk UBIGINT, source_id VARCHAR, uri VARCHAR, uri_name VARCHAR,"
    " locator VARCHAR, mid INTEGER)",
    "CREATE TABLE IF NOT EXISTS checkpoint_inputs (checkpoint_asset VARCHAR, checkpoint_partition VARCHAR,"
    " checkpoint_data_version VARCHAR, input_asset VARCHAR, input_partition VARCHAR, input_data_version VARCHAR)",
]

# (index name, table, column). No index on edges.pk: impact walks children with semi-joins (a scan of
# one 8-byte column per level), and ART indexes are large and rewritten at every checkpoint.
_INDEXES = [
    ("records_rk", S.T_RECORDS, "rk"),
    ("edges_ck", S.T_EDGES, "ck"),  # trace: parents of a record
    ("generations_rk", S.T_GENERATIONS, "rk"),
    ("sources_sk", S.T_SOURCES, "sk"),
]

_INSERT = {
    S.T_MATERIALIZATIONS: "INSERT INTO materializations SELECT mid, asset, partition, run_id, data_version,"
    " code_version, created_at, n_records, data_path FROM {src}",
    S.T_RECORDS: f"INSERT INTO records SELECT {KEY_SQL('record_id')}, record_id, mid FROM {{src}}",
    S.T_EDGES: f"INSERT INTO edges SELECT {KEY_SQL('child_id')}, {KEY_SQL('parent_id')}, child_id, parent_id, mid"
    " FROM {src} WHERE parent_id IS NOT NULL",
    S.T_GENERATIONS: f"INSERT INTO generations SELECT {KEY_SQL('record_id')}, record_id, mid, model_id,"
    " model_revision, prompt_template, prompt_hash, sampling, prompt_tokens, completion_tokens FROM {src}",
    S.T_SOURCES: f"INSERT INTO sources SELECT {KEY_SQL('source_id')}, source_id, uri, {_SQL_BASENAME}, locator, mid"
    " FROM {src}",
    S.T_CHECKPOINT_INPUTS: "INSERT INTO checkpoint_inputs SELECT checkpoint_asset, checkpoint_partition,"
    " checkpoint_data_version, input_asset, input_partition, input_data_version FROM {src}",
}
# Parquet columns each index table needs (besides ``mid``).
_READ_COLUMNS = {
    S.T_MATERIALIZATIONS: S.SCHEMAS[S.T_MATERIALIZATIONS].names,
    S.T_RECORDS: ["record_id"],
    S.T_EDGES: ["child_id", "parent_id"],
    S.T_GENERATIONS: ["record_id", "model_id", "model_revision", "prompt_template", "prompt_hash", "sampling",
                      "prompt_tokens", "completion_tokens"],
    S.T_SOURCES: ["source_id", "uri", "locator"],
    S.T_CHECKPOINT_INPUTS: S.SCHEMAS[S.T_CHECKPOINT_INPUTS].names,
}

SCHEMA_VERSION = "1"  # of the index tables; bump (and rebuild: delete the DB file, sync) on changes
_LOCK_ERRORS = ("lock", "different configuration", "Conflicting")
_FILES_PER_BATCH = 256
_LITERAL_KEYS_MAX = 256  # up to this many keys: literal IN list (ART index scan); else a semi-join


_KEPT: "weakref.WeakSet[LineageStore]" = weakref.WeakSet()


@atexit.register
def _close_kept() -> None:
    """Close kept read-only connections before the interpreter tears DuckDB down."""
    for store in list(_KEPT):
        store.close()


def _uri_basename(uri: str) -> str:
    return uri.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]


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
        self._dir_cache: dict[str, tuple[int, list[str]]] = {}
        self.root = root.rstrip("/") or "/"
        self._local = is_local(self.root)
        if self._local:
            self.root = os.path.abspath(local_path(self.root))
            self.fs = fsspec.filesystem("file")
            self._pafs: pafs.FileSystem = pafs.LocalFileSystem()
            self._fs_root = self.root
        else:
            self.fs, self._fs_root = fsspec.core.url_to_fs(self.root, **storage_options)
            self._pafs = pafs.PyFileSystem(pafs.FSSpecHandler(self.fs))
        self.db_path = os.path.abspath(os.path.expanduser(db_path))
        self.lock_path = self.db_path + ".lock"
        self.lock_timeout = lock_timeout

    @classmethod
    def from_env(cls, lake: str | None = None, db: str | None = None) -> "LineageStore":
        paths = default_paths(lake, db)
        return cls(paths.lineage_root, paths.db_path)

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
                if not any(s in str(exc) for s in _LOCK_ERRORS) or time.monotonic() > deadline:
                    raise
                time.sleep(delay)
                delay = min(delay * 1.5, 0.2)
        if not self._local:
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
                if not os.path.exists(self.db_path):
                    self.sync()
                con = self.connect(read_only=True)
            try:
                if sync and self._has_new_commits(con):
                    self._discard(con)
                    con = None
                    self.sync(wait=False)  # lock busy -> another process is ingesting; connect() waits for it
                    con = self.connect(read_only=True)
                yield con
            except UnknownRecord:
                self._keep(con)  # a normal answer: the connection is fine
                raise
            except BaseException:
                if con is not None:
                    self._discard(con)
                raise
            else:
                self._keep(con)

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

    def __enter__(self) -> "LineageStore":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ================================================================ listing
    def _list_commits(self) -> dict[str, list[str]]:
        """Relative paths (``asset/partition/file``) of commit files per commit table."""
        return {t: self._list_table(t) for t in S.COMMIT_TABLES}

    def _list_table(self, table: str) -> list[str]:
        out: list[str] = []
        if self._local:
            base = os.path.join(self.root, table)
            try:
                assets = list(os.scandir(base))
            except FileNotFoundError:
                return out
            now = time.time_ns()
            for a in assets:
                if a.name.startswith(".") or not a.is_dir():
                    continue
                with os.scandir(a.path) as parts:
                    for p in parts:
                        if p.name.startswith(".") or not p.is_dir():
                            continue
                        out.extend(f"{a.name}/{p.name}/{f}" for f in self._list_dir(p.path, now))
            return out
        base = f"{self._fs_root.rstrip('/')}/{table}"
        try:
            found = self.fs.find(base)
        except FileNotFoundError:
            return out
        for path in found:
            rel = path[len(base):].lstrip("/")
            parts = rel.split("/")
            if len(parts) == 3 and parts[2].endswith(".parquet") and not any(x.startswith(".") for x in parts):
                out.append(rel)
        return out

    def _list_dir(self, path: str, now_ns: int) -> list[str]:
        """``*.parquet`` names in a partition folder, cached by the folder's mtime.

        A folder changed within the last 2 s is re-read every time (coarse file-system timestamps could
        hide a file renamed into it right after our read), so the cache never misses a commit.
        """
        try:
            mtime = os.stat(path).st_mtime_ns
        except FileNotFoundError:
            return []
        hit = self._dir_cache.get(path)
        if hit is not None and hit[0] == mtime and now_ns - mtime > 2_000_000_000:
            return hit[1]
        names = [f for f in os.listdir(path) if f.endswith(".parquet") and not f.startswith(".")]
        self._dir_cache[path] = (mtime, names)
        return names

    def _file(self, table: str, rel: str) -> str:
        """Path of a lineage file for pyarrow / the fs."""
        if self._local:
            return os.path.join(self.root, table, *rel.split("/"))
        return f"{self._fs_root.rstrip('/')}/{table}/{rel}"

    def _data_files(self, table: str, rels: list[str]) -> list[str]:
        """The subset of ``rels`` for which ``table`` has a file."""
        if self._local:
            return [r for r in rels if os.path.exists(self._file(table, r))]
        have = set(self._list_table(table))
        return [r for r in rels if r in have]

    def _has_new_commits(self, con: duckdb.DuckDBPyConnection) -> bool:
        known = self._known
        if known is None:  # the file cannot change while we hold a read-only connection: cache per connection
            try:
                known = {r[0] for r in con.execute("SELECT path FROM ingested_files").fetchall()}
            except duckdb.CatalogException:
                return True
            self._known = known
        for table, rels in self._list_commits().items():
            if any(f"{table}/{r}" not in known for r in rels):
                return True
        return False

    # ================================================================ sync
    def sync(self, *, wait: bool = True) -> int:
        """Ingest every committed, not yet ingested lineage file; returns the number of commits ingested.

        Runs under the file lock ``db_path + ".lock"``. With ``wait=False`` returns 0 at once when another
        process holds the lock. Idempotent; a missing lineage root just yields an empty index.
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

    def _sync_locked(self) -> int:
        commits = self._list_commits()  # commit files first: their data files are already complete
        con = self.connect(read_only=False)
        try:
            for ddl in _DDL:
                con.execute(ddl)
            con.execute("INSERT OR IGNORE INTO lineage_meta VALUES ('schema_version', ?)", [SCHEMA_VERSION])
            known = {r[0] for r in con.execute("SELECT path FROM ingested_files").fetchall()}
            new_mat = sorted(r for r in commits[S.T_MATERIALIZATIONS] if f"{S.T_MATERIALIZATIONS}/{r}" not in known)
            new_ckpt = sorted(r for r in commits[S.T_CHECKPOINT_INPUTS] if f"{S.T_CHECKPOINT_INPUTS}/{r}" not in known)
            if not new_mat and not new_ckpt:
                self._ensure_indexes(con)
                self._ensure_views(con)
                return 0
            data = {t: self._data_files(t, new_mat) for t in S.MATERIALIZATION_DATA_TABLES}
            first_mid = con.execute("SELECT coalesce(max(mid), 0) + 1 FROM materializations").fetchone()[0]
            mids = {r: first_mid + i for i, r in enumerate(new_mat)}
            n_old = len(known)
            bulk = len(new_mat) + len(new_ckpt) > max(64, n_old // 4)
            con.execute("BEGIN TRANSACTION")
            if bulk:  # rebuilding an ART index once is much cheaper than maintaining it row by row
                for name, _, _ in _INDEXES:
                    con.execute(f"DROP INDEX IF EXISTS {name}")
            for table in (*S.MATERIALIZATION_DATA_TABLES, S.T_MATERIALIZATIONS):
                rels = new_mat if table == S.T_MATERIALIZATIONS else data[table]
                self._ingest(con, table, rels, mids)
            self._ingest(con, S.T_CHECKPOINT_INPUTS, new_ckpt, None)
            data_sets = [set(v) for v in data.values()]
            n_data = {r: sum(r in v for v in data_sets) for r in new_mat}
            done = pa.table(
                {
                    "path": [f"{S.T_MATERIALIZATIONS}/{r}" for r in new_mat] + [f"{S.T_CHECKPOINT_INPUTS}/{r}" for r in new_ckpt],
                    "tbl": [S.T_MATERIALIZATIONS] * len(new_mat) + [S.T_CHECKPOINT_INPUTS] * len(new_ckpt),
                    "n_data_files": pa.array([n_data.get(r) for r in new_mat] + [0] * len(new_ckpt), pa.int32()),
                }
            )
            con.register("_lineage_done", done)
            con.execute("INSERT INTO ingested_files (path, tbl, n_data_files) SELECT path, tbl, n_data_files FROM _lineage_done")
            con.unregister("_lineage_done")
            self._ensure_indexes(con)
            con.execute("COMMIT")
            self._ensure_views(con)
            return len(new_mat) + len(new_ckpt)
        except BaseException:
            try:
                con.execute("ROLLBACK")
            except Exception:
                pass
            raise
        finally:
            con.close()

    def _ingest(
        self, con: duckdb.DuckDBPyConnection, table: str, rels: list[str], mids: dict[str, int] | None
    ) -> None:
        """Insert the rows of ``table``'s files ``rels`` (tagged with their materialization's ``mid``)."""
        if not rels:
            return
        cols = _READ_COLUMNS[table]
        schema = S.SCHEMAS[table]

        def read(rel: str) -> pa.Table:
            t = pq.read_table(self._file(table, rel), columns=[c for c in cols], filesystem=self._pafs,
                              schema=pa.schema([schema.field(c) for c in cols]))
            if mids is not None:
                t = t.append_column("mid", pa.array(np.full(t.num_rows, mids[rel], dtype=np.int32)))
            return t

        with ThreadPoolExecutor(max_workers=4 if self._local else 16) as pool:
            for i in range(0, len(rels), _FILES_PER_BATCH):
                batch = pa.concat_tables(pool.map(read, rels[i : i + _FILES_PER_BATCH]))
                con.register("_lineage_new", batch)
                try:
                    con.execute(_INSERT[table].format(src="_lineage_new"))
                finally:
                    con.unregister("_lineage_new")

    @staticmethod
    def _ensure_indexes(con: duckdb.DuckDBPyConnection) -> None:
        have = {r[0] for r in con.execute("SELECT index_name FROM duckdb_indexes()").fetchall()}
        for name, table, col in _INDEXES:
            if name not in have:
                con.execute(f"CREATE INDEX {name} ON {table} ({col})")

    def _view_source(self, table: str) -> str:
        glob = f"{self.root}/{table}/*/*/*.parquet".replace("'", "''")
        return f"read_parquet('{glob}', union_by_name=true, hive_partitioning=false)"

    def _ensure_views(self, con: duckdb.DuckDBPyConnection) -> None:
        have = {r[0] for r in con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()}
        for table in S.LINEAGE_TABLES:
            view = f"v_{table}"
            if view in have:
                continue
            if not con.execute(f"SELECT count(*) > 0 FROM (SELECT 1 FROM {table} LIMIT 1)").fetchone()[0]:
                continue  # no file yet: read_parquet would fail to bind
            if table in S.MATERIALIZATION_DATA_TABLES:
                sql = (
                    f"CREATE OR REPLACE VIEW {view} AS SELECT f.* FROM {self._view_source(table)} f "
                    "SEMI JOIN v_materializations m ON f.asset = m.asset AND f.partition = m.partition "
                    "AND f.data_version = m.data_version AND f.run_id = m.run_id"
                )
            else:
                sql = f"CREATE OR REPLACE VIEW {view} AS SELECT * FROM {self._view_source(table)}"
            try:
                con.execute(sql)
            except duckdb.Error:  # views are a convenience; never fail a sync for one
                pass

    # ================================================================ helpers
    @staticmethod
    def _keys_sql(con: duckdb.DuckDBPyConnection, keys: Iterable[int], registered: list[str]) -> str:
        """SQL for ``col IN <this>``: a literal list (index scan) or a registered key table (semi-join).

        Names registered on ``con`` are appended to ``registered`` for the caller to unregister.
        """
        keys = list(dict.fromkeys(keys))
        if not keys:
            return "(NULL)"
        if len(keys) <= _LITERAL_KEYS_MAX:
            return "(" + ",".join(f"{k}::UBIGINT" for k in keys) + ")"
        name = f"_lineage_keys_{uuid.uuid4().hex[:8]}"
        con.register(name, pa.table({"k": pa.array(keys, pa.uint64())}))
        registered.append(name)
        return f"(SELECT k FROM {name})"

    # ================================================================ trace
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
            registered: list[str] = []
            try:
                return self._trace(con, record_id, max_depth, registered)
            finally:
                for name in registered:
                    con.unregister(name)

    def _trace(
        self, con: duckdb.DuckDBPyConnection, rid: str, max_depth: int | None, registered: list[str]
    ) -> dict[str, Any]:
        depth: dict[str, int] = {rid: 0}
        parents: dict[str, set[str]] = {}
        frontier, d = [rid], 0
        while frontier and (max_depth is None or d < max_depth):
            wanted = set(frontier)
            rows = con.execute(
                "SELECT DISTINCT child_id, parent_id FROM edges WHERE ck IN "
                + self._keys_sql(con, (id_key(x) for x in frontier), registered)
            ).fetchall()
            nxt = []
            for child, parent in rows:
                if child not in wanted:
                    continue  # 64-bit key collision
                parents.setdefault(child, set()).add(parent)
                if parent not in depth:
                    depth[parent] = d + 1
                    nxt.append(parent)
            frontier, d = nxt, d + 1
        ids = list(depth)
        wanted = set(ids)
        keys = [id_key(x) for x in ids]

        # two small queries: joining materializations in the same statement turns the index lookup on
        # records.rk into a full scan
        rec = [r for r in con.execute(
            f"SELECT DISTINCT record_id, mid FROM records WHERE rk IN {self._keys_sql(con, keys, registered)}"
        ).fetchall() if r[0] in wanted]
        mats: dict[int, tuple[Any, ...]] = {}
        if rec:
            mats = {r[0]: r[1:] for r in con.execute(
                "SELECT mid, asset, partition, data_version, run_id, created_at FROM materializations WHERE mid IN ("
                + ",".join(str(int(m)) for m in {r[1] for r in rec}) + ")"
            ).fetchall()}
        appearances: dict[str, list[dict[str, Any]]] = {}
        for record, mid in sorted(rec, key=lambda r: (mats[r[1]][4] is not None, mats[r[1]][4], r[1]), reverse=True):
            a, p, dv, run, created = mats[mid]
            appearances.setdefault(record, []).append(
                {"asset": a, "partition": p, "data_version": dv, "run_id": run,
                 "created_at": created.isoformat() if created is not None else None}
            )
        generations: dict[str, dict[str, Any]] = {}
        for r in con.execute(
            "SELECT record_id, model_id, model_revision, prompt_template, prompt_hash, sampling, prompt_tokens,"
            " completion_tokens FROM generations "
            f"WHERE rk IN {self._keys_sql(con, keys, registered)} ORDER BY mid DESC"
        ).fetchall():
            if r[0] in wanted and r[0] not in generations:
                sampling: Any = r[5]
                try:
                    sampling = json.loads(r[5]) if r[5] else r[5]
                except (TypeError, ValueError):
                    pass
                generations[r[0]] = {
                    "model_id": r[1], "model_revision": r[2], "prompt_template": r[3], "prompt_hash": r[4],
                    "sampling": sampling, "prompt_tokens": r[6], "completion_tokens": r[7],
                }
        sources: dict[str, list[dict[str, Any]]] = {}
        for r in con.execute(
            "SELECT DISTINCT source_id, uri, locator FROM sources "
            f"WHERE sk IN {self._keys_sql(con, keys, registered)} ORDER BY uri, locator"
        ).fetchall():
            if r[0] in wanted:
                sources.setdefault(r[0], []).append({"uri": r[1], "locator": r[2]})

        if rid not in appearances and rid not in sources and rid not in parents:
            # known only as somebody's parent?
            hit = con.execute(
                f"SELECT count(*) FROM edges WHERE pk = {id_key(rid)}::UBIGINT AND parent_id = ?", [rid]
            ).fetchone()[0]
            if not hit:
                raise UnknownRecord(f"no committed lineage for record {rid!r}")

        nodes = []
        for x in sorted(ids, key=lambda x: (depth[x], x)):
            app = appearances.get(x, [])
            src = sources.get(x, [])
            if app:
                kind, loc = "record", app[0]
            elif src:
                kind, loc = "source", {"asset": S.SOURCE_ASSET, "partition": src[0]["uri"], "data_version": None, "run_id": None}
            else:
                kind, loc = "missing", {"asset": None, "partition": None, "data_version": None, "run_id": None}
            nodes.append(
                {
                    "record_id": x,
                    "kind": kind,
                    "asset": loc["asset"],
                    "partition": loc["partition"],
                    "data_version": loc["data_version"],
                    "run_id": loc["run_id"],
                    "depth": depth[x],
                    "parents": sorted(parents.get(x, ())),
                    "generation": generations.get(x),
                    "source": src[0] if src else None,
                    "sources": src,
                    "appearances": app,
                }
            )
        return {
            "record_id": rid,
            "n_nodes": len(nodes),
            "max_depth": max(depth.values()),
            "nodes": nodes,
        }

    # ================================================================ impact
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
            target: dict[str, Any] = {"asset": asset, "partition": partition}
            scope: list[tuple[str, str, str]] = []
            if asset == S.SOURCE_ASSET:
                cond, params = "", []
                if partition is not None:
                    cond = "WHERE uri = ? OR uri_name = ?"
                    params = [partition, _uri_basename(partition)]
                roots_sql = f"SELECT DISTINCT sk AS k FROM sources {cond}"
                if not con.execute(f"SELECT count(*) FROM ({roots_sql})", params).fetchone()[0]:
                    raise UnknownRecord(f"no committed lineage reads source file {partition!r}")
            else:
                partition = self._resolve_partition(con, asset, partition)
                target["partition"] = partition
                cond = "asset = ?" + (" AND partition = ?" if partition is not None else "")
                params = [asset] + ([partition] if partition is not None else [])
                scope = [tuple(r) for r in con.execute(
                    f"SELECT DISTINCT asset, partition, data_version FROM materializations WHERE {cond}", params
                ).fetchall()]
                roots_sql = f"SELECT DISTINCT rk AS k FROM records WHERE mid IN (SELECT mid FROM materializations WHERE {cond})"
            return self._impact(con, target, roots_sql, params, scope, max_records)

    def impact_record(self, record_id: str, *, max_records: int | None = 1000, sync: bool = True) -> dict[str, Any]:
        """Everything derived from one record (or source unit); same shape as :meth:`impact`."""
        with self._reader(sync) as con:
            k = id_key(record_id)
            known = con.execute(
                f"SELECT (SELECT count(*) FROM records WHERE rk = {k}::UBIGINT AND record_id = $1)"
                f" + (SELECT count(*) FROM sources WHERE sk = {k}::UBIGINT AND source_id = $1)"
                f" + (SELECT count(*) FROM edges WHERE pk = {k}::UBIGINT AND parent_id = $1)",
                [record_id],
            ).fetchone()[0]
            if not known:
                raise UnknownRecord(f"no committed lineage for record {record_id!r}")
            roots_sql = f"SELECT {k}::UBIGINT AS k"
            return self._impact(con, {"record_id": record_id}, roots_sql, [], [], max_records)

    def _resolve_partition(self, con: duckdb.DuckDBPyConnection, asset: str, partition: str | None) -> str | None:
        if partition is None:
            if not con.execute("SELECT count(*) FROM materializations WHERE asset = ?", [asset]).fetchone()[0]:
                raise UnknownRecord(f"no committed lineage for asset {asset!r}")
            return None
        parts = [r[0] for r in con.execute(
            "SELECT DISTINCT partition FROM materializations WHERE asset = ?", [asset]
        ).fetchall()]
        if not parts:
            raise UnknownRecord(f"no committed lineage for asset {asset!r}")
        if partition in parts:
            return partition
        safe = {path_component(p): p for p in parts}  # accept the path-safe folder name too
        if path_component(partition) in safe:
            return safe[path_component(partition)]
        raise UnknownRecord(f"no committed lineage for asset {asset!r} partition {partition!r}")

    def _impact(
        self,
        con: duckdb.DuckDBPyConnection,
        target: dict[str, Any],
        roots_sql: str,
        params: list[Any],
        scope: list[tuple[str, str, str]],
        max_records: int | None,
    ) -> dict[str, Any]:
        tag = uuid.uuid4().hex[:8]
        seen, front, nxt, apps = (f"_{x}_{tag}" for x in ("seen", "front", "next", "apps"))
        con.execute(f"CREATE TEMP TABLE {seen} AS SELECT DISTINCT k, 0 AS depth FROM ({roots_sql})", params)
        con.execute(f"CREATE TEMP TABLE {front} AS SELECT k FROM {seen}")
        n_roots = con.execute(f"SELECT count(*) FROM {seen}").fetchone()[0]
        depth = 0
        while True:  # breadth-first over integer keys only: the scans never touch the id strings
            depth += 1
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE {nxt} AS SELECT DISTINCT e.ck AS k FROM edges e "
                f"WHERE e.pk IN (SELECT k FROM {front}) AND e.ck NOT IN (SELECT k FROM {seen})"
            )
            if not con.execute(f"SELECT count(*) FROM {nxt}").fetchone()[0]:
                break
            con.execute(f"INSERT INTO {seen} SELECT k, {depth} FROM {nxt}")
            con.execute(f"CREATE OR REPLACE TEMP TABLE {front} AS SELECT k FROM {nxt}")

        # every committed appearance of the affected records (roots too: a pass-through record lives on in
        # other assets); roots count only outside the target's own scope
        con.execute(
            f"CREATE TEMP TABLE {apps} AS SELECT m.asset, m.partition, m.data_version, r.record_id, s.depth "
            f"FROM records r JOIN {seen} s ON r.rk = s.k JOIN materializations m ON m.mid = r.mid"
        )
        t_asset = target.get("asset")
        t_part = target.get("partition")
        n_desc, max_depth = con.execute(
            f"SELECT count(DISTINCT record_id), coalesce(max(depth), 0) FROM {apps} WHERE depth > 0"
        ).fetchone()
        by_partition = [
            {"asset": a, "partition": p, "n_records": n, "data_versions": sorted(dvs)}
            for a, p, n, dvs in con.execute(
                f"SELECT asset, partition, count(DISTINCT record_id), list(DISTINCT data_version) FROM {apps} "
                "WHERE depth > 0 OR NOT (asset IS NOT DISTINCT FROM ? AND (? IS NULL OR partition = ?)) "
                "GROUP BY asset, partition ORDER BY asset, partition",
                [t_asset, t_part, t_part],
            ).fetchall()
        ]
        affected = {tuple(r) for r in con.execute(f"SELECT DISTINCT asset, partition, data_version FROM {apps}").fetchall()}
        affected.update(scope)
        limit = "" if max_records is None else f" LIMIT {int(max_records)}"
        records = [r[0] for r in con.execute(
            f"SELECT DISTINCT record_id FROM {apps} WHERE depth > 0 ORDER BY 1{limit}"
        ).fetchall()]
        checkpoints = self._affected_checkpoints(con, affected)
        for t in (seen, front, nxt, apps):
            con.execute(f"DROP TABLE IF EXISTS {t}")
        return {
            "target": target,
            "n_roots": n_roots,
            "n_descendants": n_desc,
            "max_depth": max_depth,
            "by_partition": by_partition,
            "records": records,
            "records_truncated": max_records is not None and n_desc > len(records),
            "checkpoints": checkpoints,
        }

    @staticmethod
    def _affected_checkpoints(
        con: duckdb.DuckDBPyConnection, affected: set[tuple[str, str, str]]
    ) -> list[dict[str, Any]]:
        rows = con.execute(
            "SELECT DISTINCT checkpoint_asset, checkpoint_partition, checkpoint_data_version, input_asset,"
            " input_partition, input_data_version FROM checkpoint_inputs"
        ).fetchall()
        pairs = {(a, p) for a, p, _ in affected}
        hits: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
        changed = True
        while changed:  # fixpoint: checkpoints trained on affected checkpoints
            changed = False
            for ca, cp, cdv, ia, ip, idv in rows:
                if (ia, ip, idv) in affected or (not idv and (ia, ip) in pairs):
                    ck = (ca, cp, cdv)
                    via = {"asset": ia, "partition": ip, "data_version": idv}
                    if via not in hits.setdefault(ck, []):
                        hits[ck].append(via)
                    if ck not in affected:
                        affected.add(ck)
                        pairs.add((ca, cp))
                        changed = True
        return [
            {"checkpoint_asset": a, "checkpoint_partition": p, "checkpoint_data_version": dv,
             "inputs": sorted(v, key=lambda x: (x["asset"], x["partition"], x["data_version"] or ""))}
            for (a, p, dv), v in sorted(hits.items(), key=lambda kv: tuple(x or "" for x in kv[0]))
        ]

    # ================================================================ misc
    def stats(self, *, sync: bool = True) -> dict[str, Any]:
        """Counts (``records``/``edges``/...: distinct, by 64-bit key; ``*_rows``: stored rows, once per
        materialization) and the DB size in bytes."""
        with self._reader(sync) as con:
            q = {
                "commits": "SELECT count(*) FROM ingested_files",
                "materializations": "SELECT count(*) FROM materializations",
                "record_rows": "SELECT count(*) FROM records",
                "records": "SELECT count(DISTINCT rk) FROM records",
                "edge_rows": "SELECT count(*) FROM edges",
                "edges": "SELECT count(*) FROM (SELECT DISTINCT ck, pk FROM edges)",
                "sources": "SELECT count(DISTINCT sk) FROM sources",
                "generations": "SELECT count(DISTINCT rk) FROM generations",
                "checkpoints": "SELECT count(*) FROM (SELECT DISTINCT checkpoint_asset, checkpoint_partition,"
                " checkpoint_data_version FROM checkpoint_inputs)",
            }
            out: dict[str, Any] = {k: con.execute(v).fetchone()[0] for k, v in q.items()}
        out["db_bytes"] = os.path.getsize(self.db_path) + (
            os.path.getsize(self.db_path + ".wal") if os.path.exists(self.db_path + ".wal") else 0
        )
        return out


# ==================================================================== formatting
def _node_label(n: dict[str, Any]) -> str:
    if n["kind"] == "source":
        s = n["source"] or {}
        return f"{n['record_id']}  [source] {s.get('uri')} @ {s.get('locator')}"
    if n["kind"] == "missing":
        return f"{n['record_id']}  [missing: referenced but never committed]"
    label = f"{n['record_id']}  [{n['asset']} | {n['partition']} | dv {n['data_version']}]"
    g = n.get("generation")
    if g:
        sampling = g["sampling"] if isinstance(g["sampling"], str) else json.dumps(g["sampling"], sort_keys=True)
        label += (
            f"\n  model={g['model_id']}@{g['model_revision']} prompt={g['prompt_template']}#{g['prompt_hash']}"
            f" sampling={sampling} tokens={g['prompt_tokens']}+{g['completion_tokens']}"
        )
    return label


def format_trace(d: dict[str, Any]) -> str:
    """Human-readable ancestor tree of a :meth:`LineageStore.trace` result (shared nodes printed once)."""
    nodes = {n["record_id"]: n for n in d["nodes"]}
    lines = [f"trace {d['record_id']}: {d['n_nodes']} nodes, depth {d['max_depth']}"]
    printed: set[str] = set()

    def walk(rid: str, prefix: str, last: bool, top: bool) -> None:
        n = nodes[rid]
        branch = "" if top else ("└── " if last else "├── ")
        label = _node_label(n).replace("\n", "\n" + prefix + ("    " if last or top else "│   "))
        if rid in printed and n["parents"]:
            lines.append(f"{prefix}{branch}{rid}  (see above)")
            return
        printed.add(rid)
        lines.append(f"{prefix}{branch}{label}")
        child_prefix = prefix + ("" if top else ("    " if last else "│   "))
        ps = [p for p in n["parents"] if p in nodes]
        for i, p in enumerate(ps):
            walk(p, child_prefix, i == len(ps) - 1, False)

    walk(d["record_id"], "", True, True)
    return "\n".join(lines)


def format_impact(d: dict[str, Any]) -> str:
    """Human-readable table of a :meth:`LineageStore.impact` / ``impact_record`` result."""
    t = d["target"]
    if t.get("record_id"):
        what = t["record_id"]
    elif t.get("partition") is not None:
        what = f"{t['asset']}:{t['partition']}"
    else:
        what = t["asset"]
    lines = [
        f"impact of {what}: {d['n_roots']} root record(s), {d['n_descendants']} derived record(s), depth {d['max_depth']}"
    ]
    rows = [("asset", "partition", "records", "data versions")] + [
        (b["asset"], b["partition"], str(b["n_records"]), ",".join(b["data_versions"])) for b in d["by_partition"]
    ]
    if len(rows) > 1:
        w = [max(len(r[i]) for r in rows) for i in range(4)]
        for i, r in enumerate(rows):
            lines.append("  " + "  ".join(c.ljust(w[j]) if j != 2 else c.rjust(w[j]) for j, c in enumerate(r)).rstrip())
            if i == 0:
                lines.append("  " + "  ".join("-" * x for x in w))
    if d["checkpoints"]:
        lines.append("checkpoints trained on affected data:")
        for c in d["checkpoints"]:
            via = ", ".join(f"{v['asset']}:{v['partition']}@{v['data_version']}" for v in c["inputs"])
            lines.append(f"  {c['checkpoint_asset']}:{c['checkpoint_partition']}@{c['checkpoint_data_version']}  via {via}")
    else:
        lines.append("no checkpoint trained on affected data")
    return "\n".join(lines)
