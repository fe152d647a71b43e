"""Feed rate of the LLM resource against a fake OpenAI-compatible server (issue 17, goal 1).

    python -m benchmarks.scale.feed_rate [--requests 5000] [--reps 3] [--out benchmarks/results/feed_rate.md]

(a) The same request stream (the chain's closed-form MCQ and open-rewrite prompts of synthetic seeds,
    ``benchmarks/scale/reasoning_data/seeds/seed_files.py``) against the instant server (``fake_server``, a subprocess), in one run:
    ``LLMClient`` + ``OpenAIBackend`` with a cold request cache (render, cache keys, lookups, cache writes:
    the whole resource path) in batches of ``--batch`` prompts, vs bare aiohttp, bare httpx (sniffio
    importable) and the ``openai`` client sending the same batches at the same concurrency.
    Runs alternate between clients; the median of ``--reps`` is reported.
(b) A concurrency sweep (8, 64, 256) against a server that holds each answer 0.5 s: requests/s of the
    resource (cold cache) vs the ideal C / latency, with bare aiohttp beside it.
(c) ``--chain N``: the reasoning-data chain (question_seeds -> judge_answers -> question_difficulty ->
    open_questions -> reasoning_traces -> sft_examples) on N synthetic seeds, ``backend: openai`` against the
    instant server (recording every body; ``CITRUS_LLM_BATCH_LOG`` records the batches), cold cache, then bare
    aiohttp replaying the same stream in the same batches at the same concurrency (a second server).

Load (``uptime``) is recorded before and after. Ratios are side by side from one run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.scale import replay
from benchmarks.scale.fake_server import serve
from benchmarks.scale.seeds import iter_questions

REPO = Path(__file__).resolve().parents[2]


def chain_prompts(n: int) -> list[list[dict]]:
    """``n`` prompts as the chain renders them: MCQ answering and open rewrites of synthetic seeds, alternating."""
    from citrus_assets.reasoning_data.questions.rewrite import rewrite_messages
    from citrus_assets.reasoning_data.seeds.judging import mcq_messages

    out = []
    for q in iter_questions((n + 1) // 2):
        opts = [{"letter": k, "text": v} for k, v in q["options"].items()]
        out.append(mcq_messages(q["question"], opts))
        out.append(rewrite_messages(q["question"], "en"))
    return out[:n]


def bodies_of(prompts: list[list[dict]], model: str) -> list[bytes]:
    """The exact bodies the backend sends for these prompts (greedy, one sample)."""
    from resources.llm import SamplingParams

    p = SamplingParams()
    return [
        json.dumps(
            {
                "model": model,
                "messages": m,
                "n": 1,
                "temperature": p.temperature,
                "top_p": p.top_p,
                "max_tokens": p.max_tokens,
                "seed": p.seed,
            }
        ).encode()
        for m in prompts
    ]


def batches(items: list, size: int) -> list[list]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def run_resource(url: str, prompts: list[list[dict]], batch: int, concurrency: int) -> dict:
    """The LLM resource's path, cold cache: one ``LLMClient.generate`` per batch."""
    from resources.llm import GenerationCache, LLMClient, SamplingParams
    from resources.llm.backends.openai_backend import OpenAIBackend

    with tempfile.TemporaryDirectory() as d:
        client = LLMClient(
            OpenAIBackend("fake", url, max_concurrency=concurrency), GenerationCache(Path(d) / "c.sqlite")
        )
        t0 = time.perf_counter()
        for chunk in batches(prompts, batch):
            client.generate(chunk, SamplingParams())
        dt = time.perf_counter() - t0
        stats = client.stats
        client.cache.close()
    assert stats["misses"] == len(prompts), stats
    return {"client": "resource", "requests": len(prompts), "seconds": dt, "req_per_s": len(prompts) / dt}


async def _openai_stream(url: str, stream: list[list[bytes]], concurrency: int) -> int:
    import httpx
    from openai import AsyncOpenAI

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    done = 0
    async with httpx.AsyncClient(limits=limits, timeout=120) as http:
        client = AsyncOpenAI(base_url=url, api_key="unused", max_retries=0, http_client=http)

        async def post(body: bytes) -> None:
            nonlocal done
            await client.chat.completions.create(**json.loads(body))
            done += 1

        for b in stream:
            await replay._drain(b, concurrency, post)
    return done


