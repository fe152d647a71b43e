"""One trial of "several runs start at once on a fresh DAGSTER_HOME", as users would cause it: the daemon
running, N ``dagster job launch`` commands started at the same moment (one partition each) and a
``dagster job backfill`` of more partitions, all of the tiny job in ``concurrency_defs.py``. Then every
figure that shows whether the instance kept everything: run statuses, materializations per asset and
partition, the events of each run, the same counts from a freshly opened instance, and the storage's own
integrity check (SQLite ``PRAGMA integrity_check``; PostgreSQL row counts by SQL).

Used by ``tests/drills/test_drill_postgres_instance.py`` and by ``benchmarks/instance_concurrency.py`` (SQLite vs PostgreSQL).
"""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFS_FILE = HERE / "concurrency_defs.py"
ASSETS = ("tally", "tally_doubled")
BIN = Path(sys.executable).parent


@dataclass
class TrialResult:
    storage: str
    runs_expected: int
    runs_found: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    materializations: int = 0
    materializations_expected: int = 0
    partitions_ok: bool = False
    reopened_materializations: int = -1
    run_events_ok: bool = False
    integrity: str = ""
    launch_failures: list[str] = field(default_factory=list)
    daemon_tracebacks: int = 0
    notes: list[str] = field(default_factory=list)  # why runs failed; the daemon's exception lines
    errors: list[str] = field(default_factory=list)
    max_overlap: int = 0
    seconds: float = 0.0
    timed_out: bool = False

    @property
    def successes(self) -> int:
        return self.statuses.get("SUCCESS", 0)

    @property
    def ok(self) -> bool:
        return (
            not self.errors
            and not self.launch_failures
            and not self.timed_out
            and self.runs_found == self.runs_expected == self.successes
            and self.materializations == self.materializations_expected == self.reopened_materializations
            and self.partitions_ok
            and self.run_events_ok
            and self.integrity == "ok"
        )

    def summary(self) -> str:
        return (
            f"[{self.storage}] runs {self.runs_found}/{self.runs_expected}, successes {self.successes}, "
            f"statuses {self.statuses}, materializations {self.materializations}/"
            f"{self.materializations_expected} (reopened {self.reopened_materializations}), max overlapping "
            f"runs {self.max_overlap}, integrity {self.integrity!r}, launch failures "
            f"{len(self.launch_failures)}, daemon tracebacks {self.daemon_tracebacks}, "
            f"errors {len(self.errors)}, {self.seconds:.1f} s" + (" TIMED OUT" if self.timed_out else "")
        )


def write_workspace(home: Path) -> Path:
    ws = home / "workspace.yaml"
    ws.write_text(
        json.dumps(
            {
                "load_from": [
                    {
                        "python_file": {
                            "relative_path": str(DEFS_FILE),
                            "working_directory": str(HERE),
                            "location_name": "concurrency_drill",
                        }
                    }
                ]
            }
        )
    )
    return ws


