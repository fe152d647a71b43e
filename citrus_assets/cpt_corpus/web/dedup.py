"""Cross-shard deduplication of one web source: datatrove exact dedup, then multi-stage MinHash.

``dedup_source(shards, work_dir, config)`` takes the kept-document tables of every shard of a
source (``curate_shard(...).documents``) and runs, with ``LocalPipelineExecutor``:

1. exact: ``ExactDedupSignature`` -> ``ExactFindDedups`` -> ``ExactDedupFilter`` (hash of the text;
   the first document of a group is kept, the filter's ``duplicate_count`` metadata counts the rest);
2. near: ``MinhashDedupSignature`` -> ``MinhashDedupBuckets`` -> ``MinhashDedupCluster``
   (``save_cluster_id``, ``save_cluster_size``) -> ``MinhashDedupFilter`` (``load_cluster_ids``,
   ``load_cluster_sizes``) on what exact dedup kept.

Both filters have an ``exclusion_writer``; every removed document becomes a ``duplicates`` row naming
``matched_record_id`` (the document its method matched it to: same exact hash, or the kept member of
its MinHash cluster) and ``kept_record_id`` (the document that survives in its place: the same, or,
when the exact match was itself removed by MinHash, that one's survivor -- always a row of ``kept``).
Documents travel through datatrove as ``<shard>:<row>`` ids, so rows map back exactly even when two
shards hold the same record id.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from datatrove.data import Document
from datatrove.pipeline.dedup import (
    ExactDedupFilter,
    ExactDedupSignature,
    ExactFindDedups,
    MinhashConfig,
    MinhashDedupBuckets,
    MinhashDedupCluster,
    MinhashDedupFilter,
    MinhashDedupSignature,
)
from datatrove.pipeline.dedup.exact_dedup import ExactDedupConfig
from datatrove.pipeline.readers import JsonlReader, ParquetReader
from datatrove.pipeline.writers import JsonlWriter
from datatrove.utils.hashing import HashConfig, create_hash_func

from citrus_assets.cpt_corpus.web.config import DedupResult, WebCurationConfig
from citrus_assets.cpt_corpus.web.pipelines import (
    cleanup,
    id_only_adapter,
    iter_jsonl_folder,
    make_run_dir,
    run_pipeline,
)

DUPLICATES_SCHEMA = pa.schema(
    [
        ("record_id", pa.string()),
        ("kept_record_id", pa.string()),
        ("matched_record_id", pa.string()),
        ("method", pa.string()),  # "exact" | "minhash"
        ("cluster_id", pa.string()),
        ("cluster_size", pa.int64()),  # documents in the group its method found (kept one included)
        ("source_uri", pa.string()),
        ("source_locator", pa.string()),
    ]
)


def exact_text(doc: Document) -> str:
    """Content hashed by exact dedup (module-level, annotated: datatrove picks the hash by return type)."""
    return doc.text


def _exact_config() -> ExactDedupConfig:
    return ExactDedupConfig(content_getter=exact_text, hash_config=HashConfig(precision=64, hash_fc="xxhash"))


def minhash_config(config: WebCurationConfig) -> MinhashConfig:
    return MinhashConfig(
        n_grams=config.minhash_ngrams,
        num_buckets=config.minhash_buckets,
        hashes_per_bucket=config.minhash_hashes_per_bucket,
        seed=config.minhash_seed,
    )


def _run_exact(run: Path, tasks: int, config: WebCurationConfig, source: str) -> str:
    ecfg = _exact_config()
    ex = dict(workers=config.workers, options=config.execution)
    run_pipeline(
        [ParquetReader(source, id_key="id"), ExactDedupSignature(str(run / "exact_sigs"), ecfg)],
        run / "logs/exact1",
        tasks=tasks,
        **ex,
    )
    run_pipeline(
        [ExactFindDedups(str(run / "exact_sigs"), str(run / "exact_dups"), ecfg)],
        run / "logs/exact2",
        options=config.execution,
    )
    out = str(run / "after_exact")
    run_pipeline(
        [
            ParquetReader(source, id_key="id"),
            ExactDedupFilter(str(run / "exact_dups"), ecfg, exclusion_writer=_id_writer(run / "exact_removed")),
            JsonlWriter(out, compression=None),
        ],
        run / "logs/exact3",
        tasks=tasks,
        **ex,
    )
    return out


def _run_minhash(run: Path, tasks: int, config: WebCurationConfig, source: str, reader_cls) -> str:
    mcfg = minhash_config(config)
    ex = dict(workers=config.workers, options=config.execution)
    lang = config.tokenizer_language
    sig = MinhashDedupSignature(str(run / "mh_sigs"), config=mcfg, language=lang)
    run_pipeline([reader_cls(source, id_key="id"), sig], run / "logs/mh1", tasks=tasks, **ex)
    run_pipeline(
        [MinhashDedupBuckets(str(run / "mh_sigs"), str(run / "mh_buckets"), config=mcfg)],
        run / "logs/mh2",
        tasks=mcfg.num_buckets,
        **ex,
    )
    run_pipeline(
        [
            MinhashDedupCluster(
                str(run / "mh_buckets"), str(run / "mh_ids"), config=mcfg, save_cluster_id=True, save_cluster_size=True
            )
        ],
        run / "logs/mh3",
        options=config.execution,
    )
    (run / "mh_ids").mkdir(exist_ok=True)
    for rank in range(tasks):  # a task with no removal/cluster file would skip loading cluster ids
        for ext in ("remove", "clusters", "sizes"):
            (run / "mh_ids" / f"{rank:06d}.{ext}").touch(exist_ok=True)
    out = str(run / "final")
    run_pipeline(
        [
            reader_cls(source, id_key="id"),
            MinhashDedupFilter(
                str(run / "mh_ids"),
                load_cluster_ids=True,
                load_cluster_sizes=True,
                exclusion_writer=_id_writer(run / "mh_removed"),
            ),
            _id_writer(out),
        ],
        run / "logs/mh4",
        tasks=tasks,
        **ex,
    )
    return out


def _id_writer(folder) -> JsonlWriter:
    return JsonlWriter(str(folder), compression=None, adapter=id_only_adapter)


def dedup_source(shards: list[pa.Table], work_dir: str | Path, config: WebCurationConfig | None = None) -> DedupResult:
    """Exact + MinHash dedup across all ``shards`` (tables with ``record_id`` and ``text``)."""
    t0 = time.perf_counter()
    config = config or WebCurationConfig()
    tables = [t for t in shards if t is not None]
    if tables:
        base = pa.concat_tables(tables, promote_options="default")
    else:
        base = pa.table({"record_id": pa.array([], pa.string()), "text": pa.array([], pa.string())})
    keys = [f"{i}:{j}" for i, t in enumerate(tables) for j in range(t.num_rows)]
    pos = {k: n for n, k in enumerate(keys)}
    if base.num_rows == 0:
        base = base.append_column("duplicates_removed", pa.array([], pa.int64()))
        return DedupResult(base, DUPLICATES_SCHEMA.empty_table(), summarize(0, [], {}), time.perf_counter() - t0)

    run = make_run_dir(work_dir, "dedup-")
    try:
        src = run / "input"
        src.mkdir()
        n_files, blank = 0, set()  # rows without text bypass dedup (datatrove readers skip them)
        for i, t in enumerate(tables):
            ids = pa.array([f"{i}:{j}" for j in range(t.num_rows)], pa.string())
            part = pa.table({"id": ids, "text": t.column("text")})
            has_text = pc.fill_null(pc.greater(pc.utf8_length(part.column("text")), 0), False)
            blank.update(part.filter(pc.invert(has_text)).column("id").to_pylist())
            part = part.filter(has_text)
            if part.num_rows:
                pq.write_table(part, src / f"{n_files:05d}.parquet")
                n_files += 1
        tasks = max(1, min(config.dedup_tasks, n_files))
        current, reader_cls = str(src), ParquetReader
        if config.exact_dedup:
            current, reader_cls = _run_exact(run, tasks, config, current), JsonlReader
        if config.minhash_dedup:
            _run_minhash(run, tasks, config, current, reader_cls)
        dups, surviving = _collect(run, base, pos, config) if n_files else (_collect_empty(), set())
        surviving |= blank
        kept_idx = sorted(pos[k] for k in surviving)
        kept = base.take(pa.array(kept_idx, pa.int64())) if kept_idx else base.slice(0, 0)
        per_kept = Counter(dups["kept_record_id"])
        kept = kept.append_column(
            "duplicates_removed",
            pa.array([per_kept.get(r, 0) for r in kept.column("record_id").to_pylist()], pa.int64()),
        )
        dup_table = pa.Table.from_pydict(dups, schema=DUPLICATES_SCHEMA)
        stats = summarize(base.num_rows, dups["method"], per_kept)
        return DedupResult(kept, dup_table, stats, time.perf_counter() - t0)
    finally:
        cleanup(run, config.keep_work_files)


def _collect_empty() -> dict[str, list]:
    return {name: [] for name in DUPLICATES_SCHEMA.names}


def _collect(run: Path, base: pa.Table, pos: dict[str, int], config: WebCurationConfig):
    """Duplicate rows (column dict) and the ids of the surviving documents."""
    rid = base.column("record_id").to_pylist()
    uri = base.column("source_uri").to_pylist() if "source_uri" in base.column_names else [None] * base.num_rows
    loc = base.column("source_locator").to_pylist() if "source_locator" in base.column_names else [None] * base.num_rows
    text = base.column("text")
    all_ids = set(pos)
    matched: dict[str, tuple[str, str, str, int]] = {}  # removed key -> (matched key, method, cluster id, size)

    if config.exact_dedup:
        hash_fc = create_hash_func(_exact_config().hash_config, str)
        survivors = {d["id"]: _meta(d).get("duplicate_count", 0) for d in iter_jsonl_folder(run / "after_exact")}
        by_hash = {hash_fc(text[pos[k]].as_py()): (k, c) for k, c in survivors.items() if c}
        for d in iter_jsonl_folder(run / "exact_removed"):
            h = hash_fc(text[pos[d["id"]]].as_py())
            k, c = by_hash[h]
            matched[d["id"]] = (k, "exact", f"exact-{h:016x}", c + 1)
        all_ids = set(survivors)
    if config.minhash_dedup:
        final = {d["id"]: _meta(d).get("minhash_cluster_id", -1) for d in iter_jsonl_folder(run / "final")}
        root = {c: k for k, c in final.items() if c != -1}
        for d in iter_jsonl_folder(run / "mh_removed"):
            m = _meta(d)
            c = m["minhash_cluster_id"]
            matched[d["id"]] = (root[c], "minhash", f"minhash-{c}", int(m.get("minhash_cluster_size", 0)))
        all_ids = set(final)

    def survivor(k: str) -> str:
        while k in matched:
            k = matched[k][0]
        return k

    cols: dict[str, list[Any]] = {f.name: [] for f in DUPLICATES_SCHEMA}
    for k in sorted(matched, key=pos.__getitem__):
        mk, method, cid, size = matched[k]
        i = pos[k]
        row = (rid[i], rid[pos[survivor(k)]], rid[pos[mk]], method, cid, size, uri[i], loc[i])
        for name, value in zip(DUPLICATES_SCHEMA.names, row):
            cols[name].append(value)
    return cols, all_ids


def _meta(d: dict) -> dict:
    return d.get("metadata") or {}


def summarize(n_in: int, methods: list[str], per_kept: dict[str, int]) -> dict[str, Any]:
    """Dedup rate and the histogram of final group sizes (kept document + its removed duplicates)."""
    n_dup = len(methods)
    by_method = Counter(methods)
    hist = Counter(1 + v for v in per_kept.values() if v)
    return {
        "documents_in": n_in,
        "documents_kept": n_in - n_dup,
        "duplicates": n_dup,
        "exact_duplicates": by_method.get("exact", 0),
        "minhash_duplicates": by_method.get("minhash", 0),
        "dedup_rate": round(n_dup / n_in, 6) if n_in else 0.0,
        "exact_rate": round(by_method.get("exact", 0) / n_in, 6) if n_in else 0.0,
        "minhash_rate": round(by_method.get("minhash", 0) / n_in, 6) if n_in else 0.0,
        "duplicate_groups": sum(hist.values()),
        "group_size_histogram": {str(k): hist[k] for k in sorted(hist)},
    }


__all__ = ["dedup_source", "DedupResult", "DUPLICATES_SCHEMA", "minhash_config", "summarize"]
