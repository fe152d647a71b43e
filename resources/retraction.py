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

What else a retraction covers (``citrus retract`` does it; :mod:`citrus_assets.cli.retract`):

- **quarantine**: quarantined units of a retracted source file are removed from every quarantine file at
  retraction time, and ``Lake.write_quarantine`` leaves them out on every later run
  (:func:`drop_retracted_quarantine`, counted in a log line);
- **LLM request cache**: every cache entry whose rendered prompt or generated text contains the text of
  an affected record is deleted (``GenerationCache.delete_matching``; the cache keeps each entry's
  rendered prompt for this; entries written before it did are matched by their generated text only);
- **near-duplicates**: a MinHash signature (word 3-shingles, 128 xxhash permutations) of each retracted
  source's records is kept per asset that held them (``_retractions/<id>.minhash.parquet``); a write whose
  rows from one new source reach an estimated Jaccard >= ``NEAR_DUP_THRESHOLD`` with a retracted source's
  rows of the same asset logs a warning and is
  counted (``near_retracted_sources``). It warns; it does not drop (the copy may be a legitimate fix).
- **run-storage previews**: not rewritten. Materializations recorded in Dagster before the retraction keep
  their ``preview`` metadata (first rows, cells cut at 80 characters); later materializations never
  show retracted rows, because they are dropped before the preview is made.
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from resources.lineage.schema import RECORD_ID, SOURCE_LOCATOR, SOURCE_URI

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
        return self.target[len(SOURCE_PREFIX) :] if self.target.startswith(SOURCE_PREFIX) else None


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

    def add(
        self, target: str, reason: str, record_ids: list[str], asset_partitions: list, checkpoints: list
    ) -> Retraction:
        """Store a retraction (ids first, then the registry line that makes it effective)."""
        rid = datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]
        r = Retraction(
            rid,
            target,
            reason,
            datetime.now(UTC).isoformat(),
            len(record_ids),
            [list(x) for x in asset_partitions],
            list(checkpoints),
        )
        self.lake.write_table(
            pa.table({RECORD_ID: pa.array(sorted(set(record_ids)), pa.string())}), self.record_ids_path(rid)
        )
        lines = [json.dumps(asdict(e), sort_keys=True) for e in self.entries()] + [
            json.dumps(asdict(r), sort_keys=True)
        ]
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

    def signature_path(self, rid: str) -> str:
        return self.lake.join(RETRACTIONS_DIR, f"{rid}.minhash.parquet")

    def add_signatures(self, rid: str, signatures: dict[tuple[str, str], np.ndarray]) -> None:
        """Keep the MinHash signature of each retracted source's records, per asset that held them:
        ``{(asset, source): signature}`` (for :func:`near_retracted`)."""
        if signatures:
            keys = sorted(signatures)
            self.lake.write_table(
                pa.table(
                    {
                        "asset": [a for a, _ in keys],
                        "source": [s for _, s in keys],
                        "signature": [signatures[k].tolist() for k in keys],
                    },
                    schema=_SIG_SCHEMA,
                ),
                self.signature_path(rid),
            )

    def signatures(self) -> list[tuple[str, str, str, np.ndarray]]:
        """(retraction id, asset, source, signature) of every retracted source with a kept signature."""
        out = []
        for e in self.entries():
            p = self.signature_path(e.id)
            if self.lake.fs.exists(p):
                with self.lake.fs.open(p, "rb") as fh:
                    t = pq.read_table(fh)
                out += [
                    (e.id, a, s, np.asarray(sig, dtype=np.uint64))
                    for a, s, sig in zip(t["asset"].to_pylist(), t["source"].to_pylist(), t["signature"].to_pylist())
                ]
        return out


# ---------------------------------------------------------------- near-duplicates of retracted sources
NUM_PERM = 128
SHINGLE_WORDS = 3
NEAR_DUP_THRESHOLD = 0.5  # estimated Jaccard of word 3-shingles
MAX_SIGNATURE_CHARS = 4_000_000  # text of one source hashed for its signature (a huge shard: its first 4 MB)
_MERSENNE = np.uint64((1 << 61) - 1)
_rng = np.random.default_rng(20250214)
_PERM_A = _rng.integers(1, (1 << 61) - 1, NUM_PERM, dtype=np.uint64)
_PERM_B = _rng.integers(0, (1 << 61) - 1, NUM_PERM, dtype=np.uint64)
_SIG_SCHEMA = pa.schema([("asset", pa.string()), ("source", pa.string()), ("signature", pa.list_(pa.uint64()))])
_NOT_TEXT = {RECORD_ID, SOURCE_URI, SOURCE_LOCATOR, "parent_ids"}


