"""Issue 14 item 15: several runs starting at once on a fresh DAGSTER_HOME. ``deploy/dagster.postgres.yaml``,
unchanged, against a real PostgreSQL server started by the test on 127.0.0.1; the daemon running; 4 runs
launched at the same moment (one partition each, the UI's GraphQL mutation from 4 threads) and an asset
backfill of 4 more partitions. Every run must succeed, every materialization be stored exactly once, and
a freshly opened instance and plain SQL must count the same. The drill prints its figure (run with ``-s``):
runs SUCCESS x/y, materializations stored/expected, corrupted instances, seconds. The support modules
(``pg_server``, ``instance_trial``, ``concurrency_defs``) live in ``tests/deploy``; the ``postgres_server``
fixture is in this folder's conftest."""

import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

N_RUNS, BACKFILL = 4, 4  # runs launched at the same moment; partitions of the backfill


def test_postgres_instance_takes_concurrent_runs_and_a_backfill(postgres_server, tmp_path, monkeypatch):
    from tests.deploy.instance_trial import ASSETS, run_trial

    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "deploy" / "dagster.postgres.yaml", home / "dagster.yaml")
    assert postgres_server.password not in (home / "dagster.yaml").read_text()
    for key, value in postgres_server.env().items():  # what the yaml reads ({env: DAGSTER_PG_*})
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("CITRUS_DRILL_STEP_S", "1")

    res = run_trial(
        home, "postgres", postgres_server.env(), n_runs=N_RUNS, backfill=BACKFILL, deadline_s=420, pg=postgres_server
    )
    # corrupted: a fresh instance cannot be opened, or SQL integrity/counts disagree with the instance's
    corrupted = 0 if res.integrity == "ok" and res.reopened_materializations == res.materializations else 1
    print(
        f"\nDRILL postgres-instance: {N_RUNS} runs at once + a backfill of {BACKFILL} partitions, daemon running -> "
        f"runs SUCCESS {res.successes}/{res.runs_expected}, materializations {res.materializations}/"
        f"{res.materializations_expected} (reopened instance {res.reopened_materializations}), max overlapping "
        f"runs {res.max_overlap}, corrupted instances {corrupted}/1, {res.seconds:.1f} s"
    )
    print(f"  {res.summary()}")
    for line in res.launch_failures + res.errors + res.notes:
        print("  ", line)

    assert not res.timed_out, res.summary()
    assert not res.launch_failures and not res.errors, res.launch_failures + res.errors
    assert res.runs_found == N_RUNS + BACKFILL and res.statuses == {"SUCCESS": N_RUNS + BACKFILL}, res.statuses
    assert res.materializations == len(ASSETS) * (N_RUNS + BACKFILL) == res.reopened_materializations
    assert res.partitions_ok, "each asset has exactly one materialization per launched partition"
    assert res.run_events_ok, "each run stored its 2 materializations and one RUN_SUCCESS"
    assert res.integrity == "ok", res.integrity  # plain SQL counts the same materializations and successes
    assert res.max_overlap >= 2, f"the runs did not overlap (max {res.max_overlap}): nothing concurrent was tested"
    assert res.daemon_tracebacks == 0, (home / "daemon.log").read_text()[-3000:]
    assert not list(home.rglob("*.db")), "with PostgreSQL storage nothing is stored in SQLite files"


def test_the_server_listens_on_localhost_with_a_password(postgres_server):
    import psycopg2

    conn = postgres_server.connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW listen_addresses")
            assert cur.fetchone()[0] == "127.0.0.1"
            cur.execute("SELECT current_database()")
            assert cur.fetchone()[0] == "dagster"
    finally:
        conn.close()
    with pytest.raises(psycopg2.OperationalError, match="password authentication failed"):
        psycopg2.connect(
            host="127.0.0.1", port=postgres_server.port, user=postgres_server.user, password="wrong", dbname="dagster"
        )


def test_missing_server_binaries_are_named(monkeypatch):
    from tests.deploy import pg_server

    monkeypatch.setattr(pg_server.shutil, "which", lambda name: None)
    monkeypatch.setattr(pg_server.glob, "glob", lambda pattern: [])
    with pytest.raises(pg_server.PostgresUnavailable, match="install Debian's `postgresql` package"):
        pg_server.find_bin_dir()