def run_bare(client: str, url: str, stream: list[list[bytes]], concurrency: int) -> dict:
    factory = None
    if client.endswith("+uvloop"):
        import uvloop

        client, factory = client.split("+")[0], uvloop.new_event_loop
    coro = (
        _openai_stream(url, stream, concurrency)
        if client == "openai"
        else replay.CLIENTS[client](url, stream, concurrency)
    )
    t0 = time.perf_counter()
    with asyncio.Runner(loop_factory=factory) as runner:
        done = runner.run(coro)
    dt = time.perf_counter() - t0
    return {"client": client + ("+uvloop" if factory else ""), "requests": done, "seconds": dt, "req_per_s": done / dt}


def load() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip().split("load average:")[-1].strip()


def have_openai() -> bool:
    try:
        import openai  # noqa: F401
    except ImportError:
        return False
    return True


def part_a(n: int, batch: int, reps: int, concurrencies: list[int]) -> list[dict]:
    prompts = chain_prompts(n)
    stream = batches(bodies_of(prompts, "fake"), batch)
    clients = ["resource", "aiohttp", "aiohttp+uvloop", "httpx"] + (["openai"] if have_openai() else [])
    rows = []
    with serve(0.0) as url:
        run_bare("aiohttp", url, stream[:1], 8)  # warm-up (imports, first connections)
        for c in concurrencies:
            got: dict[str, list[float]] = {k: [] for k in clients}
            before = load()
            for _ in range(reps):
                for k in clients:
                    r = run_resource(url, prompts, batch, c) if k == "resource" else run_bare(k, url, stream, c)
                    got[k].append(r["req_per_s"])
            after = load()
            med = {k: statistics.median(v) for k, v in got.items()}
            for k in clients:
                rows.append(
                    {
                        "part": "a",
                        "concurrency": c,
                        "client": k,
                        "requests": n,
                        "batch": batch,
                        "req_per_s": round(med[k], 1),
                        "runs": [round(x, 1) for x in got[k]],
                        "vs_aiohttp": round(med[k] / med["aiohttp"], 3),
                        "load": f"{before} -> {after}",
                    }
                )
    return rows


def part_b(latency: float, concurrencies: list[int], rounds: int) -> list[dict]:
    rows = []
    with serve(latency) as url:
        for c in concurrencies:
            n = c * rounds
            prompts = chain_prompts(n)
            stream = [bodies_of(prompts, "fake")]
            before = load()
            res = run_resource(url, prompts, n, c)
            bare = run_bare("aiohttp", url, stream, c)
            after = load()
            ideal = c / latency
            for r in (res, bare):
                rows.append(
                    {
                        "part": "b",
                        "concurrency": c,
                        "client": r["client"],
                        "requests": n,
                        "req_per_s": round(r["req_per_s"], 1),
                        "ideal": ideal,
                        "vs_ideal": round(r["req_per_s"] / ideal, 3),
                        "load": f"{before} -> {after}",
                    }
                )
    return rows


CHAIN = ("question_seeds", "judge_answers", "question_difficulty", "open_questions", "reasoning_traces", "sft_examples")


def covered_seconds(spans: list[tuple[float, float]]) -> float:
    """Length of the union of time intervals."""
    total, end = 0.0, float("-inf")
    for a, b in sorted(spans):
        if b > end:
            total += b - max(a, end)
            end = b
    return total


def step_seconds(instance, run_id: str) -> dict[str, float]:
    """Wall seconds of each step of a run (STEP_START -> STEP_SUCCESS/FAILURE in the event log)."""
    start, out = {}, {}
    for entry in instance.all_logs(run_id):
        ev = entry.dagster_event
        if ev is None:
            continue
        if ev.event_type_value == "STEP_START":
            start[ev.step_key] = entry.timestamp
        elif ev.event_type_value in ("STEP_SUCCESS", "STEP_FAILURE") and ev.step_key in start:
            out[ev.step_key] = round(entry.timestamp - start[ev.step_key], 1)
    return out


