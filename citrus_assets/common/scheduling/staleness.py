"""Stale data made visible: which materialized asset partitions are stale, and which checkpoints and mixes
were built on them.

Dagster marks a partition stale (the "Unsynced" badge) when an input's data version changed after it was
materialized (the IO manager stamps a content hash, ``resources/lineage/data_version.py``) or its code
version changed. The badge shows only on that asset's Partitions tab, and an unpartitioned asset built
from many partitions (an SFT mix, a checkpoint) is not marked when one of its *ancestors'* partitions went
stale, so "Materialize unsynced" on it misses them (issue 19).

:func:`stale_partitions` asks Dagster's own stale-status resolver about every materialized partition of the
given assets; :func:`stale_upstream` about an asset and all its ancestors. The check
``built_on_current_data`` (WARN, never blocking) on every checkpoint and SFT mix fails when any of them is
stale and lists them (asset, partition, cause) in its metadata: a red-amber badge on the graph node and the
asset page. It runs with each materialization, on demand ("Execute checks" in the UI) and from
``stale_data_sensor`` (every 10 minutes when turned on), which re-evaluates it as inputs change.
"""

from collections.abc import Iterable
from dataclasses import dataclass

import dagster as dg

CHECK_NAME = "built_on_current_data"
# Where stale inputs matter most: what trains (checkpoints) and the unpartitioned mixes built from many
# partitions, whose own "Unsynced" badge misses stale ancestors.
WATCHED = (
    "sft_stage1_mix",
    "sft_stage2_mix",
    "sft_stage3_mix",
    "cpt_checkpoint",
    "sft_stage1_checkpoint",
    "sft_stage2_checkpoint",
    "sft_stage3_checkpoint",
    "rl_checkpoint",
)
MAX_LISTED = 50


@dataclass(frozen=True)
class StalePartition:
    asset: str
    partition: str | None
    causes: tuple[str, ...]

    def as_dict(self) -> dict:
        return {"asset": self.asset, "partition": self.partition or "-", "causes": list(self.causes)}


def _resolver(instance: dg.DagsterInstance, asset_graph):
    from dagster._core.asset_graph_view.asset_graph_view import AssetGraphView, TemporalContext
    from dagster._core.definitions.data_version import CachingStaleStatusResolver
    from dagster._time import get_current_datetime

    view = AssetGraphView(
        temporal_context=TemporalContext(effective_dt=get_current_datetime(), last_event_id=None),
        instance=instance,
        asset_graph=asset_graph,
    )
    return CachingStaleStatusResolver(instance=instance, asset_graph=asset_graph, loading_context=view)


def _cause_text(cause) -> str:
    dep = cause.dependency
    if dep is None:
        return cause.reason
    where = dep.asset_key.to_user_string() + (f"[{dep.partition_key}]" if dep.partition_key else "")
    return f"{cause.reason}: {where}"


def materialized_partitions(instance: dg.DagsterInstance, asset_graph, key: dg.AssetKey) -> list[str | None]:
    """The asset's materialized partition keys (sorted), ``[None]`` for a materialized unpartitioned asset."""
    node = asset_graph.get(key)
    if node.is_partitioned:
        return sorted(instance.get_materialized_partitions(key))
    return [None] if instance.get_latest_materialization_event(key) is not None else []


def stale_partitions(instance: dg.DagsterInstance, asset_graph, keys: Iterable[dg.AssetKey]) -> list[StalePartition]:
    """Every materialized partition of ``keys`` that Dagster's resolver calls STALE, with its causes."""
    from dagster._core.definitions.data_version import StaleStatus

    resolver, out = _resolver(instance, asset_graph), []
    for key in sorted(set(keys), key=lambda k: k.to_user_string()):
        node = asset_graph.get(key)
        if not node.is_materializable:
            continue
        for partition in materialized_partitions(instance, asset_graph, key):
            if resolver.get_status(key, partition) == StaleStatus.STALE:
                causes = tuple(_cause_text(c) for c in resolver.get_stale_causes(key, partition))
                out.append(StalePartition(key.to_user_string(), partition, causes))
    return out


def stale_upstream(instance: dg.DagsterInstance, asset_graph, key: dg.AssetKey) -> list[StalePartition]:
    """Stale partitions of ``key`` and of every asset upstream of it, then the partitions between them and
    ``key`` built on them (Dagster marks only a changed input's direct children stale: a seed set's new data
    makes its judge answers stale, not yet its traces and SFT examples). The latter's cause names the stale
    partition they descend from."""
    within = {key, *asset_graph.get_ancestor_asset_keys(key)}
    stale = stale_partitions(instance, asset_graph, within)
    return stale + built_on_stale(instance, asset_graph, stale, within)


