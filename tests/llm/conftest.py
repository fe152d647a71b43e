"""Fixtures for the LLM resource tests: a tiny offline model and a fake OpenAI-compatible server."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from resources.llm import clear_backend_cache


@pytest.fixture(autouse=True)
def _isolated(request, tmp_path, monkeypatch):
    """Every test gets its own cache dir (slow tests keep the real one: the converted model lives there)
    and a clean per-process backend registry."""
    if request.node.get_closest_marker("slow") is None:
        monkeypatch.setenv("CITRUS_CACHE_DIR", str(tmp_path / "citrus-cache"))
    # the fake servers listen on 127.0.0.1: keys may be sent there; the secrets test's key name is declared
    monkeypatch.setenv("CITRUS_LLM_KEY_URLS", "http://127.0.0.1")
    monkeypatch.setenv("CITRUS_LLM_KEY_ENVS", "CITRUS_TEST_OPENAI_KEY")
    clear_backend_cache()
    yield
    clear_backend_cache()


class FakeOpenAIServer:
    """OpenAI-compatible /v1/chat/completions on 127.0.0.1.

    `script` is consumed one behaviour per request, then `default` applies. Behaviours: "ok",
    "500", "429", "400", "malformed", "one_choice" (ignores n), ("sleep", seconds) then ok.
    """

    def __init__(self) -> None:
        self.script: list = []
        self.default = "ok"
        self.delay = 0.0
        self.requests = 0
        self.bodies: list[dict] = []
        self.auth_headers: list[str | None] = []
        self.inflight = 0
        self.max_inflight = 0
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_POST(self):
                with server._lock:
                    server.requests += 1
                    server.inflight += 1
                    server.max_inflight = max(server.max_inflight, server.inflight)
                    behaviour = server.script.pop(0) if server.script else server.default
                try:
                    body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                    with server._lock:
                        server.bodies.append(body)
                        server.auth_headers.append(self.headers.get("Authorization"))
                    if server.delay:
                        time.sleep(server.delay)
                    self._respond(behaviour, body)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                finally:
                    with server._lock:
                        server.inflight -= 1

            def _send(self, status: int, payload: bytes, ctype="application/json"):
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def _respond(self, behaviour, body):
                if self.path != "/v1/chat/completions":
                    return self._send(404, b'{"error": "not found"}')
                if isinstance(behaviour, tuple) and behaviour[0] == "sleep":
                    time.sleep(behaviour[1])
                    behaviour = "ok"
                if behaviour in ("500", "429", "400"):
                    return self._send(int(behaviour), b'{"error": {"message": "boom"}}')
                if behaviour == "malformed":
                    return self._send(200, b'{"choices": [ this is not json')
                user = body["messages"][-1]["content"]
                if user == "reject me":
                    return self._send(400, b'{"error": {"message": "bad prompt"}}')
                n = 1 if behaviour == "one_choice" else int(body.get("n", 1))
                seed = body.get("seed")
                choices = [
                    {
                        "index": i,
                        "finish_reason": "stop",
                        "message": {"role": "assistant", "content": f"echo:{user}#seed{seed}#{i}"},
                    }
                    for i in range(n)
                ]
                usage = {
                    "prompt_tokens": len(user.split()) + 5,
                    "completion_tokens": 3 * n + 1,
                    "total_tokens": len(user.split()) + 5 + 3 * n + 1,
                }
                self._send(
                    200,
                    json.dumps(
                        {
                            "id": "x",
                            "object": "chat.completion",
                            "model": body["model"],
                            "choices": choices,
                            "usage": usage,
                        }
                    ).encode(),
                )

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.handle_error = lambda *a: None
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def fake_server():
    server = FakeOpenAIServer()
    yield server
    server.close()
