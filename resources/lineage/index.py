"""The DuckDB lineage index: table definitions, schema version, ingest of lineage files, ``v_*`` views.

Index tables (ad-hoc SQL welcome): ``materializations`` (the commit rows plus an integer ``mid``),
``records (rk, record_id, mid)``, ``edges (ck, pk, child_id, parent_id, mid)``, ``generations (rk,
record_id, mid, model_id, ...)``, ``sources (sk, source_id, uri, uri_name, locator, mid)``,
``checkpoint_inputs``, ``ingested_files``, ``lineage_meta``; join ``materializations USING (mid)`` for
asset / partition / data_version / run_id. Every id has a 64-bit key (``rk``/``ck``/``pk``/``sk`` = first
8 bytes of md5(id), see :func:`id_key`); ART indexes on ``records.rk``, ``edges.ck``, ``generations.rk``,
``sources.sk``. The index is derived data: :data:`SCHEMA_VERSION` names its layout, and the store rebuilds
it from the Parquet files whenever the file says otherwise (see :func:`stale_reason`).

Both file layouts are ingested into the same tables: ``record_lineage`` files (one per materialization:
``record_id``, ``parent_ids`` or flat ``parent_id``, optional source and ``gen_*`` columns) and the
legacy ``records`` / ``edges`` / ``sources`` / ``generations`` files of earlier writers.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from resources.lineage import schema as S

SCHEMA_VERSION = "2"  # of the index tables; on any other value in lineage_meta the store rebuilds the file
_ROWS_PER_BATCH = 2_000_000  # rows handed to DuckDB at once (bounds memory on a from-scratch sync)


def id_key(record_id: str) -> int:
    """64-bit key of an id: the first 8 bytes of its md5 digest, little-endian (= :func:`KEY_SQL` in DuckDB)."""
    return int.from_bytes(hashlib.md5(record_id.encode("utf-8")).digest()[:8], "little")


def KEY_SQL(col: str) -> str:  # noqa: N802 - reads like a constant template
    """DuckDB expression of :func:`id_key` (md5 is stable across DuckDB versions, ``hash()`` is not)."""
    return f"(md5_number({col}) & 18446744073709551615)::UBIGINT"


def one_row(con: duckdb.DuckDBPyConnection, sql: str, params: Any = None) -> tuple[Any, ...]:
    """The single row of a query that always returns one (an aggregate such as ``count(*)``).

    DuckDB types ``fetchone()`` as optional; a missing row here is a broken query or database, so it
    raises with the query named instead of failing later on ``None[0]``.
    """
    row = con.execute(sql, params).fetchone()
    if row is None:
        raise RuntimeError(f"lineage index: query returned no row (expected exactly one): {sql[:200]}")
    return row


def _basename_sql(col: str) -> str:
    return f"list_last(string_split(rtrim(replace({col}, '\\', '/'), '/'), '/'))"


# Rows of a materialization point to it by ``mid`` (its row in ``materializations``), so the per-row
# asset / partition / data_version / run_id strings are not stored again.
DDL = [
    "CREATE TABLE IF NOT EXISTS lineage_meta (key VARCHAR PRIMARY KEY, value VARCHAR)",
    "CREATE TABLE IF NOT EXISTS ingested_files (path VARCHAR, tbl VARCHAR, n_data_files INTEGER,"
    " data_tables VARCHAR[], ingested_at TIMESTAMPTZ DEFAULT current_timestamp)",
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
INDEXES = [
    ("records_rk", S.T_RECORDS, "rk"),
    ("edges_ck", S.T_EDGES, "ck"),  # trace: parents of a record
    ("generations_rk", S.T_GENERATIONS, "rk"),
    ("sources_sk", S.T_SOURCES, "sk"),
]

# Inserts from a registered Arrow table ``{src}`` with a ``mid`` column.
_INSERT = {
    S.T_MATERIALIZATIONS: "INSERT INTO materializations SELECT mid, asset, partition, run_id, data_version,"
    " code_version, created_at, n_records, data_path FROM {src}",
    S.T_RECORDS: f"INSERT INTO records SELECT {KEY_SQL('record_id')}, record_id, mid FROM {{src}}",
    S.T_EDGES: f"INSERT INTO edges SELECT {KEY_SQL('child_id')}, {KEY_SQL('parent_id')}, child_id, parent_id, mid"
    " FROM {src} WHERE parent_id IS NOT NULL",
    S.T_GENERATIONS: f"INSERT INTO generations SELECT {KEY_SQL('record_id')}, record_id, mid, model_id,"
    " model_revision, prompt_template, prompt_hash, sampling, prompt_tokens, completion_tokens FROM {src}",
    S.T_SOURCES: f"INSERT INTO sources SELECT {KEY_SQL('source_id')}, source_id, uri, {_basename_sql('uri')},"
    " locator, mid FROM {src}",
    S.T_CHECKPOINT_INPUTS: "INSERT INTO checkpoint_inputs SELECT checkpoint_asset, checkpoint_partition,"
    " checkpoint_data_version, input_asset, input_partition, input_data_version FROM {src}",
}
# The logical tables from a normalized record_lineage batch (:func:`normalize_record_lineage`).
_INSERT_FROM_RECORD_LINEAGE = [
    f"INSERT INTO records SELECT {KEY_SQL('record_id')}, record_id, mid FROM {{src}}",
    f"INSERT INTO edges SELECT {KEY_SQL('record_id')}, {KEY_SQL('p')}, record_id, p, mid"
    " FROM (SELECT record_id, unnest(parent_ids) AS p, mid FROM {src}) WHERE p IS NOT NULL",
    f"INSERT INTO sources SELECT {KEY_SQL('p')}, p, source_uri, {_basename_sql('source_uri')}, source_locator, mid"
    " FROM (SELECT unnest(parent_ids) AS p, source_uri, source_locator, mid FROM {src} WHERE source_uri IS NOT NULL)"
    " WHERE p IS NOT NULL",
    f"INSERT INTO generations SELECT {KEY_SQL('record_id')}, record_id, mid, gen_model_id, gen_model_revision,"
    " gen_prompt_template, gen_prompt_hash, gen_sampling, gen_prompt_tokens, gen_completion_tokens FROM {src}"
    " WHERE gen_model_id IS NOT NULL",
]
# Parquet columns each legacy / commit table needs (besides ``mid``).
_READ_COLUMNS = {
    S.T_MATERIALIZATIONS: S.SCHEMAS[S.T_MATERIALIZATIONS].names,
    S.T_RECORDS: ["record_id"],
    S.T_EDGES: ["child_id", "parent_id"],
    S.T_GENERATIONS: [
        "record_id",
        "model_id",
        "model_revision",
        "prompt_template",
        "prompt_hash",
        "sampling",
        "prompt_tokens",
        "completion_tokens",
    ],
    S.T_SOURCES: ["source_id", "uri", "locator"],
    S.T_CHECKPOINT_INPUTS: S.SCHEMAS[S.T_CHECKPOINT_INPUTS].names,
}
# record_lineage as ingested: every column, parents as a list, plus the materialization's ``mid``.
_RL_SCHEMA = pa.schema(
    [f for f in S.SCHEMAS[S.T_RECORD_LINEAGE] if f.name != S.PARENT_ID] + [pa.field("mid", pa.int32())]
)


# ==================================================================== schema version
def stale_reason(con: duckdb.DuckDBPyConnection) -> str | None:
    """Why the index file must be rebuilt (``None``: it is current, or new and empty).

    A file with tables but without ``lineage_meta.schema_version`` predates versioning: stale too.
    """
    try:  # the usual case first: one primary-key lookup (listing the catalog costs more than a trace)
        row = con.execute("SELECT value FROM lineage_meta WHERE key = 'schema_version'").fetchone()
    except duckdb.CatalogException:
        n = one_row(
            con, "SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() AND NOT temporary"
        )[0]
        return "it has no schema version (written by an older version)" if n else None
    if row is None:
        return "it has no schema version (written by an older version)"
    if row[0] != SCHEMA_VERSION:
        return f"its schema version is {row[0]!r}, this version reads {SCHEMA_VERSION!r}"
    return None


def create_tables(con: duckdb.DuckDBPyConnection) -> None:
    for ddl in DDL:
        con.execute(ddl)
    con.execute("INSERT OR IGNORE INTO lineage_meta VALUES ('schema_version', ?)", [SCHEMA_VERSION])


def ensure_indexes(con: duckdb.DuckDBPyConnection) -> None:
    have = {r[0] for r in con.execute("SELECT index_name FROM duckdb_indexes()").fetchall()}
    for name, table, col in INDEXES:
        if name not in have:
            con.execute(f"CREATE INDEX {name} ON {table} ({col})")


def drop_indexes(con: duckdb.DuckDBPyConnection) -> None:
    for name, _, _ in INDEXES:
        con.execute(f"DROP INDEX IF EXISTS {name}")


# ==================================================================== ingest
def normalize_record_lineage(t: pa.Table, mid: int) -> pa.Table:
    """A record_lineage file's rows with every column of :data:`_RL_SCHEMA` (nulls for absent ones)."""
    n = t.num_rows
    arrays: list[Any] = []
    for field in _RL_SCHEMA:
        if field.name == "mid":
            arrays.append(pa.array(np.full(n, mid, dtype=np.int32)))
        elif field.name == S.PARENT_IDS and S.PARENT_IDS not in t.column_names and S.PARENT_ID in t.column_names:
            flat = t.column(S.PARENT_ID).combine_chunks().cast(pa.string())
            arrays.append(pa.ListArray.from_arrays(pa.array(np.arange(n + 1, dtype=np.int32)), flat, type=field.type))
        elif field.name in t.column_names:
            col = t.column(field.name)
            arrays.append(col if col.type == field.type else col.cast(field.type))
        else:
            arrays.append(pa.nulls(n, field.type))
    return pa.Table.from_arrays(arrays, schema=_RL_SCHEMA)


