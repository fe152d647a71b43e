"""The OpenAI backend's request loop (issue 17): one session per backend on the process's request loop,
``max_concurrency`` shared by calls made from several threads at once, results unchanged."""

from __future__ import annotations

import threading

from resources.llm import SamplingParams
from resources.llm.backends.openai_backend import _LOOP, OpenAIBackend
from resources.llm.types import Request


def req(text: str) -> Request:
    return Request([{"role": "user", "content": text}], text)


def test_concurrent_calls_from_threads_share_max_concurrency(fake_server):
    fake_server.delay = 0.2
    backend = OpenAIBackend("m", fake_server.base_url, max_concurrency=3)
    out: dict[int, list] = {}

    def call(t: int) -> None:
        out[t] = backend.generate([req(f"t{t}p{i}") for i in range(4)], SamplingParams())

    threads = [threading.Thread(target=call, args=(t,)) for t in range(3)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert fake_server.max_inflight == 3  # not 3 per call
    for t in range(3):
        assert [r[0].text for r in out[t]] == [f"echo:t{t}p{i}#seed0#0" for i in range(4)]


def test_calls_reuse_the_backend_session_on_one_loop(fake_server):
    backend = OpenAIBackend("m", fake_server.base_url, max_concurrency=2)
    backend.generate([req("a")], SamplingParams())
    first = backend._holder["state"]
    loop = _LOOP.loop()
    backend.generate([req("b")], SamplingParams())
    assert backend._holder["state"] is first and not first.session.closed and _LOOP.loop() is loop
    finalizer = backend._holder["finalizer"]
    del backend
    import gc

    gc.collect()
    assert not finalizer.alive  # a dropped backend closes its session
