"""Instruction data for SFT stages 1 and 2: one partition per inbox file."""
