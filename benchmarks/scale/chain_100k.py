"""The reasoning-data chain at scale against the fast fake server (issue 17 goals 2-5).

For each size N: N MedQA-style seeds (``benchmarks.scale.seeds``) as one seed partition, the fake
OpenAI-compatible server (``benchmarks.scale.fake_server``, no latency) and ``backend: openai``; then each asset
of ``question_seeds -> judge_answers -> question_difficulty -> open_questions -> reasoning_traces -> sft_examples
-> sft_stage3_mix`` is materialized (with its asset checks) in a fresh process, so each asset's wall time and
peak RSS (``wait4``) are its own. Reported per size: wall time per asset, the server's requests and requests/s,
peak RSS, lake size, lineage rows, lineage sync / trace / impact times, the warm re-run (the whole chain again, all
cache hits), and the 1-minute load average next to each figure (the machine is shared).

``--parallel N``: the chain up to sft_examples for one partition of N seeds alone, then two partitions of N at
once (two processes), each with its own seeds (no shared cache hits): throughput ratio and peak RSS (goal 5), the
CPU seconds per request of the chain processes and of the server (contention shows as more CPU per request for two
than for one), the cores used and the time the threads waited for a core. ``--latency-s S``: the server holds each
answer S seconds (a model server elsewhere, the way a user runs it), for the whole run.

    .venv/bin/python -m benchmarks.scale.chain_100k --sizes 1000,10000 --parallel 2000 [--latency-s 0.5] \\
        [--assets question_seeds,judge_answers] [--workdir DIR] [--keep] [--out benchmarks/results/scale_100k.md]

Appends its tables to ``--out`` (a Markdown file; the analysis around them is written by hand).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

CHAIN = ["question_seeds", "judge_answers", "question_difficulty", "open_questions", "reasoning_traces", "sft_examples"]
MIX = "sft_stage3_mix"
NONMEDICAL = "nonmedical_reasoning"
REPO = Path(__file__).resolve().parents[2]


def load() -> float:
    return os.getloadavg()[0]


def server_stats(base_url: str) -> dict:
    """The fake server's ``/stats``: requests, in flight, its CPU seconds (``cpu_s``) and ``pid``."""
    with urllib.request.urlopen(base_url.rsplit("/v1", 1)[0] + "/stats", timeout=10) as r:
        return json.loads(r.read())


def server_requests(base_url: str) -> int:
    return int(server_stats(base_url)["requests"])


