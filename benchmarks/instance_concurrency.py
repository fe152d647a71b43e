"""SQLite (Dagster's default storage) vs PostgreSQL when several runs start at once on a fresh DAGSTER_HOME
(issue 14 item 15).

Each trial is ``tests/deploy/instance_trial.py``: a fresh DAGSTER_HOME, the daemon, 4 runs launched at the same
moment through the UI's GraphQL mutation and an asset backfill of 4 more partitions of a tiny two-asset job,
then the figures (run statuses, materializations per asset and partition, the counts of a freshly opened
instance, SQLite ``PRAGMA integrity_check`` / SQL counts). The instance settings are
``deploy/dagster.postgres.yaml`` in every variant; the SQLite variants only drop its ``storage`` section. Each
storage runs with and without creating the tables once first (``dagster instance migrate``), and the runs
are launched either through the UI's GraphQL mutations or by separate ``dagster job launch`` processes.

    .venv/bin/python -m benchmarks.instance_concurrency --trials 3

writes ``benchmarks/results/instance_concurrency.md``. Needs Debian's ``postgresql`` server binaries.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]

from tests.deploy.instance_trial import TrialResult, run_trial  # noqa: E402
from tests.deploy.pg_server import PostgresServer  # noqa: E402


def _home(storage: str) -> Path:
    home = Path(tempfile.mkdtemp(prefix=f"citrus-home-{storage}-"))
    cfg = yaml.safe_load((REPO / "deploy" / "dagster.postgres.yaml").read_text())
    if storage == "sqlite":
        cfg.pop("storage")
    (home / "dagster.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    return home


def one_trial(storage: str, init_storage: bool, deadline_s: float, launcher: str) -> TrialResult:
    home = _home(storage)
    try:
        if storage == "postgres":
            with PostgresServer() as pg:
                return run_trial(
                    home, storage, pg.env(), deadline_s=deadline_s, pg=pg, init_storage=init_storage, launcher=launcher
                )
        return run_trial(home, storage, {}, deadline_s=deadline_s, init_storage=init_storage, launcher=launcher)
    finally:
        shutil.rmtree(home, ignore_errors=True)


def outcome(r: TrialResult) -> str:
    if r.ok:
        return "ok"
    what = []
    if r.launch_failures:
        what.append(f"{len(r.launch_failures)} launch errors")
    if r.errors:
        what.append("instance error: " + r.errors[0][:120])
    if r.successes != r.runs_expected:
        what.append(f"{r.successes}/{r.runs_expected} runs succeeded")
    if r.materializations != r.materializations_expected:
        what.append(f"{r.materializations}/{r.materializations_expected} materializations")
    if r.integrity != "ok":
        what.append("integrity: " + r.integrity[:120])
    if r.timed_out:
        what.append("timed out")
    if r.notes:
        what.append("first error: " + r.notes[0][:150])
    return "; ".join(what) or "inconsistent counts"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=2)
    ap.add_argument("--deadline", type=float, default=400)
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "instance_concurrency.md"))
    ap.add_argument(
        "--variants",
        default="sqlite:no:graphql,sqlite:no:cli,postgres:yes:graphql,postgres:yes:cli,postgres:no:graphql",
        help="storage:tables-first(yes/no):launcher, comma-separated",
    )
    ap.add_argument("--append", action="store_true", help="add the tables to --out instead of replacing it")
    args = ap.parse_args()
    os.environ.setdefault("CITRUS_DRILL_STEP_S", "1")
    variants = [(s, first == "yes", la) for s, first, la in (v.split(":") for v in args.variants.split(","))]
    rows = []
    for trial in range(args.trials):
        for storage, init, launcher in variants:
            t0 = time.monotonic()
            r = one_trial(storage, init, args.deadline, launcher)
            print(f"trial {trial + 1} {r.summary()}", flush=True)
            for line in r.launch_failures + r.errors + r.notes:
                print("   ", line[:300], flush=True)
            rows.append((storage, init, launcher, trial + 1, r, time.monotonic() - t0))
    lines = [
        "# Several runs at once on a fresh DAGSTER_HOME: SQLite vs PostgreSQL",
        "",
        f"`benchmarks/instance_concurrency.py --trials {args.trials}` on a "
        f"{os.cpu_count()}-core machine shared with other work (load varies; the seconds are wall time).",
        "Each trial: a fresh DAGSTER_HOME with `deploy/dagster.postgres.yaml`'s settings (queue of 8, 4 dequeue",
        "threads; the SQLite rows drop only its `storage` section), the daemon, 4 runs launched at the same",
        "moment through the UI's GraphQL mutation plus an asset backfill of 4 partitions: 8 runs and 16",
        "materializations expected. *tables first*: `dagster instance migrate` before anything starts.",
        "*launched by*: `graphql` = the UI's launch and backfill mutations from 5 threads of one process;",
        "`cli` = 4 `dagster job launch` processes and one `dagster job backfill` (a run per partition) started",
        "together, each opening the instance's storage at the same moment.",
        "",
        "| storage | tables first | launched by | trial | runs ok | materializations (reopened) | "
        "max overlapping runs | integrity | outcome | seconds |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for storage, init, launcher, trial, r, secs in rows:
        lines.append(
            f"| {storage} | {'yes' if init else 'no'} | {launcher} | {trial} | "
            f"{r.successes}/{r.runs_expected} | "
            f"{r.materializations}/{r.materializations_expected} ({r.reopened_materializations}) | "
            f"{r.max_overlap} | {r.integrity[:60].replace('|', '/')} | "
            f"{outcome(r).replace('|', '/')} | {secs:.0f} |"
        )
    lines += ["", "| storage | tables first | launched by | trials ok |", "|---|---|---|---|"]
    for storage, init, launcher in variants:
        mine = [r for s, i, la, _, r, _ in rows if (s, i, la) == (storage, init, launcher)]
        lines.append(f"| {storage} | {'yes' if init else 'no'} | {launcher} | {sum(r.ok for r in mine)}/{len(mine)} |")
    if args.append:
        lines = ["", f"## More variants (`--variants {args.variants} --trials {args.trials}`)", *lines[10:]]
        with open(args.out, "a") as f:
            f.write("\n".join(lines) + "\n")
    else:
        Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
