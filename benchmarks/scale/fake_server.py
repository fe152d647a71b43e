"""A fast fake OpenAI-compatible server for scale benchmarks: ``POST /v1/chat/completions`` on 127.0.0.1.

    python -m benchmarks.scale.fake_server --port 8011 --latency-s 0.5 [--record requests.jsonl]

It answers every prompt of the reasoning-data chain deterministically (the same body gets the same
answer) and recognises the prompt by its prompt file:

- closed-form MCQ (``citrus_mcq_user``): ``<think>..</think><answer>L. text</answer>``; the correct option
  for about 60% of the (prompt, seed) pairs, a wrong one for 30%, prose without an ``<answer>`` for 10%
  (the answer parser rejects it);
- open-ended rewrite (``open_rewrite_*``): the stem without "which of the following" for 80%; a rewrite
  that drops a number (``lost_number``) or still lists options (``lists_options``) for 10% each;
- the dual-expert roles and the SFT rewrite: the scripted clinician of
  ``tests.support.scripted_backend.Policy`` (reused, not copied), whose candidates come from
  the question's condition (``benchmarks.scale.seeds``): for 3 questions in 4 the true diagnosis is among
  them (the trace succeeds), for 1 in 4 it is not (the judge never says YES);
- an open answer (``citrus_open_user``): ``<answer>`` with the condition's diagnosis.

Other prompts get a short plain sentence. Each answer waits ``--latency-s`` (an asyncio sleep: no thread
per request, so thousands can be in flight). ``GET /stats`` reports requests, in flight, the peak, and the server's CPU seconds (``cpu_s``) and ``pid``.
``--record`` appends each request body as one JSON line (``replay.py`` sends the same stream again).

From Python, ``with serve(latency_s=0.5) as base_url:`` runs it as a subprocess and stops it after.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import resource
import signal
import subprocess
import sys
import zlib
from collections.abc import Iterator
from pathlib import Path

from benchmarks.scale.seeds import CONDITIONS, Condition
from tests.support.scripted_backend import Policy, detect_role, question_of

REPO = Path(__file__).resolve().parents[2]
_OPTION = re.compile(r"(?m)^([A-J])\. (.+)$")


def condition_of(text: str) -> Condition | None:
    """The seed condition whose key finding the text quotes (None: not a scale seed)."""
    for c in CONDITIONS:
        if c.finding in text:
            return c
    return None


def bucket(text: str, salt: object = "", mod: int = 10) -> int:
    return zlib.crc32(f"{salt}|{text}".encode("utf-8", "surrogatepass")) % mod


class ScalePolicy(Policy):
    """The scripted clinician with candidates from the question's condition."""

    def cands(self, prompt: str) -> list[str]:
        q = question_of(prompt)
        c = condition_of(q)
        if c is None:
            return ["an unknown condition"]
        i = CONDITIONS.index(c)
        d1 = CONDITIONS[(i + 1 + bucket(q, "d1", 5)) % len(CONDITIONS)].diagnosis
        d2 = CONDITIONS[(i + 7 + bucket(q, "d2", 5)) % len(CONDITIONS)].diagnosis
        return [d1, d2] if bucket(q, "cands", 4) == 0 else [d1, c.diagnosis]


POLICY = ScalePolicy()


def mcq_answer(user: str, salt: object) -> str:
    options = dict(_OPTION.findall(user))
    c = condition_of(user)
    right = next((k for k, v in options.items() if c is not None and v.strip() == c.diagnosis), None)
    letters = sorted(options) or ["A"]
    b = bucket(user, salt)
    if b == 9:
        return "The presentation is typical, but several of the listed conditions remain possible."
    if b >= 6 or right is None:
        wrong = [k for k in letters if k != right] or letters
        pick = wrong[bucket(user, ("w", salt), len(wrong))]
    else:
        pick = right
    return (
        f"<think>The key finding points to one condition; the others do not explain it.</think>\n"
        f"<answer>{pick}. {options.get(pick, '')}</answer>"
    )


def open_rewrite(user: str, salt: object) -> str:
    i = user.rfind("Question:\n")
    stem = user[i + len("Question:\n") :].strip() if i >= 0 else user.strip()
    good = re.sub(r"Which of the following is", "What is", stem)
    b = bucket(stem, salt)
    if b == 8:  # drops the pulse: the validator rejects it (lost_number)
        return re.sub(r"Pulse is \d+/min, ", "", good)
    if b == 9:
        return good + "\nA. Gout\nB. Celiac disease"
    return good


