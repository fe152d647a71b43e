"""The seed inbox sensor: a new seed file registers its partition and asks for its run."""

from citrus_assets.common.scheduling.inbox_sensor import inbox_sensor
from citrus_assets.reasoning_data.seeds.assets import question_seeds, seed_sets

SEED_INBOX_SENSOR = "seed_inbox_sensor"


def seed_keys(inbox) -> list[str]:
    return list(inbox.files(inbox.seeds_path()))


def seed_entries(inbox) -> dict:
    return inbox.files(inbox.seeds_path())


seed_inbox_sensor = inbox_sensor(
    name=SEED_INBOX_SENSOR,
    asset=question_seeds,
    partitions_def=seed_sets,
    list_keys=seed_keys,
    list_entries=seed_entries,
    list_refused=lambda inbox: inbox.refused(inbox.seeds_path()),
    description="Registers a seed_sets partition for every new file in the seed inbox and materializes it; "
    "re-materializes a seed file's partition when its content changes.",
)
