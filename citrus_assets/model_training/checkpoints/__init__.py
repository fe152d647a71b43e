"""Checkpoint assets: CPT -> SFT 1 -> 2 -> 3 -> RL, their checks and the training settings."""
