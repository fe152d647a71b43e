"""What the JMED builder adds to the code location."""

from citrus_assets.jmed.assets import deidentified_dialogues, dialogue_months, dialogues, emr_records
from citrus_assets.jmed.checks import checks
from citrus_assets.jmed.item_assets import jmed_benchmark, jmed_options, jmed_questions, jmed_reviews
from citrus_assets.jmed.sensors import dialogue_inbox_sensor

assets = [dialogues, deidentified_dialogues, emr_records, jmed_questions, jmed_options, jmed_reviews, jmed_benchmark]
sensors = [dialogue_inbox_sensor]
partitions = [dialogue_months]

__all__ = ["assets", "checks", "sensors", "partitions", "dialogue_months", *[a.key.path[-1] for a in assets]]
