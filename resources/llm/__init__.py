"""LLM access for the lake: `LLMResource` (Dagster) over `LLMClient` (plain), three backends
(transformers, OpenAI-compatible HTTP, vLLM) and a persistent SQLite request cache."""

from .builtin import BUILTIN_MODEL, builtin_model_path, builtin_revision
from .cache import GenerationCache, cache_key
from .client import LLMClient
from .cost_guard import LLMBudgetExceeded, LLMCostGuard, RequestBudget
from .resource import LLMResource, clear_backend_cache
from .settings import LLMSettings
from .types import Generation, LLMBackendError, Prompt, Request, SamplingParams

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
