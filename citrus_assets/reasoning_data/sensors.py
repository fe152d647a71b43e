"""The seed inbox sensor: a new seed file registers its partition and asks for its run."""


import dagster as dg

from citrus_assets.reasoning_data.assets import question_seeds, seed_sets
from resources.inbox import InboxResource

SEED_INBOX_SENSOR = "seed_inbox_sensor"


def new_seed_partitions(inbox: InboxResource, existing: set[str]) -> list[str]:
    return [k for k in inbox.files(inbox.seeds_path()) if k not in existing]


@dg.sensor(
    name=SEED_INBOX_SENSOR,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.STOPPED,
    asset_selection=[question_seeds],
    description="Registers a seed_sets partition for every new file in the seed inbox and materializes it.",
)
def seed_inbox_sensor(context: dg.SensorEvaluationContext, inbox: InboxResource):
    existing = set(context.instance.get_dynamic_partitions(seed_sets.name))
    new = new_seed_partitions(inbox, existing)
    if not new:
        return dg.SkipReason("no new seed files")
    return dg.SensorResult(
        run_requests=[dg.RunRequest(partition_key=k, run_key=f"seeds:{k}") for k in new],
        dynamic_partitions_requests=[seed_sets.build_add_request(new)],
    )
