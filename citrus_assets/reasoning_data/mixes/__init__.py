"""The SFT training mixes (stages 1, 2 and 3)."""
