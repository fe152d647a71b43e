"""The instruction inbox sensor: a new instruction file registers its partition and asks for its run."""

from citrus_assets.common.scheduling.inbox_sensor import inbox_sensor
from citrus_assets.reasoning_data.instructions.assets import instruction_examples, instruction_sets

INSTRUCTION_INBOX_SENSOR = "instruction_inbox_sensor"


def instruction_set_keys(inbox) -> list[str]:
    return list(inbox.files(inbox.instructions_path()))


instruction_inbox_sensor = inbox_sensor(
    name=INSTRUCTION_INBOX_SENSOR,
    asset=instruction_examples,
    partitions_def=instruction_sets,
    list_keys=instruction_set_keys,
    list_entries=lambda inbox: inbox.files(inbox.instructions_path()),
    list_refused=lambda inbox: inbox.refused(inbox.instructions_path()),
    description="Registers an instruction_sets partition for every new file in the instruction inbox and "
    "materializes it.",
)
