"""Running datatrove pipelines from library code, and reading their JSONL outputs back.

``run_pipeline`` wraps ``LocalPipelineExecutor`` so it is safe to call from a function that another
process imported and called (a Dagster step, a pytest test, a ``spawn``-ed worker):

* ``workers == 1`` (default): tasks run one after another in the calling process (datatrove's own
  behaviour); its ``multiprocess.Manager`` helper (a queue of free ranks) is replaced by an in-process
  queue, so nothing is forked;
* ``workers > 1``: not datatrove's ``multiprocess`` pool (forked from the caller, it hung silently in
  fresh-clone suite runs: issue 14 item 16) but ``pool_watchdog.run_ranks``: ``workers`` fresh
  ``python -m`` processes (nothing forked from the caller, the caller's ``__main__`` never re-imported), each
  running one rank at a time with datatrove's own per-rank code, under a per-rank deadline
  (``rank_timeout_s``): a rank that hangs is killed with its stacks dumped, a rank whose process dies or
  hangs runs once more in a fresh process (``rank_retries``), then the run fails with ``RankFailed``.
  ``tasks`` and ``workers`` mean what they meant: datatrove ranks, and how many run at once. The outputs
  are the same files, byte for byte, as with the pool or with ``workers == 1``.

Each run gets a fresh logging folder and ``skip_completed=False``: a rerun recomputes, never reuses a
stale completion marker.

``ExecutorOptions`` picks another datatrove executor for the same pipelines (``kind``):

* ``"local"`` (default): ``LocalPipelineExecutor`` as above;
* ``"ray"``: ``RayPipelineExecutor`` on the Ray cluster at ``ray_address`` (``""``: the cluster this process
  is connected to, else the one ``RAY_ADDRESS`` / the latest ``ray start`` names, else a local one started
  here; ``"auto"``; ``"ray://host:10001"``), ``workers`` tasks at once (``<= 0``: all), each reserving
  ``cpus_per_task`` CPUs and ``mem_per_cpu_gb`` GB per CPU. Needs the ``ray`` package;
* ``"slurm"``: ``SlurmPipelineExecutor``: an ``sbatch`` job array on ``slurm_partition`` (``slurm_time``,
  ``slurm_qos``, extra ``slurm_sbatch_args``; the job activates ``slurm_venv_path``, default this
  process's virtual environment), then waits until every task has written its completion marker (polling
  every ``slurm_poll_s``); fails when the job has left the queue with tasks incomplete, or after
  ``slurm_timeout_s`` (``0``: no limit).

Ray on several machines and Slurm run the tasks elsewhere: the pipeline's input, output and logging
folders must be on a file system every node sees (the web assets' ``work_dir`` run config).
"""

from __future__ import annotations

import contextlib
import json
import math
import queue
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

import orjson
from datatrove.executor import LocalPipelineExecutor
from datatrove.executor.base import PipelineExecutor
from datatrove.utils.logging import logger

from citrus_assets.cpt_corpus.web.pool_watchdog import run_ranks

ExecutorKind = Literal["local", "ray", "slurm"]
EXECUTORS: tuple[str, ...] = get_args(ExecutorKind)


@dataclass(frozen=True)
class ExecutorOptions:
    """Which datatrove executor runs the pipelines, and its settings (see the module docstring).

    The web assets' run config offers these fields with these defaults (``kind`` as ``executor``):
    ``citrus_assets.cpt_corpus.web.assets.WebCurationRunConfig`` is made from this class.
    """

    kind: ExecutorKind = "local"
    ray_address: str = ""
    cpus_per_task: int = 1
    mem_per_cpu_gb: float = 2.0
    slurm_partition: str = ""
    slurm_time: str = "01:00:00"
    slurm_qos: str = ""
    slurm_job_name: str = "citrus_web"
    slurm_venv_path: str = ""  # a venv folder or its activate script; "" = this process's venv (if any)
    slurm_sbatch_args: dict[str, str] = field(default_factory=dict)
    slurm_poll_s: float = 10.0
    slurm_timeout_s: float = 0.0
    rank_timeout_s: float = 3600.0  # local, workers > 1: a rank process running (or starting) longer is stuck
    rank_retries: int = 1  # local, workers > 1: runs again of a rank whose process died or was stuck

    def __post_init__(self):
        if self.kind not in EXECUTORS:
            raise ValueError(f"unknown datatrove executor {self.kind!r}; choose one of {', '.join(EXECUTORS)}")
        if self.kind == "slurm" and not self.slurm_partition:
            raise ValueError("the slurm executor needs slurm_partition")
        if self.cpus_per_task < 1 or self.mem_per_cpu_gb <= 0:
            raise ValueError("cpus_per_task must be >= 1 and mem_per_cpu_gb > 0")
        if self.rank_timeout_s <= 0 or self.rank_retries < 0:
            raise ValueError("rank_timeout_s must be > 0 and rank_retries >= 0")

    def venv_path(self) -> str | None:
        """The activate script the sbatch script sources (datatrove's ``venv_path``: ``source <it>``)."""
        venv = self.slurm_venv_path or (sys.prefix if sys.prefix != sys.base_prefix else "")
        if not venv:
            return None
        return str(Path(venv) / "bin" / "activate") if Path(venv).is_dir() else venv