def _stop(proc: subprocess.Popen, grace: float = 15) -> None:
    """SIGTERM the process group this module started (the daemon or a CLI, with the code server it spawned),
    then SIGKILL whatever of the group is left, even when its leader has already exited."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
        time.sleep(0.5)  # the group's other members (a code server) finish their shutdown


def run_trial(
    home: Path,
    storage: str,
    env_extra: dict[str, str] | None = None,
    n_runs: int = 4,
    backfill: int = 4,
    deadline_s: float = 150,
    pg=None,
    init_storage: bool = True,
    launcher: str = "graphql",
) -> TrialResult:
    """``home`` holds a ``dagster.yaml``; ``pg`` (a ``PostgresServer``) adds the SQL-side counts.
    ``init_storage``: create the instance's tables once (``dagster instance migrate``) before anything starts,
    the deployment step the README documents; without it every process races to create them.
    ``launcher``: ``graphql`` (the UI's mutations from threads of this process) or ``cli`` (one
    ``dagster job launch`` process per run and one ``dagster job backfill``, all started together)."""
    import dagster as dg

    start = time.monotonic()
    ws = write_workspace(home)
    env = {**os.environ, **(env_extra or {}), "DAGSTER_HOME": str(home)}
    env.setdefault("CITRUS_DRILL_STEP_S", "2")
    launched = [f"p{i}" for i in range(n_runs)]
    backfilled = [f"p{i}" for i in range(n_runs, n_runs + backfill)]
    res = TrialResult(
        storage=storage + ("" if init_storage else " (tables not created first)"),
        runs_expected=n_runs + backfill,
        materializations_expected=len(ASSETS) * (n_runs + backfill),
    )
    if init_storage:
        done = subprocess.run(
            [str(BIN / "dagster"), "instance", "migrate"],
            env=env,
            cwd=home,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if done.returncode != 0:
            res.errors.append(f"instance migrate: exit {done.returncode}: {done.stderr.strip()[-600:]}")
    daemon_log = open(home / "daemon.log", "w")
    daemon = subprocess.Popen(
        [str(BIN / "dagster-daemon"), "run", "-w", str(ws)],
        env=env,
        cwd=home,
        stdout=daemon_log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        os.environ.update(env_extra or {})
        try:
            if launcher == "cli":
                _launch_cli(env, home, ws, launched, backfilled, res, deadline_s)
            else:
                _launch_together(home, ws, launched, backfilled, res)
        except Exception as exc:  # e.g. the storage could not even be opened: the measured outcome
            res.errors.append(f"launching: {type(exc).__name__}: {str(exc)[:600]}")
        _wait_for_runs(home, res, start, deadline_s, env_extra or {})
    finally:
        _stop(daemon)
        daemon_log.close()
    log = (home / "daemon.log").read_text(errors="replace")
    res.daemon_tracebacks = log.count("Traceback")
    res.notes += sorted({ln.strip()[:200] for ln in log.splitlines() if re.match(r"^\s*[\w.]+(Error|Exception)\b", ln)})
    _count(home, res, launched + backfilled, env_extra or {}, dg, pg)
    res.seconds = time.monotonic() - start
    return res


LAUNCH = """mutation($executionParams: ExecutionParams!) {
  launchPipelineExecution(executionParams: $executionParams) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on Error { message }
  }
}"""

BACKFILL = """mutation($backfillParams: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $backfillParams) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on Error { message }
  }
}"""


def _launch_together(home: Path, ws: Path, launched: list[str], backfilled: list[str], res: TrialResult) -> None:
    """What the UI does when N users press *Materialize* on one partition each, and one more launches a
    backfill of several partitions, at the same moment: the webserver's GraphQL mutations, from N+1 threads."""
    import dagster as dg
    from dagster._core.workspace.context import WorkspaceProcessContext
    from dagster._core.workspace.load_target import WorkspaceFileTarget
    from dagster_graphql.test.utils import execute_dagster_graphql

    with (
        dg.DagsterInstance.from_config(str(home)) as instance,
        WorkspaceProcessContext(instance, WorkspaceFileTarget(paths=[str(ws)])) as process,
    ):
        barrier = threading.Barrier(len(launched) + bool(backfilled))
        selector = {"repositoryLocationName": "concurrency_drill", "repositoryName": "__repository__"}

        def submit(name: str, query: str, variables: dict) -> None:
            context = process.create_request_context()
            barrier.wait(timeout=60)
            try:
                out = execute_dagster_graphql(context, query, variables).data
                result = next(iter(out.values()))
                if result["__typename"] not in ("LaunchRunSuccess", "LaunchBackfillSuccess"):
                    res.launch_failures.append(f"{name}: {result['__typename']}: {result.get('message', '')[:600]}")
            except Exception as exc:  # the measured outcome: a launch the instance refused or broke on
                res.launch_failures.append(f"{name}: {type(exc).__name__}: {str(exc)[:600]}")

        jobs = [
            (
                f"launch {key}",
                LAUNCH,
                {
                    "executionParams": {
                        "selector": {**selector, "jobName": "tally_job"},
                        "executionMetadata": {"tags": [{"key": "dagster/partition", "value": key}]},
                    }
                },
            )
            for key in launched
        ]
        if backfilled:
            jobs.append(
                (
                    "backfill",
                    BACKFILL,
                    {
                        "backfillParams": {
                            "assetSelection": [{"path": [a]} for a in ASSETS],
                            "partitionNames": backfilled,
                        }
                    },
                )
            )
        threads = [threading.Thread(target=submit, args=job) for job in jobs]
        for th in threads:
            th.start()
        for th in threads:
            th.join(timeout=120)


def _launch_cli(
    env: dict[str, str],
    home: Path,
    ws: Path,
    launched: list[str],
    backfilled: list[str],
    res: TrialResult,
    timeout_s: float,
) -> None:
    """N ``dagster job launch`` processes and one ``dagster job backfill`` (a run per partition), started
    together: separate processes that each open the instance's storage at the same moment."""
    base = [str(BIN / "dagster"), "job"]
    cmds = [
        (
            f"launch {k}",
            [*base, "launch", "-w", str(ws), "-j", "tally_job", "--tags", json.dumps({"dagster/partition": k})],
        )
        for k in launched
    ]
    if backfilled:
        cmds.append(
            (
                "backfill",
                [
                    *base,
                    "backfill",
                    "-w",
                    str(ws),
                    "-j",
                    "tally_job",
                    "--partitions",
                    ",".join(backfilled),
                    "--noprompt",
                ],
            )
        )
    procs = [
        (
            name,
            subprocess.Popen(
                cmd,
                env=env,
                cwd=home,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                start_new_session=True,
            ),
        )
        for name, cmd in cmds
    ]
    for name, p in procs:
        try:
            out, _ = p.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            _stop(p, grace=2)
            out = "timed out"
        if p.returncode != 0:
            res.launch_failures.append(f"{name}: exit {p.returncode}: {(out or '').strip()[-600:]}")
        _stop(p, grace=2)  # a code server the command left behind


