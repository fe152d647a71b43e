"""`LLMClient`: the cache-first, batch-first generation logic (plain class; `LLMResource` wraps it)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING

from resources.limits import estimate_tokens, limits, over
from resources.llm.cache import GenerationCache, cache_key
from resources.llm.types import Backend, Generation, LLMBackendError, Prompt, Request, SamplingParams, normalize_prompt

if TYPE_CHECKING:  # cost_guard imports dagster; the client is a plain class
    from resources.llm.cost_guard import RequestBudget

PROMPT_TOO_LONG = "prompt_too_long"  # finish reason of a sample whose prompt was over max_prompt_tokens


class LLMClient:
    """Looks every (prompt, sample index) up in the cache, sends only the misses to the backend
    in one batched call, stores what came back (never a sample with empty or blank text: a server that
    answered without content is asked again next time) and returns everything in prompt order. A backend with
    ``streams_results`` reports each request as it finishes; its cache write is queued at once for the cache's
    writer thread (many rows per transaction, off the event loop; a killed run keeps what was written, at most
    ``cache.FLUSH_S`` behind), and ``generate`` returns only after everything it queued is written."""

    def __init__(self, backend: Backend, cache: GenerationCache | None = None) -> None:
        self.backend = backend
        self.cache = cache
        self._lock = threading.Lock()
        self.budget: RequestBudget | None = None  # new requests are charged to it before they are sent
        self._stats = {
            "hits": 0,
            "misses": 0,
            "generated_tokens": 0,
            "prompt_tokens": 0,
            "backend_calls": 0,
            "prompts_too_long": 0,
        }

    @property
    def model_id(self) -> str:
        return self.backend.model_id

    @property
    def model_revision(self) -> str:
        return self.backend.revision

    @property
    def stats(self) -> dict[str, int]:
        """hits / misses (per sample), generated_tokens and prompt_tokens (of newly generated samples only),
        backend_calls, prompts_too_long (prompts over max_prompt_tokens, not sent), cache_repairs (damaged cache
        files moved aside and rebuilt)."""
        with self._lock:
            return {**self._stats, "cache_repairs": len(self.cache.repairs) if self.cache is not None else 0}

    def render(self, prompt: Prompt) -> str:
        """The rendered prompt text the cache key is built from."""
        return self.backend.render(normalize_prompt(prompt))

    def generate(
        self, prompts: Sequence[Prompt], params: SamplingParams | None = None, rendered: Sequence[str] | None = None
    ) -> list[list[Generation]]:
        """Samples per prompt, in prompt order. ``rendered``: ``self.render(p)`` of each prompt, when the caller
        already has it (``GenerationStream``, whose caller keeps the rendered prompt for its call record): not
        rendered a second time."""
        if isinstance(prompts, (str, dict)):
            raise TypeError("prompts must be a list of prompts (wrap a single prompt in a list)")
        params = params or SamplingParams()
        messages = [normalize_prompt(p) for p in prompts]
        if rendered is None:
            rendered = [self.backend.render(m) for m in messages]
        elif len(rendered) != len(messages):
            raise ValueError(f"{len(rendered)} rendered prompts for {len(messages)} prompts")
        else:
            rendered = list(rendered)
        mid, rev = self.model_id, self.model_revision
        keys = [[cache_key(mid, rev, r, params, s) for s in range(params.n)] for r in rendered]
        flat = [k for ks in keys for k in ks]
        found = self.cache.get_many(flat) if self.cache is not None else {}

        # Misses, deduplicated by key (the same prompt twice in one call is generated once).
        pending: dict[str, list[int]] = {}  # rendered prompt -> missing sample indices
        first_msgs: dict[str, list[dict]] = {}
        seen: set[str] = set()
        # A prompt over max_prompt_tokens (resources/limits.py) is never sent: its samples come back empty with
        # finish reason "prompt_too_long" (not cached), so the step goes on and counts them.
        max_tokens = limits().max_prompt_tokens
        too_long = {r: n for r in rendered if over(n := estimate_tokens(r), max_tokens)}
        for msgs, r, ks in zip(messages, rendered, keys):
            if r in too_long:
                continue
            for s, k in enumerate(ks):
                if k not in found and k not in seen:
                    seen.add(k)
                    pending.setdefault(r, []).append(s)
                    first_msgs.setdefault(r, msgs)
        requests = [Request(first_msgs[r], r, tuple(idx)) for r, idx in pending.items()]
        key_of = dict(zip(rendered, keys))  # rendered prompt -> its cache keys: _store does not hash again

        fresh: dict[str, Generation] = {}
        if requests and self.budget is not None:  # raises before sending a batch over the budget
            self.budget.charge(sum(len(r.sample_indices) for r in requests), mid)
        if requests:
            stored: set[int] = set()  # requests already cached while the batch was still running
            kwargs = {}
            if getattr(self.backend, "streams_results", False):

                def on_result(i: int, gens: list[Generation]) -> None:
                    try:
                        self._store([requests[i]], [gens], params, fresh, key_of)
                    except LLMBackendError:
                        return  # a bad result: stored (and raised) with the rest below
                    stored.add(i)

                kwargs["on_result"] = on_result
            try:
                try:
                    outputs = self.backend.generate(requests, params, **kwargs)
                except LLMBackendError as e:  # keep whatever did arrive: re-runs never pay twice
                    partial = list(getattr(e, "partial", None) or [])
                    self._store(
                        requests, [None if i in stored else g for i, g in enumerate(partial)], params, fresh, key_of
                    )
                    raise
                if len(outputs) != len(requests):
                    raise LLMBackendError(
                        f"model {mid}: backend returned {len(outputs)} results for {len(requests)} prompts"
                    )
                self._store(
                    requests, [None if i in stored else g for i, g in enumerate(outputs)], params, fresh, key_of
                )
            finally:
                if self.cache is not None:
                    self.cache.flush()  # everything this call generated is written before it returns
        with self._lock:
            self._stats["hits"] += sum(1 for k in flat if k in found)
            self._stats["misses"] += sum(1 for k in flat if k not in found)
            self._stats["backend_calls"] += 1 if requests else 0
            for g in fresh.values():
                self._stats["generated_tokens"] += g.completion_tokens
                self._stats["prompt_tokens"] += g.prompt_tokens

        for r, n in too_long.items():
            for s in range(params.n):
                fresh.setdefault(cache_key(mid, rev, r, params, s), Generation("", n, 0, PROMPT_TOO_LONG, False, s))
        with self._lock:
            self._stats["prompts_too_long"] = self._stats.get("prompts_too_long", 0) + len(too_long)

        result = []
        for ks in keys:
            row = []
            for s, k in enumerate(ks):
                got = found.get(k) or fresh.get(k)
                if got is None:
                    raise LLMBackendError(f"model {mid}: backend returned no sample {s} for a prompt")
                row.append(
                    Generation(got.text, got.prompt_tokens, got.completion_tokens, got.finish_reason, k in found, s)
                )
            result.append(row)
        return result

    def _store(
        self,
        requests: list[Request],
        outputs,
        params: SamplingParams,
        fresh: dict[str, Generation],
        key_of: dict[str, list[str]] | None = None,
    ) -> None:
        mid, rev = self.model_id, self.model_revision
        key_of = key_of or {}
        items, prompts = [], {}
        for req, gens in zip(requests, outputs):
            if gens is None:
                continue
            if len(gens) != len(req.sample_indices):
                raise LLMBackendError(
                    f"model {mid}: backend returned {len(gens)} samples, {len(req.sample_indices)} were asked for"
                )
            for s, g in zip(req.sample_indices, gens):
                ks = key_of.get(req.rendered)
                k = ks[s] if ks is not None and s < len(ks) else cache_key(mid, rev, req.rendered, params, s)
                fresh[k] = g
                if g.text.strip():  # no usable content (e.g. `content: null`) is never cached as an answer
                    items.append((k, g))
                    prompts[k] = req.rendered
        if self.cache is not None:
            self.cache.put_later(items, model_id=mid, prompts=prompts)