def row_texts(table: pa.Table) -> list[str]:
    """The text of each row: its string columns (ids, source columns left out), joined."""
    cols = [
        c
        for c in table.column_names
        if c not in _NOT_TEXT
        and not c.endswith("_id")
        and (pa.types.is_string(table.schema.field(c).type) or pa.types.is_large_string(table.schema.field(c).type))
    ]
    values = [table.column(c).to_pylist() for c in cols]
    return ["\n".join(v for v in vs if v) for vs in zip(*values)] if cols else [""] * table.num_rows


def minhash(text: str) -> np.ndarray:
    """MinHash signature (``NUM_PERM`` values) of the set of word ``SHINGLE_WORDS``-shingles of ``text``."""
    import xxhash

    words = text[:MAX_SIGNATURE_CHARS].lower().split()
    n = max(1, len(words) - SHINGLE_WORDS + 1)
    shingles = {" ".join(words[i : i + SHINGLE_WORDS]) for i in range(n)} if words else {""}
    h = np.fromiter(
        (xxhash.xxh64_intdigest(s) & ((1 << 61) - 1) for s in shingles), dtype=np.uint64, count=len(shingles)
    )
    # (a*h + b) mod p in uint64 arithmetic: the product wraps (not an exact universal hash, measured good enough:
    # a 3000-word text with one word changed estimates 0.99, a reordering 0.0)
    perm = (h[:, None] * _PERM_A[None, :] + _PERM_B[None, :]) % _MERSENNE
    return perm.min(axis=0)


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean(a == b))


def source_signatures(table: pa.Table) -> dict[str, np.ndarray]:
    """{source_uri: MinHash of its rows' text} for a table with a ``source_uri`` column."""
    if SOURCE_URI not in table.column_names or table.num_rows == 0:
        return {}
    groups: dict[str, list[str]] = {}
    for uri, text in zip(table.column(SOURCE_URI).to_pylist(), row_texts(table)):
        if uri and text:
            groups.setdefault(uri, []).append(text)
    return {uri: minhash("\n".join(texts)) for uri, texts in groups.items()}


def near_retracted(lake, asset: str, table: pa.Table, threshold: float = NEAR_DUP_THRESHOLD) -> list[dict]:
    """Sources of ``table`` (rows of ``asset``) whose rows are near-duplicates of the rows a retracted source
    had in the same asset:
    ``[{"source", "retraction", "retracted_source", "jaccard"}]`` (free when nothing is retracted)."""
    if SOURCE_URI not in table.column_names:
        return []
    registry = RetractionRegistry(lake)
    if not registry.entries():
        return []
    kept = [(rid, src, sig) for rid, a, src, sig in registry.signatures() if a == asset]
    if not kept:
        return []
    hits = []
    for uri, sig in source_signatures(table).items():
        for rid, src, old in kept:
            j = jaccard(sig, old)
            if j >= threshold and uri != src:
                hits.append({"source": uri, "retraction": rid, "retracted_source": src, "jaccard": round(j, 3)})
    return hits


def drop_retracted_quarantine(lake, rows: list) -> tuple[list, int]:
    """Quarantine records of retracted source files are left out: (kept rows, dropped count)."""
    sources = RetractionRegistry(lake).sources() if rows else []
    if not sources:
        return rows, 0
    kept = [r for r in rows if not any(source_matches(r.source_uri, s) for s in sources)]
    return kept, len(rows) - len(kept)


@dataclass
class Filtered:
    table: pa.Table
    dropped: int


class RetractionFilter:
    """Drops retracted rows from tables; cached per registry version (cheap when nothing is retracted)."""

    _cache: dict[str, tuple[str, pa.Array, list[str]]] = {}  # key -> (file stamp, ids, sources)
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
