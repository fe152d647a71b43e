"""Data cards: what each checkpoint was trained on."""
