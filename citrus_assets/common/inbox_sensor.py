"""One inbox-sensor factory: new files/batches in a folder register dynamic partitions and ask for runs."""

from typing import Callable

import dagster as dg

from resources.inbox import InboxResource


def new_partitions(keys, existing: set[str]) -> list[str]:
    return [k for k in keys if k not in existing]


def inbox_sensor(
    *, name: str, asset: dg.AssetsDefinition, partitions_def: dg.DynamicPartitionsDefinition,
    list_keys: Callable[[InboxResource], list[str]], description: str,
) -> dg.SensorDefinition:
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
        if not new:
            return dg.SkipReason(f"nothing new in the {partitions_def.name} inbox")
        return dg.SensorResult(
            run_requests=[dg.RunRequest(partition_key=k, run_key=f"{partitions_def.name}:{k}") for k in new],
            dynamic_partitions_requests=[partitions_def.build_add_request(new)],
        )

    return _sensor
