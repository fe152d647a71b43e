"""One inbox-sensor factory: new or changed files/batches in a folder ask for runs of their partition.

A new entry registers its dynamic partition and asks for a run. An entry whose *content* differs from what
its partition was last **materialized** from asks for a run of that partition only, so a backfill is never
needed to pick up an edited shard, and an edit made while the sensor was off is picked up when it is
turned on (the sensor does not take its own first look as the baseline). Other partitions are untouched.

What a partition was materialized from: the ``inbox_sha`` metadata of its latest materialization (assets
record ``content_hash`` of their input there); for an asset that does not record it, the materialization's
time against the files' mtimes (a file modified after the materialization counts as changed). A partition
registered but never materialized is left to the run that registered it.

The cursor keeps, per partition key, the size and mtime of its files, their SHA-256 (hashed again only when
size or mtime moved: a `touch` asks for nothing) and ``done``, the hash already confirmed as materialized
(so the event log is read only for entries not yet confirmed). Run keys name the content hash, so a tick
that is evaluated twice asks once.
"""

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import dagster as dg

from resources.inbox import InboxResource


def new_partitions(keys, existing: set[str]) -> list[str]:
    return [k for k in keys if k not in existing]


def _files(entry) -> list[Path]:
    return [entry] if isinstance(entry, Path) else list(entry)


def stat_of(entry) -> list:
    return [[p.name, p.stat().st_size, p.stat().st_mtime_ns] for p in _files(entry)]


def content_hash(entry) -> str:
    h = hashlib.sha256()
    for p in _files(entry):
        h.update(p.name.encode() + b"\0")
        with p.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        h.update(b"\0")
    return h.hexdigest()[:16]


INBOX_SHA = "inbox_sha"  # metadata key: content_hash of the input a partition was materialized from


def inbox_metadata(entry) -> dict:
    """The metadata an inbox asset records about its input (file or batch): what its sensor compares with."""
    return {INBOX_SHA: content_hash(entry)}


def hashed_entries(entries: dict, cursor: dict) -> dict:
    """The new cursor: per key its stat and content hash (re-hashed only when the stat moved), keeping
    ``done`` (the hash confirmed as materialized) from ``cursor``."""
    out = {}
    for key, entry in entries.items():
        try:
            stat = stat_of(entry)
        except OSError:  # vanished or unreadable between listing and stat: looked at next tick
            continue
        seen = cursor.get(key) or {}
        if seen.get("stat") == stat and "sha" in seen:
            out[key] = dict(seen)
            continue
        try:
            digest = content_hash(entry)
        except OSError:
            continue
        out[key] = {"stat": stat, "sha": digest, **({"done": seen["done"]} if "done" in seen else {})}
    return out


def materialized_state(instance, asset_key: dg.AssetKey, partition: str) -> tuple[str | None, float] | None:
    """(``inbox_sha`` metadata or None, timestamp) of the partition's latest materialization; None if none."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=asset_key, asset_partitions=[partition]), limit=1
    ).records
    if not records:
        return None
    rec = records[0]
    md = rec.asset_materialization.metadata if rec.asset_materialization is not None else {}
    sha = md.get(INBOX_SHA)
    return (getattr(sha, "value", sha) if sha is not None else None), rec.timestamp


def changed_since_materialized(state: tuple[str | None, float], entry: dict) -> bool:
    sha, ts = state
    if sha is not None:
        return sha != entry["sha"]
    return max((mtime_ns for _, _, mtime_ns in entry["stat"]), default=0) / 1e9 > ts


def changed_entries(entries: dict, cursor: dict, materialized=None) -> tuple[list[str], dict]:
    """(keys whose content differs from what their partition was last materialized from, the new cursor).

    ``materialized(key)`` -> ``materialized_state`` (None: never materialized, nothing asked). Without it
    (plain use), the previous cursor's hash stands for the materialized content."""
    out = hashed_entries(entries, cursor)
    changed = []
    for key, entry in out.items():
        if entry.get("done") == entry["sha"]:
            continue
        if materialized is None:
            prev = (cursor.get(key) or {}).get("sha")
            if prev is not None and prev != entry["sha"]:
                changed.append(key)
            entry["done"] = entry["sha"] if prev is None else entry.get("done", prev)
            continue
        state = materialized(key)
        if state is None:
            continue
        if changed_since_materialized(state, entry):
            changed.append(key)
        else:
            entry["done"] = entry["sha"]
    return changed, out


def inbox_sensor(
    *,
    name: str,
    asset: dg.AssetsDefinition,
    partitions_def: dg.DynamicPartitionsDefinition,
    list_keys: Callable[[InboxResource], list[str]],
    description: str,
    list_entries: Callable[[InboxResource], dict] | None = None,
    list_refused: Callable[[InboxResource], dict] | None = None,
) -> dg.SensorDefinition:
    """``list_entries`` (key -> file or list of files) turns on change detection; without it only new
    keys ask for runs. ``list_refused`` (name -> reason: links out of the inbox) is logged each tick."""

    @dg.sensor(
        name=name,
        minimum_interval_seconds=30,
        default_status=dg.DefaultSensorStatus.STOPPED,
        asset_selection=[asset],
        description=description,
    )
    def _sensor(context: dg.SensorEvaluationContext, inbox: InboxResource):
        existing = set(context.instance.get_dynamic_partitions(partitions_def.name))
        new = new_partitions(list_keys(inbox), existing)
        if list_refused is not None:
            for name, why in list_refused(inbox).items():
                context.log.warning(f"{partitions_def.name} inbox: {name!r} is not read: {why}")
        changed, cursor = [], None
        if list_entries is not None:
            entries = {k: v for k, v in list_entries(inbox).items() if k in existing and k not in new}
            known = json.loads(context.cursor) if context.cursor else {}
            # compared with what each partition was last materialized from, not with the sensor's first look
            changed, cursor = changed_entries(
                entries, known, lambda k: materialized_state(context.instance, asset.key, k)
            )
        requests = [dg.RunRequest(partition_key=k, run_key=f"{partitions_def.name}:{k}") for k in new]
        requests += [
            dg.RunRequest(
                partition_key=k,
                run_key=f"{partitions_def.name}:{k}:{cursor[k]['sha']}",
                tags={"citrus/inbox_change": "content changed"},
            )
            for k in changed
        ]
        if not requests:
            if cursor is not None and cursor != (json.loads(context.cursor) if context.cursor else {}):
                return dg.SensorResult(
                    cursor=json.dumps(cursor, sort_keys=True),
                    skip_reason=dg.SkipReason(f"nothing new or changed in the {partitions_def.name} inbox"),
                )
            return dg.SkipReason(f"nothing new or changed in the {partitions_def.name} inbox")
        return dg.SensorResult(
            run_requests=requests,
            dynamic_partitions_requests=[partitions_def.build_add_request(new)] if new else [],
            cursor=json.dumps(cursor, sort_keys=True) if cursor is not None else None,
        )

    return _sensor
