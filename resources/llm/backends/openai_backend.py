"""Backend for any OpenAI-compatible server (vLLM serve, TGI, llama.cpp server, OpenAI, ...).

One POST `{base_url}/chat/completions` per prompt (with `n` = the samples still missing), sent by
`max_concurrency` workers over the backend's one aiohttp session (a connector with `limit=max_concurrency`);
a worker sends its next request the moment one returns. The session lives on the process's one request
event loop (a daemon thread, uvloop when installed), so connections stay alive from one `generate` call to
the next, and calls made from several threads at once (``streaming.GenerationStream``) share the backend's
`max_concurrency`: at most that many requests are in flight per backend, whoever sends them.
The client library was chosen on measurements (benchmarks/results/feed_rate.md, same stream, one run): bare
aiohttp sent 2.3x (8 in flight) to 13.5x (128 in flight) the requests/s of bare httpx with sniffio importable
(httpcore's connection-pool scan grows with the pool), and 3.9x-17.5x those of the `openai` client (httpx
underneath); this backend reached 0.64x-0.90x of bare aiohttp on the shared machine.

Timeouts, connection errors, HTTP 429/5xx and malformed bodies are retried `max_retries` times with
exponential backoff + jitter (a `Retry-After` header is honoured up to the backoff cap); other 4xx fail
at once. Then `LLMBackendError` names the endpoint URL and the last error. Results that did arrive ride
along on the error (`partial`) so the caller can cache them; each one is also handed to the optional
`on_result(index, samples)` callback the moment it arrives, on the event loop (it must be cheap: the client
queues the cache write for the cache's writer thread, so a process killed mid-batch keeps every finished
request written within the writer's flush interval).

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
name, or is the value given as `api_key` (the resource's setting, bound with `dg.EnvVar`; used instead of
`api_key_env`, and only when a declared variable holds it: `secrets.bound_key`). Either way it is
stripped of surrounding whitespace and validated (`secrets.py`); it is sent only as a Bearer header
and only to a URL the deployment bound keys to (proxy variables are ignored: the session does not trust
the environment). Every error message and log line of this backend has every form of the key (raw,
escaped, quoted, JSON, percent-encoded) redacted.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
import threading
import time
import weakref
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, TypeVar

import aiohttp

from resources.canonical import canonical_json
from resources.llm import secrets
from resources.llm.types import (
    DEFAULT_MAX_CONCURRENCY,
    Generation,
    LLMBackendError,
    Request,
    SamplingParams,
)

log = logging.getLogger(__name__)
T = TypeVar("T")


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    with contextlib.suppress(ImportError):  # uvloop (when installed) runs the request loop with less overhead
        import uvloop

        return uvloop.new_event_loop
    return asyncio.new_event_loop


class _LoopThread:
    """The process's one request event loop, run forever by a daemon thread: every backend's session lives
    on it, so connections are kept alive from one ``generate`` call to the next and calls made from several
    threads at once share each backend's ``max_concurrency`` (a forked child starts its own)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._pid = -1

    def loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._pid != os.getpid() or not (self._thread and self._thread.is_alive()):
                loop = _loop_factory()()
                thread = threading.Thread(target=loop.run_forever, name="citrus-llm-requests", daemon=True)
                thread.start()
                self._loop, self._thread, self._pid = loop, thread, os.getpid()
            return self._loop

    def run(self, coro_factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
        """Run a coroutine on the loop and wait for it (from any thread but the loop's own)."""
        loop = self.loop()
        if self._thread is threading.current_thread():
            raise RuntimeError("a backend call from inside the request loop would wait on itself")
        return asyncio.run_coroutine_threadsafe(coro_factory(), loop).result()


_LOOP = _LoopThread()


class _Session:
    """A backend's aiohttp session and in-flight bound, created on the request loop (module docstring)."""

    def __init__(self, limit: int, timeout_s: float) -> None:
        connector = aiohttp.TCPConnector(limit=limit, limit_per_host=limit, keepalive_timeout=30)
        # `total` bounds the whole attempt (connect + send + every read): a trickling server is cut off
        self.session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=timeout_s),
            cookie_jar=aiohttp.DummyCookieJar(),
            trust_env=False,
        )
        self.slots = asyncio.Semaphore(limit)  # taken before a request starts: its deadline excludes the wait


