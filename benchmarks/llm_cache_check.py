"""Cost of the request cache's damage check (issue 14 item 4): ``PRAGMA quick_check`` when a process first
opens the cache, and the redaction of secrets in OpenAI-backend errors.

    .venv/bin/python -m benchmarks.llm_cache_check --entries 20000 100000 --runs 5

Writes benchmarks/results/llm_cache_check.md: the first-open time of a cache with N entries with and without
the check (median of ``--runs`` fresh cache objects in one process, page cache warm), and the first lookup after it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

from resources.llm import Generation, GenerationCache, SamplingParams, cache_key  # noqa: E402
from resources.llm import cache as cache_mod  # noqa: E402
from resources.llm.secrets import redact  # noqa: E402


def build(path: Path, n: int) -> list[str]:
    keys = [cache_key("m", "r", f"prompt {i}", SamplingParams(), 0) for i in range(n)]
    c = GenerationCache(path)
    text = "answer " + "x" * 600  # ~ a short reasoning answer
    for start in range(0, n, 5000):
        c.put_many([(k, Generation(text, 50, 150, "stop")) for k in keys[start : start + 5000]])
    c.close()
    return keys


def first_open(path: Path, key: str, check: bool) -> tuple[float, float]:
    original = cache_mod._quick_check
    if not check:
        cache_mod._quick_check = lambda conn: None
    try:
        c = GenerationCache(path)
        t0 = time.perf_counter()
        c._connect()
        t1 = time.perf_counter()
        c.get_many([key])
        t2 = time.perf_counter()
        c.close()
        return t1 - t0, t2 - t1
    finally:
        cache_mod._quick_check = original


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--entries", type=int, nargs="+", default=[20000, 100000])
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.entries:
            path = Path(tmp) / f"c{n}.sqlite"
            keys = build(path, n)
            size = os.path.getsize(path) / 2**20
            res = {}
            for check in (False, True):
                opens = [first_open(path, keys[n // 2], check) for _ in range(args.runs)]
                res[check] = (statistics.median(o[0] for o in opens), statistics.median(o[1] for o in opens))
            rows.append((n, size, res[False][0] * 1000, res[True][0] * 1000, res[True][1] * 1000))
    secret = "sk-citrus-bench-0123456789abcdef\r\n"
    msg = "OpenAI-compatible endpoint http://127.0.0.1:8000/v1/chat/completions failed: " + "x" * 300
    t0 = time.perf_counter()
    for _ in range(2000):
        redact(msg, secret)
    redact_us = (time.perf_counter() - t0) / 2000 * 1e6
    out = REPO / "benchmarks" / "results" / "llm_cache_check.md"
    lines = [
        "# Cost of the request cache's damage check and of secret redaction (issue 14 items 4, 12)",
        "",
        f"`.venv/bin/python -m benchmarks.llm_cache_check --entries {' '.join(map(str, args.entries))} "
        f"--runs {args.runs}` (medians; page cache warm; 2-core machine shared with other jobs).",
        "",
        "| entries | file MB | first open without check, ms | with `quick_check`, ms | first lookup after, ms |",
        "|---|---|---|---|---|",
    ]
    lines += [f"| {n} | {size:.1f} | {a:.1f} | {b:.1f} | {c:.2f} |" for n, size, a, b, c in rows]
    lines += [
        "",
        "The check runs once per process per cache file (the connection is kept), not per request.",
        f"Redacting every form of one key from a 380-character error message: {redact_us:.0f} µs "
        "(errors and retry log lines only).",
    ]
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