def _open_instance(home: Path, env_extra: dict[str, str]):
    import dagster as dg

    os.environ.update(env_extra)  # the yaml reads the DAGSTER_PG_* variables in this process too
    return dg.DagsterInstance.from_config(str(home))


def _wait_for_runs(home: Path, res: TrialResult, start: float, deadline_s: float, env_extra: dict[str, str]) -> None:
    from dagster import DagsterRunStatus

    finished = {DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED}
    try:
        with _open_instance(home, env_extra) as instance:
            while True:
                runs = instance.get_runs()
                if len(runs) >= res.runs_expected and all(r.status in finished for r in runs):
                    return
                if time.monotonic() - start > deadline_s:
                    res.timed_out = True
                    return
                time.sleep(1.0)
    except Exception as exc:  # a broken instance is the measured outcome, not a crash of the harness
        res.errors.append(f"polling: {type(exc).__name__}: {str(exc)[:300]}")


def _count(home: Path, res: TrialResult, keys: list[str], env_extra: dict[str, str], dg, pg) -> None:
    try:
        with _open_instance(home, env_extra) as instance:
            runs = instance.get_runs()
            res.runs_found = len(runs)
            res.statuses = {}
            for r in runs:
                res.statuses[r.status.value] = res.statuses.get(r.status.value, 0) + 1
            seen: list[tuple[str, str]] = []
            for asset in ASSETS:
                records = instance.fetch_materializations(dg.AssetKey(asset), limit=1000).records
                seen += [(asset, rec.partition_key) for rec in records]
            res.materializations = len(seen)
            res.partitions_ok = sorted(seen) == sorted((a, k) for a in ASSETS for k in keys)
            per_run_ok = True
            windows = []
            for r in runs:
                mats = instance.all_logs(r.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION)
                succ = instance.all_logs(r.run_id, of_type=dg.DagsterEventType.RUN_SUCCESS)
                per_run_ok &= len(mats) == len(ASSETS) and len(succ) == 1
                if r.status.value != "SUCCESS":
                    for ev in instance.all_logs(r.run_id):
                        if ev.is_dagster_event and ev.dagster_event.event_type_value in ("STEP_FAILURE", "RUN_FAILURE"):
                            err = getattr(ev.dagster_event.event_specific_data, "error", None)
                            res.notes.append(
                                f"run {r.tags.get('dagster/partition')}: "
                                f"{(err.message if err else ev.message or '').strip()[:200]}"
                            )
                stats = instance.get_run_stats(r.run_id)
                if stats.start_time and stats.end_time:
                    windows.append((stats.start_time, stats.end_time))
            res.run_events_ok = per_run_ok and res.runs_found > 0
            res.max_overlap = max((sum(1 for s, e in windows if s <= t < e) for t, _ in windows), default=0)
    except Exception as exc:
        res.errors.append(f"counting: {type(exc).__name__}: {str(exc)[:300]}")
    try:  # a second, fresh instance: what the UI would see after a restart
        with _open_instance(home, env_extra) as again:
            res.reopened_materializations = sum(
                len(again.fetch_materializations(dg.AssetKey(a), limit=1000).records) for a in ASSETS
            )
    except Exception as exc:
        res.errors.append(f"reopening: {type(exc).__name__}: {str(exc)[:300]}")
    res.integrity = _integrity(home, pg, res)


def _integrity(home: Path, pg, res: TrialResult) -> str:
    if pg is not None:
        try:
            conn = pg.connect()
            with conn.cursor() as cur:
                cur.execute("SELECT count(*) FROM event_logs WHERE dagster_event_type = 'ASSET_MATERIALIZATION'")
                sql_mats = cur.fetchone()[0]
                cur.execute("SELECT count(*) FROM runs WHERE status = 'SUCCESS'")
                sql_success = cur.fetchone()[0]
            conn.close()
        except Exception as exc:
            return f"sql error: {type(exc).__name__}: {exc}"[:300]
        if sql_mats != res.materializations or sql_success != res.successes:
            return f"sql counts differ: {sql_mats} materializations, {sql_success} successful runs"
        return "ok"
    bad = []
    for db in sorted(home.rglob("*.db")):
        try:
            with sqlite3.connect(db, timeout=30) as conn:
                verdict = conn.execute("PRAGMA integrity_check").fetchone()[0]
        except sqlite3.Error as exc:
            verdict = f"{type(exc).__name__}: {exc}"
        if verdict != "ok":
            bad.append(f"{db.relative_to(home)}: {verdict}")
    return "ok" if not bad else "; ".join(bad)[:500]
