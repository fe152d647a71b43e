"""`LLMSettings`: the one description of "which model, served how" shared by every LLM configuration.

`LLMResource` (the code location's `llm` resource) is these settings plus the request-cache switch;
a judge of the difficulty panel (`citrus_assets/reasoning_data/seeds/judges.py`) is these settings plus a
name. Adding a backend option here adds it everywhere at once.
"""

from typing import Literal

import dagster as dg
from pydantic import Field, field_validator

from resources.llm.backends.builtin import BUILTIN_MODEL
from resources.llm.secrets import check_key_env
from resources.llm.types import DEFAULT_MAX_CONCURRENCY

BACKENDS = ("transformers", "openai", "vllm")
# the environment variable of each setting, read when a run starts by a resource with `env_defaults` on (the
# code location's `llm`; LLMResource.create_resource): a setting left at its default takes the variable's value
SETTINGS_ENV = {"backend": "CITRUS_LLM_BACKEND", "model": "CITRUS_LLM_MODEL", "base_url": "CITRUS_LLM_BASE_URL"}


class LLMSettings(dg.Config):
    """backend: "transformers" (local checkpoint, CPU/GPU), "openai" (any OpenAI-compatible server at
    `base_url`), "vllm" (in-process engine, GPU only). `model` is the built-in name, a local path or a
    Hugging Face id (the served model name for "openai").

    `max_concurrency` ("openai"): requests in flight at once (default 128). A vLLM server batches
    continuously up to its `--max-num-seqs` (256 by default on GPUs): set `max_concurrency` to about that
    number (x the number of replicas behind the URL) to keep it full; lower it for a hosted API with a
    rate limit (429s are retried with backoff, but each costs a round trip). Against a server that takes
    L seconds per answer the lake sends up to max_concurrency / L requests/s, until the client's CPU is the
    limit (benchmarks/results/feed_rate.md). Set it in run config (`resources: llm: config: max_concurrency: 256`)
    or in the code location's resource definition."""

    backend: Literal["transformers", "openai", "vllm"] = "transformers"
    model: str = BUILTIN_MODEL
    revision: str = ""
    base_url: str = ""  # "openai": the server's /v1 URL
    # the NAME of the environment variable holding the key: one of the declared names (resources/llm/secrets.py);
    # the key goes only to a URL the deployment bound keys to ($CITRUS_LLM_BASE_URL, $CITRUS_LLM_KEY_URLS)
    api_key_env: str = "CITRUS_OPENAI_API_KEY"
    # the key itself, bound with `dg.EnvVar("CITRUS_OPENAI_API_KEY")` (Dagster resolves it when the run starts and
    # shows only the variable's name); when set ("" = no key) it is used instead of `api_key_env`, and it must be
    # the value of a declared variable (secrets.bound_key): run config cannot bind another variable or a literal
    api_key: str | None = Field(default=None, repr=False)
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY  # "openai": requests in flight (see the class docstring)
    timeout_s: float = 120  # "openai": total deadline of one HTTP request (not per read)
    max_retries: int = 4  # "openai": bounded retries on timeouts, 429 and 5xx
    batch_size: int = 16  # "transformers": prompts per forward batch
    device: str = "auto"
    dtype: str = "auto"
    tensor_parallel_size: int = 1  # "vllm"
    cache_dir: str = ""  # request cache and converted built-in model; "" = the default cache folder

    @field_validator("api_key_env")
    @classmethod
    def _declared_key_env(cls, v: str) -> str:  # run config cannot pick an arbitrary variable as the key
        return check_key_env(v)

    def llm_settings(self) -> dict:
        """These settings as keyword arguments (for building another `LLMResource`)."""
        return {name: getattr(self, name) for name in LLMSettings.model_fields}
