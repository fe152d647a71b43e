"""Failure drills: every drill gets its own LLM cache folder and a clean per-process backend registry.

Helper modules are imported by their package path from the repo root (``tests.drills.drill_support``; the
PostgreSQL instance drill's ``tests.deploy.pg_server`` / ``instance_trial`` / ``concurrency_defs``); subprocess
drills run ``python -m tests.drills.drill_runner`` with the repo root as working directory.
"""

import os

import pytest


@pytest.fixture(autouse=True)
def _isolated_llm(tmp_path, monkeypatch):
    from resources.llm import clear_backend_cache

    monkeypatch.setenv("CITRUS_CACHE_DIR", str(tmp_path / "citrus-cache"))
    clear_backend_cache()
    yield
    clear_backend_cache()


@pytest.fixture
def drill_server():
    from tests.drills.drill_support import DrillServer

    server = DrillServer()
    yield server
    server.close()


@pytest.fixture
def postgres_server():
    """A PostgreSQL server of its own (``tests/deploy/pg_server.py``: initdb in a temporary folder, a free port
    on 127.0.0.1, database ``dagster``), stopped and removed afterwards. Skips when the server binaries are
    not installed, unless ``CITRUS_REQUIRE_POSTGRES=1`` (set by ``.ci/run``, which installs them)."""
    from tests.deploy.pg_server import PostgresServer, PostgresUnavailable

    try:
        server = PostgresServer()
    except PostgresUnavailable as exc:
        if os.environ.get("CITRUS_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"{exc}; CITRUS_REQUIRE_POSTGRES=1 requires them")
        pytest.skip(f"{exc} (.ci/run installs them with scripts/install_postgres.sh)")
    try:
        server.start()
        yield server
    finally:
        server.stop()
