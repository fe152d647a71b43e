"""LLM access for the lake: `LLMResource` (Dagster) over `LLMClient` (plain), three backends
(transformers, OpenAI-compatible HTTP, vLLM) and a persistent SQLite request cache.

The Dagster-facing names (``LLMResource``, ``LLMSettings``, the cost guard) are imported on first use, so the
plain client, cache and backends import without Dagster (benchmarks/gpu_check.py runs them on a bare GPU
machine)."""

from importlib import import_module

from resources.llm.backends.builtin import BUILTIN_MODEL, builtin_model_path, builtin_revision
from resources.llm.cache import GenerationCache, cache_key
from resources.llm.client import LLMClient
from resources.llm.types import Generation, LLMBackendError, Prompt, Request, SamplingParams

_LAZY = {
    "LLMBudgetExceeded": ".cost_guard",
    "LLMCostGuard": ".cost_guard",
    "RequestBudget": ".cost_guard",
    "LLMResource": ".resource",
    "clear_backend_cache": ".resource",
    "LLMSettings": ".settings",
}


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "BUILTIN_MODEL",
    "Generation",
    "GenerationCache",
    "LLMBackendError",
    "LLMBudgetExceeded",
    "LLMClient",
    "LLMCostGuard",
    "LLMResource",
    "LLMSettings",
    "Prompt",
    "Request",
    "RequestBudget",
    "SamplingParams",
    "builtin_model_path",
    "builtin_revision",
    "cache_key",
    "clear_backend_cache",
]
