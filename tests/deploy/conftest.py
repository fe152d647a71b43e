"""Deployment tests: make the helper modules next to this file importable (the project runs pytest with
``--import-mode=importlib``), and a real PostgreSQL server on 127.0.0.1 for the instance tests."""

import os
import sys

import pytest

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)


@pytest.fixture
def postgres_server():
    """A PostgreSQL server of its own (initdb in a temporary folder, a free port on 127.0.0.1, database
    ``dagster``), stopped and removed afterwards. Skips when the server binaries are not installed."""
    from pg_server import PostgresServer, PostgresUnavailable

    try:
        server = PostgresServer()
    except PostgresUnavailable as exc:
        if os.environ.get("CITRUS_REQUIRE_POSTGRES") == "1":  # set by .ci/run, which installs them
            pytest.fail(f"{exc}; CITRUS_REQUIRE_POSTGRES=1 requires them")
        pytest.skip(f"{exc} (.ci/run installs them with scripts/install_postgres.sh)")
    try:
        server.start()
        yield server
    finally:
        server.stop()
