"""What the reasoning-data stage adds to the code location."""

from citrus_assets.reasoning_data.assets import judge_answers, question_seeds, seed_sets
from citrus_assets.reasoning_data.checks import checks
from citrus_assets.reasoning_data.sensors import seed_inbox_sensor

assets = [question_seeds, judge_answers]
sensors = [seed_inbox_sensor]
partitions = [seed_sets]

__all__ = ["assets", "checks", "sensors", "partitions", "question_seeds", "judge_answers", "seed_sets"]
