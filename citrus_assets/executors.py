"""The step executor of the code location, chosen by ``CITRUS_EXECUTOR`` (read when definitions load).

- ``multiprocess`` (default): one process per step, at most ``CITRUS_MAX_CONCURRENT`` (default 2, a
  laptop's cores) at once; Dagster pools (``dagster.yaml``) limit LLM and training steps further.
- ``in_process``: every step in the run's process (debugging).
- ``celery``: steps sent to Celery workers (``dagster-celery``; broker ``CITRUS_CELERY_BROKER``, result
  backend ``CITRUS_CELERY_BACKEND``, default ``rpc://``). Pair with ``deploy/dagster.celery.yaml``.
- ``k8s``: one Kubernetes Job per step (``dagster-k8s``'s ``k8s_job_executor``; job namespace
  ``CITRUS_K8S_NAMESPACE``, at most ``CITRUS_MAX_CONCURRENT`` steps at once). Pair with
  ``deploy/dagster.k8s.yaml``.

The integration packages are the ``deploy`` extra and are imported only when selected.
"""

import os

import dagster as dg

EXECUTORS = ("multiprocess", "in_process", "celery", "k8s")


def executor_from_env(env: dict | None = None) -> dg.ExecutorDefinition:
    env = os.environ if env is None else env
    name = (env.get("CITRUS_EXECUTOR") or "multiprocess").strip().lower()
    limit = int(env.get("CITRUS_MAX_CONCURRENT") or 2)
    if name == "multiprocess":
        return dg.multiprocess_executor.configured({"max_concurrent": limit})
    if name == "in_process":
        return dg.in_process_executor
    if name == "celery":
        from dagster_celery import celery_executor

        broker = env.get("CITRUS_CELERY_BROKER")
        if not broker:
            raise ValueError("CITRUS_EXECUTOR=celery needs CITRUS_CELERY_BROKER (e.g. redis://host:6379/0)")
        return celery_executor.configured({"broker": broker, "backend": env.get("CITRUS_CELERY_BACKEND") or "rpc://"})
    if name == "k8s":
        from dagster_k8s import k8s_job_executor

        config = {"max_concurrent": limit}
        if env.get("CITRUS_K8S_NAMESPACE"):
            config["job_namespace"] = env["CITRUS_K8S_NAMESPACE"]
        return k8s_job_executor.configured(config)
    raise ValueError(f"CITRUS_EXECUTOR must be one of {EXECUTORS}, got {name!r}")
