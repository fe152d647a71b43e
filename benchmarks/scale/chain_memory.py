"""Peak memory and wall time of ``reasoning_traces``' work (``traces.run_traces`` + the Parquet write the IO
manager does) against partition size, rounds engine vs continuous + chunked, in-process scripted model.

The fake server's scripted clinician (``fake_server.ScalePolicy``) answers in process (no HTTP, no request
cache), so what is measured is the lake's own working set: the loop's state and transcripts, the output table
and its write. Each (engine, N) runs in a fresh process; peak RSS from ``wait4``.

    .venv/bin/python -m benchmarks.scale.chain_memory --sizes 2000,10000 --rounds-sizes 2000,10000 \\
        [--out benchmarks/results/scale_100k.md]

Before / after the IO-manager hook (issue 17 goal 3), side by side per size, with the lake write and lineage:

    .venv/bin/python -m benchmarks.scale.chain_memory --sizes 2000,10000,30000 --rounds-sizes "" \\
        --engines continuous-lake,staged

Where the growth comes from: each child records RSS, peak RSS and Arrow bytes after every phase ("phases");
``--engines staged-records,staged`` compares the quarantine handed over as Python records with the Arrow one.

``judge_answers`` and the chain's asset checks (``--engines judge,check``): ``judge`` is the asset's body (the panel
answers the seeds, scripted like the fake server, in process; the output and the commit protocol with lineage);
``check`` runs the real ``judge_answers_valid`` and ``open_questions_valid`` asset checks (the lake IO manager's
``load_input`` for the check's op, then the check's function) on partitions the parent published. ``--code DIR`` runs the children on the code of another
checkout (a ``git worktree`` of an earlier commit: before / after side by side):

    .venv/bin/python -m benchmarks.scale.chain_memory --sizes 10000,30000 --engines judge,check \
        --code /tmp/before --label before
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


def _proc_status() -> dict[str, float]:
    """VmRSS and VmHWM (peak so far) of this process in MiB (Linux ``/proc/self/status``; empty elsewhere)."""
    out = {}
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    out[line.split(":")[0]] = round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return out


class Phases:
    """RSS, peak RSS so far and Arrow's allocated bytes after each phase of the child (where the growth comes from)."""

    def __init__(self) -> None:
        self.rows: list[dict] = []

    def mark(self, name: str) -> None:
        import pyarrow as pa

        st = _proc_status()
        self.rows.append(
            {
                "phase": name,
                "rss_mib": st.get("VmRSS"),
                "peak_mib": st.get("VmHWM"),
                "arrow_mib": round(pa.total_allocated_bytes() / 2**20, 1),
            }
        )


