"""Definitions read the lake root at run time, not at import (issue 16 change 2): the CLI no longer has to set
``CITRUS_LAKE`` before importing them."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import dagster as dg
import pytest

from citrus_assets.executors import citrus_executor, select_executor
from citrus_assets.resources_config import build_resources
from resources.llm import LLMResource
from resources.llm.cost_guard import GUARD_ENV, run_budget
from resources.llm.settings import SETTINGS_ENV

ROOT = Path(__file__).resolve().parents[2]

# Environment variables the project's own modules (not libraries) read when citrus_assets.definitions is imported:
# none. The executor (citrus_assets/executors.py) and the LLM resources' settings (resources/llm/settings.py
# SETTINGS_ENV, cost_guard.py GUARD_ENV) read theirs when a run starts; test_*_at_run_time below show it.
STILL_READ_AT_IMPORT: set[str] = set()

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


# -- the environment is honoured when a run starts, whatever it was at import ---------------------------------


@dg.asset
def run_settings(llm: LLMResource) -> dg.MaterializeResult:
    """What a step sees: the llm resource's settings and cost-guard budget, and the process it ran in."""
    budget = llm.budget
    seen = {"backend": llm.backend, "model": llm.model, "base_url": llm.base_url, "pid": os.getpid()}
    return dg.MaterializeResult(metadata={"seen": {**seen, "limit": budget.limit if budget else None}})


def seen_by_step(result) -> dict:
    [event] = result.get_asset_materialization_events()
    return event.materialization.metadata["seen"].value


def run_settings_job() -> dg.JobDefinition:
    defs = dg.Definitions(
        assets=[run_settings],
        jobs=[dg.define_asset_job("run_settings_job")],
        resources={"llm": build_resources()["llm"]},
        executor=citrus_executor,
    )
    return defs.resolve_job_def("run_settings_job")


def test_llm_settings_and_cost_guard_come_from_the_environment_at_run_time(monkeypatch):
    for var in (*SETTINGS_ENV.values(), *GUARD_ENV.values()):
        monkeypatch.delenv(var, raising=False)
    resources = build_resources()  # as the code location does at import: nothing is read yet
    monkeypatch.setenv("CITRUS_LLM_BACKEND", "openai")
    monkeypatch.setenv("CITRUS_LLM_MODEL", "served-after-import")
    monkeypatch.setenv("CITRUS_LLM_BASE_URL", "http://llm.internal:8000/v1")
    monkeypatch.setenv("CITRUS_LLM_MAX_REQUESTS_PER_AUTO_RUN", "7")
    sensor_run = {"dagster/sensor_name": "inbox_sensor"}  # an automatic run: the cost guard's budget applies
    result = dg.materialize([run_settings], resources={"llm": resources["llm"]}, tags=sensor_run)
    seen = seen_by_step(result)
    assert seen["backend"] == "openai" and seen["model"] == "served-after-import", seen
    assert seen["base_url"] == "http://llm.internal:8000/v1" and seen["limit"] == 7, seen

    # run config (the launchpad) wins over the environment; CITRUS_LLM_AUTO_RUNS=0 switches automatic runs off.
    # (Run config for a resource replaces its configured values, Dagster's rule: it keeps env_defaults to go on
    # reading the environment.)
    monkeypatch.setenv("CITRUS_LLM_AUTO_RUNS", "0")
    run_config = {"resources": {"llm": {"config": {"model": "from-run-config", "env_defaults": True}}}}
    result = dg.materialize([run_settings], resources={"llm": resources["llm"]}, tags=sensor_run, run_config=run_config)
    seen = seen_by_step(result)
    assert seen["model"] == "from-run-config" and seen["backend"] == "openai" and seen["limit"] == 0, seen

    # without env_defaults (tests, derived resources) the environment is not consulted
    plain = seen_by_step(dg.materialize([run_settings], resources={"llm": LLMResource()}))
    assert plain["backend"] == "transformers" and plain["limit"] is None, plain


def test_eval_models_cost_guard_reads_the_environment_at_run_time(monkeypatch):
    monkeypatch.delenv("CITRUS_LLM_MAX_REQUESTS_PER_AUTO_RUN", raising=False)
    eval_models = build_resources()["eval_models"]
    monkeypatch.setenv("CITRUS_LLM_MAX_REQUESTS_PER_AUTO_RUN", "11")
    assert run_budget(eval_models, {"dagster/schedule_name": "nightly"}).limit == 11
    assert (
        run_budget(eval_models.model_copy(update={"max_requests_per_auto_run": 5}), {"dagster/sensor_name": "s"}).limit
        == 5
    )


@pytest.mark.parametrize(("name", "same_process"), [("in_process", True), ("multiprocess", False)])
def test_executor_is_chosen_by_citrus_executor_when_the_run_starts(monkeypatch, tmp_path, name, same_process):
    job = dg.reconstructable(run_settings_job)  # the job's executor is the deferred `citrus` one
    monkeypatch.setenv("CITRUS_EXECUTOR", name)  # after the definitions were loaded
    monkeypatch.setenv("CITRUS_MAX_CONCURRENT", "1")
    executor_def, config = select_executor()
    assert executor_def.name == name and config == ({"max_concurrent": 1} if name == "multiprocess" else {})
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        with dg.execute_job(job, instance=instance) as result:
            assert result.success
            assert (seen_by_step(result)["pid"] == os.getpid()) is same_process


def test_run_config_picks_the_executor_over_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("CITRUS_EXECUTOR", "multiprocess")
    run_config = {"execution": {"config": {"executor": "in_process"}}}  # the launchpad's choice for one run
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        with dg.execute_job(dg.reconstructable(run_settings_job), instance=instance, run_config=run_config) as result:
            assert result.success and seen_by_step(result)["pid"] == os.getpid()
