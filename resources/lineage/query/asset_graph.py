"""Asset-level lineage read from the record index: which materializations feed which.

Shared by the OpenLineage export (:mod:`~resources.lineage.query.openlineage`) and the checkpoint data cards
(``citrus_assets.model_training.data_cards.cards``). Every function runs one read-only query through
:meth:`LineageStore.query` (``sync`` as there) and takes an optional ``mids`` filter: the integer
``mid`` of rows of the index's ``materializations`` table (``None``: every materialization).

* :func:`materializations`: the commit rows (one per materialization), as dicts;
* :func:`record_inputs`: ``(child mid, holder mid)``: materialization ``holder`` holds a parent of a
  record of ``child`` (a parent record re-materialized later has several holders);
* :func:`source_inputs`: ``(mid, uri)``: the source files a materialization's records cite;
* :func:`source_units`: source *units* (lines, pages, WARC records) cited, per file, counting only ids
  that are not themselves records (a pass-through ``source_uri`` column on a derived asset cites records);
* :func:`generation_counts`: records per (model, revision, prompt template, prompt hash);
* :func:`checkpoint_inputs`: the ``checkpoint_inputs`` rows.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from resources.lineage.store import LineageStore

MATERIALIZATION_COLUMNS = (
    "mid",
    "asset",
    "partition",
    "run_id",
    "data_version",
    "code_version",
    "created_at",
    "n_records",
    "data_path",
)
CHECKPOINT_INPUT_COLUMNS = (
    "checkpoint_asset",
    "checkpoint_partition",
    "checkpoint_data_version",
    "input_asset",
    "input_partition",
    "input_data_version",
)


def _mid_filter(col: str, mids: Iterable[int] | None, params: list) -> str:
    if mids is None:
        return "true"
    params.append([int(m) for m in mids])
    return f"{col} IN (SELECT unnest(?::INTEGER[]))"


def materializations(
    store: LineageStore,
    mids: Iterable[int] | None = None,
    *,
    asset: str | None = None,
    partition: str | None = None,
    data_version: str | None = None,
    sync: bool = True,
) -> list[dict[str, Any]]:
    """Commit rows (``MATERIALIZATION_COLUMNS``), oldest first; filtered by ``mids`` and/or asset/partition/version."""
    params: list = []
    cond = [_mid_filter("mid", mids, params)]
    for col, value in (("asset", asset), ("partition", partition), ("data_version", data_version)):
        if value is not None:
            cond.append(f"{col} = ?")
            params.append(value)
    rows = store.query(
        f"SELECT {', '.join(MATERIALIZATION_COLUMNS)} FROM materializations "
        f"WHERE {' AND '.join(cond)} ORDER BY created_at, mid",
        params,
        sync=sync,
    )
    return [dict(zip(MATERIALIZATION_COLUMNS, r)) for r in rows]


def record_inputs(
    store: LineageStore, mids: Iterable[int] | None = None, *, sync: bool = True
) -> list[tuple[int, int]]:
    """``(child mid, holder mid)`` pairs, ``child`` in ``mids``: ``holder`` holds a parent of a record of ``child``."""
    params: list = []
    cond = _mid_filter("e.mid", mids, params)
    return [
        tuple(r)
        for r in store.query(
            "SELECT DISTINCT e.mid, r.mid FROM edges e JOIN records r ON r.rk = e.pk AND r.record_id = e.parent_id "
            f"WHERE r.mid <> e.mid AND {cond} ORDER BY 1, 2",
            params,
            sync=sync,
        )
    ]


def source_inputs(
    store: LineageStore, mids: Iterable[int] | None = None, *, sync: bool = True
) -> list[tuple[int, str]]:
    """``(mid, uri)``: the source files cited by the records of each materialization in ``mids``."""
    params: list = []
    cond = _mid_filter("e.mid", mids, params)
    return [
        tuple(r)
        for r in store.query(
            "SELECT DISTINCT e.mid, s.uri FROM edges e JOIN sources s ON s.sk = e.pk AND s.source_id = e.parent_id "
            f"WHERE s.uri IS NOT NULL AND {cond} ORDER BY 1, 2",
            params,
            sync=sync,
        )
    ]


def source_units(
    store: LineageStore, mids: Iterable[int], *, per_materialization: bool = False, sync: bool = True
) -> list[tuple]:
    """Distinct source units cited by the materializations ``mids``, per file: ``(uri, n_units)`` (each unit
    counted once across ``mids``) or, with ``per_materialization``, ``(mid, uri, n_units)``. Ids held as
    records (cited through a pass-through ``source_uri`` column) are not units."""
    params: list = []
    cond = _mid_filter("s.mid", mids, params)
    key = "s.mid, s.uri" if per_materialization else "s.uri"
    return [
        tuple(r)
        for r in store.query(
            f"SELECT {key}, count(DISTINCT s.source_id) FROM sources s "
            f"WHERE s.uri IS NOT NULL AND {cond} "
            "AND NOT EXISTS (SELECT 1 FROM records r WHERE r.rk = s.sk AND r.record_id = s.source_id) "
            f"GROUP BY ALL ORDER BY {key}",
            params,
            sync=sync,
        )
    ]


def generation_counts(store: LineageStore, mids: Iterable[int] | None = None, *, sync: bool = True) -> list[tuple]:
    """``(mid, model_id, model_revision, prompt_template, prompt_hash, n_records)`` of LLM-made records."""
    params: list = []
    cond = _mid_filter("mid", mids, params)
    return [
        tuple(r)
        for r in store.query(
            "SELECT mid, model_id, model_revision, prompt_template, prompt_hash, count(DISTINCT record_id) "
            f"FROM generations WHERE {cond} GROUP BY ALL ORDER BY ALL",
            params,
            sync=sync,
        )
    ]


def checkpoint_inputs(
    store: LineageStore,
    checkpoint_asset: str | None = None,
    checkpoint_data_version: str | None = None,
    *,
    sync: bool = True,
) -> list[tuple]:
    """Distinct ``checkpoint_inputs`` rows (``CHECKPOINT_INPUT_COLUMNS``), optionally of one checkpoint (version)."""
    params: list = []
    cond = ["true"]
    for col, value in (("checkpoint_asset", checkpoint_asset), ("checkpoint_data_version", checkpoint_data_version)):
        if value is not None:
            cond.append(f"{col} = ?")
            params.append(value)
    return [
        tuple(r)
        for r in store.query(
            f"SELECT DISTINCT {', '.join(CHECKPOINT_INPUT_COLUMNS)} FROM checkpoint_inputs WHERE {' AND '.join(cond)} "
            "ORDER BY ALL",
            params,
            sync=sync,
        )
    ]