def part_c(n: int, concurrency: int) -> list[dict]:
    import dagster as dg

    from benchmarks.scale.seeds import write_seeds
    from citrus_assets.reasoning_data.questions import assets as question_assets
    from citrus_assets.reasoning_data.seeds import assets
    from citrus_assets.reasoning_data.seeds.judges import JudgePanelResource
    from citrus_assets.reasoning_data.traces import assets as trace_assets
    from citrus_assets.reasoning_data.traces import sft_assets
    from resources.inbox import InboxResource
    from resources.lake import LakeResource
    from resources.lake_io import LakeIOManager
    from resources.llm import LLMResource, clear_backend_cache
    from resources.llm.backends.openai_backend import BATCH_LOG_ENV

    mods = (assets, question_assets, trace_assets, sft_assets)
    chain = [next(getattr(m, a) for m in mods if hasattr(m, a)) for a in CHAIN]
    rows = []
    with tempfile.TemporaryDirectory(prefix="feed_rate_chain-") as d:
        work = Path(d)
        partition = f"scale_{n}"
        write_seeds(work / "inbox" / f"{partition}.jsonl", n)
        record, batch_log = work / "requests.jsonl", work / "batches.jsonl"
        os.environ[BATCH_LOG_ENV] = str(batch_log)
        clear_backend_cache()
        try:
            with serve(0.0, record=str(record)) as url:
                lake = str(work / "lake")
                res = {
                    "io_manager": LakeIOManager(root=lake),
                    "lake": LakeResource(root=lake),
                    "inbox": InboxResource(seeds_dir=str(work / "inbox")),
                    "judges": JudgePanelResource(),
                    "llm": LLMResource(
                        backend="openai",
                        model="fake",
                        base_url=url,
                        cache_dir=str(work / "cache"),
                        max_concurrency=concurrency,
                    ),
                }
                instance = dg.DagsterInstance.ephemeral()
                instance.add_dynamic_partitions(assets.seed_sets.name, [partition])
                before = load()
                t0 = time.perf_counter()
                result = dg.materialize(
                    chain, partition_key=partition, resources=res, instance=instance, raise_on_error=False
                )
                wall = time.perf_counter() - t0
        finally:
            os.environ.pop(BATCH_LOG_ENV, None)
        calls = [json.loads(ln) for ln in batch_log.read_text().splitlines()] if batch_log.exists() else []
        sent = sum(c["requests"] for c in calls)
        llm_s = covered_seconds([(c["t"], c["t"] + c["s"]) for c in calls])  # calls may overlap (several threads)
        with serve(0.0) as url2:
            bare = run_bare("aiohttp", url2, replay.load_stream(record, batch_log), concurrency)
            flat = run_bare("aiohttp", url2, replay.load_stream(record), concurrency)
        after = load()
        steps = step_seconds(instance, result.run_id)
        chain_rate = sent / wall
        rows.append(
            {
                "part": "c",
                "questions": n,
                "concurrency": concurrency,
                "success": result.success,
                "requests": sent,
                "backend_calls": len(calls),
                "chain_wall_s": round(wall, 1),
                "llm_s": round(llm_s, 1),
                "chain_req_per_s": round(chain_rate, 1),
                "chain_llm_req_per_s": round(sent / llm_s, 1) if llm_s else 0.0,
                "bare_req_per_s": round(bare["req_per_s"], 1),
                "bare_requests": bare["requests"],
                "continuous_req_per_s": round(flat["req_per_s"], 1),
                "vs_continuous": round(chain_rate / flat["req_per_s"], 3),
                "vs_bare": round(chain_rate / bare["req_per_s"], 3),
                "llm_vs_bare": round((sent / llm_s) / bare["req_per_s"], 3) if llm_s else 0.0,
                "steps": steps,
                "load": f"{before} -> {after}",
            }
        )
    return rows


