"""Question preparation: easy/hard labels and the open-ended rewrite."""
