import asyncio
import threading

import pytest

from resources.canonical import canonical_json
from resources.llm import LLMBackendError, LLMResource, SamplingParams
from resources.llm.backends.openai_backend import OpenAIBackend
from resources.llm.types import Request

KEY = "sk-test-SECRET-1234567890"


@pytest.fixture(autouse=True)
def _api_key(monkeypatch):
    monkeypatch.setenv("CITRUS_OPENAI_API_KEY", KEY)


def backend(server, **kw):
    kw.setdefault("backoff_s", 0.01)
    kw.setdefault("max_backoff_s", 0.05)
    return OpenAIBackend("fake-model", server.base_url, **kw)


def req(text, indices=(0,)):
    msgs = [{"role": "user", "content": text}]
    return Request(msgs, canonical_json(msgs, strict=True), tuple(indices))


def test_success_with_n_samples_through_the_resource(fake_server):
    r = LLMResource(backend="openai", model="fake-model", base_url=fake_server.base_url)
    params = SamplingParams(n=3, temperature=0.8, top_p=0.9, max_tokens=20, stop=("END",), seed=5)
    out = r.generate(["hello world", "b"], params)
    assert [[g.text for g in row] for row in out] == [
        [f"echo:hello world#seed5#{i}" for i in range(3)],
        [f"echo:b#seed5#{i}" for i in range(3)],
    ]
    g = out[0]
    assert [x.prompt_tokens for x in g] == [7, 7, 7]
    assert [x.completion_tokens for x in g] == [4, 3, 3]  # total 10 split evenly, remainder first
    assert fake_server.requests == 2
    body = next(b for b in fake_server.bodies if b["messages"][0]["content"] == "hello world")
    assert {k: body[k] for k in ("model", "n", "temperature", "top_p", "max_tokens", "stop", "seed")} == {
        "model": "fake-model",
        "n": 3,
        "temperature": 0.8,
        "top_p": 0.9,
        "max_tokens": 20,
        "stop": ["END"],
        "seed": 5,
    }
    assert body["messages"] == [{"role": "user", "content": "hello world"}]
    assert fake_server.auth_headers[0] == f"Bearer {KEY}"
    assert r.render("hello world") == '[{"content":"hello world","role":"user"}]'
    assert KEY not in repr(r) and KEY not in str(r.stats)
    again = r.generate(["hello world", "b"], params)  # cached: no new request
    assert fake_server.requests == 2 and all(x.cached for row in again for x in row)


def test_retries_500_then_succeeds(fake_server):
    fake_server.script = ["500", "429", "500"]
    out = backend(fake_server, max_retries=4).generate([req("a")], SamplingParams())
    assert out[0][0].text == "echo:a#seed0#0" and fake_server.requests == 4


def test_always_500_raises_naming_endpoint_without_key(fake_server, caplog):
    fake_server.default = "500"
    with pytest.raises(LLMBackendError) as exc:
        backend(fake_server, max_retries=2).generate([req("a")], SamplingParams())
    msg = str(exc.value)
    assert fake_server.base_url + "/chat/completions" in msg and "HTTP 500" in msg and "3 attempts" in msg
    assert KEY not in msg and KEY not in caplog.text
    assert fake_server.requests == 3


def test_client_error_is_not_retried_and_partial_results_survive(fake_server):
    with pytest.raises(LLMBackendError) as exc:
        backend(fake_server).generate([req("ok"), req("reject me")], SamplingParams())
    assert "HTTP 400" in str(exc.value) and fake_server.requests == 2
    assert exc.value.partial[0][0].text == "echo:ok#seed0#0" and exc.value.partial[1] is None


def test_malformed_json_is_retried_then_fails(fake_server):
    fake_server.script = ["malformed"]
    assert backend(fake_server).generate([req("a")], SamplingParams())[0][0].text == "echo:a#seed0#0"
    fake_server.default = "malformed"
    with pytest.raises(LLMBackendError, match="malformed"):
        backend(fake_server, max_retries=1).generate([req("a")], SamplingParams())


def test_timeout_is_retried_then_fails(fake_server):
    fake_server.script = [("sleep", 1.0)]
    out = backend(fake_server, timeout_s=0.3).generate([req("a")], SamplingParams())
    assert out[0][0].text == "echo:a#seed0#0" and fake_server.requests == 2
    fake_server.default = ("sleep", 1.0)
    with pytest.raises(LLMBackendError, match="timeout") as exc:
        backend(fake_server, timeout_s=0.2, max_retries=1).generate([req("a")], SamplingParams())
    assert fake_server.base_url in str(exc.value)


def test_connection_refused_names_endpoint():
    b = OpenAIBackend("m", "http://127.0.0.1:9/v1", max_retries=1, backoff_s=0.01)
    with pytest.raises(LLMBackendError, match=r"http://127.0.0.1:9/v1/chat/completions.*connection error"):
        b.generate([req("a")], SamplingParams())


def test_concurrency_bound_is_respected(fake_server):
    fake_server.delay = 0.15
    out = backend(fake_server, max_concurrency=3).generate([req(f"p{i}") for i in range(12)], SamplingParams())
    assert [row[0].text for row in out] == [f"echo:p{i}#seed0#0" for i in range(12)]
    assert fake_server.max_inflight == 3


def test_server_ignoring_n_is_asked_for_the_rest(fake_server):
    fake_server.default = "one_choice"
    out = backend(fake_server).generate([req("a", (0, 1, 2))], SamplingParams(n=3, temperature=1.0, seed=10))
    assert [g.text for g in out[0]] == ["echo:a#seed10#0", "echo:a#seed11#0", "echo:a#seed12#0"]
    assert [g.sample_index for g in out[0]] == [0, 1, 2] and fake_server.requests == 3


def test_works_inside_a_running_event_loop_and_threads(fake_server):
    b = backend(fake_server)

    async def inside():
        return b.generate([req("loop")], SamplingParams())

    assert asyncio.run(inside())[0][0].text == "echo:loop#seed0#0"
    results = []
    threads = [
        threading.Thread(target=lambda i=i: results.append(b.generate([req(f"t{i}")], SamplingParams())))
        for i in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r[0][0].text for r in results) == [f"echo:t{i}#seed0#0" for i in range(3)]


def test_no_key_means_no_auth_header(fake_server, monkeypatch):
    monkeypatch.delenv("CITRUS_OPENAI_API_KEY")
    backend(fake_server).generate([req("a")], SamplingParams())
    assert fake_server.auth_headers == [None]


def test_openai_backend_needs_base_url():
    with pytest.raises(ValueError, match="base_url"):
        LLMResource(backend="openai", model="m").generate(["x"])
