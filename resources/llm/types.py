"""Plain data types shared by the LLM resource, its backends and its cache."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Protocol

from resources.canonical import canonical_json

Message = dict  # {"role": "system" | "user" | "assistant", "content": str}
Prompt = str | list[dict]  # a plain str is one user message

ROLES = ("system", "user", "assistant")
# "openai" backend: requests in flight by default. Enough to keep a vLLM server's continuous batch full (it
# schedules up to --max-num-seqs, 256 by default on GPUs) and to reach ~0.8x of 128/latency req/s; few enough
# for a hosted API (429s are retried with backoff). LLMSettings documents how to set it.
DEFAULT_MAX_CONCURRENCY = 128


@dataclass(frozen=True)
class SamplingParams:
    """Sampling parameters of one `generate` call (the same for every prompt)."""

    n: int = 1
    temperature: float = 0.0
    top_p: float = 1.0
    max_tokens: int = 256
    stop: tuple[str, ...] = ()
    seed: int | None = 0

    def __post_init__(self) -> None:
        stop = (self.stop,) if isinstance(self.stop, str) else tuple(self.stop or ())
        if not all(isinstance(s, str) and s for s in stop):
            raise ValueError(f"stop must be non-empty strings, got {self.stop!r}")
        object.__setattr__(self, "stop", stop)
        object.__setattr__(self, "temperature", float(self.temperature))
        object.__setattr__(self, "top_p", float(self.top_p))
        if int(self.n) < 1:
            raise ValueError(f"n must be >= 1, got {self.n}")
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if not 0.0 < self.top_p <= 1.0:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if int(self.max_tokens) < 1:
            raise ValueError(f"max_tokens must be >= 1, got {self.max_tokens}")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0

    def to_dict(self) -> dict:
        d = asdict(self)
        d["stop"] = list(self.stop)
        return d

    def to_json(self) -> str:
        """Canonical JSON of all parameters (what lineage stores as `gen_sampling`)."""
        return canonical_json(self.to_dict(), strict=True)

    def cache_key_part(self) -> str:
        """Canonical JSON of the parameters that change a single sample (everything but n); computed once per
        instance (every cache key of a batch needs it)."""
        part = self.__dict__.get("_key_part")
        if part is None:
            d = self.to_dict()
            del d["n"]
            part = canonical_json(d, strict=True)
            object.__setattr__(self, "_key_part", part)
        return part


@dataclass(frozen=True)
class Generation:
    """One generated sample."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str  # "stop" (EOS or a stop string) | "length" | whatever the server says
    cached: bool = False
    sample_index: int = 0


@dataclass(frozen=True)
class Request:
    """What a backend is asked for: the samples `sample_indices` of one prompt."""

    messages: list[dict]
    rendered: str
    sample_indices: tuple[int, ...] = field(default=(0,))


class Backend(Protocol):
    """A generation backend. `generate` returns, per request, one Generation per sample index, in order.
    A backend with ``streams_results = True`` also takes ``on_result(index, samples)`` and calls it as each
    request finishes, so the client can cache it before the whole batch is done."""

    model_id: str
    revision: str

    def render(self, messages: list[dict]) -> str: ...

    def generate(self, requests: Sequence[Request], params: SamplingParams) -> list[list[Generation]]: ...


class LLMBackendError(RuntimeError):
    """A backend failed for good. The message names the endpoint or model, never an API key."""


def normalize_prompt(prompt: Prompt) -> list[dict]:
    """A plain string becomes one user message; messages are checked and reduced to role + content."""
    if isinstance(prompt, str):
        return [{"role": "user", "content": prompt}]
    if not isinstance(prompt, (list, tuple)) or not prompt:
        raise TypeError(f"a prompt is a str or a non-empty list of messages, got {type(prompt).__name__}")
    out = []
    for i, m in enumerate(prompt):
        if not isinstance(m, dict) or not isinstance(m.get("role"), str) or not isinstance(m.get("content"), str):
            raise TypeError(f"message {i} must be a dict with str 'role' and 'content', got {m!r}")
        if m["role"] not in ROLES:
            raise ValueError(f"message {i}: role must be one of {ROLES}, got {m['role']!r}")
        out.append({"role": m["role"], "content": m["content"]})
    return out
