"""Continuous dispatch over the batch-in, batch-out LLM client: prompts go out as they are submitted.

``GenerationStream`` keeps up to ``max_in_flight`` prompts in flight through ``llm.generate`` (an ``LLMClient``
or ``LLMResource``: cache first, then the backend). Prompts that share sampling parameters are sent together in
micro-batches of at most ``max_batch`` on ``max_in_flight // max_batch`` worker threads; a worker takes the
oldest waiting group as soon as its previous micro-batch returns, so a caller that submits a question's next
prompt the moment its previous one comes back keeps the server fed without a round barrier (the way vLLM batches
continuously). Nothing is reordered inside a prompt: the cache key of each prompt is the one ``generate`` makes.
A caller that renders its prompts anyway (for its call records) passes ``rendered=llm.render(prompt)`` to
``submit``; the micro-batch then reaches ``generate`` with it and is not rendered again (``LLMClient`` only).

Use::

    with GenerationStream(llm, max_in_flight=64) as stream:
        stream.submit(tag, prompt, params)
        while stream.busy:
            for tag, samples in stream.completed():
                ...  # submit follow-ups here

A failed micro-batch re-raises its error from ``completed`` (the requests that did arrive are cached by the
client, so a re-run pays only for the rest).
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Hashable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

from resources.llm.types import Generation, Prompt, SamplingParams


class GenerationStream:
    def __init__(self, llm, max_in_flight: int = 64, max_batch: int = 16) -> None:
        self.llm = llm
        self.max_batch = max(1, int(max_batch))
        self.workers = max(1, int(max_in_flight) // self.max_batch)
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="citrus-llm-stream")
        self._groups: dict[SamplingParams, deque] = {}  # waiting (seq, tag, prompt, rendered) per sampling
        self._seq = itertools.count()
        self._running: dict[Future, tuple[list[Hashable], list[Prompt]]] = {}
        self.batches = 0  # generate calls made
        self.batch_sizes: list[int] = []

    # -- submitting -----------------------------------------------------------------------------------------------
    def submit(self, tag: Hashable, prompt: Prompt, params: SamplingParams, rendered: str | None = None) -> None:
        queue = self._groups.get(params)
        if queue is None:
            queue = self._groups[params] = deque()
        queue.append((next(self._seq), tag, prompt, rendered))

    @property
    def waiting(self) -> int:
        return sum(len(q) for q in self._groups.values())

    @property
    def in_flight(self) -> int:
        return sum(len(tags) for tags, _ in self._running.values())

    @property
    def busy(self) -> bool:
        return bool(self._running) or self.waiting > 0

    # -- dispatching ----------------------------------------------------------------------------------------------
    def _dispatch(self) -> None:
        while len(self._running) < self.workers:
            if not self._groups:
                return
            params = min(self._groups, key=lambda p: self._groups[p][0][0])  # the group waiting longest goes first
            queue = self._groups[params]
            take = [queue.popleft() for _ in range(min(self.max_batch, len(queue)))]
            if not queue:
                del self._groups[params]
            tags, prompts = [t for _, t, _, _ in take], [p for _, _, p, _ in take]
            rendered = [r for _, _, _, r in take]
            if any(r is None for r in rendered):
                fut = self._pool.submit(self.llm.generate, prompts, params)
            else:
                fut = self._pool.submit(self.llm.generate, prompts, params, rendered=rendered)
            self._running[fut] = (tags, prompts)
            self.batches += 1
            self.batch_sizes.append(len(take))

    def completed(self) -> list[tuple[Any, list[Generation]]]:
        """Send what waits (as workers are free), block until at least one micro-batch returns; its (tag, samples)."""
        self._dispatch()
        if not self._running:
            return []
        done, _ = wait(list(self._running), return_when=FIRST_COMPLETED)
        out: list[tuple[Any, list[Generation]]] = []
        error: BaseException | None = None
        for fut in done:
            tags, _ = self._running.pop(fut)
            try:
                out.extend(zip(tags, fut.result()))
            except BaseException as e:  # noqa: BLE001 - re-raised below, after the other finished batches are kept
                error = error or e
        if error is not None:
            self.close()
            raise error
        self._dispatch()  # refill before the caller works on the results
        return out

    # -- lifetime -------------------------------------------------------------------------------------------------
    def close(self) -> None:
        for fut in self._running:
            fut.cancel()
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> GenerationStream:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