def built_on_stale(
    instance: dg.DagsterInstance, asset_graph, stale: list[StalePartition], within: set[dg.AssetKey]
) -> list[StalePartition]:
    """Materialized partitions of ``within`` downstream of a ``stale`` one (by the graph's partition mappings)."""
    from dagster._core.definitions.events import AssetKeyPartitionKey
    from dagster._core.definitions.partitions.context import partition_loading_context

    start = {AssetKeyPartitionKey(dg.AssetKey(s.asset), s.partition): s for s in stale}
    origin = {k: k for k in start}
    frontier = list(start)
    with partition_loading_context(dynamic_partitions_store=instance):
        while frontier:
            node = frontier.pop()
            for child in sorted(
                asset_graph.get_children_partitions(node.asset_key, node.partition_key),
                key=lambda c: (c.asset_key.to_user_string(), c.partition_key or ""),
            ):
                if child.asset_key in within and child not in origin:
                    origin[child] = origin[node]
                    frontier.append(child)
    out = []
    for k, root in origin.items():
        if k in start or k.partition_key not in materialized_partitions(instance, asset_graph, k.asset_key):
            continue
        where = root.asset_key.to_user_string() + (f"[{root.partition_key}]" if root.partition_key else "")
        out.append(StalePartition(k.asset_key.to_user_string(), k.partition_key, (f"built on stale {where}",)))
    return sorted(out, key=lambda s: (s.asset, s.partition or ""))


def check_result(asset: str, stale: list[StalePartition]) -> dict:
    """The check's outcome as keyword arguments of ``AssetCheckResult`` / ``AssetCheckEvaluation``."""
    own = [s for s in stale if s.asset == asset]
    upstream = [s for s in stale if s.asset != asset]
    by_asset: dict[str, int] = {}
    for s in stale:
        by_asset[s.asset] = by_asset.get(s.asset, 0) + 1
    lines = ["| asset | partition | why stale |", "|---|---|---|"] + [
        f"| {s.asset} | {s.partition or '-'} | {'; '.join(s.causes) or 'stale'} |" for s in stale[:MAX_LISTED]
    ]
    if len(stale) > MAX_LISTED:
        lines.append(f"| … | {len(stale) - MAX_LISTED} more | |")
    desc = (
        "built on current data: no stale partition upstream"
        if not stale
        else f"{asset} is {'stale' if own else 'current'} and built on {len(upstream)} stale upstream partition(s) "
        f"of {len(set(s.asset for s in upstream))} asset(s); re-materialize them, then {asset}"
    )
    return dict(
        passed=not stale,
        severity=dg.AssetCheckSeverity.WARN,
        description=desc,
        metadata={
            "stale_partitions": dg.MetadataValue.int(len(stale)),
            "stale_self": dg.MetadataValue.int(len(own)),
            "stale_by_asset": dg.MetadataValue.json(by_asset),
            "stale_list": dg.MetadataValue.md("\n".join(lines) if stale else "none"),
        },
    )


def _asset_graph(op_context):
    """The code location's asset graph (the job's own when the run has no repository, e.g. a job subset)."""
    graph = op_context.job_def.asset_layer.asset_graph
    return getattr(graph, "source_asset_graph", graph)  # a job's graph is scoped to it; its source is all of them


def current_data_check(asset: str) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=asset,
        name=CHECK_NAME,
        blocking=False,
        description="WARN when this asset or any partition upstream of it is stale (an input's data "
        "version or a code version changed since it was built); lists them. Also re-evaluated by "
        "stale_data_sensor.",
    )
    def _check(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        graph = _asset_graph(context.op_execution_context)
        return dg.AssetCheckResult(**check_result(asset, stale_upstream(context.instance, graph, dg.AssetKey(asset))))

    return _check


checks = [current_data_check(a) for a in WATCHED]


@dg.sensor(
    name="stale_data_sensor",
    minimum_interval_seconds=600,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description=f"Re-evaluates the {CHECK_NAME} check of every checkpoint and SFT mix, so stale inputs show "
    "on the graph as they appear (no run is launched).",
)
def stale_data_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
    graph = context.repository_def.asset_graph
    events = []
    for asset in WATCHED:
        key = dg.AssetKey(asset)
        if not materialized_partitions(context.instance, graph, key):
            continue
        events.append(
            dg.AssetCheckEvaluation(
                asset_key=key,
                check_name=CHECK_NAME,
                **check_result(asset, stale_upstream(context.instance, graph, key)),
            )
        )
    return dg.SensorResult(asset_events=events)
