"""Failure drills: make the helper modules next to this file importable (also in subprocesses), and give every
drill its own LLM cache folder and a clean per-process backend registry.

The project runs pytest with ``--import-mode=importlib``, which does not put test folders on ``sys.path``.
"""

import os
import sys

import pytest

_HERE = os.path.dirname(os.path.abspath(__file__))
# tests/deploy: the PostgreSQL instance drill's support modules (pg_server, instance_trial, concurrency_defs)
_DEPLOY = os.path.join(os.path.dirname(_HERE), "deploy")
for _path in (_DEPLOY, _HERE):
    if _path not in sys.path:
        sys.path.insert(0, _path)


@pytest.fixture(autouse=True)
def _isolated_llm(tmp_path, monkeypatch):
    from resources.llm import clear_backend_cache

    monkeypatch.setenv("CITRUS_CACHE_DIR", str(tmp_path / "citrus-cache"))
    clear_backend_cache()
    yield
    clear_backend_cache()


@pytest.fixture
def drill_server():
    from drill_support import DrillServer

    server = DrillServer()
    yield server
    server.close()


@pytest.fixture
def postgres_server():
    """A PostgreSQL server of its own (``tests/deploy/pg_server.py``: initdb in a temporary folder, a free port
    on 127.0.0.1, database ``dagster``), stopped and removed afterwards. Skips when the server binaries are
    not installed, unless ``CITRUS_REQUIRE_POSTGRES=1`` (set by ``.ci/run``, which installs them)."""
    from pg_server import PostgresServer, PostgresUnavailable

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
