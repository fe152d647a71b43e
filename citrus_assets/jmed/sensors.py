"""The consultation inbox sensor: a new month in the inbox registers its partition and asks for its run."""

from citrus_assets.common.scheduling.inbox_sensor import inbox_sensor
from citrus_assets.jmed.assets import dialogue_months, dialogues, dialogues_path
from citrus_assets.jmed.consultations.dialogues import list_months

DIALOGUE_INBOX_SENSOR = "dialogue_inbox_sensor"


def month_keys(inbox=None) -> list[str]:
    """Months present in the consultation inbox (env CITRUS_DIALOGUE_INBOX, else sample/dialogues); the
    shared inbox resource has no dialogue folder, so the folder comes from the same default as the asset."""
    return list_months(dialogues_path())[0]


dialogue_inbox_sensor = inbox_sensor(
    name=DIALOGUE_INBOX_SENSOR,
    asset=dialogues,
    partitions_def=dialogue_months,
    list_keys=month_keys,
    description="Registers a dialogue_months partition for every new month of consultations and materializes it.",
)
