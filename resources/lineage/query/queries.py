"""``trace``, ``impact`` and ``stats`` over an open connection to the DuckDB lineage index.

``trace`` is a handful of ART index lookups per level on the 64-bit id keys (``edges.ck``, ``records.rk``,
``generations.rk``, ``sources.sk``), re-checked on the string ids; ``impact`` walks children breadth-first
with integer semi-joins over ``edges.pk`` (one scan of an 8-byte column per level, no string hashing).
A 64-bit key collision (p~1e-6 at 10M ids) could only add records to an ``impact`` answer, never drop
one. Rows are kept once per materialization (re-runs repeat them); queries de-duplicate. The caller
(:class:`~resources.lineage.store.LineageStore`) opens, syncs and keeps the connection.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from typing import Any

import duckdb
import pyarrow as pa

from resources.lineage import schema as S
from resources.lineage.index import id_key, one_row
from resources.lineage.writer import path_component

__all__ = ["UnknownRecord", "trace", "impact", "impact_record", "stats"]

_LITERAL_KEYS_MAX = 256  # up to this many keys: literal IN list (ART index scan); else a semi-join


class UnknownRecord(KeyError):
    """No committed lineage for this record id (or asset/partition, or source file)."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else "unknown record"


def _uri_basename(uri: str) -> str:
    return uri.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]


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


def trace(con: duckdb.DuckDBPyConnection, record_id: str, max_depth: int | None = None) -> dict[str, Any]:
    """Every ancestor of ``record_id`` down to the source documents (see :meth:`LineageStore.trace`)."""
    registered: list[str] = []
    try:
        return _trace(con, record_id, max_depth, registered)
    finally:
        for name in registered:
            con.unregister(name)


