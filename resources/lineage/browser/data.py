"""What the lineage browser's pages show, as plain functions over a :class:`LineageStore` (tests call them).

Every function only reads: the DuckDB index through ``store.query`` / ``trace`` / ``impact``, and a few
small files in the lake (one record's row of an asset's Parquet file, a data card, the retraction
registry, one line of a source file named in the index). Lists are capped so a page stays small on a
10M-edge store.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pyarrow.parquet as pq

from resources.lake import Lake
from resources.lineage import schema as S
from resources.lineage.index import id_key
from resources.lineage.settings import url_to_fs
from resources.lineage.store import LineageStore, UnknownRecord
from resources.retraction import RetractionRegistry

SAMPLE_RECORDS = 20  # records listed on a partition page
UPSTREAM_SAMPLE_EDGES = 256  # parent links of a partition looked up to list the partitions it was made from
MAX_LISTED = 200  # rows of any other list on a page
MAX_TRACE_ROWS = 2_000  # nodes listed in a record page's table (the graph draws up to graph.MAX_GRAPH_NODES)
CELL_CHARS = 20_000  # longest value shown of one column of a lake row (prompts and responses are long)
SOURCE_LINE_CHARS = 20_000
MAX_SOURCE_LINE = 5_000_000  # "line N" beyond this is not read
DATA_CARD_SUFFIX = "_data_card"
# Columns of a lake row worth showing first for an LLM-made record (the rest follow).
TEXT_COLUMN_RE = re.compile(r"prompt|response|raw|completion|answer|output|reasoning|chosen|rejected|text|question")
_LINE_RE = re.compile(r"^\s*line\s+(\d+)\s*$", re.IGNORECASE)


def _dicts(cols: tuple[str, ...], rows: list[tuple]) -> list[dict[str, Any]]:
    return [dict(zip(cols, r)) for r in rows]


# ==================================================================== overview
def overview(store: LineageStore) -> dict[str, Any]:
    """Asset partitions (latest materialization each) and checkpoints, for the start page."""
    cols = ("asset", "partition", "n_materializations", "n_records", "data_version", "created_at")
    parts = _dicts(
        cols,
        store.query(
            "SELECT asset, partition, count(*), arg_max(n_records, mid), arg_max(data_version, mid), max(created_at) "
            "FROM materializations GROUP BY ALL ORDER BY asset, partition"
        ),
    )
    counts = dict(
        zip(
            ("materializations", "record_rows", "edge_rows", "source_rows"),
            store.query(
                "SELECT (SELECT count(*) FROM materializations), (SELECT count(*) FROM records), (SELECT count(*) FROM edges),"
                " (SELECT count(*) FROM sources)",
                sync=False,
            )[0],
        )
    )  # stored rows: distinct counts cost seconds at 10M
    return {"partitions": parts, "checkpoints": checkpoints(store, sync=False), "counts": counts}


def checkpoints(store: LineageStore, asset: str | None = None, *, sync: bool = True) -> list[dict[str, Any]]:
    """Checkpoints named in ``checkpoint_inputs`` (of one checkpoint asset, or all) with their input count."""
    cols = ("checkpoint_asset", "checkpoint_partition", "checkpoint_data_version", "n_inputs")
    where, params = ("WHERE checkpoint_asset = ?", [asset]) if asset else ("", [])
    return _dicts(
        cols,
        store.query(
            "SELECT checkpoint_asset, checkpoint_partition, checkpoint_data_version, count(DISTINCT (input_asset,"
            f" input_partition, input_data_version)) FROM checkpoint_inputs {where} GROUP BY ALL ORDER BY ALL",
            params,
            sync=sync,
        ),
    )


# ==================================================================== search
def search(store: LineageStore, q: str) -> dict[str, Any]:
    """Hits for ``q``: a record / source unit id (exact), asset partitions (``asset`` or ``asset:partition``,
    or a substring of either), source files (a substring of the URI), checkpoint assets."""
    q = q.strip()
    out: dict[str, Any] = {"q": q, "record": None, "partitions": [], "sources": [], "checkpoints": []}
    if not q:
        return out
    k = id_key(q)
    known = store.query(
        f"SELECT (SELECT count(*) FROM records WHERE rk = {k}::UBIGINT AND record_id = $1)"
        f" + (SELECT count(*) FROM sources WHERE sk = {k}::UBIGINT AND source_id = $1)"
        f" + (SELECT count(*) FROM edges WHERE ck = {k}::UBIGINT AND child_id = $1)",
        [q],
    )[0][0]
    if known:
        out["record"] = q
        return out  # an id: the other searches would only cost time
    asset, sep, partition = q.partition(":")
    like = f"%{_like_escape(q)}%"
    if sep and partition:
        parts = store.query(
            "SELECT DISTINCT asset, partition FROM materializations WHERE asset = ? AND partition = ?",
            [asset, partition],
            sync=False,
        )
    else:
        parts = []
    parts += store.query(
        "SELECT DISTINCT asset, partition FROM materializations WHERE asset ILIKE ? ESCAPE '\\' OR partition ILIKE ?"
        f" ESCAPE '\\' ORDER BY 1, 2 LIMIT {MAX_LISTED}",
        [like, like],
        sync=False,
    )
    out["partitions"] = [{"asset": a, "partition": p} for a, p in dict.fromkeys(parts)]
    # source files: an exact URI or file name first (an equality scan), a substring only when none matches
    out["sources"] = [
        {"uri": u}
        for (u,) in store.query(
            f"SELECT DISTINCT uri FROM sources WHERE uri = ? OR uri_name = ? ORDER BY uri LIMIT {MAX_LISTED}",
            [q, q],
            sync=False,
        )
    ] or [
        {"uri": u}
        for (u,) in store.query(
            f"SELECT DISTINCT uri FROM sources WHERE uri ILIKE ? ESCAPE '\\' ORDER BY uri LIMIT {MAX_LISTED}",
            [like],
            sync=False,
        )
    ]
    out["checkpoints"] = [c for c in checkpoints(store, sync=False) if q.lower() in c["checkpoint_asset"].lower()]
    return out


def _like_escape(s: str) -> str:
    return s.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def unique_hit(hits: dict[str, Any]) -> tuple[str, dict[str, str]] | None:
    """The one page a search leads to when there is exactly one kind of hit with one item."""
    if hits["record"]:
        return "record", {"id": hits["record"]}
    found = [(k, v) for k in ("partitions", "sources", "checkpoints") for v in hits[k]]
    if len(found) != 1:
        return None
    kind, v = found[0]
    if kind == "partitions":
        return "partition", {"asset": v["asset"], "partition": v["partition"]}
    if kind == "sources":
        return "impact", {"source": v["uri"]}
    return "checkpoint", {"asset": v["checkpoint_asset"]}


# ==================================================================== record
def record(store: LineageStore, record_id: str, *, lake_rows: bool = True) -> dict[str, Any]:
    """The trace of ``record_id`` (see :meth:`LineageStore.trace`), each node with ``data_path`` of the
    materialization holding it and, for LLM-made nodes and the record itself, its row in the lake
    (``lake_row``: column -> shortened value, text columns first; None when the file is gone)."""
    tr = store.trace(record_id)
    nodes = tr["nodes"]
    wanted = [n for n in nodes if n["kind"] == "record" and (n["generation"] or n["depth"] == 0)][:MAX_LISTED]
    paths = _data_paths(store, {(n["asset"], n["partition"], n["data_version"], n["run_id"]) for n in wanted})
    read = {n["record_id"] for n in wanted} if lake_rows else set()
    for n in nodes:
        n["data_path"] = paths.get((n["asset"], n["partition"], n["data_version"], n["run_id"]))
        n["lake_row"] = None
        if n["record_id"] in read and n["data_path"]:
            n["lake_row"] = lake_row(n["data_path"], n["record_id"])
    return tr


def _data_paths(store: LineageStore, keys: set[tuple]) -> dict[tuple, str]:
    if not keys:
        return {}
    rows = store.query(  # materializations is small (one row per commit): filter the rest here
        "SELECT asset, partition, data_version, run_id, data_path FROM materializations "
        "WHERE asset IN (SELECT unnest(?::VARCHAR[]))",
        [sorted({k[0] for k in keys})],
        sync=False,
    )
    rows = [r for r in rows if tuple(r[:4]) in keys]
    return {tuple(r[:4]): r[4] for r in rows}


def lake_row(data_path: str, record_id: str) -> dict[str, str] | None:
    """The row of ``record_id`` in an asset's Parquet file: column -> value as text (long values cut),
    text-like columns (prompt, response, ...) first. None when the file cannot be read or lacks the row."""
    try:
        fs, path = url_to_fs(data_path)
        with fs.open(path, "rb") as fh:
            t = pq.read_table(fh, filters=[(S.RECORD_ID, "=", record_id)])
    except Exception:  # noqa: BLE001 - a gone or unreadable file is shown as "not kept"
        return None
    if t.num_rows == 0:
        return None
    row = t.slice(0, 1).to_pylist()[0]
    skip = {S.RECORD_ID, *S.GEN_COLUMNS}
    cols = [c for c in t.column_names if c not in skip]
    cols = sorted(cols, key=lambda c: not TEXT_COLUMN_RE.search(c))  # stable: table order within each group
    out = {}
    for c in cols:
        v = row[c]
        s = v if isinstance(v, str) else json.dumps(v, ensure_ascii=False, default=str, indent=1)
        out[c] = s if len(s) <= CELL_CHARS else s[:CELL_CHARS] + f"\n… ({len(s) - CELL_CHARS:,} more characters)"
    return out


# ==================================================================== source unit
def source_unit(store: LineageStore, source_id: str) -> dict[str, Any]:
    """A source unit (one line / page / WARC record of an input file): its file, locator, the records read
    from it and, for a readable local or fsspec file with locator ``line N``, the text of that line."""
    k = id_key(source_id)
    rows = store.query(
        f"SELECT DISTINCT s.uri, s.locator, m.asset, m.partition FROM sources s JOIN materializations m USING (mid)"
        f" WHERE s.sk = {k}::UBIGINT AND s.source_id = ? ORDER BY ALL LIMIT {MAX_LISTED}",
        [source_id],
    )
    if not rows:
        raise UnknownRecord(f"no source unit {source_id!r} in the lineage")
    uri, locator = rows[0][0], rows[0][1]
    readers = [
        r[0]
        for r in store.query(
            f"SELECT DISTINCT child_id FROM edges WHERE pk = {k}::UBIGINT AND parent_id = ? ORDER BY 1 LIMIT {MAX_LISTED}",
            [source_id],
            sync=False,
        )
    ]
    text, why = read_source_line(uri, locator)
    return {
        "source_id": source_id,
        "uri": uri,
        "locator": locator,
        "line_text": text,
        "line_note": why,
        "cited_by": [{"uri": u, "locator": loc, "asset": a, "partition": p} for u, loc, a, p in rows],
        "records": readers,
    }


def read_source_line(uri: str, locator: str | None) -> tuple[str | None, str]:
    """(text of line N, note) for locator ``line N`` (1-based) of ``uri``; (None, why not) otherwise."""
    m = _LINE_RE.match(locator or "")
    if not m:
        return None, f"locator {locator!r} is not a line number: the unit is shown by its locator only"
    n = int(m.group(1))
    if n < 1 or n > MAX_SOURCE_LINE:
        return None, f"line {n} is out of the range read here"
    try:
        fs, path = url_to_fs(uri)
        with fs.open(path, "rb") as fh:
            for i, raw in enumerate(fh, 1):
                if i == n:
                    s = raw.decode("utf-8", "replace").rstrip("\r\n")
                    cut = len(s) > SOURCE_LINE_CHARS
                    return (s[:SOURCE_LINE_CHARS] + (" …" if cut else "")), f"{uri}, line {n}" + (
                        " (cut)" if cut else ""
                    )
    except Exception as exc:  # noqa: BLE001 - a moved or remote-only file: say so
        return None, f"the file cannot be read here ({type(exc).__name__})"
    return None, f"the file has fewer than {n} lines now"


# ==================================================================== partition
def partition(store: LineageStore, asset: str, part: str) -> dict[str, Any]:
    """Materializations of an asset partition (newest first), a sample of the latest one's records, the
    asset partitions its records' parents live in, and the checkpoints that name it as an input."""
    cols = ("mid", "run_id", "data_version", "code_version", "created_at", "n_records", "data_path")
    mats = _dicts(
        cols,
        store.query(
            f"SELECT {', '.join(cols)} FROM materializations WHERE asset = ? AND partition = ? ORDER BY mid DESC",
            [asset, part],
        ),
    )
    if not mats:
        raise UnknownRecord(f"no committed lineage for asset {asset!r} partition {part!r}")
    mid = int(mats[0]["mid"])
    sample = [
        r[0] for r in store.query(f"SELECT record_id FROM records WHERE mid = {mid} LIMIT {SAMPLE_RECORDS}", sync=False)
    ]
    # upstream partitions from the parents of a sample of edges: an index lookup per key, not a join of
    # the whole partition's edges with every record (seconds at 10M edges)
    parents = store.query(
        f"SELECT DISTINCT pk, parent_id FROM (SELECT pk, parent_id FROM edges WHERE mid = {mid}"
        f" LIMIT {UPSTREAM_SAMPLE_EDGES})",
        sync=False,
    )
    upstream: list[dict[str, Any]] = []
    if parents:
        wanted = {p for _, p in parents}
        keys = ",".join(f"{int(k)}::UBIGINT" for k in {k for k, _ in parents})
        hits = store.query(f"SELECT DISTINCT record_id, mid FROM records WHERE rk IN ({keys})", sync=False)
        mids = sorted({int(m) for r, m in hits if r in wanted and int(m) != mid})
        if mids:
            upstream = _dicts(
                ("asset", "partition"),
                store.query(
                    "SELECT DISTINCT asset, partition FROM materializations WHERE mid IN (SELECT unnest(?::INTEGER[]))"
                    " ORDER BY 1, 2",
                    [mids],
                    sync=False,
                ),
            )
    sources = [
        {"uri": u, "n_units": n}
        for u, n in store.query(
            f"SELECT uri, count(DISTINCT sk) FROM sources WHERE mid = ? GROUP BY uri ORDER BY uri LIMIT {MAX_LISTED}",
            [mid],
            sync=False,
        )
    ]
    ckpts = _dicts(
        ("checkpoint_asset", "checkpoint_partition", "checkpoint_data_version", "input_data_version"),
        store.query(
            "SELECT DISTINCT checkpoint_asset, checkpoint_partition, checkpoint_data_version,"
            " input_data_version FROM checkpoint_inputs WHERE input_asset = ? AND input_partition = ?"
            " ORDER BY ALL",
            [asset, part],
            sync=False,
        ),
    )
    is_checkpoint = bool(
        store.query("SELECT count(*) FROM checkpoint_inputs WHERE checkpoint_asset = ?", [asset], sync=False)[0][0]
    )
    return {
        "asset": asset,
        "partition": part,
        "materializations": mats,
        "sample": sample,
        "upstream": upstream,
        "sources": sources,
        "checkpoints": ckpts,
        "is_checkpoint": is_checkpoint,
    }


