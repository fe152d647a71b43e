"""Paper stage: reasoning data (question seeds → closed-form answers → …)."""

from citrus_assets.reasoning_data.assets import judge_answers, question_seeds, seed_sets
from citrus_assets.reasoning_data.sensors import seed_inbox_sensor

assets = [question_seeds, judge_answers]
sensors = [seed_inbox_sensor]
partitions = [seed_sets]

__all__ = ["assets", "sensors", "partitions", "question_seeds", "judge_answers", "seed_sets"]

from citrus_assets.reasoning_data.checks import checks  # noqa: E402

__all__ += ["checks"]
