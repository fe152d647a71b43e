"""Backend for any OpenAI-compatible server (vLLM serve, TGI, llama.cpp server, OpenAI, ...).

One POST `{base_url}/chat/completions` per prompt (with `n` = the samples still missing), sent
concurrently with at most `max_concurrency` in flight. Timeouts, connection errors, HTTP 429/5xx
and malformed bodies are retried `max_retries` times with exponential backoff + jitter (a
`Retry-After` header is honoured up to the backoff cap); other 4xx fail at once. Then
`LLMBackendError` names the endpoint URL and the last error. Results that did arrive ride along
on the error (`partial`) so the caller can cache them; each one is also handed to the optional
`on_result(index, samples)` callback the moment it arrives (the client caches it right away, so a
process killed mid-batch keeps every finished request).

Token counts come from `usage`: `prompt_tokens` is the prompt's length and is reported on every
sample (the same prompt was read for each, like the local backends); `completion_tokens` is the
total over the returned choices and is split evenly among them (remainder to the first ones).

A server that ignores `n` and returns fewer choices is asked again for the rest (with seed+k).
A choice without usable content (`content: null`, missing or empty) is retried like a malformed body;
if it stays empty the sample comes back with empty text and finish reason `no_content`, which the
client never caches (a re-run asks again once the server recovers).

`timeout_s` is a total deadline per HTTP attempt (connect + send + every read), not per read: a server
trickling one byte a second is cut off at `timeout_s` (then retried like any timeout).

The API key is read at call time from the env var named by `api_key_env`, which must be a declared
name, stripped of surrounding whitespace and validated (`secrets.py`); it is sent only as a Bearer header
and only to a URL the deployment bound keys to. Every error message and log line of this backend has
every form of the key (raw, escaped, quoted, JSON, percent-encoded) redacted.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Awaitable, Callable, Sequence, TypeVar

import httpx

from . import secrets
from .types import Generation, LLMBackendError, Request, SamplingParams, canonical_json

log = logging.getLogger(__name__)
T = TypeVar("T")


def run_sync(factory: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine from sync code, also when this thread already runs an event loop."""
    try:
        asyncio.get_running_loop()
        running = True
    except RuntimeError:
        running = False
    if not running:  # outside the except block: a backend error is not chained to "no running event loop"
        return asyncio.run(factory())
    with ThreadPoolExecutor(1, thread_name_prefix="citrus-llm") as pool:
        return pool.submit(lambda: asyncio.run(factory())).result()


BATCH_LOG_ENV = "CITRUS_LLM_BATCH_LOG"  # benchmarks: append {"t", "requests"} per generate call (benchmarks/scale)


def log_batch(n: int) -> None:
    """One line per backend call in the file named by $CITRUS_LLM_BATCH_LOG (unset: nothing), so that
    ``benchmarks/scale/replay.py`` can send a recorded request stream in the same batches."""
    path = os.environ.get(BATCH_LOG_ENV)
    if path and n:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"t": round(time.time(), 4), "requests": n}) + "\n")


NO_CONTENT = "no_content"  # finish reason of a sample the server answered without content (never cached)


class _Retryable(Exception):
    def __init__(self, msg: str, retry_after: float | None = None, empty=None) -> None:
        super().__init__(msg)
        self.retry_after = retry_after
        self.empty = empty  # the parsed choices when the only fault is missing content


