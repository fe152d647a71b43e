"""The training stage: checkpoints, preference data, data cards."""

# the asset group's name predates the package's rename (citrus_assets/training -> model_training); kept so the
# asset graph is unchanged (common/stages.py: stage_group)
GROUP = "training"
