"""The dual-expert loop with continuous scheduling: no round barrier over the partition.

Each question runs as its own program (``dual_expert.question_program``); its next prompt is submitted the moment
its previous response returns, and ``resources.llm.streaming.GenerationStream`` keeps up to ``max_in_flight``
prompts in flight across questions, so one slow request never idles the server for a whole round.

Questions are admitted in cohorts of ``cohort_size`` (input order), at most ``window`` cohorts at a time: memory
holds the working set of ``window`` cohorts, never the partition. A cohort is yielded as soon as all its questions
finished, so the caller can write it to disk and drop it (``traces.run_traces`` spills each one).

The one cross-question rule of the rounds engine is kept per cohort: an attempt's conclusion is sampled at the
highest round any question of the attempt's cohort reached (``Cohort`` in ``question_program``), so a question
waits there for the rest of its cohort while the other admitted cohort keeps the server busy. With the partition in
one cohort the prompts, seeds and results are exactly those of ``DualExpertLoop`` (test_traces_continuous.py). With
several cohorts a question that stopped early is concluded at its cohort's highest round instead of the
partition's: the same whenever one question of its cohort ran to ``max_rounds`` (at thousands of questions per
cohort, practically always); otherwise its conclusion is sampled with a different seed.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice

from citrus_assets.reasoning_data.traces.dual_expert import (
    Call,
    LoopConfig,
    OpenQuestion,
    TraceResult,
    call_record,
    question_program,
)
from resources.llm.streaming import GenerationStream

DEFAULT_COHORT = 2000


@dataclass
class _Cohort:
    index: int
    results: list[TraceResult]
    programs: list = field(default_factory=list)
    pending: dict = field(default_factory=dict)  # question index -> (Call, params, rendered prompt) in flight
    parked: list[int] = field(default_factory=list)  # waiting for the cohort's conclusion round
    running: int = 0
    done: int = 0


class ContinuousLoop:
    """Runs ``question_program`` for every question with up to ``max_in_flight`` prompts in flight."""

    def __init__(
        self,
        llm,
        config: LoopConfig | None = None,
        *,
        max_in_flight: int = 64,
        max_batch: int = 16,
        cohort_size: int = DEFAULT_COHORT,
        window: int = 2,
    ) -> None:
        self.llm = llm
        self.config = config or LoopConfig()
        self.max_in_flight, self.max_batch = max_in_flight, max_batch
        self.cohort_size, self.window = max(1, int(cohort_size)), max(1, int(window))
        self.batches = 0  # generate calls made (micro-batches)
        self.requests = 0  # prompts submitted
        self._params: dict[tuple, tuple] = {}  # (role, attempt, round) -> (SamplingParams, its JSON)

    def params(self, call: Call) -> tuple:
        key = (call.role, call.attempt, call.rnd)
        if key not in self._params:
            p = self.config.params(*key)
            self._params[key] = (p, p.to_json())
        return self._params[key]

    def run(self, questions: list[OpenQuestion]) -> list[TraceResult]:
        """Every question's result, in input order."""
        return [r for _, c in sorted(self.run_cohorts(questions), key=lambda x: x[0]) for r in c]

    def run_cohorts(
        self, questions: Iterable[OpenQuestion], skip: frozenset[int] = frozenset()
    ) -> Iterator[tuple[int, list[TraceResult]]]:
        """``(cohort index, results in input order)`` as each cohort finishes; cohorts in ``skip`` are not run
        (already on disk). Cohort k holds questions ``k*cohort_size .. (k+1)*cohort_size-1``."""
        source = iter(questions)
        index = 0
        active: dict[int, _Cohort] = {}
        # an LLMResource's plain LLMClient (the same generate, render, model and cache): every call record reads
        # the model id, revision and rendered prompt, and the resource's pydantic attribute access costs more
        self._client = getattr(self.llm, "client", self.llm)
        # a client whose generate takes the rendered prompts (LLMClient) gets the one rendering the record keeps
        self._shares_render = "rendered" in inspect.signature(self._client.generate).parameters
        with GenerationStream(self._client, self.max_in_flight, self.max_batch) as stream:
            self._stream = stream
            try:
                while True:
                    while len(active) < self.window:  # admit the next cohort(s)
                        chunk = list(islice(source, self.cohort_size))
                        if not chunk:
                            break
                        k, index = index, index + 1
                        if k in skip:
                            continue
                        active[k] = self._start(k, chunk)
                        if active[k].done == len(chunk):
                            yield k, active.pop(k).results
                    if not active:
                        break
                    for (k, i), gens in stream.completed():
                        c = active[k]
                        call, (params, sampling), rendered = c.pending.pop(i)
                        g = gens[0]
                        c.results[i].final.calls.append(
                            call_record(
                                self._client,
                                call.role,
                                call.attempt,
                                call.rnd,
                                call.messages,
                                params,
                                g,
                                sampling,
                                rendered,
                            )
                        )
                        self._step(c, i, g.text)
                    for k in [k for k, c in active.items() if c.done == len(c.results)]:
                        yield k, active.pop(k).results
            finally:
                self.batches += stream.batches
                self._stream = None

    # -- one cohort -----------------------------------------------------------------------------------------------
    def _start(self, k: int, questions: list[OpenQuestion]) -> _Cohort:
        c = _Cohort(k, [TraceResult(q) for q in questions])
        c.programs = [question_program(r, self.config) for r in c.results]
        c.running = len(c.results)
        for i in range(len(c.results)):
            self._step(c, i, None)
        return c

    def _step(self, c: _Cohort, i: int, value) -> None:
        """Send ``value`` to question i's program and act on what it asks next."""
        try:
            item = c.programs[i].send(value)
        except StopIteration:
            c.programs[i] = None
            c.running -= 1
            c.done += 1
            self._release(c)
            return
        if isinstance(item, Call):
            params = self.params(item)
            # rendered once, here: the call record keeps it and LLMClient.generate takes it instead of rendering
            rendered = self._client.render(item.messages) if self._shares_render else None
            c.pending[i] = (item, params, rendered or "")
            self._stream.submit((c.index, i), item.messages, params[0], rendered)
            self.requests += 1
        else:  # Cohort: wait for the rest of the cohort's attempt
            c.running -= 1
            c.parked.append(i)
            self._release(c)

    def _release(self, c: _Cohort) -> None:
        if c.running or not c.parked:
            return
        parked, c.parked = c.parked, []
        last = max(c.results[i].final.rounds for i in parked)
        c.running += len(parked)
        for i in parked:
            self._step(c, i, last)
