"""Failure drills: make the helper modules next to this file importable (also in subprocesses), and give every
drill its own LLM cache folder and a clean per-process backend registry.

The project runs pytest with ``--import-mode=importlib``, which does not put test folders on ``sys.path``.
"""

import os
import sys

import pytest

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)


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