def _close_later(loop: asyncio.AbstractEventLoop, holder: dict) -> None:
    """Close a dropped backend's session on the request loop (weakref finalizer; never raises)."""
    state = holder.get("state")
    if state is None or loop.is_closed():
        return
    with contextlib.suppress(RuntimeError):
        asyncio.run_coroutine_threadsafe(state.session.close(), loop)


BATCH_LOG_ENV = "CITRUS_LLM_BATCH_LOG"  # benchmarks: append {"t", "requests"} per generate call (benchmarks/scale)


def log_batch(n: int, t0: float, seconds: float) -> None:
    """One line per backend call in the file named by $CITRUS_LLM_BATCH_LOG (unset: nothing): when it began,
    its requests and how long it took, so that ``benchmarks/scale/replay.py`` can send a recorded request
    stream in the same batches and a benchmark can tell the time spent sending from the rest."""
    path = os.environ.get(BATCH_LOG_ENV)
    if path and n:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"t": round(t0, 4), "requests": n, "s": round(seconds, 4)}) + "\n")


NO_CONTENT = "no_content"  # finish reason of a sample the server answered without content (never cached)


class _Retryable(Exception):
    def __init__(self, msg: str, retry_after: float | None = None, empty=None) -> None:
        super().__init__(msg)
        self.retry_after = retry_after
        self.empty = empty  # the parsed choices when the only fault is missing content


