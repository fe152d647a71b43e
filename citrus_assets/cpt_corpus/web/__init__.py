"""Web documents for the CPT corpus: datatrove curation per shard, cross-shard dedup, the assets."""
