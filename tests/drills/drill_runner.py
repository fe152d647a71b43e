"""Subprocess side of the drills: ``python -m tests.drills.drill_runner '<json args>'`` from the repo root;
prints one ``RESULT {...}`` line.

Modes:
* ``slice``: materialize slice assets of one seed-set partition (``env``, ``names``, ``partition``); with
  ``dagster_home`` on that persistent instance (else an ephemeral one); ``ready_file`` is created once
  everything is imported and ``go_file`` awaited, so several runners start materializing together;
  ``sync`` then syncs the lineage index (several processes at once exercise its lock).
* ``fsize``: the disk-full drill. Measures a clean materialization of question_seeds (``probe`` env), then
  materializes it under ``RLIMIT_FSIZE`` limits that make the data file write fail (``data_env``) and the
  lineage write after it fail (``lineage_env``), with SIGXFSZ ignored so writes raise EFBIG, and re-runs the
  latter once the limit is lifted.
"""

import json
import os
import sys
import time

from tests.drills import drill_support as S


def run_slice(args: dict) -> dict:
    import dagster as dg

    instance = dg.DagsterInstance.get() if args.get("dagster_home") else None
    if args.get("ready_file"):
        open(args["ready_file"], "w").close()
    if args.get("go_file"):
        S.wait_for(lambda: os.path.exists(args["go_file"]), 120, "the go file")
    t0 = time.time()
    result, _ = S.materialize(
        args["env"], args["names"], args.get("partition", S.PARTITION), instance=instance, raise_on_error=False
    )
    out = {
        "success": result.success,
        "errors": S.step_errors(result),
        "run_id": result.run_id,
        "materialized": [e.asset_key.to_user_string() for e in result.get_asset_materialization_events()],
        "started": t0,
        "finished": time.time(),
    }
    if args.get("sync"):
        from resources.lake import Lake
        from resources.lineage import LineageStore

        lake = Lake(args["env"]["lake"])
        out["synced"] = LineageStore(lake.lineage_root, args["db"]).sync()
    return out


def run_fsize(args: dict) -> dict:
    import resource
    import signal

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails with EFBIG instead of killing the process
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)

    def limited(env: dict, limit: int) -> dict:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
        try:
            result, instance = S.materialize(env, ["question_seeds"], raise_on_error=False)
        finally:
            resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        return {
            "limit": limit,
            "success": result.success,
            "errors": S.step_errors(result),
            "materializations": S.materialization_count(instance, "question_seeds"),
            "files": S.lake_files(env["lake"]) if os.path.isdir(env["lake"]) else [],
        }

    result, _ = S.materialize(args["probe"], ["question_seeds"])
    probe = args["probe"]["lake"]
    data_size = S.data_file(probe, "question_seeds").stat().st_size
    lineage = [f for f in S.lake_files(probe) if f.startswith("_lineage/record_lineage/question_seeds/")]
    lineage_size = os.path.getsize(os.path.join(probe, lineage[0]))
    out = {"data_size": data_size, "lineage_size": lineage_size}
    out["data_write"] = limited(args["data_env"], data_size // 2)
    if data_size < lineage_size:
        out["lineage_write"] = limited(args["lineage_env"], (data_size + lineage_size) // 2)
        again, instance = S.materialize(args["lineage_env"], ["question_seeds"], raise_on_error=False)
        out["after_lift"] = {
            "success": again.success,
            "materializations": S.materialization_count(instance, "question_seeds"),
        }
    return out


if __name__ == "__main__":
    a = json.loads(sys.argv[1])
    res = {"slice": run_slice, "fsize": run_fsize}[a["mode"]](a)
    print("RESULT " + json.dumps(res), flush=True)