class SchedSampler:
    """Samples ``/proc/<pid>/task/*/schedstat`` (CPU ns, run-queue wait ns) of some processes every
    ``every_s`` and keeps each thread's last sample: the time their threads waited for a core (CPU starvation)
    against the time they ran. A thread that ends between two samples loses at most ``every_s`` of its figures."""

    def __init__(self, every_s: float = 0.5) -> None:
        self.every_s, self.pids, self.seen = every_s, set(), {}
        self.base: dict[tuple[int, str], tuple[int, int]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _sample(self) -> None:
        for pid in list(self.pids):
            try:
                tids = os.listdir(f"/proc/{pid}/task")
            except OSError:
                continue
            for tid in tids:
                try:
                    with open(f"/proc/{pid}/task/{tid}/schedstat") as fh:
                        run_ns, wait_ns = (int(x) for x in fh.read().split()[:2])
                except (OSError, ValueError):
                    continue
                self.seen[(pid, tid)] = (run_ns, wait_ns)

    def _loop(self) -> None:
        while not self._stop.wait(self.every_s):
            self._sample()

    def start(self, *pids: int) -> SchedSampler:
        self.pids |= set(pids)
        self._sample()
        self.base = dict(self.seen)  # threads already running count from now (the server runs before us)
        self._thread.start()
        return self

    def stop(self) -> dict[int, tuple[float, float]]:
        """{pid: (CPU s, run-queue wait s)} since start."""
        self._stop.set()
        self._thread.join()
        self._sample()
        out: dict[int, tuple[float, float]] = {}
        for (pid, tid), (run_ns, wait_ns) in self.seen.items():
            r0, w0 = self.base.get((pid, tid), (0, 0))
            run, wait = out.get(pid, (0.0, 0.0))
            out[pid] = (run + (run_ns - r0) / 1e9, wait + (wait_ns - w0) / 1e9)
        return out


# -- the child: materialize assets of one partition in this process -------------------------------------------------
def child(args: argparse.Namespace) -> None:
    import dagster as dg

    from citrus_assets.common.stages import load_stage
    from citrus_assets.reasoning_data.seeds.assets import seed_sets
    from citrus_assets.reasoning_data.seeds.judges import JudgePanelResource
    from resources.inbox import InboxResource
    from resources.lake import LakeResource
    from resources.lake_io import LakeIOManager
    from resources.llm import LLMResource
    from resources.llm.cache import io_stats

    resources = {
        "io_manager": LakeIOManager(root=args.lake),
        "lake": LakeResource(root=args.lake),
        "inbox": InboxResource(seeds_dir=args.inbox),
        "llm": LLMResource(
            backend="openai",
            model="fake",
            base_url=args.base_url,
            cache_dir=args.cache,
            **({"max_concurrency": args.max_concurrency} if args.max_concurrency else {}),
        ),
        "judges": JudgePanelResource(),
    }
    stage = load_stage("citrus_assets.reasoning_data")  # its assets and checks, found in the package
    assets, checks = stage.assets, stage.checks
    instance = dg.DagsterInstance.get()
    out = []
    for asset in args.assets.split(","):
        partitioned = asset != MIX
        if partitioned and args.partition not in instance.get_dynamic_partitions(seed_sets.name):
            instance.add_dynamic_partitions(seed_sets.name, [args.partition])
        run_config = {}
        if asset == MIX:
            run_config = {"ops": {MIX: {"config": {"allow_no_decontamination": True}}}}
        t0 = time.perf_counter()
        # The stage-3 mix also takes the non-medical rows (an unpartitioned asset of the same stage): built with it.
        selected = [NONMEDICAL, asset] if asset == MIX else [asset]
        result = dg.materialize(
            [*assets, *checks],
            selection=dg.AssetSelection.assets(*selected),
            instance=instance,
            resources=resources,
            partition_key=args.partition if partitioned else None,
            run_config=run_config,
            raise_on_error=False,
        )
        wall = time.perf_counter() - t0
        meta = {}
        for ev in result.get_asset_materialization_events():
            if ev.asset_key != dg.AssetKey(asset):
                continue
            meta = {
                k: v.value
                for k, v in ev.materialization.metadata.items()
                if isinstance(v.value, (int, float, str)) and not isinstance(v.value, bool)
            }
        checks_ok = [e.passed for e in result.get_asset_check_evaluations()]
        out.append(
            {
                "asset": asset,
                "wall_s": round(wall, 2),
                "success": result.success,
                "load": load(),
                "checks_passed": sum(checks_ok),
                "checks": len(checks_ok),
                "rows": meta.get("dagster/row_count", meta.get("rows")),
                "cache_io": io_stats(),  # this process's request-cache write totals so far
                "meta": {
                    k: meta[k]
                    for k in ("llm_calls", "llm_batches", "cache_hits", "questions", "accepted", "chunks", "scheduling")
                    if k in meta
                },
            }
        )
    Path(args.report).write_text(json.dumps(out))


# -- the driver ----------------------------------------------------------------------------------------------------
class Workspace:
    def __init__(self, root: Path, base_url: str, max_concurrency: int) -> None:
        self.root, self.base_url, self.max_concurrency = root, base_url, max_concurrency
        for d in ("lake", "cache", "inbox", "home"):
            (root / d).mkdir(parents=True, exist_ok=True)
        (root / "home" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")

    def env(self) -> dict:
        return {
            **os.environ,
            "DAGSTER_HOME": str(self.root / "home"),
            "CITRUS_LAKE": str(self.root / "lake"),
            "CITRUS_CACHE_DIR": str(self.root / "cache"),
            "PYTHONPATH": str(REPO),
        }

    def start(self, partition: str, assets: list[str], tag: str) -> tuple[subprocess.Popen, Path]:
        report = self.root / f"report-{tag}.json"
        cmd = [
            sys.executable,
            "-m",
            "benchmarks.scale.chain_100k",
            "--child",
            "--lake",
            str(self.root / "lake"),
            "--cache",
            str(self.root / "cache"),
            "--inbox",
            str(self.root / "inbox"),
            "--base-url",
            self.base_url,
            "--partition",
            partition,
            "--assets",
            ",".join(assets),
            "--report",
            str(report),
            "--max-concurrency",
            str(self.max_concurrency),
        ]
        log = open(self.root / f"log-{tag}.txt", "w")
        return subprocess.Popen(cmd, cwd=REPO, env=self.env(), stdout=log, stderr=subprocess.STDOUT), report

    @staticmethod
    def finish(proc: subprocess.Popen, report: Path) -> tuple[list[dict], float, float]:
        """(the child's report, its peak RSS in GiB, its CPU seconds: user + system, all threads, from start)."""
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        rows = json.loads(report.read_text()) if report.exists() else [{"asset": "?", "success": False}]
        return rows, usage.ru_maxrss / 1024 / 1024, usage.ru_utime + usage.ru_stime

    def run(self, partition: str, assets: list[str], tag: str) -> tuple[list[dict], float, int, float]:
        """(report, peak RSS GiB, server requests, wall s) of one child."""
        r0, t0 = server_requests(self.base_url), time.perf_counter()
        rows, rss, _ = self.finish(*self.start(partition, assets, tag))
        return rows, rss, server_requests(self.base_url) - r0, time.perf_counter() - t0


def du(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def lineage_figures(lake: Path, partition: str) -> dict:
    from resources.lineage.store import LineageStore

    t0 = time.perf_counter()
    store = LineageStore(str(lake / "_lineage"), str(lake.parent / "lineage.duckdb"))
    store.sync()
    sync_s = time.perf_counter() - t0
    records = store.query("SELECT count(*) FROM records", sync=False)[0][0]
    edges = store.query("SELECT count(*) FROM edges", sync=False)[0][0]
    leaf = store.query(
        "SELECT r.record_id FROM records r JOIN materializations m USING (mid) WHERE m.asset = 'sft_examples' LIMIT 1",
        sync=False,
    )
    t0 = time.perf_counter()
    trace = store.trace(leaf[0][0], sync=False) if leaf else {"n_nodes": 0}
    trace_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    impact = store.impact("question_seeds", partition, sync=False)
    impact_s = time.perf_counter() - t0
    store.close()
    return {
        "records": records,
        "edges": edges,
        "sync_s": sync_s,
        "trace_ms": trace_s * 1000,
        "trace_nodes": trace["n_nodes"],
        "impact_ms": impact_s * 1000,
        "impact_descendants": impact["n_descendants"],
    }


def size_run(
    n: int, work: Path, base_url: str, max_concurrency: int, lines: list[str], only: list[str] | None = None
) -> None:
    """One size: each asset in its own process. ``only``: just those assets (in chain order), no warm re-run."""
    from benchmarks.scale.seeds import write_seeds

    ws = Workspace(work / f"n{n}", base_url, max_concurrency)
    partition = f"scale_{n}"
    write_seeds(ws.root / "inbox" / f"{partition}.jsonl", n)
    lines += [
        f"\n### {n:,} seed questions (partition `{partition}`)\n",
        "| asset | wall s | requests | req/s | peak RSS GiB | rows | checks | load (1 min) | notes |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    total_req = total_wall = asset_wall = 0.0
    peak = 0.0
    selected = [a for a in CHAIN + [MIX] if not only or a in only]
    for asset in selected:
        rows, rss, req, wall = ws.run(partition, [asset], f"{n}-{asset}")
        r = rows[0]
        total_req, total_wall, peak = total_req + req, total_wall + wall, max(peak, rss)
        notes = ", ".join(f"{k} {v}" for k, v in r.get("meta", {}).items())
        if not r.get("success"):
            notes = "FAILED (see log) " + notes
        aw = r.get("wall_s") or wall  # the materialization itself, without the process start
        asset_wall += aw
        lines.append(
            f"| {asset} | {aw:.1f} | {req:,} | {req / aw:,.0f} | {rss:.2f} | "
            f"{r.get('rows')} | {r.get('checks_passed', 0)}/{r.get('checks', 0)} | {r.get('load', load()):.1f} | "
            f"{notes} |"
        )
        print(lines[-1], flush=True)
    lines.append(
        f"| **chain** | {asset_wall:.1f} ({total_wall:.1f} with {len(selected)} process starts) | {int(total_req):,} | "
        f"{total_req / asset_wall:,.0f} | {peak:.2f} | | | {load():.1f} | |"
    )
    fig = lineage_figures(ws.root / "lake", partition)
    lines.append(
        f"\nlake {du(ws.root / 'lake') / 2**20:,.0f} MiB (lineage files included); lineage {fig['records']:,} "
        f"records, {fig['edges']:,} edges; sync {fig['sync_s']:.1f} s, trace {fig['trace_ms']:.0f} ms "
        f"({fig['trace_nodes']} nodes), impact of the seed partition {fig['impact_ms']:.0f} ms "
        f"({fig['impact_descendants']:,} descendants); load {load():.1f}"
    )
    if only:  # a partial chain (--assets): no warm re-run
        print("\n".join(lines[-1:]), flush=True)
        return
    rows, rss, req, wall = ws.run(partition, CHAIN + [MIX], f"{n}-warm")
    lines.append(
        f"\nwarm re-run (whole chain in one process, same cache): {wall:.1f} s, {req:,} server requests, "
        f"peak RSS {rss:.2f} GiB, all succeeded: {all(r.get('success') for r in rows)}; "
        "per asset: " + ", ".join(f"{r['asset']} {r.get('wall_s', 0):.1f} s" for r in rows) + f"; load {load():.1f}"
    )
    print("\n".join(lines[-3:]), flush=True)


def measure_partitions(ws: Workspace, n: int, names: list[str]) -> dict:
    """Run the chain up to sft_examples for the partitions ``<name>_<n>`` at once (one process each): wall,
    server requests, CPU seconds of each process and of the server, run-queue wait, peak RSS, load."""
    st0, load0, t0 = server_stats(ws.base_url), load(), time.perf_counter()
    procs = [ws.start(f"{name}_{n}", CHAIN, name) for name in names]
    sampler = SchedSampler().start(int(st0["pid"]), *(p.pid for p, _ in procs))
    done = [ws.finish(*pr) for pr in procs]
    sched = sampler.stop()
    wall, st1 = time.perf_counter() - t0, server_stats(ws.base_url)
    return {
        "wall": wall,
        "req": int(st1["requests"]) - int(st0["requests"]),
        "server_cpu": float(st1["cpu_s"]) - float(st0["cpu_s"]),
        "server_wait": sched.get(int(st0["pid"]), (0.0, 0.0))[1],
        "cpu": [c for _, _, c in done],
        "wait": [sched.get(p.pid, (0.0, 0.0))[1] for p, _ in procs],
        "rss": [r for _, r, _ in done],
        "ok": all(row.get("success") for rows, _, _ in done for row in rows),
        "cache_io": [(rows[-1].get("cache_io") or {}) if rows else {} for rows, _, _ in done],
        "load": (load0, load()),
    }


def parallel_run(
    n: int, work: Path, base_url: str, max_concurrency: int, lines: list[str], latency_s: float = 0.0
) -> None:
    """One partition alone, then two at once (module docstring), with the CPU each process and the server
    used per request: more CPU per request for two than for one is contention in the lake's code; the cores
    the single partition already used bound what a second one can add on this machine."""
    from benchmarks.scale.seeds import write_seeds

    ws = Workspace(work / f"par{n}", base_url, max_concurrency)
    for name, seed in (("solo", 1), ("pa", 2), ("pb", 3)):
        write_seeds(ws.root / "inbox" / f"{name}_{n}.jsonl", n, seed=seed)
    one = measure_partitions(ws, n, ["solo"])
    two = measure_partitions(ws, n, ["pa", "pb"])

    def row(label: str, m: dict, k: int) -> str:
        chain_cpu = sum(m["cpu"])
        return (
            f"| {label} | {m['wall']:.1f} | {k * n / m['wall']:.1f} | {m['req']:,} | {m['req'] / m['wall']:,.0f} | "
            f"{' / '.join(f'{r:.2f}' for r in m['rss'])} | {' / '.join(f'{c:.1f}' for c in m['cpu'])} | "
            f"{1000 * chain_cpu / max(m['req'], 1):.2f} | {1000 * m['server_cpu'] / max(m['req'], 1):.2f} | "
            f"{chain_cpu / m['wall']:.2f} + {m['server_cpu'] / m['wall']:.2f} | "
            f"{' / '.join(f'{w:.0f}' for w in m['wait'])} ({m['server_wait']:.0f}) | {m['ok']} | "
            f"{m['load'][0]:.1f} → {m['load'][1]:.1f} |"
        )

    def per_req(m: dict) -> float:
        return (sum(m["cpu"]) + m["server_cpu"]) / max(m["req"], 1)

    cores_one = (sum(one["cpu"]) + one["server_cpu"]) / one["wall"]
    ratio = (2 * n / two["wall"]) / (n / one["wall"])
    ncpu = os.cpu_count() or 1
    lines += [
        f"\n### Parallel partitions: {n:,} seeds each, chain up to sft_examples, server latency {latency_s:g} s, "
        f"max_concurrency {max_concurrency or 'default'}\n",
        "| run | wall s | questions/s | requests | req/s | peak RSS GiB (per process) | chain CPU s (per process) | "
        "chain CPU ms / request | server CPU ms / request | cores used (chain + server) | "
        "run-queue wait s (per process; server) | ok | load (1 min) before → after |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        row("one partition", one, 1),
        row("two partitions at once", two, 2),
        f"\nthroughput two / one: **{ratio:.2f}x** (goal >= 1.6x); CPU per request (chain + server) two / one: "
        f"{per_req(two) / per_req(one):.2f}x; one partition used {cores_one:.2f} cores. CPU ceiling on {ncpu} "
        f"cores with nobody else, when one partition's process is CPU-bound on one core (the GIL): one <= "
        f"1 / its chain CPU per request, two <= {ncpu} / (chain + server CPU per request of the pair), so two / one "
        f"<= **{ncpu * sum(one['cpu']) / max(one['req'], 1) / per_req(two):.2f}x**",
    ]
    for label, m in (("one", one), ("two", two)):
        io = m["cache_io"]

        def col(k: str, fmt: str = "{:.1f}", io=io) -> str:
            return " / ".join(fmt.format(x.get(k, 0)) for x in io)

        lines.append(
            f"\nrequest cache ({label}; one SQLite file, WAL, per process): {col('transactions', '{:,}')} write "
            f"transactions of {col('rows', '{:,}')} rows; waited for another writer's lock (BEGIN IMMEDIATE) "
            f"{col('lock_wait_s', '{:.2f}')} s, held it {col('write_s', '{:.2f}')} s; callers waited in flush "
            f"{col('flush_wait_s')} s (summed over threads)"
        )
    print("\n".join(lines[-8:]), flush=True)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000")
    ap.add_argument("--parallel", type=int, default=0, help="seeds per partition of the parallel run (0 = skip)")
    ap.add_argument("--max-concurrency", type=int, default=0, help="the llm's max_concurrency (0 = its default)")
    ap.add_argument(
        "--latency-s", type=float, default=0.0, help="seconds the fake server holds each answer (0 = instant)"
    )
    ap.add_argument("--workdir", default="")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "scale_100k.md"))
    # the child
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument(
        "--assets",
        default="",
        help="comma-separated chain assets to run, in chain order (default: the whole chain, the mix and the warm "
        "re-run; with it: only those, no warm re-run)",
    )
    for flag in ("--lake", "--cache", "--inbox", "--base-url", "--partition", "--report"):
        ap.add_argument(flag, default="", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        return child(args)
    only = [a for a in args.assets.split(",") if a]
    unknown = sorted(set(only) - set(CHAIN + [MIX]))
    if unknown:
        ap.error(f"unknown assets {unknown}; choose from {CHAIN + [MIX]}")

    from benchmarks.scale.fake_server import serve

    work = Path(args.workdir or tempfile.mkdtemp(prefix="citrus-scale-"))
    lines = [
        f"\n## Run of {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: sizes {args.sizes}, "
        f"parallel {args.parallel or '-'}, assets {args.assets or 'all'}, max_concurrency {args.max_concurrency or 'default'}, "
        f"server latency {args.latency_s:g} s, "
        f"{os.cpu_count()} CPUs, load at start {load():.1f}"
    ]

    def flush() -> None:
        with open(args.out, "a") as fh:
            fh.write("\n".join(lines) + "\n")
        lines.clear()

    try:
        with serve(latency_s=args.latency_s) as base_url:
            if args.parallel:
                parallel_run(args.parallel, work, base_url, args.max_concurrency, lines, args.latency_s)
                flush()
            for n in [int(x) for x in args.sizes.split(",") if x]:
                size_run(n, work, base_url, args.max_concurrency, lines, only)
                flush()
    finally:
        flush()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(f"appended to {args.out}")


if __name__ == "__main__":
    main()
