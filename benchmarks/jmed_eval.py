"""eval_jmed alone (issue 19): the final checkpoint scored on a month's JMED release, as the main job runs it.

Stand-ins: rl_checkpoint = the built-in model's folder, jmed_benchmark[month] = 8 JMED-format items
(``citrus_assets.evaluation.standins``), both materialized through the lake's IO manager. Then the real
``jmed_eval_job`` runs with the main job's settings (``jobs.DEMO_JMED_EVAL_OPS``: 3 items), cold request cache,
then once more warm (every answer cached). Writes benchmarks/results/jmed_eval.md.

    .venv/bin/python -m benchmarks.jmed_eval
"""

import os
import resource
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

import dagster as dg  # noqa: E402

OUT = REPO / "benchmarks" / "results" / "jmed_eval.md"
MONTH = "2025-01"


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main() -> None:
    work = tempfile.mkdtemp(prefix="jmed-eval-")
    os.environ["CITRUS_LAKE"] = os.path.join(work, "lake")
    os.environ["CITRUS_CACHE_DIR"] = os.path.join(work, "cache")  # cold: empty request cache
    from citrus_assets import demo
    from citrus_assets.definitions import build_definitions
    from citrus_assets.evaluation.standins import materialize_standins
    from citrus_assets.jobs import DEMO_JMED_EVAL_OPS, JMED_EVAL_JOB
    from resources.llm import builtin_model_path

    load_start = " ".join(f"{x:.2f}" for x in os.getloadavg())
    model = str(builtin_model_path())  # converts the built-in model into the (empty) cache dir: not timed
    defs = build_definitions()
    rows = []
    with dg.DagsterInstance.ephemeral() as instance:
        materialize_standins(instance, defs.resources, month=MONTH, items=8, model_path=model)
        job = defs.resolve_job_def(JMED_EVAL_JOB)
        for label in ("cold cache", "warm cache"):
            c0, t0 = _cpu(), time.perf_counter()
            res = demo.launch(job, instance, MONTH, {**demo.QUIET_LOGS, "ops": DEMO_JMED_EVAL_OPS})
            wall, cpu = time.perf_counter() - t0, _cpu() - c0
            [m] = [e.materialization for e in res.get_asset_materialization_events()]
            md = {k: v.value for k, v in m.metadata.items()}
            checks = [e for e in res.get_asset_check_evaluations()]
            rows.append(
                f"| {label} | {md['evaluated_items']} of {md['release_items']} | {wall:.1f} | {cpu:.1f} | "
                f"{md['accuracy']} [{md['ci95']}] | {md['chance']} | {md['cache_hits']} | "
                f"{sum(c.passed for c in checks)}/{len(checks)} |"
            )
    load_end = " ".join(f"{x:.2f}" for x in os.getloadavg())
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    lines = [
        "# eval_jmed alone: the final checkpoint on a JMED release (issue 19)",
        "",
        f"Machine: {os.cpu_count()} CPU cores, no GPU; shared: load average (1/5/15 min) {load_start} at the start, "
        f"{load_end} at the end. One Dagster run of `{JMED_EVAL_JOB}` per row (in process, model load included), "
        "the main job's settings (`jobs.DEMO_JMED_EVAL_OPS`: first 3 items, the stage evaluations' demo decoding); "
        "stand-ins: rl_checkpoint = the built-in 135M model's folder, an 8-item JMED-format release "
        "(21 options, one item with two answers).",
        "",
        "| run | items | wall (s) | CPU (s) | accuracy [95% CI] | chance | cache hits | checks passed |",
        "|---|---|---:|---:|---|---:|---:|---|",
        *rows,
        "",
        f"Peak RSS of the process: {peak:.0f} MiB. In the main job the step runs once per month of consultations, "
        "after rl_job and jmed_job; where the main job's JMED release of a month is empty (jmed_benchmark records "
        "why in empty_reason; commit 9390046), the step evaluates 0 items and records why (empty_reason).",
        "",
        "Run: `.venv/bin/python -m benchmarks.jmed_eval`",
    ]
    OUT.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
