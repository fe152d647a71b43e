"""JMED-style benchmark builder: consultations -> de-identified -> EMR -> question -> 21 options -> review."""
