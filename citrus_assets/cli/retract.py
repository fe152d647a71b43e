"""``citrus retract``: the steps of a retraction (see :mod:`resources.retraction` for what it means)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import dagster as dg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from resources.lake import QUARANTINE_DIR, Lake
from resources.lineage.commit import publish_partition
from resources.lineage.schema import RECORD_ID, UNPARTITIONED
from resources.lineage.store import LineageStore
from resources.lineage.writer import LineageWriter, table_data_version
from resources.retraction import (
    Retraction,
    RetractionFilter,
    RetractionRegistry,
    parse_target,
    row_texts,
    source_matches,
    source_signatures,
)

DATA_VERSION_TAG = "dagster/data_version"


@dataclass
class RetractReport:
    target: str
    records: list[str]
    by_partition: list[dict]
    checkpoints: list[dict]
    retraction: Retraction | None = None
    rewritten: list[dict] = field(default_factory=list)  # asset, partition, rows_before, rows_after, data_version
    skipped: list[str] = field(default_factory=list)
    quarantine_removed: int = 0  # quarantined units of the retracted source removed from quarantine files
    cache: dict = field(default_factory=dict)  # GenerationCache.delete_matching result (deleted, left, ...)
    signatures: int = 0  # (asset, retracted source) MinHash fingerprints kept for the near-duplicate warning


def affected(store: LineageStore, target: str) -> tuple[list[str], list[dict], list[dict]]:
    """(record ids, asset partitions holding them, checkpoints trained on them) of a retraction target."""
    asset, partition = parse_target(target)
    impact = store.impact(asset, partition, max_records=None)
    records = list(impact["records"])
    parts = [dict(p) for p in impact["by_partition"]]
    if asset != "source":  # the target partition's own records go too
        sql = (
            "SELECT DISTINCT r.record_id, m.partition FROM records r JOIN materializations m USING (mid) "
            "WHERE m.asset = ?" + (" AND m.partition = ?" if partition is not None else "")
        )
        own = store.query(sql, [asset] + ([partition] if partition is not None else []), sync=False)
        records += [r for r, _ in own]
        for p in sorted({p for _, p in own}):
            parts.append({"asset": asset, "partition": p, "n_records": sum(1 for _, q in own if q == p)})
    return sorted(set(records)), parts, list(impact["checkpoints"])


def default_llm_cache() -> str:
    from resources.llm.backends.builtin import cache_dir
    from resources.llm.resource import CACHE_FILE

    return str(cache_dir(None) / CACHE_FILE)


def purge_quarantine(lake: Lake, source: str) -> int:
    """Remove the quarantined units of a retracted source file from every quarantine file; returns how many."""
    root = lake.join(QUARANTINE_DIR)
    if not lake.fs.exists(root):
        return 0
    removed = 0
    for path in lake.fs.find(root):
        if not path.endswith("quarantine.parquet"):
            continue
        with lake.fs.open(path, "rb") as fh:
            t = pq.read_table(fh)
        keep = [not source_matches(u, source) for u in t.column("source_uri").to_pylist()]
        if all(keep):
            continue
        removed += len(keep) - sum(keep)
        kept = t.filter(pa.array(keep, pa.bool_()))
        if kept.num_rows:
            lake.write_table(kept, path)
        else:
            lake.fs.rm(path)
    return removed


def retract(
    lake: Lake,
    store: LineageStore,
    target: str,
    reason: str,
    *,
    instance: dg.DagsterInstance | None = None,
    dry_run: bool = False,
    llm_cache: str | None = None,
) -> RetractReport:
    """Retract ``target``; with ``dry_run`` only report what would be affected. ``llm_cache``: the request
    cache file to purge (default: the LLM resource's default cache file, when it exists)."""
    if not reason.strip():
        raise ValueError("a retraction needs a reason (--reason)")
    records, parts, checkpoints = affected(store, target)
    report = RetractReport(target, records, parts, checkpoints)
    if dry_run:
        return report
    checkpoint_assets = sorted({c["checkpoint_asset"] for c in checkpoints})
    pairs = sorted({(p["asset"], p["partition"]) for p in parts if p["asset"] not in checkpoint_assets})
    report.retraction = RetractionRegistry(lake).add(target, reason, records, pairs, checkpoint_assets)
    rid = report.retraction.id
    flt = RetractionFilter(lake)
    writer = LineageWriter(lake.lineage_root)
    texts: list[str] = []  # text of every affected record, for the LLM cache purge
    signatures = {}
    for asset, partition in pairs:
        key = None if partition in (None, UNPARTITIONED) else partition
        if not lake.exists(asset, key):
            report.skipped.append(f"{asset}:{partition} (no data file in the lake)")
            continue
        before = lake.read_table(asset, key)
        after = flt.apply(before).table
        gone = before.filter(pc.invert(pc.is_in(before.column(RECORD_ID), value_set=after.column(RECORD_ID))))
        texts += [t for t in row_texts(gone) if t]
        for col in gone.column_names:  # each string cell too: a prompt may hold one field of a record
            if pa.types.is_string(gone.schema.field(col).type):
                texts += [v for v in gone.column(col).to_pylist() if v]
        signatures.update(
            {
                (asset, u): s
                for u, s in source_signatures(gone).items()
                if report.retraction.source is None or source_matches(u, report.retraction.source)
            }
        )
        dv = table_data_version(after)
        path = publish_partition(
            lake,
            writer,
            asset=asset,
            partition=key,
            table=after,  # the one commit protocol
            run_id=f"retraction-{rid}",
            data_version=dv,
        ).path
        report.rewritten.append(
            {
                "asset": asset,
                "partition": partition,
                "rows_before": before.num_rows,
                "rows_after": after.num_rows,
                "data_version": dv,
            }
        )
        if instance is not None:
            instance.report_runless_asset_event(
                dg.AssetMaterialization(
                    asset_key=dg.AssetKey(asset.split("/")),
                    partition=key,
                    description=f"retraction {rid}: {target} ({reason})",
                    metadata={
                        "dagster/row_count": after.num_rows,
                        "path": dg.MetadataValue.path(lake.url(path)),
                        "retracted_rows": before.num_rows - after.num_rows,
                        "retraction": rid,
                        "retraction_reason": reason,
                        "data_version": dv,
                    },
                    tags={DATA_VERSION_TAG: dv},
                )
            )
    RetractionRegistry(lake).add_signatures(rid, signatures)
    report.signatures = len(signatures)
    if report.retraction.source:
        report.quarantine_removed = purge_quarantine(lake, report.retraction.source)
    cache_path = llm_cache or default_llm_cache()
    if os.path.exists(cache_path):
        from resources.llm.cache import GenerationCache

        cache = GenerationCache(cache_path)
        try:
            report.cache = cache.delete_matching(texts)
        finally:
            cache.close()
    store.sync()
    return report


def format_report(r: RetractReport) -> str:
    lines = [f"retraction target {r.target}: {len(r.records)} records affected"]
    for p in r.by_partition:
        lines.append(f"  {p['asset']} [{p['partition']}]: {p['n_records']} records")
    for c in r.checkpoints:
        lines.append(
            f"  checkpoint {c['checkpoint_asset']} (data version {c['checkpoint_data_version']}) "
            f"trained on affected data"
        )
    if r.retraction is None:
        lines.append("dry run: nothing changed")
        return "\n".join(lines)
    lines.append(f"recorded as retraction {r.retraction.id} (reason: {r.retraction.reason})")
    for w in r.rewritten:
        lines.append(
            f"  rewrote {w['asset']} [{w['partition']}]: {w['rows_before']} -> {w['rows_after']} rows, "
            f"data version {w['data_version']}"
        )
    for s in r.skipped:
        lines.append(f"  skipped {s}")
    lines.append(f"  quarantine: {r.quarantine_removed} units of the retracted source removed")
    if r.cache:
        lines.append(
            f"  LLM cache: {r.cache['deleted']} entries derived from affected records deleted, {r.cache['left']} left"
        )
    lines.append(f"  near-duplicate watch: {r.signatures} MinHash fingerprints kept (per asset and retracted source)")
    lines.append("  note: previews of materializations recorded before the retraction stay in Dagster's run storage")
    if r.checkpoints:
        lines.append("Dagster now shows the checkpoints above as stale; their automation retrains them.")
    return "\n".join(lines)
