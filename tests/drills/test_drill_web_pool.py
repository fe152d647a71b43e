"""Drill (issue 14 item 16): the web stage's local worker pool cannot hang silently.

1. The fork-hang trigger, repeated. ``REPS`` times (``$CITRUS_DRILL_WEB_POOL_REPS``, default 10), a fresh Python
   process runs a script with no ``if __name__ == "__main__"`` guard that first starts threads holding locks the
   way a Dagster step process or pytest does: one holds a module lock that a pipeline step needs (held ~always),
   one holds stdlib ``logging``'s module lock in a loop, one logs through loguru (datatrove's logger), one writes to
   stderr, one allocates Arrow buffers (jemalloc). Then it runs the web stage's cross-shard dedup
   (``dedup_source``, ``workers=2``, ``dedup_tasks=2``: five datatrove pipelines on 2 workers) and a 2-worker
   ``run_pipeline`` whose step takes the module lock for every document. A run that has not finished after
   ``HANG_S`` counts as a hang. Figure: ``hangs: h/N, max wall s``; the drill requires 0 hangs, the top-level code
   run once per script, and the dedup result of the in-process path (``workers=1``).
   Control (once): the same lock-taking step through datatrove's own pool forked from such a process
   (``LocalPipelineExecutor(workers=2, start_method="fork")``) hangs: the trigger in the drill is real.
2. A rank made to hang (a step that sleeps on rank 0) under ``rank_timeout_s=5``: its process is killed at the
   deadline, run once more, killed again, and the run fails with ``RankFailed`` naming the rank; the error
   carries the stack dump with the sleeping frame. The error text is kept as an artifact in
   ``$CITRUS_TEST_ARTIFACTS/web_pool`` (else the test's tmp_path). Figure: seconds to the error, attempts.
"""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[2]
REPS = int(os.environ.get("CITRUS_DRILL_WEB_POOL_REPS", "10"))
HANG_S = 240.0  # a script still running after this long is counted as hung (a normal run takes seconds)

LOCK_STEPS = """
import os, threading, time

from datatrove.pipeline.base import PipelineStep

LOCK = threading.Lock()  # the caller's thread holds it; a forked child inherits it locked, forever


class NeedsTheLock(PipelineStep):
    name = "needs the lock"

    def run(self, data, rank=0, world_size=1):
        for doc in data:
            with LOCK:
                pass
            yield doc


class SleepOnRankZero(PipelineStep):
    name = "sleeps on rank 0"

    def run(self, data, rank=0, world_size=1):
        if rank == 0:
            time.sleep(3600)
        for doc in data:
            yield doc
"""

# started first by every script: threads holding locks while the pool starts its processes (each sleeps a
# little between rounds: they take locks often without eating the machine's CPU)
LOCK_HOLDERS = """
import logging, sys, threading, time
import pyarrow as pa
from datatrove.utils.logging import logger as loguru_logger
from drill_lock_steps import LOCK

LOCK.acquire()  # held by a thread from now on (released only at exit): a fork copies it locked
stop = threading.Event()

def hold_module_lock():
    stop.wait()

def hold_logging_lock():
    while not stop.is_set():
        logging._acquireLock()
        time.sleep(0.005)
        logging._releaseLock()

def spam_loguru():
    while not stop.is_set():
        loguru_logger.info("drill: lock holder")
        time.sleep(0.02)

def spam_stderr():
    while not stop.is_set():
        sys.stderr.write(".")
        sys.stderr.flush()
        time.sleep(0.002)

def allocate():
    while not stop.is_set():
        pa.array(range(20_000)).buffers()
        time.sleep(0.002)

for fn in (hold_module_lock, hold_logging_lock, spam_loguru, spam_stderr, allocate):
    threading.Thread(target=fn, daemon=True).start()
"""


def write_script(tmp_path: Path, name: str, body: str) -> Path:
    (tmp_path / "drill_lock_steps.py").write_text(LOCK_STEPS)
    script = tmp_path / name
    script.write_text(
        f"import sys\nsys.path[:0] = [{str(REPO)!r}, {str(tmp_path)!r}]\n" + LOCK_HOLDERS + textwrap.dedent(body)
    )
    return script


