"""Reasoning traces: the dual-expert loop and the verified first-person SFT examples."""