def child(n: int, scheduling: str, work: Path) -> dict:
    import pyarrow.parquet as pq

    from benchmarks.scale.fake_server import ScalePolicy
    from benchmarks.scale.seeds import write_seeds
    from citrus_assets.reasoning_data.traces.dual_expert import LoopConfig
    from citrus_assets.reasoning_data.traces.trace_rows import run_traces
    from resources.llm import LLMClient
    from tests.support.demo_questions import open_questions_from_seed_file
    from tests.support.scripted_backend import ScriptedBackend

    phases = Phases()
    phases.mark("start")
    prepared = work / f"questions-{n}.parquet"
    if prepared.exists():  # made by the parent: read as the IO manager reads an input (Arrow, no Python rows)
        questions = pq.read_table(prepared)
    else:
        questions = open_questions_from_seed_file(write_seeds(work / f"mem_{n}.jsonl", n))
    phases.mark("input table")
    backend = ScriptedBackend(ScalePolicy())
    backend.prompts = _Forget()  # the scripted backend keeps every prompt for tests: not the lake's memory
    llm = LLMClient(backend, None)
    t0 = time.perf_counter()
    staged = scheduling in ("staged", "staged-lake", "staged-records")
    engine = "rounds" if scheduling == "rounds" else "continuous"
    table, failed, stats = run_traces(
        questions,
        llm,
        LoopConfig(),
        scheduling=engine,
        staged=staged,
        spill_dir=work / f"spill-{scheduling}-{n}" if engine == "continuous" else None,
    )
    gen_s = time.perf_counter() - t0
    phases.mark("loop")
    if scheduling == "staged-records":  # the quarantine as Python records (before Lake.write_quarantine took Arrow)
        from resources.lake import QuarantineRecord

        failed = (QuarantineRecord(*r.values()) for t in failed for r in t.to_pylist())
    if scheduling.endswith("-lake") or scheduling.startswith("staged"):
        # what the IO manager and the asset body do: quarantine file, then the commit protocol with lineage
        from resources.lake import Lake, StagedParquet
        from resources.lineage import LineageWriter
        from resources.lineage.commit import publish_partition

        lake = Lake(str(work / f"lake-{scheduling}-{n}"))
        _, n_failed = lake.write_quarantine("reasoning_traces", "p", failed)
        phases.mark("quarantine")
        dv = table.data_version() if isinstance(table, StagedParquet) else None
        phases.mark("data version")
        published = publish_partition(
            lake,
            LineageWriter(lake.lineage_root),
            asset="reasoning_traces",
            partition="p",
            table=table,
            run_id="bench",
            data_version=dv,
        )
        phases.mark("publish + lineage")
        rows, mib = published.counts["records"], None
    else:
        pq.write_table(table, work / f"out-{scheduling}-{n}.parquet", compression="zstd", row_group_size=2000)
        rows, n_failed, mib = table.num_rows, len(failed), round(table.nbytes / 2**20, 1)
    return {
        "n": n,
        "scheduling": scheduling,
        "gen_s": round(gen_s, 1),
        "total_s": round(time.perf_counter() - t0, 1),
        "traces": rows,
        "failed": n_failed,
        "llm_calls": stats["llm_calls"],
        "table_mib": mib,
        "phases": phases.rows,
    }


class _FakeServerBackend:
    """The fake server's answers (``fake_server.answer_text``) in process: no HTTP, no request cache."""

    model_id, revision = "fake", "v1"

    def render(self, messages: list[dict]) -> str:
        return "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)

    def generate(self, requests, params):
        from benchmarks.scale.fake_server import answer_text
        from resources.llm import Generation

        out = []
        for req in requests:
            text = answer_text(req.messages, (params.seed, params.temperature))
            out.append(
                [
                    Generation(text, len(req.rendered.split()), max(1, len(text.split())), "stop", False, i)
                    for i in req.sample_indices
                ]
            )
        return out


def child_judge(n: int, work: Path) -> dict:
    """``judge_answers``' body on the seeds the parent wrote: staged when this checkout has ``stage_panel_answers``,
    one table otherwise; then the commit protocol with lineage, as the IO manager does."""
    import pyarrow.parquet as pq

    from citrus_assets.reasoning_data.seeds.assets import JudgeConfig
    from resources.lake import Lake
    from resources.lineage import LineageWriter
    from resources.lineage.commit import publish_partition
    from resources.llm import LLMClient

    phases = Phases()
    seeds = pq.read_table(work / f"seeds-{n}.parquet")
    phases.mark("input table")
    panel = [("default", LLMClient(_FakeServerBackend(), None))]
    params = JudgeConfig().sampling()
    t0 = time.perf_counter()
    try:
        from citrus_assets.reasoning_data.seeds.judging import ANSWER_SCHEMA
        from citrus_assets.reasoning_data.seeds.staged import stage_panel_answers
        from resources.lake import ChunkStage

        stage = ChunkStage(work / f"judge-stage-{n}", ANSWER_SCHEMA)
        tally = stage_panel_answers(seeds, panel, params, stage)
        table, how, stats = stage.staged(), "staged", tally.per_judge()
        dv = table.data_version()
    except ImportError:  # the code before: one batched call per judge, one table
        from citrus_assets.reasoning_data.seeds.judging import answer_with_panel, judge_stats

        table = answer_with_panel(seeds, panel, params)
        dv, how, stats = None, "table", judge_stats(table)
    gen_s = time.perf_counter() - t0
    phases.mark("answers")
    lake = Lake(str(work / f"lake-judge-{how}-{n}"))
    published = publish_partition(
        lake,
        LineageWriter(lake.lineage_root),
        asset="judge_answers",
        partition="p",
        table=table,
        run_id="b",
        data_version=dv,
    )
    phases.mark("publish + lineage")
    return {
        "n": n,
        "scheduling": f"judge ({how})",
        "gen_s": round(gen_s, 1),
        "total_s": round(time.perf_counter() - t0, 1),
        "traces": published.counts["records"],
        "failed": 0,
        "llm_calls": None,
        "table_mib": None,
        "per_judge": stats,
        "phases": phases.rows,
    }


