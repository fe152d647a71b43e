"""Definitions read the lake root at run time, not at import (issue 16 change 2): the CLI no longer has to set
``CITRUS_LAKE`` before importing them."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Environment variables the project's own modules (not libraries) still read when citrus_assets.definitions is
# imported: the step executor is chosen at definition
# time (citrus_assets/executors.py) and the LLM resources take their defaults from the environment
# (citrus_assets/resources_config.py). The set may only shrink; the lake root must never be in it.
STILL_READ_AT_IMPORT = {
    "CITRUS_EXECUTOR",
    "CITRUS_MAX_CONCURRENT",
    "CITRUS_LLM_BACKEND",
    "CITRUS_LLM_MODEL",
    "CITRUS_LLM_BASE_URL",
    "CITRUS_LLM_AUTO_RUNS",
    "CITRUS_LLM_MAX_REQUESTS_PER_AUTO_RUN",
}

_RECORD_IMPORT = textwrap.dedent(
    """
    import json, os, sys
    from collections.abc import MutableMapping

    ROOT = os.getcwd() + os.sep
    SKIP = (os.__file__, MutableMapping.__module__)

    def by_project_code():
        # the first caller outside os / collections.abc (os.getenv, Mapping.get) is a project module
        f = sys._getframe(2)
        while f and (f.f_code.co_filename in SKIP or "_collections_abc" in f.f_code.co_filename):
            f = f.f_back
        name = f.f_code.co_filename if f else ""
        return name.startswith(ROOT) and "/.venv/" not in name

    class Recording(MutableMapping):
        def __init__(self, inner):
            self.inner, self.read = inner, set()
        def __getitem__(self, k):
            if by_project_code():
                self.read.add(k)
            return self.inner[k]
        def __contains__(self, k):
            if by_project_code():
                self.read.add(k)
            return k in self.inner
        def get(self, k, default=None):
            if by_project_code():
                self.read.add(k)
            return self.inner.get(k, default)
        def __setitem__(self, k, v):
            self.inner[k] = v
        def __delitem__(self, k):
            del self.inner[k]
        def __iter__(self):
            return iter(self.inner)
        def __len__(self):
            return len(self.inner)
        def copy(self):
            return dict(self.inner)

    os.environ = recording = Recording(os.environ)
    from citrus_assets.definitions import defs
    read = sorted(recording.read)
    from resources.lake import default_lake_root
    default_lake_root()  # the recorder sees a read by project code (else the test could not fail)
    seen = "CITRUS_LAKE" in recording.read
    os.environ = recording.inner
    os.environ["CITRUS_LAKE"] = os.environ["LATER_LAKE"]  # set after the import
    print(json.dumps({"read": read, "seen": seen, "io_manager": defs.resources["io_manager"].lake().root,
                      "lake": defs.resources["lake"].lake().root}))
    """
)


def test_definitions_import_reads_no_lake_root_and_a_later_citrus_lake_wins(tmp_path):
    env = {
        **os.environ,
        "CITRUS_LAKE": str(tmp_path / "at_import"),
        "LATER_LAKE": str(tmp_path / "later"),
        "PYTHONPATH": str(ROOT),
    }
    done = subprocess.run(
        [sys.executable, "-c", _RECORD_IMPORT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    read = set(out["read"])
    assert out["seen"], "the recorder missed a read by project code"
    assert not read & {"CITRUS_LAKE", "CITRUS_LINEAGE_DB"}, read
    assert read <= STILL_READ_AT_IMPORT, f"new environment reads at import: {sorted(read - STILL_READ_AT_IMPORT)}"
    assert out["io_manager"] == out["lake"] == str(tmp_path / "later")


def test_build_resources_lake_root_resolves_at_run_time_unless_given(tmp_path, monkeypatch):
    from citrus_assets.resources_config import build_resources

    monkeypatch.setenv("CITRUS_LAKE", str(tmp_path / "first"))
    resources = build_resources()
    monkeypatch.setenv("CITRUS_LAKE", str(tmp_path / "second"))
    assert resources["io_manager"].lake().root == resources["lake"].lake().root == str(tmp_path / "second")
    given = build_resources(str(tmp_path / "given"))  # the CLI's --lake
    assert given["io_manager"].lake().root == given["lake"].lake().root == str(tmp_path / "given")