LOCAL = ExecutorOptions()


class _InProcessManager:
    """What datatrove's sequential path (``workers == 1``) uses of ``multiprocess.Manager()``: a queue of free
    local ranks. In this process: no helper process is forked."""

    def Queue(self):
        return queue.Queue()

    def shutdown(self) -> None:
        pass


@contextlib.contextmanager
def _in_process_manager():
    """``multiprocess.Manager()`` as datatrove's sequential path calls it: an in-process stand-in, for the run."""
    import multiprocess

    original = multiprocess.Manager
    multiprocess.Manager = _InProcessManager
    try:
        yield
    finally:
        multiprocess.Manager = original


def build_executor(
    pipeline: list,
    logging_dir: str | Path,
    tasks: int = 1,
    workers: int = 1,
    options: ExecutorOptions = LOCAL,
) -> PipelineExecutor:
    """The datatrove executor ``options`` names for ``pipeline`` (nothing is started or submitted yet)."""
    if options.kind == "local":
        return LocalPipelineExecutor(
            pipeline=pipeline,
            tasks=tasks,
            workers=max(1, min(workers, tasks)),
            logging_dir=str(logging_dir),
            skip_completed=False,
        )
    limit = min(workers, tasks) if workers > 0 else -1
    if options.kind == "ray":
        from datatrove.executor import RayPipelineExecutor

        return RayPipelineExecutor(
            pipeline=pipeline,
            tasks=tasks,
            workers=limit,
            logging_dir=str(logging_dir),
            skip_completed=False,
            cpus_per_task=options.cpus_per_task,
            mem_per_cpu_gb=options.mem_per_cpu_gb,
        )
    from datatrove.executor import SlurmPipelineExecutor

    return SlurmPipelineExecutor(
        pipeline=pipeline,
        tasks=tasks,
        workers=limit,
        time=options.slurm_time,
        partition=options.slurm_partition,
        cpus_per_task=options.cpus_per_task,
        mem_per_cpu_gb=math.ceil(options.mem_per_cpu_gb),  # sbatch --mem-per-cpu takes whole gigabytes here
        job_name=options.slurm_job_name,
        qos=options.slurm_qos,
        venv_path=options.venv_path(),
        sbatch_args=dict(options.slurm_sbatch_args),
        logging_dir=str(logging_dir),
        skip_completed=False,
        slurm_logs_folder=str(Path(logging_dir) / "slurm_logs"),
    )


def run_pipeline(
    pipeline: list,
    logging_dir: str | Path,
    tasks: int = 1,
    workers: int = 1,
    options: ExecutorOptions = LOCAL,
):
    """Run ``pipeline`` on ``tasks`` datatrove tasks with the executor ``options`` names; returns datatrove's
    merged ``PipelineStats``. Returns only when every task has finished; raises if any failed (locally with
    ``workers > 1``: ``RankFailed`` when a rank raised, or its process died or hung past ``rank_timeout_s``
    more than ``rank_retries`` times; never a silent wait)."""
    executor = build_executor(pipeline, logging_dir, tasks, workers, options)
    if options.kind == "ray":
        _ensure_ray(options.ray_address)
        executor.run()
        return _finished_stats(executor, logging_dir, "ray")
    if options.kind == "slurm":
        executor.run()  # sbatch: returns once the job array is queued
        _wait_for_slurm(executor, options)
        return _finished_stats(executor, logging_dir, "slurm")
    if executor.workers == 1:
        with _in_process_manager():
            return executor.run()
    executor.save_executor_as_json()  # as LocalPipelineExecutor.run does
    run_ranks(
        executor,
        list(range(executor.world_size)),
        executor.workers,
        timeout_s=options.rank_timeout_s,
        retries=options.rank_retries,
    )
    stats = _finished_stats(executor, logging_dir, "local")
    with executor.logging_dir.open("stats.json", "wt") as statsfile:
        stats.save_to_disk(statsfile)
    logger.success(stats.get_repr(f"All {executor.world_size} tasks"))
    return stats