def child_check(n: int, work: Path) -> dict:
    """The real ``judge_answers_valid`` and ``open_questions_valid`` checks (Dagster, the lake IO manager) on the
    partitions the parent published under ``work/lake-checks-<n>``; each check in turn, peak so far after each."""
    import dagster as dg

    from citrus_assets.reasoning_data.questions.assets import open_questions
    from citrus_assets.reasoning_data.questions.checks import open_questions_check
    from citrus_assets.reasoning_data.seeds.assets import judge_answers
    from citrus_assets.reasoning_data.seeds.checks import judge_check
    from resources.lake_io import LakeIOManager

    phases = Phases()
    phases.mark("start")
    import inspect

    inst = dg.DagsterInstance.ephemeral()
    io = LakeIOManager(root=str(work / f"lake-checks-{n}"))
    out, t0 = {}, time.perf_counter()
    for asset, check in ((judge_answers, judge_check), (open_questions, open_questions_check)):
        t = time.perf_counter()
        # what a run does: the IO manager's load_input for the check's op, then the check's function
        value = io.load_input(dg.build_input_context(asset_key=asset.key, partition_key="p", op_def=check.op))
        res = check(dg.build_op_context(partition_key="p", instance=inst), value)
        (ev,) = list(res) if inspect.isgenerator(res) else [res]
        del value
        md = ev.metadata
        out[next(iter(check.check_specs)).name] = {
            "passed": ev.passed,
            "n_rows": md["n_rows"].value,
            "failed": md["failed"].value,
            "unexpected_counts": md["unexpected_counts"].value,
            "s": round(time.perf_counter() - t, 1),
        }
        phases.mark(asset.key.to_user_string())
    return {
        "n": n,
        "scheduling": "check",
        "gen_s": None,
        "total_s": round(time.perf_counter() - t0, 1),
        "traces": None,
        "failed": None,
        "llm_calls": None,
        "table_mib": None,
        "checks": out,
        "phases": phases.rows,
    }


def prepare(n: int, work: Path) -> None:
    """Inputs built once per size by the parent (its memory is not measured): the seeds, and the judge_answers and
    open_questions partitions the checks read, published through the commit protocol."""
    import pyarrow.parquet as pq

    from benchmarks.scale.seeds import write_seeds
    from citrus_assets.reasoning_data.seeds.loaders import load_seed_file

    if (work / f"seeds-{n}.parquet").exists():
        return
    path = write_seeds(work / f"scale_{n}.jsonl", n)
    seeds = load_seed_file(path, seed_set=path.stem).table()
    pq.write_table(seeds, work / f"seeds-{n}.parquet")
    from citrus_assets.reasoning_data.seeds.assets import JudgeConfig
    from citrus_assets.reasoning_data.seeds.judging import answer_with_panel
    from resources.lake import Lake
    from resources.lineage import LineageWriter
    from resources.lineage.commit import publish_partition
    from resources.llm import LLMClient
    from tests.support.demo_questions import open_questions_from_seed_file

    lake = Lake(str(work / f"lake-checks-{n}"))
    answers = answer_with_panel(seeds, [("default", LLMClient(_FakeServerBackend(), None))], JudgeConfig().sampling())
    for asset, table in (("judge_answers", answers), ("open_questions", open_questions_from_seed_file(path))):
        publish_partition(lake, LineageWriter(lake.lineage_root), asset=asset, partition="p", table=table, run_id="b")


