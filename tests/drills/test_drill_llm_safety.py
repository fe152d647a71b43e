"""Drill 7: the LLM request cache and the OpenAI-compatible client under damage, bad servers and hostile config
(issue 14, items 4, 5, 7, 12, 13).

- A cache file with a damaged SQLite page is detected, moved aside, reported (log, ``repairs``, asset metadata)
  and rebuilt: the next run re-pays only the entries on the damaged page, the run after it none.
- ``content: null`` / ``""`` / a missing ``content`` is never cached: after the server recovers, the re-run
  asks again for exactly those prompts.
- ``timeout_s`` is a deadline per request: a server trickling one byte a second is cut off at ``timeout_s``.
- An API key with trailing ``\\n`` / ``\\r\\n`` / ``\\t`` is stripped and sent; a key with a bad inner character
  is refused naming its position; every form of the key the server echoes back (raw, repr-escaped, quoted,
  JSON-escaped, bytes repr, percent-encoded) is redacted from the error Dagster stores.
- Run config cannot read an undeclared variable as the key (``DB_PASSWORD``), nor send a key to a URL the
  deployment did not bind keys to.
"""

import json
import os
import random
import sqlite3
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote

import dagster as dg
import pyarrow as pa
import pytest

from citrus_assets.common.metadata import output
from resources.llm import Generation, GenerationCache, LLMBackendError, LLMClient, LLMResource, SamplingParams
from resources.llm.backends.openai_backend import NO_CONTENT, OpenAIBackend
from resources.llm.secrets import redact, secret_forms
from resources.llm.types import Request

N = 200