def _ensure_ray(address: str) -> None:
    """Connect this process to Ray (a local cluster when no address is given and none is running)."""
    try:
        import ray
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise RuntimeError("the ray executor needs the ray package: pip install 'ray==2.*'") from exc
    if not ray.is_initialized():
        ray.init(
            address=address or None,
            include_dashboard=False,
            ignore_reinit_error=True,
            logging_level="WARNING",
            log_to_driver=False,
        )


def _finished_stats(executor: PipelineExecutor, logging_dir: str | Path, kind: str):
    """The merged stats of a finished distributed run; raises naming the tasks without a completion marker."""
    from datatrove.utils.stats import PipelineStats

    missing = executor.get_incomplete_ranks(skip_completed=True)
    if missing:
        raise RuntimeError(
            f"{kind} executor: {len(missing)} of {executor.world_size} datatrove tasks did not "
            f"complete (ranks {missing[:10]}); task logs under {logging_dir}"
        )
    stats = PipelineStats()
    for rank in range(executor.world_size):
        path = Path(logging_dir) / "stats" / f"{rank:05d}.json"
        if path.is_file():
            stats += PipelineStats.from_json(json.loads(path.read_text()))
    return stats


def _slurm_job_queued(job_id: str) -> bool:
    """True while ``squeue`` still lists the job (any array element). An ``squeue`` that cannot answer (not
    found, timed out, controller unreachable) counts as queued: the wait goes on (``slurm_timeout_s`` bounds it)."""
    try:
        out = subprocess.run(
            ["squeue", "-h", "-j", str(job_id), "-o", "%i"], capture_output=True, text=True, timeout=60
        )
    except (OSError, subprocess.TimeoutExpired):
        return True
    if out.returncode != 0:  # a job that has aged out of the controller: "Invalid job id specified"
        return "invalid job id" not in (out.stderr or "").lower()
    return bool(out.stdout.strip())


def _wait_for_slurm(executor: PipelineExecutor, options: ExecutorOptions) -> None:
    """Wait until every task of the submitted job array has its completion marker."""
    deadline = time.monotonic() + options.slurm_timeout_s if options.slurm_timeout_s > 0 else None
    job_id = getattr(executor, "job_id", None)
    while executor.get_incomplete_ranks(skip_completed=True):
        if job_id in (None, -1) or not _slurm_job_queued(job_id):
            return  # left the queue (tasks failed, or finished meanwhile): _finished_stats tells which
        if deadline is not None and time.monotonic() > deadline:
            raise TimeoutError(f"slurm job {job_id}: tasks still incomplete after {options.slurm_timeout_s:.0f} s")
        time.sleep(options.slurm_poll_s)


def make_run_dir(work_dir: str | Path, prefix: str) -> Path:
    """A fresh private folder under ``work_dir`` for one call (never shared between calls)."""
    Path(work_dir).mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=prefix, dir=work_dir))


def cleanup(path: Path, keep: bool) -> None:
    if not keep:
        shutil.rmtree(path, ignore_errors=True)


def iter_jsonl_folder(folder: str | Path) -> Iterator[dict[str, Any]]:
    """Rows of every ``*.jsonl`` file under ``folder``, files in name order (= task rank order)."""
    folder = Path(folder)
    if not folder.is_dir():
        return
    for p in sorted(folder.rglob("*.jsonl")):
        with open(p, "rb") as fh:
            for line in fh:
                if line.strip():
                    yield orjson.loads(line)


def id_only_adapter(self, document) -> dict:
    """JsonlWriter adapter that writes the id and metadata only (no text)."""
    return {"id": document.id, "metadata": document.metadata}
