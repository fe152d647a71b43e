"""What the training stage adds to the code location: checkpoints and the RL preference data."""

from citrus_assets.model_training.checkpoints import checks as checkpoint_checks
from citrus_assets.model_training.checkpoints.assets import (
    cpt_checkpoint,
    rl_checkpoint,
    sft_stage1_checkpoint,
    sft_stage2_checkpoint,
    sft_stage3_checkpoint,
)
from citrus_assets.model_training.data_cards.assets import data_card_assets, data_card_checks
from citrus_assets.model_training.preference import checks as preference_checks
from citrus_assets.model_training.preference.assets import preference_pairs, rejection_samples

assets = [cpt_checkpoint, sft_stage1_checkpoint, sft_stage2_checkpoint, sft_stage3_checkpoint,
          rejection_samples, preference_pairs, rl_checkpoint, *data_card_assets]
checks = [*checkpoint_checks.checks, *preference_checks.checks, *data_card_checks]
sensors: list = []
partitions: list = []

__all__ = ["assets", "checks", "sensors", "partitions", *[a.key.path[-1] for a in assets]]
