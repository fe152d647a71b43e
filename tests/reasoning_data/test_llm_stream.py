"""resources/llm/streaming.GenerationStream: micro-batches of one sampling, bounded in flight, oldest group first,
a failed batch raised, results the client's (cache keys unchanged)."""

import threading
import time

import pytest

from resources.llm import GenerationCache, LLMClient, SamplingParams
from resources.llm.streaming import GenerationStream
from resources.llm.types import Generation


class EchoBackend:
    model_id, revision = "echo", "v1"

    def __init__(self, delay=0.0, fail_on=None):
        self.delay, self.fail_on = delay, fail_on
        self.calls: list[tuple[int, float]] = []  # (batch size, temperature)
        self.live = self.peak = 0
        self._lock = threading.Lock()

    def render(self, messages):
        return "|".join(m["content"] for m in messages)

    def generate(self, requests, params):
        with self._lock:
            self.calls.append((len(requests), params.temperature))
            self.live += len(requests)
            self.peak = max(self.peak, self.live)
        try:
            time.sleep(self.delay)
            if self.fail_on and any(self.fail_on in r.rendered for r in requests):
                raise RuntimeError("backend down")
            return [
                [Generation(f"{r.rendered}@{params.temperature}", 1, 1, "stop", False, i) for i in r.sample_indices]
                for r in requests
            ]
        finally:
            with self._lock:
                self.live -= len(requests)


def drain(stream):
    out = {}
    while stream.busy:
        for tag, gens in stream.completed():
            out[tag] = gens
    return out


def test_micro_batches_share_sampling_and_in_flight_stays_bounded(tmp_path):
    backend = EchoBackend(delay=0.01)
    client = LLMClient(backend, GenerationCache(tmp_path / "c.sqlite"))
    hot, cold = SamplingParams(temperature=0.7), SamplingParams(temperature=0.0)
    with GenerationStream(client, max_in_flight=8, max_batch=4) as stream:
        for i in range(30):
            stream.submit(i, f"q{i}", hot if i % 2 else cold)
        out = drain(stream)
    assert sorted(out) == list(range(30))
    assert all(out[i][0].text == f"q{i}@{0.7 if i % 2 else 0.0}" for i in range(30))
    assert max(n for n, _ in backend.calls) == 4 and backend.peak <= 8 and stream.batches == len(backend.calls)
    # the same prompts through the plain client are cache hits: the stream made the client's own cache keys
    again = client.generate([f"q{i}" for i in range(0, 30, 2)], cold)
    assert all(g[0].cached for g in again)


def test_follow_ups_go_out_while_other_batches_are_in_flight(tmp_path):
    backend = EchoBackend(delay=0.02)
    client = LLMClient(backend, None)
    p = SamplingParams()
    done = []
    with GenerationStream(client, max_in_flight=4, max_batch=1) as stream:
        for i in range(4):
            stream.submit((i, 0), f"q{i}", p)
        while stream.busy:
            for (i, step), _ in stream.completed():
                done.append((i, step))
                if step < 2:
                    stream.submit((i, step + 1), f"q{i} step {step + 1}", p)
    assert sorted(done) == [(i, s) for i in range(4) for s in range(3)]
    assert backend.peak > 1  # several questions' calls were in flight together, no round barrier


def test_a_failed_batch_is_raised_from_completed():
    stream = GenerationStream(LLMClient(EchoBackend(fail_on="bad"), None), max_in_flight=2, max_batch=1)
    stream.submit(0, "good", SamplingParams())
    stream.submit(1, "bad", SamplingParams())
    with pytest.raises(RuntimeError, match="backend down"):
        drain(stream)
