"""Question seeds: benchmark-file loaders, the seed schema, the judge panel's closed-form answers."""
