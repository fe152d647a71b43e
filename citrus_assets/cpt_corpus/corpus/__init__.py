"""The assembled CPT corpus: labelled documents and training-ready shards."""