class OpenAIBackend:
    def __init__(self, model: str, base_url: str, revision: str = "", *, api_key_env: str = "CITRUS_OPENAI_API_KEY",
                 max_concurrency: int = 8, timeout_s: float = 120.0, max_retries: int = 4,
                 backoff_s: float = 0.5, max_backoff_s: float = 30.0) -> None:
        if not base_url:
            raise ValueError("backend='openai' needs base_url, e.g. http://127.0.0.1:8000/v1")
        self.model_id = model
        self.revision = revision
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.api_key_env = secrets.check_key_env(api_key_env)
        self.max_concurrency = max(1, int(max_concurrency))
        self.timeout_s = float(timeout_s)
        self.max_retries = max(0, int(max_retries))
        self.backoff_s = float(backoff_s)
        self.max_backoff_s = float(max_backoff_s)

    def render(self, messages: list[dict]) -> str:
        return canonical_json(messages)

    def _api_key(self) -> str:
        """The clean key ("" = none); SecretError when refused (bad characters, URL not bound to keys)."""
        key, _ = secrets.read_key(self.api_key_env)
        if key:
            secrets.check_key_url(self.url, self.api_key_env)
        return key

    def _redact(self, text: str) -> str:
        raw = os.environ.get(self.api_key_env, "") if self.api_key_env else ""
        return secrets.redact(text, raw) if raw.strip() else text

    # -- public -----------------------------------------------------------------------------
    # `generate` reports each request's samples through `on_result` as soon as they arrive (LLMClient caches
    # them at once, so a run killed mid-batch does not pay again for what had finished).
    streams_results = True

    def generate(self, requests: Sequence[Request], params: SamplingParams,
                 on_result: Callable[[int, list[Generation]], None] | None = None) -> list[list[Generation]]:
        log_batch(len(requests))
        try:
            return run_sync(lambda: self._agenerate(list(requests), params, on_result))
        except secrets.SecretError as e:
            raise LLMBackendError(self._redact(f"OpenAI-compatible endpoint {self.url} (model {self.model_id}): {e}")) \
                from None
        except Exception as e:  # last line before Dagster: no form of the key leaves in a message or its chain
            chain, x = [], e
            while x is not None and len(chain) < 20:
                chain.append(str(x) if isinstance(x, LLMBackendError) else f"{type(x).__name__}: {x}")
                x = x.__cause__ or x.__context__
            if all(self._redact(m) == m for m in chain):
                raise
            err = LLMBackendError(self._redact(chain[0]))
            err.partial = getattr(e, "partial", None)  # type: ignore[attr-defined]
            raise err from None

    async def _agenerate(self, requests: list[Request], params: SamplingParams,
                         on_result: Callable[[int, list[Generation]], None] | None = None) -> list[list[Generation]]:
        sem = asyncio.Semaphore(self.max_concurrency)

        async def one(i: int, req: Request) -> list[Generation]:
            gens = await self._one(client, sem, req, params)
            if on_result is not None:
                try:  # off the event loop: a cache write must not stall the requests in flight
                    await asyncio.to_thread(on_result, i, gens)
                except Exception as e:  # noqa: BLE001 - the result still counts; the caller stores it again
                    log.warning("%s: could not hand over a finished result early (%s: %s)", self.url,
                                type(e).__name__, e)
            return gens

        headers = {"Content-Type": "application/json"}
        if key := self._api_key():
            headers["Authorization"] = f"Bearer {key}"
        limits = httpx.Limits(max_connections=self.max_concurrency, max_keepalive_connections=self.max_concurrency)
        # `timeout` bounds each read; `_post` bounds the whole attempt (a trickling server is cut off)
        async with httpx.AsyncClient(headers=headers, timeout=self.timeout_s, limits=limits) as client:
            results = await asyncio.gather(*(one(i, r) for i, r in enumerate(requests)), return_exceptions=True)
        errors = [e for e in results if isinstance(e, BaseException)]
        if errors:
            partial = [None if isinstance(r, BaseException) else r for r in results]
            first = errors[0]
            err = first if isinstance(first, LLMBackendError) else LLMBackendError(
                self._redact(f"OpenAI-compatible endpoint {self.url} (model {self.model_id}): "
                             f"{type(first).__name__}: {first}"))
            err.partial = partial  # type: ignore[attr-defined]
            raise err
        return results  # type: ignore[return-value]

    # -- one prompt ---------------------------------------------------------------------------
    async def _one(self, client: httpx.AsyncClient, sem: asyncio.Semaphore, req: Request,
                   params: SamplingParams) -> list[Generation]:
        want = len(req.sample_indices)
        got: list[tuple[str, str, int]] = []  # (text, finish_reason, completion tokens)
        prompt_tokens = 0
        for round_ in range(want):  # a server that ignores n answers 1 choice per call
            k = want - len(got)
            payload: dict[str, Any] = {"model": self.model_id, "messages": req.messages, "n": k,
                                       "temperature": params.temperature, "top_p": params.top_p,
                                       "max_tokens": params.max_tokens}
            if params.stop:
                payload["stop"] = list(params.stop)
            if params.seed is not None:
                payload["seed"] = params.seed + len(got)
            choices, prompt_tokens = await self._post(client, sem, payload, k)
            got.extend(choices)
            if len(got) >= want:
                break
        return [Generation(text, prompt_tokens, ct, fr, False, idx)
                for (text, fr, ct), idx in zip(got[:want], req.sample_indices)]

    async def _post(self, client: httpx.AsyncClient, sem: asyncio.Semaphore, payload: dict,
                    k: int) -> tuple[list[tuple[str, str, int]], int]:
        attempts = self.max_retries + 1
        last = "no attempt made"
        empty = None
        for attempt in range(attempts):
            try:
                async with sem:  # the deadline starts when the request does, not while it waits its turn
                    resp = await asyncio.wait_for(client.post(self.url, json=payload), self.timeout_s)
                return self._parse(resp, k)
            except _Retryable as e:
                last, retry_after, empty = str(e), e.retry_after, e.empty
            except asyncio.TimeoutError:
                last, retry_after = f"timeout after {self.timeout_s:g}s (total deadline of the request)", None
            except httpx.TimeoutException as e:
                last, retry_after = f"timeout after {self.timeout_s:g}s ({type(e).__name__})", None
            except httpx.TransportError as e:
                last, retry_after = f"connection error: {type(e).__name__}: {e}", None
            if attempt + 1 < attempts:
                delay = min(self.max_backoff_s, self.backoff_s * 2**attempt)
                delay = delay + random.uniform(0, delay)  # jitter
                if retry_after is not None:
                    delay = max(delay, min(retry_after, self.max_backoff_s))
                log.warning("%s: attempt %d/%d failed (%s); retrying in %.2fs", self.url, attempt + 1, attempts,
                            self._redact(last), delay)
                await asyncio.sleep(delay)
            else:
                empty = empty if last.startswith("no content") else None
        if empty is not None:  # the server answers, but without content: an empty sample that is never cached
            log.warning("%s: %s after %d attempts; returned as empty samples (finish reason %r, not cached)",
                        self.url, self._redact(last), attempts, NO_CONTENT)
            return empty
        raise LLMBackendError(self._redact(
            f"OpenAI-compatible endpoint {self.url} (model {self.model_id}) failed after {attempts} attempts: {last}"))

    def _parse(self, resp: httpx.Response, k: int) -> tuple[list[tuple[str, str, int]], int]:
        if resp.status_code == 429 or resp.status_code >= 500:
            ra = resp.headers.get("retry-after")
            try:
                retry_after = float(ra) if ra is not None else None
            except ValueError:
                retry_after = None
            raise _Retryable(f"HTTP {resp.status_code}: {resp.text[:200]!r}", retry_after)
        if resp.status_code >= 400:
            raise LLMBackendError(self._redact(
                f"OpenAI-compatible endpoint {self.url} (model {self.model_id}) rejected the request: "
                f"HTTP {resp.status_code}: {resp.text[:300]!r}"))
        try:
            data = resp.json()
            choices = sorted(data["choices"], key=lambda c: c.get("index", 0))
            if not choices:
                raise ValueError("no choices")
            usage = data.get("usage") or {}
            prompt_tokens = int(usage.get("prompt_tokens") or 0)
            total = int(usage.get("completion_tokens") or 0)
            choices = choices[:k]
            base, extra = divmod(total, len(choices))
            out, empty = [], []
            for j, c in enumerate(choices):
                text = (c.get("message") or {}).get("content")
                if text is not None and not isinstance(text, str):
                    raise ValueError("message.content is not a string")
                if not (text or "").strip():
                    empty.append(f"choice {c.get('index', j)}: content {text!r}, finish_reason {c.get('finish_reason')!r}")
                out.append((text or "", str(c.get("finish_reason") or "stop"), base + (1 if j < extra else 0)))
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise _Retryable(f"malformed response ({type(e).__name__}: {e}): {resp.text[:200]!r}") from None
        if empty:
            blank = [("" if t.strip() == "" else t, NO_CONTENT if t.strip() == "" else fr, n) for t, fr, n in out]
            raise _Retryable(f"no content in {len(empty)} of {len(out)} choices ({'; '.join(empty[:3])})",
                             empty=(blank, prompt_tokens))
        return out, prompt_tokens
