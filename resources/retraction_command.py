"""``citrus retract``: the steps of a retraction (see :mod:`resources.retraction` for what it means)."""

from __future__ import annotations

from dataclasses import dataclass, field

import dagster as dg

from resources.lake import Lake
from resources.lineage.schema import UNPARTITIONED
from resources.lineage.store import LineageStore
from resources.lineage.writer import LineageWriter, table_data_version
from resources.retraction import Retraction, RetractionFilter, RetractionRegistry, parse_target

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


def affected(store: LineageStore, target: str) -> tuple[list[str], list[dict], list[dict]]:
    """(record ids, asset partitions holding them, checkpoints trained on them) of a retraction target."""
    asset, partition = parse_target(target)
    impact = store.impact(asset, partition, max_records=None)
    records = list(impact["records"])
    parts = [dict(p) for p in impact["by_partition"]]
    if asset != "source":  # the target partition's own records go too
        sql = ("SELECT DISTINCT r.record_id, m.partition FROM records r JOIN materializations m USING (mid) "
               "WHERE m.asset = ?" + (" AND m.partition = ?" if partition is not None else ""))
        own = store.query(sql, [asset] + ([partition] if partition is not None else []), sync=False)
        records += [r for r, _ in own]
        for p in sorted({p for _, p in own}):
            parts.append({"asset": asset, "partition": p, "n_records": sum(1 for _, q in own if q == p)})
    return sorted(set(records)), parts, list(impact["checkpoints"])


def retract(lake: Lake, store: LineageStore, target: str, reason: str, *,
            instance: dg.DagsterInstance | None = None, dry_run: bool = False) -> RetractReport:
    """Retract ``target``; with ``dry_run`` only report what would be affected."""
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
    for asset, partition in pairs:
        key = None if partition in (None, UNPARTITIONED) else partition
        if not lake.exists(asset, key):
            report.skipped.append(f"{asset}:{partition} (no data file in the lake)")
            continue
        before = lake.read_table(asset, key)
        after = flt.apply(before).table
        path = lake.write_asset(asset, key, after)
        dv = table_data_version(after)
        writer.write_materialization(asset=asset, partition=partition or UNPARTITIONED, run_id=f"retraction-{rid}",
                                     data_version=dv, code_version="", table=after, data_path=lake.url(path))
        report.rewritten.append({"asset": asset, "partition": partition, "rows_before": before.num_rows,
                                 "rows_after": after.num_rows, "data_version": dv})
        if instance is not None:
            instance.report_runless_asset_event(dg.AssetMaterialization(
                asset_key=dg.AssetKey(asset.split("/")), partition=key,
                description=f"retraction {rid}: {target} ({reason})",
                metadata={"dagster/row_count": after.num_rows, "path": dg.MetadataValue.path(lake.url(path)),
                          "retracted_rows": before.num_rows - after.num_rows, "retraction": rid,
                          "retraction_reason": reason, "data_version": dv},
                tags={DATA_VERSION_TAG: dv},
            ))
    store.sync()
    return report


def format_report(r: RetractReport) -> str:
    lines = [f"retraction target {r.target}: {len(r.records)} records affected"]
    for p in r.by_partition:
        lines.append(f"  {p['asset']} [{p['partition']}]: {p['n_records']} records")
    for c in r.checkpoints:
        lines.append(f"  checkpoint {c['checkpoint_asset']} (data version {c['checkpoint_data_version']}) "
                     f"trained on affected data")
    if r.retraction is None:
        lines.append("dry run: nothing changed")
        return "\n".join(lines)
    lines.append(f"recorded as retraction {r.retraction.id} (reason: {r.retraction.reason})")
    for w in r.rewritten:
        lines.append(f"  rewrote {w['asset']} [{w['partition']}]: {w['rows_before']} -> {w['rows_after']} rows, "
                     f"data version {w['data_version']}")
    for s in r.skipped:
        lines.append(f"  skipped {s}")
    if r.checkpoints:
        lines.append("Dagster now shows the checkpoints above as stale; their automation retrains them.")
    return "\n".join(lines)
