"""What the training stage adds to the code location: checkpoints and the RL preference data."""

from citrus_assets.training import checkpoint_checks, preference_checks
from citrus_assets.training.checkpoint_assets import (
    cpt_checkpoint,
    rl_checkpoint,
    sft_stage1_checkpoint,
    sft_stage2_checkpoint,
    sft_stage3_checkpoint,
)
from citrus_assets.training.data_card_assets import data_card_assets, data_card_checks
from citrus_assets.training.preference_assets import preference_pairs, rejection_samples

assets = [cpt_checkpoint, sft_stage1_checkpoint, sft_stage2_checkpoint, sft_stage3_checkpoint,
          rejection_samples, preference_pairs, rl_checkpoint, *data_card_assets]
checks = [*checkpoint_checks.checks, *preference_checks.checks, *data_card_checks]
sensors: list = []
partitions: list = []

__all__ = ["assets", "checks", "sensors", "partitions", *[a.key.path[-1] for a in assets]]