def read_table(reader: Callable[..., pa.Table], table: str, path: str, mid: int | None) -> pa.Table:
    """Rows of one lineage file, ready for :func:`insert_batch` (``reader`` = ``pq.read_table``-like)."""
    if table == S.T_RECORD_LINEAGE:
        return normalize_record_lineage(reader(path), mid if mid is not None else 0)
    cols = _READ_COLUMNS[table]
    schema = S.SCHEMAS[table]
    t = reader(path, columns=list(cols), schema=pa.schema([schema.field(c) for c in cols]))
    if mid is not None:
        t = t.append_column("mid", pa.array(np.full(t.num_rows, mid, dtype=np.int32)))
    return t


def insert_batch(con: duckdb.DuckDBPyConnection, table: str, batch: pa.Table) -> None:
    """Insert rows read by :func:`read_table` into the index tables."""
    con.register("_lineage_new", batch)
    try:
        if table == S.T_RECORD_LINEAGE:
            for sql in _INSERT_FROM_RECORD_LINEAGE:
                con.execute(sql.format(src="_lineage_new"))
        else:
            con.execute(_INSERT[table].format(src="_lineage_new"))
    finally:
        con.unregister("_lineage_new")


def ingest(
    con: duckdb.DuckDBPyConnection,
    table: str,
    paths: list[str],
    mids: list[int] | None,
    reader: Callable[..., pa.Table],
    pool: Any,
    group: int = 8,
) -> None:
    """Read ``paths`` (files of ``table``; ``mids[i]`` = materialization of ``paths[i]``), ``group`` files
    at a time with ``pool`` (a ``concurrent.futures`` executor), and insert them, up to
    :data:`_ROWS_PER_BATCH` rows per insert (so a from-scratch sync never holds the whole lake in memory)."""
    pending: list[pa.Table] = []
    rows = 0
    for i in range(0, len(paths), group):
        idx = range(i, min(i + group, len(paths)))
        for t in pool.map(lambda j: read_table(reader, table, paths[j], mids[j] if mids else None), idx):
            pending.append(t)
            rows += t.num_rows
        if rows >= _ROWS_PER_BATCH:
            insert_batch(con, table, pa.concat_tables(pending))
            pending, rows = [], 0
    if pending:
        insert_batch(con, table, pa.concat_tables(pending))


