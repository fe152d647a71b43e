"""RL-stage data: rejection samples and preference pairs."""
