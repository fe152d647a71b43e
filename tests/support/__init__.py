"""Test- and benchmark-only support code (not part of the product): scripted LLM backend, demo questions, synthetic web shards."""
