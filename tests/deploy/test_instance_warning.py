"""`make ui` warns when the instance keeps its runs in SQLite (Dagster's default) and the run queue lets more
than one run start at once (issue 14 item 15). The check reads the configuration only."""

import shutil
from pathlib import Path

import pytest

from citrus_assets.instance_check import (
    run_queue_limit,
    sqlite_concurrency_warning,
    uses_sqlite,
    warn_if_sqlite_concurrent,
)

REPO = Path(__file__).resolve().parents[2]


def _home(tmp_path: Path, yaml_text: str) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text(yaml_text)
    return home


def test_the_repo_default_runs_one_at_a_time_and_raising_it_warns(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    assert uses_sqlite(home) and run_queue_limit(home) == 1
    assert sqlite_concurrency_warning(home) is None, "the default `make ui` start prints no warning"
    # the same file with a raised run limit warns, and points to the PostgreSQL variant
    text = (REPO / "dagster.yaml").read_text()
    assert "max_concurrent_runs: 1" in text
    (home / "dagster.yaml").write_text(text.replace("max_concurrent_runs: 1", "max_concurrent_runs: 2"))
    assert run_queue_limit(home) == 2
    msg = sqlite_concurrency_warning(home)
    assert msg and "2 runs" in msg and "deploy/dagster.postgres.yaml" in msg and "SQLite" in msg
    assert (REPO / "deploy" / "dagster.postgres.yaml").is_file()
    assert sorted(p.name for p in home.iterdir()) == ["dagster.yaml"], "the check creates no storage"


@pytest.mark.parametrize(
    "yaml_text, expected",
    [
        ("concurrency:\n  runs:\n    max_concurrent_runs: 1\n", None),
        ("concurrency:\n  runs:\n    max_concurrent_runs: 4\n", "4 runs"),
        ("concurrency:\n  runs:\n    max_concurrent_runs: -1\n", "any number of runs"),
        ("telemetry:\n  enabled: false\n", "10 runs"),  # Dagster's default queue limit
        (
            "run_coordinator:\n  module: dagster._core.run_coordinator\n  class: DefaultRunCoordinator\n",
            "any number of runs",
        ),
        (
            "run_coordinator:\n  module: dagster._core.run_coordinator\n  class: QueuedRunCoordinator\n"
            "  config:\n    max_concurrent_runs: 1\n",
            None,
        ),
    ],
)
def test_sqlite_warning_follows_the_run_queue(tmp_path, yaml_text, expected):
    msg = sqlite_concurrency_warning(_home(tmp_path, yaml_text))
    if expected is None:
        assert msg is None
    else:
        assert msg is not None and expected in msg


def test_postgres_instance_does_not_warn_and_is_not_contacted(tmp_path, monkeypatch):
    for key, value in {
        "DAGSTER_PG_USERNAME": "u",
        "DAGSTER_PG_PASSWORD": "p",
        "DAGSTER_PG_HOST": "127.0.0.1",
        "DAGSTER_PG_PORT": "1",
        "DAGSTER_PG_DB": "d",
    }.items():
        monkeypatch.setenv(key, value)  # port 1: nothing listens, so any connection attempt would fail
    home = _home(tmp_path, (REPO / "deploy" / "dagster.postgres.yaml").read_text())
    assert not uses_sqlite(home) and run_queue_limit(home) == 8
    assert sqlite_concurrency_warning(home) is None


def test_warning_goes_to_stderr_and_a_bad_config_does_not_stop_the_ui(tmp_path, capsys):
    home = _home(tmp_path, "concurrency:\n  runs:\n    max_concurrent_runs: 3\n")
    assert "3 runs" in warn_if_sqlite_concurrent(home)
    assert "3 runs" in capsys.readouterr().err
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "dagster.yaml").write_text("concurrency:\n  runs:\n    max_concurrent_runs: many\n")
    msg = warn_if_sqlite_concurrent(bad)
    assert msg and msg.startswith("WARNING: could not read") and "could not read" in capsys.readouterr().err


def test_make_ui_creates_the_tables_before_anything_starts(tmp_path, capsys):
    from citrus_assets.instance_check import prepare_ui_instance

    home = _home(tmp_path, "concurrency:\n  runs:\n    max_concurrent_runs: 1\n")
    assert prepare_ui_instance(home) is None and capsys.readouterr().err == ""
    made = {p.relative_to(home).as_posix() for p in home.rglob("*.db")}
    assert {"history/runs.db", "history/runs/index.db", "schedules/schedules.db"} <= made
    assert prepare_ui_instance(home) is None, "a second make ui opens the same instance"


def test_make_ui_goes_on_when_the_instance_cannot_be_opened(tmp_path, capsys, monkeypatch):
    from citrus_assets.instance_check import prepare_ui_instance

    for key, value in {
        "DAGSTER_PG_USERNAME": "u",
        "DAGSTER_PG_PASSWORD": "p",
        "DAGSTER_PG_HOST": "127.0.0.1",
        "DAGSTER_PG_PORT": "1",
        "DAGSTER_PG_DB": "d",
    }.items():
        monkeypatch.setenv(key, value)
    home = _home(tmp_path, (REPO / "deploy" / "dagster.postgres.yaml").read_text())
    assert prepare_ui_instance(home) is None
    assert "could not open the Dagster instance" in capsys.readouterr().err