def run_child(n: int, scheduling: str, work: Path, code: Path = REPO) -> dict:
    prepared = work / f"questions-{n}.parquet"
    if not prepared.exists():  # the input partition, built here so its Python rows stay out of the measured child
        import pyarrow.parquet as pq

        from benchmarks.scale.seeds import write_seeds
        from tests.support.demo_questions import open_questions_from_seed_file

        pq.write_table(open_questions_from_seed_file(write_seeds(work / f"mem_{n}.jsonl", n)), prepared)
    if scheduling in ("judge", "check") and not (work / f"seeds-{n}.parquet").exists():
        # in a process of its own: a child forked from a parent holding these tables would count them in its peak
        subprocess.run(
            [sys.executable, "-m", "benchmarks.scale.chain_memory", "--prepare", str(n), str(work)],
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            check=True,
        )
    out = work / f"mem-{scheduling}-{n}-{code.name}.json"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", str(n), scheduling, str(work), str(out)]
    proc = subprocess.Popen(cmd, cwd=code, env={**os.environ, "PYTHONPATH": str(code)})
    _, status, usage = os.wait4(proc.pid, 0)
    res = json.loads(out.read_text()) if out.exists() else {"n": n, "scheduling": scheduling, "failed_run": status}
    res["peak_rss_gib"] = round(usage.ru_maxrss / 2**20, 3)
    res["load"] = round(os.getloadavg()[0], 1)
    return res


def main(argv: list[str] | None = None) -> None:
    if argv is None and len(sys.argv) > 1 and sys.argv[1] == "--prepare":
        prepare(int(sys.argv[2]), Path(sys.argv[3]))
        return
    if argv is None and len(sys.argv) > 1 and sys.argv[1] == "--child":
        n, scheduling, work, out = sys.argv[2:6]
        run = {"judge": child_judge, "check": child_check}.get(scheduling)
        res = run(int(n), Path(work)) if run else child(int(n), scheduling, Path(work))
        Path(out).write_text(json.dumps(res))
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="2000,10000")
    ap.add_argument("--rounds-sizes", default="2000,10000")
    ap.add_argument(
        "--engines",
        default="rounds,continuous",
        help="rounds, continuous (table + plain Parquet write, the earlier measure), continuous-lake (table "
        "through the lake's commit protocol with lineage and quarantine: the IO manager before issue "
        "17 goal 3), staged (StagedParquet streamed through the same protocol: after), staged-records (staged, "
        "the quarantine handed over as Python records: before the Arrow quarantine)",
    )
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "scale_100k.md"))
    ap.add_argument("--code", default="", help="comma-separated checkouts the children run (default: this one)")
    ap.add_argument("--work", default="", help="folder for inputs and lakes (default: a temporary one)")
    ap.add_argument("--json", default="", help="also write the rows here")
    args = ap.parse_args(argv)
    rows = []
    codes = [Path(c).resolve() for c in args.code.split(",") if c] or [REPO]
    with tempfile.TemporaryDirectory(prefix="citrus-mem-") as tmp:
        if args.work:
            tmp = args.work
            os.makedirs(tmp, exist_ok=True)
        engines = [e for e in args.engines.split(",") if e]
        sizes = [int(x) for x in args.sizes.split(",") if x]
        for n in [int(x) for x in args.rounds_sizes.split(",") if x] if "rounds" in engines else []:
            rows.append(run_child(n, "rounds", Path(tmp)))
            print(rows[-1], flush=True)
        for n in sizes:  # the other engines side by side per size (same load)
            for scheduling in [e for e in engines if e != "rounds"]:
                for code in codes if scheduling in ("judge", "check") else [REPO]:
                    rows.append({**run_child(n, scheduling, Path(tmp), code), "code": code.name})
                    print(rows[-1], flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    lines = [
        f"\n### reasoning_traces working set, scripted model in process ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})\n",
        "| engine | questions | peak RSS GiB | loop s | loop + write s | traces | quarantined | LLM calls | "
        "output table MiB | load (1 min) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['scheduling']} | {r['n']:,} | {r['peak_rss_gib']:.2f} | {r.get('gen_s')} | {r.get('total_s')} | "
            f"{r.get('traces')} | {r.get('failed')} | {r.get('llm_calls')} | {r.get('table_mib')} | {r['load']} |"
        )
    with open(args.out, "a") as fh:
        fh.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