class OpenAIBackend:
    def __init__(
        self,
        model: str,
        base_url: str,
        revision: str = "",
        *,
        api_key_env: str = "CITRUS_OPENAI_API_KEY",
        api_key: str | None = None,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        timeout_s: float = 120.0,
        max_retries: int = 4,
        backoff_s: float = 0.5,
        max_backoff_s: float = 30.0,
    ) -> None:
        if not base_url:
            raise ValueError("backend='openai' needs base_url, e.g. http://127.0.0.1:8000/v1")
        self.model_id = model
        self.revision = revision
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.api_key_env = secrets.check_key_env(api_key_env)
        self._bound_key = api_key  # set (even ""): used instead of api_key_env; never in a repr or message
        self.max_concurrency = max(1, int(max_concurrency))
        self.timeout_s = float(timeout_s)
        self.max_retries = max(0, int(max_retries))
        self.backoff_s = float(backoff_s)
        self.max_backoff_s = float(max_backoff_s)
        self._holder: dict = {}  # "state": the _Session on the request loop, "pid": the process that made it

    def render(self, messages: list[dict]) -> str:
        return canonical_json(messages, strict=True)

    def _api_key(self) -> str:
        """The clean key ("" = none); SecretError when refused (bad characters, URL not bound to keys)."""
        if self._bound_key is not None:
            key, name = secrets.bound_key(self._bound_key)
        else:
            (key, _), name = secrets.read_key(self.api_key_env), self.api_key_env
        if key:
            secrets.check_key_url(self.url, name)
        return key

    def _redact(self, text: str) -> str:
        raws = [self._bound_key or "", os.environ.get(self.api_key_env, "") if self.api_key_env else ""]
        raws = [r for r in raws if r.strip()]
        return secrets.redact(text, *raws) if raws else text

    # -- public -----------------------------------------------------------------------------
    # `generate` reports each request's samples through `on_result` as soon as they arrive (LLMClient caches
    # them at once, so a run killed mid-batch does not pay again for what had finished).
    streams_results = True

    def generate(
        self,
        requests: Sequence[Request],
        params: SamplingParams,
        on_result: Callable[[int, list[Generation]], None] | None = None,
    ) -> list[list[Generation]]:
        t0, start = time.time(), time.perf_counter()
        try:
            return _LOOP.run(lambda: self._agenerate(list(requests), params, on_result))
        except secrets.SecretError as e:
            raise LLMBackendError(
                self._redact(f"OpenAI-compatible endpoint {self.url} (model {self.model_id}): {e}")
            ) from None
        except Exception as e:  # last line before Dagster: no form of the key leaves in a message or its chain
            chain: list[str] = []
            x: BaseException | None = e
            while x is not None and len(chain) < 20:
                chain.append(str(x) if isinstance(x, LLMBackendError) else f"{type(x).__name__}: {x}")
                x = x.__cause__ or x.__context__
            if all(self._redact(m) == m for m in chain):
                raise
            err = LLMBackendError(self._redact(chain[0]))
            err.partial = getattr(e, "partial", None)  # type: ignore[attr-defined]
            raise err from None
        finally:
            log_batch(len(requests), t0, time.perf_counter() - start)

    async def _agenerate(
        self,
        requests: list[Request],
        params: SamplingParams,
        on_result: Callable[[int, list[Generation]], None] | None = None,
    ) -> list[list[Generation]]:
        results: list[Any] = [None] * len(requests)
        work = iter(enumerate(requests))  # shared by the workers: no task or semaphore per request

        async def worker() -> None:
            for i, req in work:
                try:
                    gens = await self._one(state, headers, req, params)
                except Exception as e:  # noqa: BLE001 - collected; the others go on, then the first one is raised
                    results[i] = e
                    continue
                results[i] = gens
                if on_result is not None:
                    try:  # cheap by contract (the client only queues the cache write)
                        on_result(i, gens)
                    except Exception as e:  # noqa: BLE001 - the result still counts; the caller stores it again
                        log.warning(
                            "%s: could not hand over a finished result early (%s: %s)", self.url, type(e).__name__, e
                        )

        headers = {"Content-Type": "application/json"}
        if key := self._api_key():  # read at every call: a rotated key is used from the next call on
            headers["Authorization"] = f"Bearer {key}"
        state = self._state()
        await asyncio.gather(*(worker() for _ in range(min(self.max_concurrency, len(requests)))))
        errors = [e for e in results if isinstance(e, BaseException)]
        if errors:
            partial = [None if isinstance(r, BaseException) else r for r in results]
            first = errors[0]
            err = (
                first
                if isinstance(first, LLMBackendError)
                else LLMBackendError(
                    self._redact(
                        f"OpenAI-compatible endpoint {self.url} (model {self.model_id}): "
                        f"{type(first).__name__}: {first}"
                    )
                )
            )
            err.partial = partial  # type: ignore[attr-defined]
            raise err
        return results

    # -- one prompt ---------------------------------------------------------------------------
    def _state(self) -> _Session:
        """This backend's session (called on the request loop; a new one in a forked child)."""
        state = self._holder.get("state")
        if state is None or self._holder.get("pid") != os.getpid() or state.session.closed:
            state = _Session(self.max_concurrency, self.timeout_s)
            self._holder.update(state=state, pid=os.getpid())
            if "finalizer" not in self._holder:
                self._holder["finalizer"] = weakref.finalize(self, _close_later, _LOOP.loop(), self._holder)
        return state

    async def _one(self, state: _Session, headers: dict, req: Request, params: SamplingParams) -> list[Generation]:
        want = len(req.sample_indices)
        got: list[tuple[str, str, int]] = []  # (text, finish_reason, completion tokens)
        prompt_tokens = 0
        for _ in range(want):  # a server that ignores n answers 1 choice per call
            k = want - len(got)
            payload: dict[str, Any] = {
                "model": self.model_id,
                "messages": req.messages,
                "n": k,
                "temperature": params.temperature,
                "top_p": params.top_p,
                "max_tokens": params.max_tokens,
            }
            if params.stop:
                payload["stop"] = list(params.stop)
            if params.seed is not None:
                payload["seed"] = params.seed + len(got)
            choices, prompt_tokens = await self._post(state, headers, json.dumps(payload).encode("utf-8"), k)
            got.extend(choices)
            if len(got) >= want:
                break
        return [
            Generation(text, prompt_tokens, ct, fr, False, idx)
            for (text, fr, ct), idx in zip(got[:want], req.sample_indices)
        ]

    async def _post(
        self, state: _Session, headers: dict, body: bytes, k: int
    ) -> tuple[list[tuple[str, str, int]], int]:
        attempts = self.max_retries + 1
        last = "no attempt made"
        empty = None
        for attempt in range(attempts):
            try:
                async with state.slots:  # the deadline starts when the request does, not while it waits its turn
                    async with state.session.post(self.url, data=body, headers=headers) as resp:
                        raw = await resp.read()
                        status, retry_header = resp.status, resp.headers.get("Retry-After")
                return self._parse(status, raw, retry_header, k)
            except _Retryable as e:
                last, retry_after, empty = str(e), e.retry_after, e.empty
            except TimeoutError as e:  # aiohttp's own timeout errors are TimeoutErrors too
                what = "total deadline of the request" if type(e) is asyncio.TimeoutError else type(e).__name__
                last, retry_after = f"timeout after {self.timeout_s:g}s ({what})", None
            except aiohttp.ClientError as e:
                last, retry_after = f"connection error: {type(e).__name__}: {e}", None
            if attempt + 1 < attempts:
                delay = min(self.max_backoff_s, self.backoff_s * 2**attempt)
                delay = delay + random.uniform(0, delay)  # jitter
                if retry_after is not None:
                    delay = max(delay, min(retry_after, self.max_backoff_s))
                log.warning(
                    "%s: attempt %d/%d failed (%s); retrying in %.2fs",
                    self.url,
                    attempt + 1,
                    attempts,
                    self._redact(last),
                    delay,
                )
                await asyncio.sleep(delay)
            else:
                empty = empty if last.startswith("no content") else None
        if empty is not None:  # the server answers, but without content: an empty sample that is never cached
            log.warning(
                "%s: %s after %d attempts; returned as empty samples (finish reason %r, not cached)",
                self.url,
                self._redact(last),
                attempts,
                NO_CONTENT,
            )
            return empty
        raise LLMBackendError(
            self._redact(
                f"OpenAI-compatible endpoint {self.url} (model {self.model_id}) failed after {attempts} attempts: {last}"
            )
        )

    def _parse(
        self, status: int, raw: bytes, retry_header: str | None, k: int
    ) -> tuple[list[tuple[str, str, int]], int]:
        if status == 429 or status >= 500:
            try:
                retry_after = float(retry_header) if retry_header is not None else None
            except ValueError:
                retry_after = None
            raise _Retryable(f"HTTP {status}: {_text(raw, 200)!r}", retry_after)
        if status >= 400:
            raise LLMBackendError(
                self._redact(
                    f"OpenAI-compatible endpoint {self.url} (model {self.model_id}) rejected the request: "
                    f"HTTP {status}: {_text(raw, 300)!r}"
                )
            )
        try:
            data = json.loads(raw)
            choices = data["choices"]
            if len(choices) > 1:
                choices = sorted(choices, key=lambda c: c.get("index", 0))
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
                    empty.append(
                        f"choice {c.get('index', j)}: content {text!r}, finish_reason {c.get('finish_reason')!r}"
                    )
                out.append((text or "", str(c.get("finish_reason") or "stop"), base + (1 if j < extra else 0)))
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise _Retryable(f"malformed response ({type(e).__name__}: {e}): {_text(raw, 200)!r}") from None
        if empty:
            blank = [("" if t.strip() == "" else t, NO_CONTENT if t.strip() == "" else fr, n) for t, fr, n in out]
            raise _Retryable(
                f"no content in {len(empty)} of {len(out)} choices ({'; '.join(empty[:3])})",
                empty=(blank, prompt_tokens),
            )
        return out, prompt_tokens


def _text(raw: bytes, limit: int) -> str:
    return raw[: limit * 4].decode("utf-8", "replace")[:limit]
