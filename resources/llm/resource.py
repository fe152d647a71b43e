"""`LLMResource`: the Dagster shell around `LLMClient` (backend + persistent request cache).

Backends are kept in a module-level cache keyed by their configuration, so a model is loaded at
most once per process per config, however many resource instances Dagster creates.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import threading
from collections.abc import Sequence

import dagster as dg
from pydantic import PrivateAttr

from resources.llm.backends.builtin import BUILTIN_MODEL
from resources.llm.backends.builtin import cache_dir as resolve_cache_dir
from resources.llm.cache import GenerationCache
from resources.llm.client import LLMClient
from resources.llm.cost_guard import LLMCostGuard, RequestBudget, env_defaults, run_budget
from resources.llm.secrets import SecretError
from resources.llm.settings import SETTINGS_ENV, LLMSettings
from resources.llm.types import Backend, Generation, Prompt, SamplingParams

CACHE_FILE = "llm_cache.sqlite"

_BACKENDS: dict[tuple, Backend] = {}
_CACHES: dict[str, GenerationCache] = {}
_REGISTRY_LOCK = threading.Lock()
_CLIENT_LOCK = threading.Lock()
# keys a bound API key's place in the backend registry: two keys get two backends, and the registry's key
# holds neither the key nor a digest that outlives the process (or could be checked against a guess elsewhere)
_KEY_SALT = os.urandom(16)


def key_identity(api_key: str | None) -> str | None:
    """What the backend registry keeps of a bound key: None when unset, else a salted per-process digest."""
    if api_key is None:
        return None
    return hmac.new(_KEY_SALT, api_key.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()[:32]


def clear_backend_cache() -> None:
    """Forget every loaded backend and open cache of this process (tests; freeing memory)."""
    with _REGISTRY_LOCK:
        _BACKENDS.clear()
        for c in _CACHES.values():
            c.close()
        _CACHES.clear()


class LLMResource(dg.ConfigurableResource, LLMSettings, LLMCostGuard):
    """Batch-first LLM access with a persistent (model, revision, prompt, params, sample) cache.

    The model and how it is served are `LLMSettings` (backend, model, base_url, ...); `use_cache`
    switches the request cache off. The cost guard of automatic runs is `LLMCostGuard`
    (`auto_runs_enabled`, `max_requests_per_auto_run`; see cost_guard.py). With `env_defaults` on (the code
    location's `llm`), settings left at their defaults come from $CITRUS_LLM_BACKEND / _MODEL / _BASE_URL when
    a run starts (`create_resource`), never when the definitions are imported. `api_key` is meant to be bound
    with ``dg.EnvVar("CITRUS_OPENAI_API_KEY")`` (resolved when the run starts; the UI shows the name only).
    """

    use_cache: bool = True

    _client: LLMClient | None = PrivateAttr(default=None)
    _budget: RequestBudget | None = PrivateAttr(default=None)

    # -- plumbing -----------------------------------------------------------------------------
    def _backend_key(self) -> tuple:
        common = (self.backend, self.model, self.revision)
        if self.backend == "openai":
            key = (self.api_key_env, key_identity(self.bound_api_key()))  # never the key itself
            return common + (self.base_url, *key, self.max_concurrency, self.timeout_s, self.max_retries)
        # Only the built-in model depends on cache_dir (where it is converted to).
        models = ""
        if self.model == BUILTIN_MODEL:
            models = os.path.realpath(resolve_cache_dir(self.cache_dir or None) / "models")
        if self.backend == "vllm":
            return common + (self.tensor_parallel_size, self.dtype, models)
        return common + (self.device, self.dtype, self.batch_size, models)

    def bound_api_key(self) -> str | None:
        """``api_key`` as a value: a run hands it resolved; a ``dg.EnvVar`` used outside a run is read now."""
        key = self.api_key
        if isinstance(key, dg.EnvVar):
            value = key.get_value()
            if value is None:
                raise SecretError(f"${key.env_var_name} (bound as the llm resource's api_key) is not set")
            return value
        return key

    def _make_backend(self) -> Backend:
        cache_dir = self.cache_dir or None
        if self.backend == "openai":
            from resources.llm.backends.openai_backend import OpenAIBackend

            return OpenAIBackend(
                self.model,
                self.base_url,
                self.revision,
                api_key_env=self.api_key_env,
                api_key=self.bound_api_key(),
                max_concurrency=self.max_concurrency,
                timeout_s=self.timeout_s,
                max_retries=self.max_retries,
            )
        if self.backend == "vllm":
            from resources.llm.backends.vllm_backend import VLLMBackend

            return VLLMBackend(
                self.model,
                self.revision,
                tensor_parallel_size=self.tensor_parallel_size,
                dtype=self.dtype,
                cache_dir=cache_dir,
            )
        from resources.llm.backends.transformers_backend import TransformersBackend

        return TransformersBackend(
            self.model,
            self.revision,
            device=self.device,
            dtype=self.dtype,
            batch_size=self.batch_size,
            cache_dir=cache_dir,
        )

    def get_backend(self) -> Backend:
        key = self._backend_key()
        with _REGISTRY_LOCK:
            backend = _BACKENDS.get(key)
            if backend is None:
                backend = _BACKENDS[key] = self._make_backend()
            return backend

    def cache_path(self) -> str:
        return str(resolve_cache_dir(self.cache_dir or None) / CACHE_FILE)

    def _get_cache(self) -> GenerationCache | None:
        if not self.use_cache:
            return None
        path = self.cache_path()
        with _REGISTRY_LOCK:
            cache = _CACHES.get(path)
            if cache is None:
                cache = _CACHES[path] = GenerationCache(path)
            return cache

    @property
    def client(self) -> LLMClient:
        with _CLIENT_LOCK:
            if self._client is None:
                self._client = LLMClient(self.get_backend(), self._get_cache())
                self._client.budget = self._budget
            return self._client

    def with_env_defaults(self) -> LLMResource:
        """This resource with `env_defaults` applied now (`SETTINGS_ENV`); itself when nothing changes."""
        updates = env_defaults(self, SETTINGS_ENV) if self.env_defaults else {}
        if not updates:
            return self
        resolved = type(self)(**{**{name: getattr(self, name) for name in type(self).model_fields}, **updates})
        resolved.attach_budget(self._budget)
        return resolved

    def create_resource(self, context: dg.InitResourceContext) -> LLMResource:
        """What a step gets: the settings in force for this run (``with_env_defaults``, read at run time)."""
        return self.with_env_defaults()

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        """The run's cost guard: an automatic run's new requests are charged to its budget (cost_guard.py)."""
        run = getattr(context, "run", None) or getattr(context, "dagster_run", None)  # the latter: older contexts
        self.attach_budget(run_budget(self, dict(run.tags) if run is not None and run.tags else {}))

    @property
    def budget(self) -> RequestBudget | None:
        return self._budget

    def attach_budget(self, budget: RequestBudget | None) -> None:
        """Charge this resource's new requests to ``budget`` (the step's cost guard); loads no model."""
        with _CLIENT_LOCK:
            self._budget = budget
            if self._client is not None:
                self._client.budget = budget

    # -- public API ---------------------------------------------------------------------------
    def generate(self, prompts: Sequence[Prompt], params: SamplingParams | None = None) -> list[list[Generation]]:
        """One list of `params.n` Generations per prompt, in prompt order (cached ones flagged)."""
        return self.client.generate(prompts, params)

    def render(self, prompt: Prompt) -> str:
        """The rendered prompt text (chat template, or canonical JSON for "openai") used in the cache key."""
        return self.client.render(prompt)

    @property
    def model_id(self) -> str:
        return self.client.model_id

    @property
    def model_revision(self) -> str:
        return self.client.model_revision

    @property
    def stats(self) -> dict[str, int]:
        """hits, misses, generated_tokens (and prompt_tokens, backend_calls) of this resource instance."""
        return self.client.stats