# ==================================================================== checkpoint
def checkpoint(
    store: LineageStore, asset: str, part: str | None = None, data_version: str | None = None
) -> dict[str, Any]:
    """The training inputs of a checkpoint (every version of ``asset`` unless ``data_version`` is given,
    newest data card first) and its latest data card from the lake (``card``: Markdown or None)."""
    cols = ("checkpoint_partition", "checkpoint_data_version", "input_asset", "input_partition", "input_data_version")
    cond, params = ["checkpoint_asset = ?"], [asset]
    for col, v in (("checkpoint_partition", part), ("checkpoint_data_version", data_version)):
        if v is not None:
            cond.append(f"{col} = ?")
            params.append(v)
    inputs = _dicts(
        cols,
        store.query(
            f"SELECT DISTINCT {', '.join(cols)} FROM checkpoint_inputs WHERE {' AND '.join(cond)} ORDER BY ALL", params
        ),
    )
    if not inputs:
        raise UnknownRecord(f"no checkpoint {asset!r}" + (f" at data version {data_version!r}" if data_version else ""))
    versions: dict[tuple, list[dict]] = {}
    for i in inputs:
        versions.setdefault((i["checkpoint_partition"], i["checkpoint_data_version"]), []).append(i)
    return {
        "asset": asset,
        "versions": [{"partition": p, "data_version": dv, "inputs": v} for (p, dv), v in versions.items()],
        "card": data_card(store, asset, data_version),
    }


