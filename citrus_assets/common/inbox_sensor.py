"""One inbox-sensor factory: new or changed files/batches in a folder ask for runs of their partition.

A new entry registers its dynamic partition and asks for a run. An entry whose *content* changed since
the sensor last saw it asks for a run of that partition only, so a backfill is never needed to pick up an
edited shard. Other partitions are untouched. The cursor keeps, per partition key, the size and mtime of
its files and a SHA-256 of their content. The content is hashed again only when size or mtime moved:
a `touch` or a copy with identical bytes asks for nothing. Run keys name the content hash, so a tick
that is evaluated twice asks once.
"""

import hashlib
import json
from pathlib import Path
from typing import Callable

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


def changed_entries(entries: dict, cursor: dict) -> tuple[list[str], dict]:
    """(keys whose content changed since ``cursor``, the new cursor) for entries already known."""
    out, changed = {}, []
    for key, entry in entries.items():
        stat = stat_of(entry)
        seen = cursor.get(key)
        if seen and seen["stat"] == stat:
            out[key] = seen
            continue
        digest = content_hash(entry)
        if seen and seen["sha"] != digest:
            changed.append(key)
        out[key] = {"stat": stat, "sha": digest}
    return changed, out


def inbox_sensor(
    *, name: str, asset: dg.AssetsDefinition, partitions_def: dg.DynamicPartitionsDefinition,
    list_keys: Callable[[InboxResource], list[str]], description: str,
    list_entries: Callable[[InboxResource], dict] | None = None,
) -> dg.SensorDefinition:
    """``list_entries`` (key -> file or list of files) turns on change detection; without it only new
    keys ask for runs."""

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
        changed, cursor = [], None
        if list_entries is not None:
            entries = list_entries(inbox)
            known = json.loads(context.cursor) if context.cursor else {}
            # partitions registered before the sensor kept a cursor: remember their content, ask nothing
            changed, cursor = changed_entries(entries, known)
            changed = [k for k in changed if k in existing and k not in new]
        requests = [dg.RunRequest(partition_key=k, run_key=f"{partitions_def.name}:{k}") for k in new]
        requests += [dg.RunRequest(partition_key=k, run_key=f"{partitions_def.name}:{k}:{cursor[k]['sha']}",
                                   tags={"citrus/inbox_change": "content changed"}) for k in changed]
        if not requests:
            if cursor is not None and cursor != (json.loads(context.cursor) if context.cursor else {}):
                return dg.SensorResult(cursor=json.dumps(cursor, sort_keys=True),
                                       skip_reason=dg.SkipReason(f"nothing new or changed in the "
                                                                 f"{partitions_def.name} inbox"))
            return dg.SkipReason(f"nothing new or changed in the {partitions_def.name} inbox")
        return dg.SensorResult(
            run_requests=requests,
            dynamic_partitions_requests=[partitions_def.build_add_request(new)] if new else [],
            cursor=json.dumps(cursor, sort_keys=True) if cursor is not None else None,
        )

    return _sensor
