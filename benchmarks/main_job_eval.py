"""Benchmark: the main job's evaluation steps alone (what issue 18 added to the main job), cold.

Runs the evaluation steps of ``MAIN_PLAN`` (eval_items, eval_stages_job per benchmark, the served-model pair,
eval_report) through ``demo.run_main_job`` on an empty lake with an empty request cache, with five stand-in
checkpoint rows (one per stage) pointing at the built-in model's HF folder, each with its own revision (so
five model loads and no shared cache entries, like the main job's five trained checkpoints of the same size).
Records wall time, this process's CPU time, peak memory and the machine's load (shared 2-core machine), and
prints the ablation table. Writes ``benchmarks/results/main_job_eval.md``.

    .venv/bin/python -m benchmarks.main_job_eval
"""

from __future__ import annotations

import os
import resource
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

import dagster as dg  # noqa: E402
import pyarrow as pa  # noqa: E402

OUT = REPO / "benchmarks" / "results" / "main_job_eval.md"
EVAL_JOBS = ("eval_items_job", "eval_stages_job", "eval_model_job", "eval_report_job")


def main() -> None:
    work = tempfile.mkdtemp(prefix="main-job-eval-")
    os.environ["CITRUS_LAKE"] = os.path.join(work, "lake")
    os.environ["CITRUS_CACHE_DIR"] = os.path.join(work, "cache")  # cold: empty request cache
    from citrus_assets import demo
    from citrus_assets.definitions import build_definitions
    from citrus_assets.jobs import MAIN_PLAN
    from citrus_assets.model_training.schemas import CHECKPOINT_SCHEMA, CHECKPOINT_STAGES
    from resources.lake import Lake
    from resources.lineage.ids import record_id
    from resources.llm import builtin_model_path

    load_start = " ".join(f"{x:.2f}" for x in os.getloadavg())
    lake = Lake(os.environ["CITRUS_LAKE"])
    model = str(builtin_model_path())  # converts the built-in model into the (empty) cache dir: not timed
    for stage in CHECKPOINT_STAGES:
        sha = f"standin-{stage}"
        row = {
            "record_id": record_id("ckpt", stage, sha),
            "parent_ids": [],
            "stage": stage,
            "model_path": model,
            "base_model": model,
            "weights_sha256": sha,
            "steps": 0,
            "tokens_seen": 0,
            "wall_s": 0.0,
            "final_loss": 0.0,
            "hyperparameters": "{}",
            "data_versions": "{}",
        }
        lake.write_asset(f"{stage}_checkpoint", None, pa.Table.from_pylist([row], schema=CHECKPOINT_SCHEMA))
    plan = [s for s in MAIN_PLAN if s.job in EVAL_JOBS]
    demo.MAIN_PLAN[:] = plan  # run_main_job iterates the module's plan: the evaluation steps only
    defs = build_definitions()
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    with dg.DagsterInstance.ephemeral() as instance:
        result = demo.run_main_job(defs, instance, lake, os.path.join(work, "lineage.duckdb"), log=lambda *_: None)
    wall = time.perf_counter() - t0
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    load_end = " ".join(f"{x:.2f}" for x in os.getloadavg())
    checks = f"{sum(result.check_results.values())}/{len(result.check_results)}"
    runs = len({o.run_id for o in result.outputs})
    lines = [
        "# The main job's evaluation steps (issue 18), cold",
        "",
        f"Machine: {os.cpu_count()} CPU cores, no GPU; shared: load average (1/5/15 min) {load_start} at the start, "
        f"{load_end} at the end.",
        f"Steps: {', '.join(s.job for s in plan)} ({runs} Dagster runs): base model + 5 stand-in checkpoints (the "
        "built-in model's folder, one revision each: 6 model loads, no shared cache entries) on the main job's "
        "benchmarks and settings (evaluation/sensors.py DEMO_*), empty request cache.",
        "",
        "| wall (s) | CPU, this process (s) | peak RSS (MiB) | checks passed |",
        "|---:|---:|---:|---|",
        f"| {wall:.1f} | {cpu:.1f} | {cpu1.ru_maxrss / 1024:.0f} | {checks} |",
        "",
        "Ablation table printed by the main job:",
        "",
        "```",
        result.ablation_text,
        "```",
        "",
        "Run: `.venv/bin/python -m benchmarks.main_job_eval`",
    ]
    OUT.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