def run_script(script: Path, timeout: float) -> tuple[str, float, bool]:
    """(stdout, wall s, hung); a hung script's process group is killed."""
    t0 = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, str(script)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=script.parent,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return "", time.monotonic() - t0, True
    assert proc.returncode == 0, err[-3000:]
    return out, time.monotonic() - t0, False


def shards(tmp_path: Path) -> list[Path]:
    from citrus_assets.cpt_corpus.web.curation import curate_shard
    from tests.support.web_synth import planted_corpus, write_jsonl

    docs = planted_corpus(n_distinct=6, n_near=2, n_exact=1, seed=11)
    paths = []
    for i, part in enumerate((docs[:5], docs[5:]), start=1):
        r = curate_shard(write_jsonl(tmp_path / f"p{i}.jsonl", part), f"mem://p{i}", tmp_path / "w")
        pq.write_table(r.documents, tmp_path / f"p{i}.parquet")
        paths.append(tmp_path / f"p{i}.parquet")
    return paths


def test_web_pool_does_not_hang_under_lock_holding_threads(tmp_path):
    from citrus_assets.cpt_corpus.web.config import WebCurationConfig
    from citrus_assets.cpt_corpus.web.dedup import dedup_source

    parts = shards(tmp_path)
    inp = tmp_path / "docs"
    inp.mkdir()
    for f in range(2):
        (inp / f"part{f}.jsonl").write_text(
            "".join(json.dumps({"id": f"{f}-{i}", "text": f"document {i} of file {f}"}) + "\n" for i in range(3))
        )
    expected = dedup_source([pq.read_table(p) for p in parts], tmp_path / "w1", WebCurationConfig(dedup_tasks=2))
    walls, hangs = [], 0
    for rep in range(REPS):
        marker, out_dir = tmp_path / f"marker-{rep}.txt", tmp_path / f"out-{rep}"
        script = write_script(
            tmp_path,
            f"caller_{rep}.py",
            f"""
            with open({str(marker)!r}, "a") as fh:
                fh.write("x")
            import json
            import pyarrow.parquet as pq
            from datatrove.pipeline.readers import JsonlReader
            from datatrove.pipeline.writers import JsonlWriter
            from drill_lock_steps import NeedsTheLock
            from citrus_assets.cpt_corpus.web.config import WebCurationConfig
            from citrus_assets.cpt_corpus.web.dedup import dedup_source
            from citrus_assets.cpt_corpus.web.pipelines import run_pipeline

            res = dedup_source([pq.read_table(p) for p in {[str(p) for p in parts]!r}], {str(tmp_path / f"w-{rep}")!r},
                               WebCurationConfig(workers=2, dedup_tasks=2))
            pq.write_table(res.kept, {str(out_dir) + "-kept.parquet"!r})
            pq.write_table(res.duplicates, {str(out_dir) + "-dups.parquet"!r})
            run_pipeline([JsonlReader({str(inp)!r}), NeedsTheLock(), JsonlWriter({str(out_dir)!r}, compression=None)],
                         {str(tmp_path / f"logs-{rep}")!r}, tasks=2, workers=2)
            print("DONE", json.dumps(res.stats))
        """,
        )
        out, wall, hung = run_script(script, HANG_S)
        walls.append(wall)
        hangs += hung
        if hung:
            continue
        assert marker.read_text() == "x"  # the caller's top-level code ran once: no process re-imported it
        assert pq.read_table(str(out_dir) + "-kept.parquet").equals(expected.kept)
        assert pq.read_table(str(out_dir) + "-dups.parquet").equals(expected.duplicates)
        assert sorted(
            json.loads(line)["id"] for f in sorted(out_dir.glob("*.jsonl")) for line in f.read_text().splitlines()
        ) == sorted(f"{f}-{i}" for f in range(2) for i in range(3))

    # control: datatrove's own pool, forked from a process whose thread holds the step's lock
    control = write_script(
        tmp_path,
        "control.py",
        f"""
        from datatrove.executor import LocalPipelineExecutor
        from datatrove.pipeline.readers import JsonlReader
        from datatrove.pipeline.writers import JsonlWriter
        from drill_lock_steps import NeedsTheLock

        LocalPipelineExecutor([JsonlReader({str(inp)!r}), NeedsTheLock(),
                               JsonlWriter({str(tmp_path / "out-control")!r}, compression=None)],
                              tasks=2, workers=2, start_method="fork", logging_dir={str(tmp_path / "logs-c")!r},
                              skip_completed=False).run()
        print("DONE")
    """,
    )
    _, control_wall, control_hung = run_script(control, 30.0)
    print(
        f"\nDRILL web pool: 2 workers from a script without a main guard, 5 lock-holding threads, web dedup + a "
        f"lock-taking step: hangs: {hangs}/{REPS}, max wall {max(walls):.1f} s (median "
        f"{sorted(walls)[len(walls) // 2]:.1f} s); control (datatrove's fork pool, same threads): "
        f"{'hung' if control_hung else 'finished'} ({control_wall:.1f} s)"
    )
    assert hangs == 0
    assert control_hung  # the trigger is real: a forked pool waits forever on the inherited lock


