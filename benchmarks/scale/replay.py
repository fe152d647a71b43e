"""Replay a recorded request stream with a bare client: the yardstick the LLM resource is held to.

    python -m benchmarks.scale.replay --url http://127.0.0.1:8011/v1 --bodies requests.jsonl \
        [--batches batches.jsonl] --client aiohttp --concurrency 8

``--bodies``: one request body per line, in the order the server received them (``fake_server --record``).
``--batches``: the batch log of the run (``CITRUS_LLM_BATCH_LOG``: one JSON line per backend call with its
``requests`` count); the replay sends the same batches one after the other, each with at most
``--concurrency`` requests in flight, like the chain did. Without it the whole stream is one batch.
Each response is read and parsed as JSON (the client under test parses it too). Prints one JSON line:
``{"client", "requests", "batches", "concurrency", "seconds", "req_per_s"}``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Iterable
from pathlib import Path


def load_stream(bodies: str | Path, batches: str | Path | None = None) -> list[list[bytes]]:
    """The recorded bodies cut into the recorded batches (the last batch takes any rest)."""
    lines = [
        ln.encode("utf-8", "surrogatepass")
        for ln in Path(bodies).read_text(encoding="utf-8").splitlines()
        if ln.strip()
    ]
    if batches is None:
        return [lines]
    sizes = [
        int(json.loads(ln)["requests"]) for ln in Path(batches).read_text(encoding="utf-8").splitlines() if ln.strip()
    ]
    out, i = [], 0
    for n in sizes:
        if i >= len(lines):
            break
        out.append(lines[i : i + n])
        i += n
    if i < len(lines):
        out.append(lines[i:])
    return out


async def _drain(batch: list[bytes], concurrency: int, post) -> None:
    it = iter(batch)

    async def worker() -> None:
        for body in it:  # one shared iterator: no task or semaphore per request
            await post(body)

    await asyncio.gather(*(worker() for _ in range(min(concurrency, len(batch)))))


async def replay_aiohttp(url: str, batches: Iterable[list[bytes]], concurrency: int) -> int:
    import aiohttp

    endpoint = url.rstrip("/") + "/chat/completions"
    headers = {"Content-Type": "application/json"}
    done = 0
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:

        async def post(body: bytes) -> None:
            nonlocal done
            async with session.post(endpoint, data=body, headers=headers) as resp:
                json.loads(await resp.read())
                resp.raise_for_status()
            done += 1

        for batch in batches:
            await _drain(batch, concurrency, post)
    return done


async def replay_httpx(url: str, batches: Iterable[list[bytes]], concurrency: int) -> int:
    import httpx

    endpoint = url.rstrip("/") + "/chat/completions"
    headers = {"Content-Type": "application/json"}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    done = 0
    async with httpx.AsyncClient(limits=limits, timeout=120) as client:

        async def post(body: bytes) -> None:
            nonlocal done
            resp = await client.post(endpoint, content=body, headers=headers)
            json.loads(resp.content)
            resp.raise_for_status()
            done += 1

        for batch in batches:
            await _drain(batch, concurrency, post)
    return done


CLIENTS = {"aiohttp": replay_aiohttp, "httpx": replay_httpx}


def replay(url: str, batches: list[list[bytes]], client: str = "aiohttp", concurrency: int = 8) -> dict:
    """Send the stream once; returns the figures of the run."""
    t0 = time.perf_counter()
    done = asyncio.run(CLIENTS[client](url, batches, concurrency))
    dt = time.perf_counter() - t0
    return {
        "client": client,
        "requests": done,
        "batches": len(batches),
        "concurrency": concurrency,
        "seconds": round(dt, 3),
        "req_per_s": round(done / dt, 1) if dt > 0 else 0.0,
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="replay a recorded request stream with a bare client")
    ap.add_argument("--url", required=True, help="the server's /v1 URL")
    ap.add_argument("--bodies", required=True)
    ap.add_argument("--batches", default=None)
    ap.add_argument("--client", choices=sorted(CLIENTS), default="aiohttp")
    ap.add_argument("--concurrency", type=int, default=8)
    a = ap.parse_args(argv)
    print(json.dumps(replay(a.url, load_stream(a.bodies, a.batches), a.client, a.concurrency)))


if __name__ == "__main__":
    main()