def answer_text(messages: list[dict], salt: object = "") -> str:
    """What the fake model answers to a chat (module docstring)."""
    user = str(messages[-1].get("content") or "") if messages else ""
    if "Rewrite the multiple-choice medical question" in user or "改写" in user[:200]:
        return open_rewrite(user, salt)
    if "<answer>the letter of the correct option" in user:
        return mcq_answer(user, salt)
    if "<answer>your final answer, stated briefly</answer>" in user:
        c = condition_of(user)
        return f"<think>The key finding settles it.</think>\n<answer>{c.diagnosis if c else 'unclear'}</answer>"
    role = detect_role(user)
    if role != "other":
        return getattr(POLICY, role)(user)
    return "The case needs a careful work-up of the findings."


def respond(body: dict) -> dict:
    """The /v1/chat/completions response body for a request body."""
    messages = body.get("messages") or []
    n = max(1, int(body.get("n") or 1))
    salt = (body.get("seed"), body.get("temperature"))
    choices = []
    for k in range(n):
        text = answer_text(messages, salt if k == 0 else (salt, k))
        choices.append({"index": k, "finish_reason": "stop", "message": {"role": "assistant", "content": text}})
    prompt_tokens = sum(len(str(m.get("content") or "").split()) for m in messages)
    completion = sum(len(c["message"]["content"].split()) for c in choices)
    return {
        "id": "fake",
        "object": "chat.completion",
        "model": body.get("model", "fake"),
        "choices": choices,
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion,
            "total_tokens": prompt_tokens + completion,
        },
    }


# ------------------------------------------------------------------------------------------------ server
def make_app(latency_s: float = 0.0, record: str | None = None):
    from aiohttp import web

    state = {"requests": 0, "inflight": 0, "peak_inflight": 0}
    sink = open(record, "a", encoding="utf-8", buffering=1 << 20) if record else None

    async def chat(request: web.Request) -> web.Response:
        raw = await request.read()
        state["requests"] += 1
        state["inflight"] += 1
        state["peak_inflight"] = max(state["peak_inflight"], state["inflight"])
        try:
            body = json.loads(raw)
            if sink is not None:
                sink.write(raw.decode("utf-8", "surrogatepass").replace("\n", " ") + "\n")
            if latency_s > 0:
                await asyncio.sleep(latency_s)
            return web.Response(body=json.dumps(respond(body)).encode(), content_type="application/json")
        except (ValueError, TypeError, AttributeError) as e:
            return web.json_response({"error": {"message": f"bad request: {e}"}}, status=400)
        finally:
            state["inflight"] -= 1

    async def stats(request: web.Request) -> web.Response:
        if sink is not None:
            sink.flush()
        ru = resource.getrusage(resource.RUSAGE_SELF)  # the server's own CPU (benchmarks measure its share)
        return web.json_response({**state, "cpu_s": ru.ru_utime + ru.ru_stime, "pid": os.getpid()})

    async def models(request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": "fake", "object": "model"}]})

    async def close_sink(app) -> None:
        if sink is not None:
            sink.close()

    app = web.Application(client_max_size=64 << 20)
    app.router.add_post("/v1/chat/completions", chat)
    app.router.add_get("/stats", stats)
    app.router.add_get("/v1/models", models)
    app.on_cleanup.append(close_sink)
    return app


async def _serve(host: str, port: int, latency_s: float, record: str | None) -> None:
    from aiohttp import web

    runner = web.AppRunner(make_app(latency_s, record), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=4096)
    await site.start()
    bound = runner.addresses[0][1]
    print(f"listening http://{host}:{bound}/v1", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="fake OpenAI-compatible server for scale benchmarks")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0, help="0 = any free port (printed on the first line)")
    ap.add_argument("--latency-s", type=float, default=0.0, help="seconds each answer waits")
    ap.add_argument("--record", default=None, help="append every request body here (JSONL)")
    ap.add_argument("--no-uvloop", action="store_true")
    a = ap.parse_args(argv)
    if not a.no_uvloop:
        with contextlib.suppress(ImportError):
            import uvloop

            uvloop.install()
    asyncio.run(_serve(a.host, a.port, a.latency_s, a.record))


@contextlib.contextmanager
def serve(latency_s: float = 0.0, record: str | None = None, port: int = 0) -> Iterator[str]:
    """Run the server as a subprocess; yields its base URL (``http://127.0.0.1:P/v1``); stops it after."""
    cmd = [sys.executable, "-m", "benchmarks.scale.fake_server", "--port", str(port), "--latency-s", str(latency_s)]
    if record:
        cmd += ["--record", str(record)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        if not line.startswith("listening "):
            raise RuntimeError(f"fake server did not start (exit {proc.poll()}): {line!r}")
        yield line.split()[1]
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


if __name__ == "__main__":
    main()