class Server:
    """/v1/chat/completions on 127.0.0.1; ``mode(user) -> behaviour``. Records auth headers and bodies."""

    def __init__(self) -> None:
        self.mode = lambda user: "ok"
        self.requests, self.auth, self.echo = 0, [], ""
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                outer.requests += 1
                outer.auth.append(self.headers.get("Authorization"))
                user = body["messages"][-1]["content"]
                how = outer.mode(user)
                if how == "trickle":  # headers at once, then one byte a second
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", "100000")
                    self.end_headers()
                    try:
                        for _ in range(600):
                            self.wfile.write(b" ")
                            self.wfile.flush()
                            time.sleep(1.0)
                    except OSError:
                        pass
                    return
                if how == "echo_400":
                    payload, status = outer.echo.encode(), 400
                else:
                    content = {"null": None, "empty": "", "ok": f"answer to {user}"}.get(how, "x")
                    message = {"role": "assistant"} if how == "missing" else {"role": "assistant", "content": content}
                    payload, status = (
                        json.dumps(
                            {
                                "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                                "usage": {"prompt_tokens": 3, "completion_tokens": 2},
                            }
                        ).encode(),
                        200,
                    )
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        class Srv(ThreadingHTTPServer):
            daemon_threads = True

        self.httpd = Srv(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server(monkeypatch):
    srv = Server()
    monkeypatch.setenv("CITRUS_LLM_KEY_URLS", srv.base_url)
    yield srv
    srv.close()


class Counting:
    model_id, revision = "fake", "r1"

    def __init__(self):
        self.paid = 0

    def render(self, messages):
        return messages[-1]["content"]

    def generate(self, requests, params):
        self.paid += len(requests)
        return [[Generation(f"answer {r.rendered} " + "x" * 300, 3, 5, "stop")] for r in requests]


def _damage_a_page(path, page_size: int = 4096) -> int:
    """Overwrite one page in the middle of the file with random bytes; returns the page number."""
    size = os.path.getsize(path)
    page = (size // page_size) // 2
    rnd = random.Random(7)
    with open(path, "r+b") as fh:
        fh.seek(page * page_size)
        fh.write(bytes(rnd.randrange(256) for _ in range(page_size)))
    return page


def test_corrupt_cache_pages_are_detected_moved_aside_reported_and_rebuilt(tmp_path, caplog):
    path = tmp_path / "llm_cache.sqlite"
    prompts = [f"question {i}" for i in range(N)]
    first = Counting()
    LLMClient(first, GenerationCache(path)).generate(prompts)
    con = sqlite3.connect(path)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    page = _damage_a_page(path)
    with pytest.raises(sqlite3.DatabaseError):  # the damage is real: SQLite itself fails on the file
        c = sqlite3.connect(path)
        assert c.execute("PRAGMA quick_check").fetchall() == [("ok",)]
        c.execute("SELECT * FROM generations").fetchall()

    run1 = Counting()
    cache = GenerationCache(path)
    client = LLMClient(run1, cache)
    out = client.generate(prompts)
    assert [g[0].text for g in out] == [f"answer {p} " + "x" * 300 for p in prompts]
    assert len(cache.repairs) == 1 and client.stats["cache_repairs"] == 1
    repair = cache.repairs[0]
    assert os.path.exists(repair["moved_to"]) and "unreadable or damaged" in caplog.text
    assert run1.paid == N - repair["salvaged"] and run1.paid < N
    md = output(pa.table({"record_id": ["r1"]})).metadata
    assert md["llm_cache_repairs"].data[0]["moved_to"] == repair["moved_to"]  # reported in the asset's metadata
    assert "llm_cache_repairs" not in output(pa.table({"record_id": ["r1"]})).metadata  # once

    run2 = Counting()
    cache2 = GenerationCache(path)
    LLMClient(run2, cache2).generate(prompts)
    assert run2.paid == 0 and cache2.repairs == []
    print(
        f"\nDRILL corrupt-cache: page {page} of the cache overwritten; run 1 re-paid {run1.paid}/{N} "
        f"({repair['salvaged']} entries salvaged; reason: {repair['reason'][:60]}); run 2 re-paid {run2.paid}/{N}; "
        f"damaged file kept at {os.path.basename(repair['moved_to'])}"
    )


@pytest.mark.parametrize("how", ["null", "empty", "missing"])
def test_content_null_is_never_cached(tmp_path, server, how):
    prompts = [f"q{i}" for i in range(6)]
    bad = set(prompts[:4])
    server.mode = lambda user: how if user in bad else "ok"
    llm = LLMResource(backend="openai", model="m", base_url=server.base_url, cache_dir=str(tmp_path), max_retries=1)
    llm.get_backend().backoff_s = llm.get_backend().max_backoff_s = 0.01
    out = llm.generate(prompts)
    assert [g[0].finish_reason for g in out[:4]] == [NO_CONTENT] * 4 and all(g[0].text == "" for g in out[:4])
    assert server.requests == 4 * 2 + 2  # each empty one retried once, then returned as empty
    server.requests, server.mode = 0, (lambda user: "ok")  # the server recovers
    again = LLMResource(**llm.llm_settings(), use_cache=True).generate(prompts)
    assert server.requests == 4 and [g[0].text for g in again[:4]] == [f"answer to {p}" for p in prompts[:4]]
    print(
        f"\nDRILL content-{how}: 4 of 6 answers came without content -> 0 cached; "
        f"re-run after recovery sent {server.requests} requests (the 4), cached 2 reused"
    )


def test_timeout_is_a_total_deadline_against_a_trickling_server(server):
    server.mode = lambda user: "trickle"
    backend = OpenAIBackend("m", server.base_url, timeout_s=2, max_retries=0)
    start = time.monotonic()
    with pytest.raises(LLMBackendError, match="timeout after 2s"):
        backend.generate([Request([{"role": "user", "content": "q"}], "q")], SamplingParams())
    elapsed = time.monotonic() - start
    assert elapsed < 4.5, elapsed
    print(
        f"\nDRILL trickle: server sends 1 byte/s; request cut off after {elapsed:.1f}s at timeout_s=2 "
        f"(was > 420 s with a per-read timeout)"
    )


SECRET = "sk-citrus-LEAKTEST-9f8e7d6c5b4a"


@pytest.mark.parametrize("suffix", ["\n", "\r\n", "\t", " \n"])
def test_key_with_trailing_whitespace_is_stripped_and_sent(server, monkeypatch, suffix):
    monkeypatch.setenv("CITRUS_OPENAI_API_KEY", SECRET + suffix)
    out = OpenAIBackend("m", server.base_url).generate(
        [Request([{"role": "user", "content": "q"}], "q")], SamplingParams()
    )
    assert out[0][0].text == "answer to q" and server.auth == [f"Bearer {SECRET}"]


def test_every_form_of_the_key_is_redacted_before_dagster(server, monkeypatch):
    raw = SECRET + "\r\n"
    monkeypatch.setenv("CITRUS_OPENAI_API_KEY", raw)
    forms = {
        "raw": raw,
        "stripped": SECRET,
        "repr": repr(raw),
        "quoted": f'"{raw}"',
        "json": json.dumps(raw),
        "bytes repr": repr(raw.encode()),
        "percent": quote(raw, safe=""),
        "double repr": repr(repr(raw)),
    }
    for name, form in forms.items():
        assert SECRET not in redact(f"error: {form} end", raw), name
    # the server echoes every form back in a 400 body; the client's error must hold none of them
    server.echo = " | ".join(forms.values())
    server.mode = lambda user: "echo_400"

    @dg.asset
    def asks(llm: LLMResource):
        llm.generate(["q"])

    llm = LLMResource(backend="openai", model="m", base_url=server.base_url, max_retries=0)
    with dg.instance_for_test() as instance:
        result = dg.materialize([asks], resources={"llm": llm}, instance=instance, raise_on_error=False)
        assert not result.success
        stored = "\n".join(dg.serialize_value(e) for e in instance.all_logs(result.run_id))
    assert server.auth == [f"Bearer {SECRET}"] and "rejected the request" in stored
    found = {f for f in secret_forms(raw) if f in stored} | ({SECRET} if SECRET in stored else set())
    assert found == set(), found
    # a key with a character no header can carry is refused by position, never shown
    monkeypatch.setenv("CITRUS_OPENAI_API_KEY", "sk-abc\x01def-123456")
    with pytest.raises(LLMBackendError) as err:
        OpenAIBackend("m", server.base_url).generate(
            [Request([{"role": "user", "content": "q"}], "q")], SamplingParams()
        )
    assert "position 6" in str(err.value) and "abc" not in str(err.value)
    print(
        f"\nDRILL secret-forms: {len(forms)} forms of a key ending in \\r\\n echoed by the server -> "
        f"{len(found)} found in the run's event log ({len(stored)} bytes scanned); trailing whitespace stripped"
    )


def test_run_config_cannot_choose_the_key_variable_or_its_destination(server, monkeypatch, tmp_path):
    monkeypatch.setenv("DB_PASSWORD", "hunter2-db-secret")
    monkeypatch.setenv("CITRUS_OPENAI_API_KEY", SECRET)

    @dg.asset
    def asks(llm: LLMResource):
        return llm.generate(["q"])[0][0].text

    base = LLMResource(backend="openai", model="m", base_url=server.base_url, max_retries=0, cache_dir=str(tmp_path))
    with pytest.raises(Exception, match="not a declared API-key variable"):
        LLMResource(backend="openai", model="m", base_url=server.base_url, api_key_env="DB_PASSWORD")
    with dg.instance_for_test() as instance:
        settings = base.llm_settings()  # run config replaces the resource's whole config
        hostile = {"resources": {"llm": {"config": {**settings, "api_key_env": "DB_PASSWORD"}}}}
        r1 = dg.materialize(
            [asks], resources={"llm": base}, instance=instance, run_config=hostile, raise_on_error=False
        )
        other = Server()  # an attacker's endpoint: run config points base_url at it
        try:
            r2 = dg.materialize(
                [asks],
                resources={"llm": base},
                instance=instance,
                raise_on_error=False,
                run_config={"resources": {"llm": {"config": {**settings, "base_url": other.base_url}}}},
            )
            sent_elsewhere = other.requests
            errors = " ".join(str(e.event_specific_data) for e in r2.all_events if e.is_failure)
        finally:
            other.close()
        ok = dg.materialize([asks], resources={"llm": base}, instance=instance)
    assert not r1.success and not r2.success and ok.success
    assert "not a declared API-key variable" in str(r1.all_events) and "refusing to send the API key" in errors
    assert sent_elsewhere == 0 and "hunter2" not in "".join(str(a) for a in server.auth)
    assert server.auth == [f"Bearer {SECRET}"]  # only the good run reached the bound server, with the declared key
    print(
        f"\nDRILL hostile-run-config: api_key_env=DB_PASSWORD -> run failed, 0 bytes of DB_PASSWORD sent; "
        f"base_url -> unbound server: {sent_elsewhere} requests; bound server saw {len(server.auth)} request "
        f"(the declared key)"
    )
