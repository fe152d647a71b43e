"""Asset-level lineage as OpenLineage run events (for Marquez, DataHub, or any OpenLineage consumer).

One materialization of an asset partition (a row of the index's ``materializations``) becomes one
``RunEvent`` with ``eventType`` ``COMPLETE``:

- ``job``: namespace = the export namespace (default ``citrus-lake``), name = the asset key;
- ``run.runId``: a UUID derived from (Dagster run id, asset, partition) (OpenLineage wants one run per
  job execution; one Dagster run may materialize several assets); facets ``parent`` (the Dagster run
  as the parent job ``dagster_run``) and a ``citrus`` facet (partition, code version, data path);
- ``outputs``: the dataset ``<asset>/<partition>`` (namespace = the lake root) with the ``version``
  facet (the data version) and ``outputStatistics`` (row count);
- ``inputs``: every asset partition that holds a parent of one of its records (read from the record
  edges), every source file its records cite (namespace ``file``/``s3``..., name = the URI), and, for
  checkpoints, the inputs recorded in ``checkpoint_inputs`` with their data versions.

Events are written as JSON Lines in ``created_at`` order, so replaying the file into a consumer's
``/api/v1/lineage`` endpoint rebuilds the graph. Spec: https://openlineage.io/spec/2-0-2/OpenLineage.json
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC
from pathlib import Path
from typing import Any

from resources.lineage.query import asset_graph
from resources.lineage.store import LineageStore

SCHEMA_URL = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
PRODUCER = "https://github.com/citrus-lake/citrus-lake/tree/main/resources/lineage"
FACET_PRODUCER = PRODUCER
DEFAULT_NAMESPACE = "citrus-lake"
UNPARTITIONED = "__all__"
_RUN_NS = uuid.UUID("6f1b1d1e-8c57-4f61-9a8f-6a1b2f6c0e11")


def dataset_name(asset: str, partition: str | None) -> str:
    return f"{asset}/{partition or UNPARTITIONED}"


def source_dataset(uri: str) -> dict[str, str]:
    """A source file as an OpenLineage dataset: the scheme is the namespace, the rest the name."""
    scheme, sep, rest = uri.partition("://")
    if sep and scheme:
        return {"namespace": scheme, "name": rest}
    return {"namespace": "file", "name": uri}


def run_uuid(run_id: str, asset: str, partition: str | None) -> str:
    return str(uuid.uuid5(_RUN_NS, f"{run_id}|{asset}|{partition or ''}"))


def _facet(schema: str, **fields: Any) -> dict[str, Any]:
    return {"_producer": FACET_PRODUCER, "_schemaURL": f"https://openlineage.io/spec/facets/{schema}", **fields}


def _iso(ts) -> str:
    if ts is None:
        return "1970-01-01T00:00:00Z"
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    return ts.astimezone(UTC).isoformat().replace("+00:00", "Z")


def run_events(store: LineageStore, namespace: str = DEFAULT_NAMESPACE, *, sync: bool = True) -> Iterator[dict]:
    """OpenLineage RunEvents for every materialization in the index (module doc)."""
    if sync:
        store.sync()
    mats = [tuple(m.values()) for m in asset_graph.materializations(store, sync=False)]
    where = {m[0]: (m[1], m[2]) for m in mats}
    rec_in: dict[int, set] = {}
    for mid, holder in asset_graph.record_inputs(store, sync=False):
        rec_in.setdefault(mid, set()).add(where[holder])
    src_in: dict[int, set] = {}
    for mid, uri in asset_graph.source_inputs(store, sync=False):
        src_in.setdefault(mid, set()).add(uri)
    ckpt_in: dict[tuple, set] = {}
    for ck_asset, _, ck_dv, in_asset, in_part, in_dv in asset_graph.checkpoint_inputs(store, sync=False):
        ckpt_in.setdefault((ck_asset, ck_dv), set()).add((in_asset, in_part, in_dv))
    lake_ns = store.root.rstrip("/").rsplit("/", 1)[0]
    for mid, asset, partition, run_id, dv, code_version, created_at, n_records, data_path in mats:
        inputs: list[dict] = []
        versions = {(a, p): v for a, p, v in ckpt_in.get((asset, dv), set())}
        for a, p in sorted(rec_in.get(mid, set()) | set(versions), key=lambda x: (x[0], x[1] or "")):
            ds: dict[str, Any] = {"namespace": lake_ns, "name": dataset_name(a, p)}
            if versions.get((a, p)):
                ds["facets"] = {"version": _facet("DatasetVersionDatasetFacet.json", datasetVersion=versions[(a, p)])}
            inputs.append(ds)
        inputs += [source_dataset(u) for u in sorted(src_in.get(mid, set()))]
        output = {
            "namespace": lake_ns,
            "name": dataset_name(asset, partition),
            "facets": {"version": _facet("DatasetVersionDatasetFacet.json", datasetVersion=dv or "")},
            "outputFacets": {
                "outputStatistics": _facet("OutputStatisticsOutputDatasetFacet.json", rowCount=int(n_records or 0))
            },
        }
        yield {
            "eventType": "COMPLETE",
            "eventTime": _iso(created_at),
            "producer": PRODUCER,
            "schemaURL": SCHEMA_URL,
            "run": {
                "runId": run_uuid(run_id or "", asset, partition),
                "facets": {
                    "parent": _facet(
                        "ParentRunFacet.json",
                        run={"runId": str(uuid.uuid5(_RUN_NS, run_id or ""))},
                        job={"namespace": namespace, "name": "dagster_run"},
                    ),
                    "citrus": {
                        "_producer": FACET_PRODUCER,
                        "_schemaURL": f"{PRODUCER}#citrus",
                        "dagster_run_id": run_id,
                        "partition": partition,
                        "code_version": code_version,
                        "data_path": data_path,
                    },
                },
            },
            "job": {"namespace": namespace, "name": asset},
            "inputs": inputs,
            "outputs": [output],
        }


def export_jsonl(store: LineageStore, out: str | Path, namespace: str = DEFAULT_NAMESPACE) -> int:
    """Write every event to ``out`` (JSON Lines); returns the number of events."""
    n = 0
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        for ev in run_events(store, namespace):
            fh.write(json.dumps(ev, default=str, sort_keys=True) + "\n")
            n += 1
    tmp.replace(path)
    return n