def data_card(store: LineageStore, checkpoint_asset: str, data_version: str | None = None) -> dict[str, Any] | None:
    """The newest data card of ``checkpoint_asset`` (at ``data_version`` if given) that the lake keeps:
    ``{"asset", "partition", "data_version", "checkpoint_data_version", "markdown", "json", "md_path"}``.

    Data cards are the ``*_data_card`` assets (``citrus_assets.model_training.data_cards.assets``): one row naming
    its ``checkpoint_asset``, with ``card_json`` and the path of ``card.md``."""
    mats = store.query(
        "SELECT asset, partition, data_version, data_path FROM materializations WHERE asset LIKE ? ESCAPE '\\' "
        "ORDER BY mid DESC LIMIT 100",
        ["%" + _like_escape(DATA_CARD_SUFFIX)],
        sync=False,
    )
    for asset, part, dv, path in mats:
        try:
            fs, p = url_to_fs(path)
            with fs.open(p, "rb") as fh:
                rows = pq.read_table(fh).to_pylist()
        except Exception:  # noqa: BLE001 - a card file that is gone: try an older one
            continue
        for row in rows:
            if row.get("checkpoint_asset") != checkpoint_asset:
                continue
            if data_version is not None and row.get("checkpoint_data_version") != data_version:
                continue
            md = None
            if row.get("card_md_path"):
                try:
                    fs2, p2 = url_to_fs(row["card_md_path"])
                    with fs2.open(p2, "rb") as fh:
                        md = fh.read().decode("utf-8", "replace")
                except Exception:  # noqa: BLE001 - fall back to the JSON in the row
                    md = None
            return {
                "asset": asset,
                "partition": part,
                "data_version": dv,
                "md_path": row.get("card_md_path"),
                "checkpoint_data_version": row.get("checkpoint_data_version"),
                "markdown": md,
                "json": row.get("card_json"),
                "complete": row.get("complete"),
                "problems": row.get("problems") or [],
            }
    return None


# ==================================================================== impact
def impact(
    store: LineageStore,
    *,
    asset: str | None = None,
    part: str | None = None,
    source: str | None = None,
    record_id: str | None = None,
    max_records: int = MAX_LISTED,
) -> dict[str, Any]:
    """:meth:`LineageStore.impact` of a source file, an asset (partition) or a record."""
    if record_id:
        return store.impact_record(record_id, max_records=max_records)
    if source:
        return store.impact(S.SOURCE_ASSET, source, max_records=max_records)
    if asset:
        return store.impact(asset, part or None, max_records=max_records)
    raise UnknownRecord("give a source file, an asset (and partition) or a record")


def retractions(lake_root: str) -> list[dict[str, Any]]:
    """The lake's retractions (``_retractions/retractions.jsonl``), newest first; [] when there are none."""
    try:
        entries = RetractionRegistry(Lake(lake_root)).entries()
    except Exception:  # noqa: BLE001 - no registry or an unreadable one: nothing to list
        return []
    return [dict(vars(e)) for e in reversed(entries)]
