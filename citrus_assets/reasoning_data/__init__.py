"""Paper stage: reasoning data (question seeds → closed-form answers → …). Composition: defs.py."""
