"""Retraction: take a source (a file, or an asset partition such as one web shard) out of the lake.

``citrus retract source:FILE --reason ...`` (or ``ASSET:PARTITION``):

1. asks the lineage index for everything derived from the target (records, asset partitions, and the
   checkpoints trained on any of them: :meth:`LineageStore.impact`) and prints it;
2. records the retraction in the lake: ``_retractions/retractions.jsonl`` (one JSON line per
   retraction: id, target, reason, time, counts) and ``_retractions/<id>.parquet`` (the ids of every
   affected record, and of the retracted source units);
3. rewrites every affected asset partition without the affected records (a new data file and a
   lineage commit, run id ``retraction-<id>``) and reports that as a runless materialization to
   Dagster with the new data version. Dagster then shows everything downstream (down to the
   checkpoints) as stale. The checkpoints' automation conditions request retraining because an input's
   data version changed;
4. from then on the lake's IO manager drops retracted rows on every write and every read
   (:class:`RetractionFilter`): a record whose id was affected, or whose ``source_uri`` is a retracted
   file, never reaches an asset again, however the source is re-read. Each drop is counted in the
   materialization metadata (``retracted_rows``).

Retracting an asset partition removes the records of that partition and everything derived from them.
Retracting a source file removes the records that cite it.
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from resources.lineage.schema import RECORD_ID, SOURCE_URI

RETRACTIONS_DIR = "_retractions"
REGISTRY_FILE = "retractions.jsonl"
SOURCE_PREFIX = "source:"


@dataclass
class Retraction:
    id: str
    target: str  # "source:<uri or file name>" or "<asset>:<partition>" / "<asset>"
    reason: str
    at: str
    records: int = 0
    asset_partitions: list = field(default_factory=list)  # [[asset, partition], ...] rewritten
    checkpoints: list = field(default_factory=list)  # checkpoint assets trained on affected data

    @property
    def source(self) -> str | None:
        return self.target[len(SOURCE_PREFIX):] if self.target.startswith(SOURCE_PREFIX) else None


def parse_target(target: str) -> tuple[str, str | None]:
    """``source:FILE`` -> ("source", FILE); ``ASSET[:PARTITION]`` -> (asset, partition or None)."""
    asset, sep, partition = target.partition(":")
    return asset, (partition if sep and partition else None)


def source_matches(uri: str | None, source: str) -> bool:
    """A row's ``source_uri`` matches a retracted source given as a full URI or a bare file name."""
    if not uri:
        return False
    return uri == source or ("/" not in source and os.path.basename(uri.rstrip("/")) == source)


class RetractionRegistry:
    """The lake's list of retractions and the record ids each one removes."""

    def __init__(self, lake):
        self.lake = lake
        self.dir = lake.join(RETRACTIONS_DIR)
        self.path = lake.join(RETRACTIONS_DIR, REGISTRY_FILE)

    def entries(self) -> list[Retraction]:
        if not self.lake.fs.exists(self.path):
            return []
        with self.lake.fs.open(self.path, "rb") as fh:
            return [Retraction(**json.loads(line)) for line in fh.read().decode("utf-8").splitlines() if line.strip()]

    def record_ids_path(self, rid: str) -> str:
        return self.lake.join(RETRACTIONS_DIR, f"{rid}.parquet")

    def add(self, target: str, reason: str, record_ids: list[str], asset_partitions: list, checkpoints: list
            ) -> Retraction:
        """Store a retraction (ids first, then the registry line that makes it effective)."""
        rid = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]
        r = Retraction(rid, target, reason, datetime.now(timezone.utc).isoformat(), len(record_ids),
                       [list(x) for x in asset_partitions], list(checkpoints))
        self.lake.write_table(pa.table({RECORD_ID: pa.array(sorted(set(record_ids)), pa.string())}),
                              self.record_ids_path(rid))
        lines = [json.dumps(asdict(e), sort_keys=True) for e in self.entries()] + [json.dumps(asdict(r), sort_keys=True)]
        self.lake.fs.makedirs(self.dir, exist_ok=True)
        tmp = self.lake.join(RETRACTIONS_DIR, f".tmp-{uuid.uuid4().hex}")
        with self.lake.fs.open(tmp, "wb") as fh:
            fh.write(("\n".join(lines) + "\n").encode("utf-8"))
        self.lake.fs.mv(tmp, self.path)
        return r

    def record_ids(self) -> pa.Array:
        ids = []
        for e in self.entries():
            p = self.record_ids_path(e.id)
            if self.lake.fs.exists(p):
                with self.lake.fs.open(p, "rb") as fh:
                    ids.append(pq.read_table(fh).column(RECORD_ID).combine_chunks())
        return pa.concat_arrays(ids) if ids else pa.array([], pa.string())

    def sources(self) -> list[str]:
        return [e.source for e in self.entries() if e.source]


@dataclass
class Filtered:
    table: pa.Table
    dropped: int


class RetractionFilter:
    """Drops retracted rows from tables; cached per registry version (cheap when nothing is retracted)."""

    _cache: dict[str, tuple[float, pa.Array, list[str]]] = {}
    _lock = threading.Lock()

    def __init__(self, lake):
        self.registry = RetractionRegistry(lake)

    def _state(self) -> tuple[pa.Array, list[str]]:
        fs, path = self.registry.lake.fs, self.registry.path
        if not fs.exists(path):
            return pa.array([], pa.string()), []
        info = fs.info(path)
        stamp = f"{info.get('mtime') or info.get('LastModified') or ''}:{info.get('size')}"
        key = f"{self.registry.lake.root}|{path}"
        with self._lock:
            hit = self._cache.get(key)
            if hit and hit[0] == stamp:
                return hit[1], hit[2]
        ids, sources = self.registry.record_ids(), self.registry.sources()
        with self._lock:
            self._cache[key] = (stamp, ids, sources)
        return ids, sources

    def apply(self, table: pa.Table) -> Filtered:
        ids, sources = self._state()
        if table.num_rows == 0 or (len(ids) == 0 and not sources):
            return Filtered(table, 0)
        drop = pc.is_in(table.column(RECORD_ID), value_set=ids) if len(ids) else None
        if sources and SOURCE_URI in table.column_names:
            uris = table.column(SOURCE_URI).to_pylist()
            by_source = pa.array([any(source_matches(u, s) for s in sources) for u in uris], pa.bool_())
            drop = by_source if drop is None else pc.or_(drop, by_source)
        if drop is None:
            return Filtered(table, 0)
        drop = pc.fill_null(drop, False)
        n = int(pc.sum(drop).as_py() or 0)
        if not n:
            return Filtered(table, 0)
        return Filtered(table.filter(pc.invert(drop)), n)
