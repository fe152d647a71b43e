"""A datatrove pool worker that dies mid-run (kill -9, as the OOM killer does) fails or retries the run
instead of hanging it: ``run_pipeline`` with 2 workers on 2 tasks, where a pipeline step kills its own pool
worker on rank 0. Run in a child process (a script, like a user's), with a timeout: before the watchdog, the
pool waited forever for the lost task.
"""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent

KILLER = '''
import os, signal, time

from datatrove.pipeline.base import PipelineStep


class KillRankZeroInPool(PipelineStep):
    """Passes documents through; in a pool worker (not the main process), rank 0 kills its own process."""

    name = "killer"

    def run(self, data, rank=0, world_size=1):
        import multiprocess

        if rank == 0 and multiprocess.current_process().name != "MainProcess":
            time.sleep(1.0)
            os.kill(os.getpid(), signal.SIGKILL)
        for doc in data:
            yield doc
'''


def run_script(tmp_path: Path, mode: str) -> tuple[str, list[dict]]:
    inp, out = tmp_path / "in", tmp_path / f"out-{mode}"
    inp.mkdir(exist_ok=True)
    for f in range(2):
        (inp / f"part{f}.jsonl").write_text(
            "".join(json.dumps({"id": f"{f}-{i}", "text": f"document {i} of file {f}"}) + "\n" for i in range(3)))
    (tmp_path / "killer.py").write_text(KILLER)
    script = tmp_path / f"caller_{mode}.py"
    script.write_text(textwrap.dedent(f"""
        import sys
        sys.path[:0] = [{str(REPO)!r}, {str(tmp_path)!r}]
        from datatrove.pipeline.readers import JsonlReader
        from datatrove.pipeline.writers import JsonlWriter
        from killer import KillRankZeroInPool
        from citrus_assets.cpt_corpus.pool_watchdog import PoolWorkerDied
        from citrus_assets.cpt_corpus.web_exec import run_pipeline

        pipeline = [JsonlReader({str(inp)!r}), KillRankZeroInPool(), JsonlWriter({str(out)!r}, compression=None)]
        try:
            run_pipeline(pipeline, {str(tmp_path / f"logs-{mode}")!r}, tasks=2, workers=2,
                         retry_sequential={mode == "retry"})
            print("RESULT ok")
        except PoolWorkerDied as exc:
            print("RESULT died:", exc)
    """))
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = [l for l in proc.stdout.splitlines() if l.startswith("RESULT")]
    docs = [json.loads(l) for f in sorted(out.glob("*.jsonl")) for l in f.read_text().splitlines()] if out.is_dir() else []
    return (result[0] if result else "") + "\n" + proc.stderr[-4000:], docs


def test_a_dead_pool_worker_fails_the_run_instead_of_hanging_it(tmp_path):
    text, _ = run_script(tmp_path, "raise")
    assert text.startswith("RESULT died:"), text
    first = text.splitlines()[0]
    assert "exited with code -9" in first and "unfinished" in first and "ranks [0]" in first


def test_after_a_dead_worker_the_tasks_run_again_in_process(tmp_path):
    text, docs = run_script(tmp_path, "retry")
    assert text.startswith("RESULT ok"), text
    assert "running the 2 tasks again one after another" in text
    assert sorted(d["id"] for d in docs) == sorted(f"{f}-{i}" for f in range(2) for i in range(3))


def test_the_forkserver_forks_workers_from_a_single_thread(tmp_path):
    """pyarrow's jemalloc background thread is off in the forkserver (a fork from a two-threaded process can
    leave a worker waiting forever on a lock held by the thread that did not come along)."""
    script = tmp_path / "threads.py"
    script.write_text(textwrap.dedent(f"""
        import os, sys, time
        sys.path.insert(0, {str(REPO)!r})
        import pyarrow  # the caller has its own jemalloc thread, as any user of the lake has
        import multiprocess
        import multiprocess.forkserver as fs
        from citrus_assets.cpt_corpus.web_exec import _children_skip_main, _forkserver_preload

        _forkserver_preload()
        with _children_skip_main(), multiprocess.get_context("forkserver").Pool(2) as pool:
            assert pool.map(abs, [-1, -2]) == [1, 2]
            time.sleep(0.5)
            print("FORKSERVER", len(os.listdir(f"/proc/{{fs._forkserver._forkserver_pid}}/task")))
            print("CALLER", len(os.listdir("/proc/self/task")))
    """))
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=240, cwd=tmp_path,
                          env={k: v for k, v in os.environ.items() if k != "JE_ARROW_MALLOC_CONF"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    counts = dict(l.split() for l in proc.stdout.splitlines() if l.split()[0] in ("FORKSERVER", "CALLER"))
    assert int(counts["FORKSERVER"]) == 1, counts
    assert int(counts["CALLER"]) > 1  # the pool's own threads (and jemalloc's) in the caller: fork is not used there


def test_jemalloc_setting_keeps_a_users_options(monkeypatch):
    from citrus_assets.cpt_corpus.web_exec import JEMALLOC_CONF_VAR, _single_threaded_forkserver_env

    monkeypatch.setenv(JEMALLOC_CONF_VAR, "narenas:2")
    _single_threaded_forkserver_env()
    assert os.environ[JEMALLOC_CONF_VAR] == "narenas:2,background_thread:false"
    monkeypatch.setenv(JEMALLOC_CONF_VAR, "background_thread:true")  # the user's explicit choice stands
    _single_threaded_forkserver_env()
    assert os.environ[JEMALLOC_CONF_VAR] == "background_thread:true"
