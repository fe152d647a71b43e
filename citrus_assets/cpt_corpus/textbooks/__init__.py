"""Textbooks for the CPT corpus: blocks, section chunks, Evol-Instruct Q/A, the assets."""
