"""The generation backends (transformers, OpenAI-compatible HTTP, vLLM) and the built-in model's location."""
