"""Is this Dagster instance safe for several runs at once? Dagster's default storage is SQLite files under
``DAGSTER_HOME``; several runs writing them together can break the instance (issue 14 item 15;
``benchmarks/results/instance_concurrency.md``). ``make ui`` prints :func:`sqlite_concurrency_warning`
when the run queue lets more than one run start. Reads the instance's configuration only: nothing is
created and no database is contacted."""

from __future__ import annotations

import sys
from pathlib import Path

POSTGRES_YAML = "deploy/dagster.postgres.yaml"


def run_queue_limit(home: Path) -> int | None:
    """How many runs the instance at ``home`` may run at once; ``None`` when there is no limit (a
    ``max_concurrent_runs`` of -1, or a run coordinator that launches every run at once)."""
    from dagster._core.instance.ref import InstanceRef
    from dagster._core.run_coordinator import QueuedRunCoordinator

    ref = InstanceRef.from_dir(str(home))
    coordinator = ref.run_coordinator
    if not isinstance(coordinator, QueuedRunCoordinator):
        return None
    limit = (
        coordinator.get_run_queue_config()
        .with_concurrency_settings(ref.settings.get("concurrency") or {})
        .max_concurrent_runs
    )
    return None if limit < 0 else limit


def uses_sqlite(home: Path) -> bool:
    """Whether any of the instance's run, event-log or schedule storage is Dagster's SQLite storage."""
    from dagster._core.instance.ref import InstanceRef

    ref = InstanceRef.from_dir(str(home))
    parts = [ref.storage_data, ref.run_storage_data, ref.event_storage_data, ref.schedule_storage_data]
    return any(p is not None and "sqlite" in f"{p.module_name}.{p.class_name}".lower() for p in parts)


def sqlite_concurrency_warning(home: Path) -> str | None:
    """The warning for an instance on SQLite whose run queue allows more than one run, else ``None``."""
    if not uses_sqlite(home):
        return None
    limit = run_queue_limit(home)
    if limit is not None and limit <= 1:
        return None
    allowed = "any number of runs" if limit is None else f"{limit} runs"
    return (
        f"WARNING: the Dagster instance in {home} keeps runs and events in SQLite files (Dagster's default) "
        f"and its run queue lets {allowed} start at once. Several runs writing SQLite together can break "
        f"the instance. For concurrent work use PostgreSQL: copy {POSTGRES_YAML} to "
        f"$DAGSTER_HOME/dagster.yaml, set DAGSTER_PG_* and run `dagster instance migrate` once "
        f"(README, 'Several runs at once'); or set concurrency.runs.max_concurrent_runs: 1."
    )


def warn_if_sqlite_concurrent(home: Path) -> str | None:
    """Print the warning (stderr) when it applies; an instance configuration that cannot be read is reported
    the same way rather than stopping the caller (the webserver then shows Dagster's own error)."""
    try:
        message = sqlite_concurrency_warning(home)
    except Exception as exc:  # noqa: BLE001 - a warning must never keep the UI from starting
        message = f"WARNING: could not read the Dagster instance settings in {home}: {type(exc).__name__}: {exc}"
    if message:
        print(message, file=sys.stderr)
    return message


def create_instance_tables(home: Path) -> None:
    """Open the instance once, alone, so its storage creates its tables before the webserver, the daemon
    and runs start together. On a fresh SQLite ``DAGSTER_HOME``, processes that create them at the same
    moment leave two Alembic heads and every later open fails (``benchmarks/results/instance_concurrency.md``)."""
    import dagster as dg

    with dg.DagsterInstance.from_config(str(home)):
        pass


def prepare_ui_instance(home: Path) -> str | None:
    """What ``make ui`` does before ``dagster dev``: create the tables, then warn about SQLite with a run queue
    of more than one. Neither stops the UI: a failure to open the instance is printed, and the webserver then
    shows Dagster's own error."""
    try:
        create_instance_tables(home)
    except Exception as exc:  # noqa: BLE001 - reported; dagster dev reports it again with its own context
        print(f"WARNING: could not open the Dagster instance in {home}: {type(exc).__name__}: {exc}", file=sys.stderr)
    return warn_if_sqlite_concurrent(home)
