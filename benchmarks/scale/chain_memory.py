"""Peak memory and wall time of ``reasoning_traces``' work (``traces.run_traces`` + the Parquet write the IO
manager does) against partition size, rounds engine vs continuous + chunked, in-process scripted model.

The fake server's scripted clinician (``fake_server.ScalePolicy``) answers in process (no HTTP, no request
cache), so what is measured is the lake's own working set: the loop's state and transcripts, the output table
and its write. Each (engine, N) runs in a fresh process; peak RSS from ``wait4``.

    .venv/bin/python -m benchmarks.scale.chain_memory --sizes 2000,10000 --rounds-sizes 2000,10000 \\
        [--out benchmarks/results/scale_100k.md]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


class _Forget(list):
    def append(self, item) -> None:
        pass


def child(n: int, scheduling: str, work: Path) -> dict:
    import pyarrow.parquet as pq

    from benchmarks.scale.fake_server import ScalePolicy
    from benchmarks.scale.seeds import write_seeds
    from citrus_assets.reasoning_data.traces.dual_expert import LoopConfig
    from citrus_assets.reasoning_data.traces.trace_rows import run_traces
    from resources.llm import LLMClient
    from tests.support.demo_questions import open_questions_from_seed_file
    from tests.support.scripted_backend import ScriptedBackend

    seeds = write_seeds(work / f"mem_{n}.jsonl", n)
    questions = open_questions_from_seed_file(seeds)
    backend = ScriptedBackend(ScalePolicy())
    backend.prompts = _Forget()  # the scripted backend keeps every prompt for tests: not the lake's memory
    llm = LLMClient(backend, None)
    t0 = time.perf_counter()
    table, failed, stats = run_traces(questions, llm, LoopConfig(), scheduling=scheduling,
                                      spill_dir=work / f"spill-{scheduling}-{n}" if scheduling == "continuous" else None)
    gen_s = time.perf_counter() - t0
    pq.write_table(table, work / f"out-{scheduling}-{n}.parquet", compression="zstd", row_group_size=2000)
    return {"n": n, "scheduling": scheduling, "gen_s": round(gen_s, 1), "total_s": round(time.perf_counter() - t0, 1),
            "traces": table.num_rows, "failed": len(failed), "llm_calls": stats["llm_calls"],
            "table_mib": round(table.nbytes / 2**20, 1)}


def run_child(n: int, scheduling: str, work: Path) -> dict:
    out = work / f"mem-{scheduling}-{n}.json"
    cmd = [sys.executable, "-m", "benchmarks.scale.chain_memory", "--child", str(n), scheduling, str(work), str(out)]
    proc = subprocess.Popen(cmd, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
    _, status, usage = os.wait4(proc.pid, 0)
    res = json.loads(out.read_text()) if out.exists() else {"n": n, "scheduling": scheduling, "failed_run": status}
    res["peak_rss_gib"] = round(usage.ru_maxrss / 2**20, 3)
    res["load"] = round(os.getloadavg()[0], 1)
    return res


def main(argv: list[str] | None = None) -> None:
    if argv is None and len(sys.argv) > 1 and sys.argv[1] == "--child":
        n, scheduling, work, out = sys.argv[2:6]
        Path(out).write_text(json.dumps(child(int(n), scheduling, Path(work))))
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="2000,10000")
    ap.add_argument("--rounds-sizes", default="2000,10000")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "scale_100k.md"))
    args = ap.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="citrus-mem-") as tmp:
        for scheduling, sizes in (("rounds", args.rounds_sizes), ("continuous", args.sizes)):
            for n in [int(x) for x in sizes.split(",") if x]:
                rows.append(run_child(n, scheduling, Path(tmp)))
                print(rows[-1], flush=True)
    lines = [f"\n### reasoning_traces working set, scripted model in process ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})\n",
             "| engine | questions | peak RSS GiB | loop s | loop + Parquet write s | traces | quarantined | LLM calls | "
             "output table MiB | load (1 min) |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['scheduling']} | {r['n']:,} | {r['peak_rss_gib']:.2f} | {r.get('gen_s')} | {r.get('total_s')} | "
                     f"{r.get('traces')} | {r.get('failed')} | {r.get('llm_calls')} | {r.get('table_mib')} | {r['load']} |")
    with open(args.out, "a") as fh:
        fh.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