def record_ingested(con: duckdb.DuckDBPyConnection, commits: Iterable[tuple[str, str, list[str]]]) -> None:
    """Rows of ``ingested_files``: (commit path relative to the root, commit table, data tables found)."""
    rows = list(commits)
    done = pa.table(
        {
            "path": [r[0] for r in rows],
            "tbl": [r[1] for r in rows],
            "n_data_files": pa.array([len(r[2]) for r in rows], pa.int32()),
            "data_tables": pa.array([r[2] for r in rows], pa.list_(pa.string())),
        }
    )
    con.register("_lineage_done", done)
    try:
        con.execute(
            "INSERT INTO ingested_files (path, tbl, n_data_files, data_tables)"
            " SELECT path, tbl, n_data_files, data_tables FROM _lineage_done"
        )
    finally:
        con.unregister("_lineage_done")


# ==================================================================== views
def _rel_sql(col: str) -> str:
    """``asset/partition/file`` of a file name: what a data file and its commit file share."""
    return f"regexp_extract(replace({col}, '\\', '/'), '[^/]+/[^/]+/[^/]+$')"


def _record_lineage_view(source: Callable[[str], str]) -> str:
    typed_nulls = ", ".join(
        f"NULL::{'VARCHAR[]' if f.name == S.PARENT_IDS else 'BIGINT' if f.type == pa.int64() else 'VARCHAR'} AS {f.name}"
        for f in S.SCHEMAS[S.T_RECORD_LINEAGE]
    )
    gen = ", ".join(f"f.{c}" for c in S.GEN_COLUMNS)
    return (
        "CREATE OR REPLACE VIEW v_record_lineage AS SELECT m.asset, m.partition, m.data_version, m.run_id, "
        "f.record_id, CASE WHEN f.parent_id IS NOT NULL THEN [f.parent_id] ELSE f.parent_ids END AS parent_ids, "
        f"f.source_uri, f.source_locator, {gen} FROM ("
        f"SELECT * FROM {source(S.T_RECORD_LINEAGE)} UNION ALL BY NAME "
        f"SELECT {typed_nulls}, NULL::VARCHAR AS filename WHERE false) f "
        f"JOIN (SELECT *, {_rel_sql('filename')} AS rel FROM {source(S.T_MATERIALIZATIONS)}) m "
        f"ON {_rel_sql('f.filename')} = m.rel"
    )


