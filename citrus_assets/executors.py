"""The step executor of the code location: one ``citrus`` executor that picks the real one when a run starts.

Dagster fixes a code location's executor when the definitions load, so the choice is deferred: the
``citrus`` executor reads its run config (``execution: config: {executor: ..., max_concurrent: ...}``, the UI
launchpad), else ``CITRUS_EXECUTOR`` / ``CITRUS_MAX_CONCURRENT``, when a run is launched, never at import:

- ``multiprocess`` (default): one process per step, at most ``max_concurrent`` / ``CITRUS_MAX_CONCURRENT``
  (default 2, a laptop's cores) at once; Dagster pools (``dagster.yaml``) limit LLM and training steps further.
- ``in_process``: every step in the run's process (debugging).
- ``celery``: steps sent to Celery workers (``dagster-celery``; broker ``CITRUS_CELERY_BROKER``, result
  backend ``CITRUS_CELERY_BACKEND``, default ``rpc://``). Pair with ``deploy/dagster.celery.yaml``.
- ``k8s``: one Kubernetes Job per step (``dagster-k8s``'s ``k8s_job_executor``; job namespace
  ``CITRUS_K8S_NAMESPACE``, at most ``max_concurrent`` steps at once). Pair with ``deploy/dagster.k8s.yaml``.

The integration packages are the ``deploy`` extra and are imported only when selected.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import dagster as dg
from dagster._config import process_config
from dagster._core.executor.init import InitExecutorContext

EXECUTORS = ("multiprocess", "in_process", "celery", "k8s")
DEFAULT_MAX_CONCURRENT = 2


def select_executor(
    env: Mapping[str, str] | None = None, config: Mapping[str, object] | None = None
) -> tuple[dg.ExecutorDefinition, dict]:
    """(executor definition, its config) chosen by ``config`` (the ``citrus`` executor's run config), else
    ``env`` (default: ``os.environ``, read now)."""
    env = os.environ if env is None else env
    config = config or {}
    name = str(config.get("executor") or env.get("CITRUS_EXECUTOR") or "multiprocess").strip().lower()
    limit = int(config.get("max_concurrent") or env.get("CITRUS_MAX_CONCURRENT") or DEFAULT_MAX_CONCURRENT)
    if name == "multiprocess":
        return dg.multiprocess_executor, {"max_concurrent": limit}
    if name == "in_process":
        return dg.in_process_executor, {}
    if name == "celery":
        from dagster_celery import celery_executor

        broker = env.get("CITRUS_CELERY_BROKER")
        if not broker:
            raise ValueError("CITRUS_EXECUTOR=celery needs CITRUS_CELERY_BROKER (e.g. redis://host:6379/0)")
        return celery_executor, {"broker": broker, "backend": env.get("CITRUS_CELERY_BACKEND") or "rpc://"}
    if name == "k8s":
        from dagster_k8s import k8s_job_executor

        k8s: dict = {"max_concurrent": limit}
        if env.get("CITRUS_K8S_NAMESPACE"):
            k8s["job_namespace"] = env["CITRUS_K8S_NAMESPACE"]
        return k8s_job_executor, k8s
    raise ValueError(f"CITRUS_EXECUTOR must be one of {EXECUTORS}, got {name!r}")


def executor_from_env(env: Mapping[str, str] | None = None) -> dg.ExecutorDefinition:
    """The executor ``env`` selects, configured (a job of its own may take it as ``executor_def``)."""
    executor_def, config = select_executor(env)
    return executor_def.configured(config) if config else executor_def


def _resolved(config: Mapping[str, object]) -> tuple[dg.ExecutorDefinition, Mapping[str, object]]:
    executor_def, raw = select_executor(None, config)
    field = executor_def.config_field
    if field is None:
        return executor_def, raw
    result = process_config(field.config_type, raw)  # the selected executor's defaults (retries, ...)
    if not result.success:
        raise dg.DagsterInvalidConfigError(f"config of the {executor_def.name} executor", result.errors, raw)
    return executor_def, result.value or {}


def _requirements(config: Mapping[str, object]) -> list:
    executor_def, resolved = _resolved(config)
    return list(executor_def.get_requirements(resolved))


@dg.executor(
    name="citrus",
    config_schema={
        "executor": dg.Field(
            str,
            is_required=False,
            description=f"one of {EXECUTORS}; default $CITRUS_EXECUTOR, else multiprocess",
        ),
        "max_concurrent": dg.Field(
            int,
            is_required=False,
            description=f"steps at once (multiprocess, k8s); default $CITRUS_MAX_CONCURRENT, else {DEFAULT_MAX_CONCURRENT}",
        ),
    },
    requirements=_requirements,
)
def citrus_executor(init_context: InitExecutorContext):
    """The executor run config or ``CITRUS_EXECUTOR`` selects, built when the run starts (module docstring)."""
    executor_def, config = _resolved(init_context.executor_config)
    assert executor_def.executor_creation_fn is not None
    return executor_def.executor_creation_fn(
        InitExecutorContext(
            job=init_context.job, executor_def=executor_def, executor_config=config, instance=init_context.instance
        )
    )