def test_a_hung_rank_is_killed_at_its_deadline_and_reported(tmp_path):
    inp = tmp_path / "docs"
    inp.mkdir()
    for f in range(2):
        (inp / f"part{f}.jsonl").write_text(json.dumps({"id": f"{f}", "text": f"document of file {f}"}) + "\n")
    error_file = tmp_path / "error.txt"
    script = write_script(
        tmp_path,
        "hang.py",
        f"""
        import time
        from datatrove.pipeline.readers import JsonlReader
        from datatrove.pipeline.writers import JsonlWriter
        from drill_lock_steps import SleepOnRankZero
        from citrus_assets.cpt_corpus.web.pool_watchdog import RankFailed
        from citrus_assets.cpt_corpus.web.pipelines import ExecutorOptions, run_pipeline

        t0 = time.monotonic()
        try:
            run_pipeline([JsonlReader({str(inp)!r}), SleepOnRankZero(),
                          JsonlWriter({str(tmp_path / "out")!r}, compression=None)], {str(tmp_path / "logs")!r},
                         tasks=2, workers=2, options=ExecutorOptions(rank_timeout_s=5, rank_retries=1))
            print("RESULT finished")
        except RankFailed as exc:
            open({str(error_file)!r}, "w").write(str(exc))
            print(f"RESULT RankFailed rank={{exc.rank}} after {{time.monotonic() - t0:.1f}}")
    """,
    )
    out, wall, hung = run_script(script, HANG_S)
    assert not hung
    result = [line for line in out.splitlines() if line.startswith("RESULT")][0]
    error = error_file.read_text()
    artifacts = Path(os.environ.get("CITRUS_TEST_ARTIFACTS") or tmp_path) / "web_pool"
    artifacts.mkdir(parents=True, exist_ok=True)
    (artifacts / "drill_hung_rank_error.txt").write_text(error)
    dumps = sorted((tmp_path / "logs" / "stacks").glob("*.txt"))
    with_frame = [p for p in dumps if "drill_lock_steps.py" in p.read_text()]
    for p in dumps:
        (artifacts / f"drill_hung_rank_{p.name}").write_text(p.read_text())
    print(
        f"\nDRILL web pool, hung rank: {result.removeprefix('RESULT ')} s (deadline 5 s, 1 retry); "
        f"stack dumps naming the sleeping frame: {len(with_frame)}/2 attempts; artifact "
        f"{artifacts / 'drill_hung_rank_error.txt'}"
    )
    assert result.startswith("RESULT RankFailed rank=0")
    assert "datatrove rank 0 of 2 failed" in error and "after the 5 s deadline and was killed, 2 time(s)" in error
    assert "drill_lock_steps.py" in error and "in run" in error  # the dump shows where it hangs
    assert len(with_frame) == 2