def write_md(path: Path, rows: list[dict], command: str) -> None:
    import aiohttp
    import httpx

    versions = f"aiohttp {aiohttp.__version__}, httpx {httpx.__version__}"
    if have_openai():
        import openai

        versions += f", openai {openai.__version__}"
    lines = [
        "# Feed rate of the LLM resource (issue 17, goal 1)",
        "",
        f"`{command}` on this machine ({os.cpu_count()} cores shared with other sessions, Python "
        f"{platform.python_version()}, {versions}); the fake server (`benchmarks/scale/fake_server.py`) runs as a "
        "separate process on 127.0.0.1. Load is `uptime`'s 1/5/15-minute averages before -> after each block.",
    ]
    if any(r["part"] == "a" for r in rows):
        lines += [
            "",
            "## (a) The resource vs bare clients, same request stream, instant server",
            "",
            "`resource` = `LLMClient` + `OpenAIBackend` with a cold request cache (render, cache keys, lookups, cache "
            "writes through the writer thread), one `generate` per batch; the bare clients send the same bodies in "
            "the same batches at the same concurrency and parse every response (default asyncio loop; `+uvloop`: "
            "the loop the resource uses when uvloop is installed). Clients alternate; median of the runs listed.",
            "",
            "| concurrency | client | requests | batch | req/s (median) | runs | vs bare aiohttp | load |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for r in rows:
            if r["part"] == "a":
                lines.append(
                    f"| {r['concurrency']} | {r['client']} | {r['requests']:,} | {r['batch']} | "
                    f"{r['req_per_s']:,} | {', '.join(map(str, r['runs']))} | {r['vs_aiohttp']:.2f}x | "
                    f"{r['load']} |"
                )
    sweep = [r for r in rows if r["part"] == "b"]
    if sweep:
        lat = sweep[0]["concurrency"] / sweep[0]["ideal"]
        lines += [
            "",
            f"## (b) Concurrency sweep against a server holding each answer {lat:g} s",
            "",
            "C x rounds requests in one batch, cold cache; ideal = C / latency.",
            "",
            "| max_concurrency | client | requests | req/s | ideal req/s | vs ideal | load |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in sweep:
            lines.append(
                f"| {r['concurrency']} | {r['client']} | {r['requests']:,} | {r['req_per_s']:,} | "
                f"{r['ideal']:g} | {r['vs_ideal']:.2f}x | {r['load']} |"
            )
    chain = [r for r in rows if r["part"] == "c"]
    if chain:
        lines += [
            "",
            "## (c) The reasoning-data chain vs bare aiohttp replaying its stream, instant server",
            "",
            "Cold cache, `backend: openai`, the six assets in one in-process `dg.materialize`. `chain req/s` = "
            "requests / the whole run's wall time (seed loading, Parquet, lineage, parsing included); `while sending` "
            "= requests / the time some backend call was running (calls from several threads overlap). Bare aiohttp "
            "sends the recorded bodies at the same concurrency, in the recorded batches one after the other "
            "(`batches`), and as one continuous stream (`continuous`, the stricter yardstick).",
            "",
            "| questions | max_concurrency | requests | backend calls | chain wall s | chain req/s | while sending req/s | "
            "bare aiohttp req/s: batches / continuous | chain / bare (batches) | chain / bare (continuous) | "
            "sending / bare (batches) | load |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in chain:
            lines.append(
                f"| {r['questions']:,} | {r['concurrency']} | {r['requests']:,} | {r['backend_calls']} | "
                f"{r['chain_wall_s']} | {r['chain_req_per_s']:,} | {r['chain_llm_req_per_s']:,} | "
                f"{r['bare_req_per_s']:,} / {r.get('continuous_req_per_s', '-')} | {r['vs_bare']:.2f}x | "
                f"{r.get('vs_continuous', float('nan')):.2f}x | {r['llm_vs_bare']:.2f}x | {r['load']} |"
            )
        for r in chain:
            lines.append("")
            lines.append(
                f"Steps of the {r['questions']:,}-question run (s): "
                + ", ".join(f"{k} {v}" for k, v in r["steps"].items())
                + f"; run success: {r['success']}."
            )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=5000)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--concurrency", type=int, nargs="+", default=[8, 128])
    ap.add_argument("--latency", type=float, default=0.5)
    ap.add_argument("--sweep", type=int, nargs="+", default=[8, 64, 256])
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--skip-a", action="store_true")
    ap.add_argument("--skip-b", action="store_true")
    ap.add_argument("--chain", type=int, nargs="*", default=[], help="(c) question counts for the chain run")
    ap.add_argument("--chain-concurrency", type=int, default=128)
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "feed_rate.md"))
    ap.add_argument("--json", default=None, help="also write the rows as JSON here")
    ap.add_argument("--include", nargs="*", default=[], help="rows of earlier runs (their --json) to put in the table")
    a = ap.parse_args(argv)
    rows = [r for f in a.include for r in json.loads(Path(f).read_text())]
    if not a.skip_a:
        rows += part_a(a.requests, a.batch, a.reps, a.concurrency)
    if not a.skip_b:
        rows += part_b(a.latency, a.sweep, a.rounds)
    for n in a.chain:
        rows += part_c(n, a.chain_concurrency)
    for r in rows:
        print(json.dumps(r))
    if a.json:
        Path(a.json).write_text(json.dumps(rows, indent=1))
    write_md(
        Path(a.out),
        rows,
        "python -m benchmarks.scale.feed_rate " + " ".join(argv if argv is not None else sys.argv[1:]),
    )
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