_FROM_RECORD_LINEAGE = {
    S.T_RECORDS: "SELECT record_id, asset, partition, data_version, run_id FROM v_record_lineage",
    S.T_EDGES: "SELECT child_id, parent_id, asset, partition, data_version, run_id FROM (SELECT record_id AS child_id,"
    " unnest(parent_ids) AS parent_id, asset, partition, data_version, run_id FROM v_record_lineage)"
    " WHERE parent_id IS NOT NULL",
    S.T_SOURCES: "SELECT source_id, uri, locator, asset, partition, data_version, run_id FROM (SELECT"
    " unnest(parent_ids) AS source_id, source_uri AS uri, source_locator AS locator, asset, partition, data_version,"
    " run_id FROM v_record_lineage WHERE source_uri IS NOT NULL) WHERE source_id IS NOT NULL",
    S.T_GENERATIONS: "SELECT record_id, asset, partition, data_version, gen_model_id AS model_id, gen_model_revision"
    " AS model_revision, gen_prompt_template AS prompt_template, gen_prompt_hash AS prompt_hash, gen_sampling AS"
    " sampling, gen_prompt_tokens AS prompt_tokens, gen_completion_tokens AS completion_tokens, run_id"
    " FROM v_record_lineage WHERE gen_model_id IS NOT NULL",
}


def ensure_views(con: duckdb.DuckDBPyConnection, source: Callable[[str], str]) -> None:
    """(Re)create the ``v_*`` views over the raw Parquet files for the file tables that have files.

    ``source(table)`` is the ``read_parquet(...)`` expression of a table's files (with ``filename``).
    Views show committed rows only and are a convenience: a failure never fails a sync.
    """
    present = {
        r[0]
        for r in con.execute(
            "SELECT DISTINCT unnest(data_tables) FROM ingested_files WHERE tbl = ?", [S.T_MATERIALIZATIONS]
        ).fetchall()
    }
    has = {
        t: one_row(con, f"SELECT count(*) > 0 FROM (SELECT 1 FROM ingested_files WHERE tbl = '{t}' LIMIT 1)")[0]
        for t in S.COMMIT_TABLES
    }
    signature = ",".join(sorted(present | {t for t, ok in has.items() if ok}))
    row = con.execute("SELECT value FROM lineage_meta WHERE key = 'views'").fetchone()
    if row is not None and row[0] == signature:
        return
    try:
        if has[S.T_CHECKPOINT_INPUTS]:
            con.execute(
                f"CREATE OR REPLACE VIEW v_checkpoint_inputs AS SELECT * EXCLUDE (filename) "
                f"FROM {source(S.T_CHECKPOINT_INPUTS)}"
            )
        if not has[S.T_MATERIALIZATIONS]:
            return
        con.execute(
            f"CREATE OR REPLACE VIEW v_materializations AS SELECT * EXCLUDE (filename) "
            f"FROM {source(S.T_MATERIALIZATIONS)}"
        )
        if S.T_RECORD_LINEAGE in present:
            con.execute(_record_lineage_view(source))
        for table in S.LOGICAL_TABLES:
            parts = []
            if S.T_RECORD_LINEAGE in present:
                parts.append(_FROM_RECORD_LINEAGE[table])
            if table in present:  # legacy files
                parts.append(
                    f"SELECT f.* EXCLUDE (filename) FROM {source(table)} f SEMI JOIN v_materializations m "
                    "ON f.asset = m.asset AND f.partition = m.partition AND f.data_version = m.data_version "
                    "AND f.run_id = m.run_id"
                )
            if parts:
                con.execute(f"CREATE OR REPLACE VIEW v_{table} AS " + " UNION ALL BY NAME ".join(parts))
        con.execute("INSERT OR REPLACE INTO lineage_meta VALUES ('views', ?)", [signature])
    except duckdb.Error:  # views are a convenience; never fail a sync for one
        pass