def _trace(con: duckdb.DuckDBPyConnection, rid: str, max_depth: int | None, registered: list[str]) -> dict[str, Any]:
    depth: dict[str, int] = {rid: 0}
    parents: dict[str, set[str]] = {}
    frontier, d = [rid], 0
    while frontier and (max_depth is None or d < max_depth):
        wanted = set(frontier)
        rows = con.execute(
            "SELECT DISTINCT child_id, parent_id FROM edges WHERE ck IN "
            + _keys_sql(con, (id_key(x) for x in frontier), registered)
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
    rec = [
        r
        for r in con.execute(
            f"SELECT DISTINCT record_id, mid FROM records WHERE rk IN {_keys_sql(con, keys, registered)}"
        ).fetchall()
        if r[0] in wanted
    ]
    mats: dict[int, tuple[Any, ...]] = {}
    if rec:
        mats = {
            r[0]: r[1:]
            for r in con.execute(
                "SELECT mid, asset, partition, data_version, run_id, created_at FROM materializations WHERE mid IN ("
                + ",".join(str(int(m)) for m in {r[1] for r in rec})
                + ")"
            ).fetchall()
        }
    appearances: dict[str, list[dict[str, Any]]] = {}
    for record, mid in sorted(rec, key=lambda r: (mats[r[1]][4] is not None, mats[r[1]][4], r[1]), reverse=True):
        a, p, dv, run, created = mats[mid]
        appearances.setdefault(record, []).append(
            {
                "asset": a,
                "partition": p,
                "data_version": dv,
                "run_id": run,
                "created_at": created.isoformat() if created is not None else None,
            }
        )
    generations: dict[str, dict[str, Any]] = {}
    for r in con.execute(
        "SELECT record_id, model_id, model_revision, prompt_template, prompt_hash, sampling, prompt_tokens,"
        " completion_tokens FROM generations "
        f"WHERE rk IN {_keys_sql(con, keys, registered)} ORDER BY mid DESC"
    ).fetchall():
        if r[0] in wanted and r[0] not in generations:
            sampling: Any = r[5]
            try:
                sampling = json.loads(r[5]) if r[5] else r[5]
            except (TypeError, ValueError):
                pass
            generations[r[0]] = {
                "model_id": r[1],
                "model_revision": r[2],
                "prompt_template": r[3],
                "prompt_hash": r[4],
                "sampling": sampling,
                "prompt_tokens": r[6],
                "completion_tokens": r[7],
            }
    sources: dict[str, list[dict[str, Any]]] = {}
    for r in con.execute(
        "SELECT DISTINCT source_id, uri, locator FROM sources "
        f"WHERE sk IN {_keys_sql(con, keys, registered)} ORDER BY uri, locator"
    ).fetchall():
        if r[0] in wanted:
            sources.setdefault(r[0], []).append({"uri": r[1], "locator": r[2]})

    if rid not in appearances and rid not in sources and rid not in parents:
        # known only as somebody's parent?
        hit = one_row(con, f"SELECT count(*) FROM edges WHERE pk = {id_key(rid)}::UBIGINT AND parent_id = ?", [rid])[0]
        if not hit:
            raise UnknownRecord(f"no committed lineage for record {rid!r}")

    nodes = []
    for x in sorted(ids, key=lambda x: (depth[x], x)):
        app = appearances.get(x, [])
        src = sources.get(x, [])
        if app:
            kind, loc = "record", app[0]
        elif src:
            kind, loc = (
                "source",
                {"asset": S.SOURCE_ASSET, "partition": src[0]["uri"], "data_version": None, "run_id": None},
            )
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


def impact(
    con: duckdb.DuckDBPyConnection, asset: str, partition: str | None, max_records: int | None
) -> dict[str, Any]:
    """Everything derived from an asset (partition) or a source file (see :meth:`LineageStore.impact`)."""
    target: dict[str, Any] = {"asset": asset, "partition": partition}
    scope: list[tuple[str, str, str]] = []
    if asset == S.SOURCE_ASSET:
        cond, params = "", []
        if partition is not None:
            cond = "WHERE uri = ? OR uri_name = ?"
            params = [partition, _uri_basename(partition)]
        roots_sql = f"SELECT DISTINCT sk AS k FROM sources {cond}"
        if not one_row(con, f"SELECT count(*) FROM ({roots_sql})", params)[0]:
            raise UnknownRecord(f"no committed lineage reads source file {partition!r}")
    else:
        partition = _resolve_partition(con, asset, partition)
        target["partition"] = partition
        cond = "asset = ?" + (" AND partition = ?" if partition is not None else "")
        params = [asset] + ([partition] if partition is not None else [])
        scope = [
            tuple(r)
            for r in con.execute(
                f"SELECT DISTINCT asset, partition, data_version FROM materializations WHERE {cond}", params
            ).fetchall()
        ]
        roots_sql = f"SELECT DISTINCT rk AS k FROM records WHERE mid IN (SELECT mid FROM materializations WHERE {cond})"
    return _impact(con, target, roots_sql, params, scope, max_records)


def impact_record(con: duckdb.DuckDBPyConnection, record_id: str, max_records: int | None) -> dict[str, Any]:
    """Everything derived from one record (or source unit); same shape as :func:`impact`."""
    k = id_key(record_id)
    known = one_row(
        con,
        f"SELECT (SELECT count(*) FROM records WHERE rk = {k}::UBIGINT AND record_id = $1)"
        f" + (SELECT count(*) FROM sources WHERE sk = {k}::UBIGINT AND source_id = $1)"
        f" + (SELECT count(*) FROM edges WHERE pk = {k}::UBIGINT AND parent_id = $1)",
        [record_id],
    )[0]
    if not known:
        raise UnknownRecord(f"no committed lineage for record {record_id!r}")
    roots_sql = f"SELECT {k}::UBIGINT AS k"
    return _impact(con, {"record_id": record_id}, roots_sql, [], [], max_records)


def _resolve_partition(con: duckdb.DuckDBPyConnection, asset: str, partition: str | None) -> str | None:
    if partition is None:
        if not one_row(con, "SELECT count(*) FROM materializations WHERE asset = ?", [asset])[0]:
            raise UnknownRecord(f"no committed lineage for asset {asset!r}")
        return None
    parts = [
        r[0] for r in con.execute("SELECT DISTINCT partition FROM materializations WHERE asset = ?", [asset]).fetchall()
    ]
    if not parts:
        raise UnknownRecord(f"no committed lineage for asset {asset!r}")
    if partition in parts:
        return partition
    safe = {path_component(p): p for p in parts}  # accept the path-safe folder name too
    if path_component(partition) in safe:
        return safe[path_component(partition)]
    raise UnknownRecord(f"no committed lineage for asset {asset!r} partition {partition!r}")


def _impact(
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
    n_roots = one_row(con, f"SELECT count(*) FROM {seen}")[0]
    depth = 0
    while True:  # breadth-first over integer keys only: the scans never touch the id strings
        depth += 1
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {nxt} AS SELECT DISTINCT e.ck AS k FROM edges e "
            f"WHERE e.pk IN (SELECT k FROM {front}) AND e.ck NOT IN (SELECT k FROM {seen})"
        )
        if not one_row(con, f"SELECT count(*) FROM {nxt}")[0]:
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
    n_desc, max_depth = one_row(
        con, f"SELECT count(DISTINCT record_id), coalesce(max(depth), 0) FROM {apps} WHERE depth > 0"
    )
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
    records = [
        r[0] for r in con.execute(f"SELECT DISTINCT record_id FROM {apps} WHERE depth > 0 ORDER BY 1{limit}").fetchall()
    ]
    checkpoints = _affected_checkpoints(con, affected)
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


def _affected_checkpoints(con: duckdb.DuckDBPyConnection, affected: set[tuple[str, str, str]]) -> list[dict[str, Any]]:
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
        {
            "checkpoint_asset": a,
            "checkpoint_partition": p,
            "checkpoint_data_version": dv,
            "inputs": sorted(v, key=lambda x: (x["asset"], x["partition"], x["data_version"] or "")),
        }
        for (a, p, dv), v in sorted(hits.items(), key=lambda kv: tuple(x or "" for x in kv[0]))
    ]


def stats(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """Counts (``records``/``edges``/...: distinct, by 64-bit key; ``*_rows``: stored rows)."""
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
    return {k: one_row(con, v)[0] for k, v in q.items()}
