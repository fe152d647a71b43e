"""The web stage's local worker pool: fresh ``python -m`` processes fed one datatrove rank at a time, each rank
under a deadline, so that a rank that hangs or dies fails loudly instead of hanging the run.

Why not ``multiprocess.Pool`` (what ``LocalPipelineExecutor`` uses with ``workers > 1``): its workers and its
``Manager`` process are forked (or forkserver-forked) from a process that another program started (a Dagster
step, pytest, a user's script). A fork copies the parent's memory but only the forking thread: a lock that
another thread held at that moment (logging, an allocator, an import lock) stays locked forever in the child.
The 2-worker pool hung that way in fresh-clone suite runs, silently (issue 14 item 16).

:func:`run_ranks` starts ``workers`` processes with ``subprocess.Popen([python, "-m", this module, spec])``:
nothing is forked from the caller, no multiprocessing start method is involved, no thread or lock is inherited,
and the caller's ``__main__`` (a script without an ``if __name__ == "__main__"`` guard) is never re-imported
(the executor is pickled with dill, which stores classes of ``__main__`` by value). Each process loads the
executor once (``ready``), then runs the ranks the parent sends on its stdin with datatrove's own
``PipelineExecutor._run_for_rank`` (logs, ``stats/<rank>.json``, completion marker: exactly what a pool task
does) on a fresh copy of the pipeline, and answers ``done <rank>`` or ``failed <rank>`` on a private pipe.

Deadline: a process running a rank for more than ``timeout_s`` (or starting for more than
``max(timeout_s, START_TIMEOUT_S)``) is stuck. Its Python
stacks (every thread) are dumped by ``faulthandler`` (on ``SIGUSR1``) and, when ``py-spy`` is on the PATH, by
``py-spy dump`` (native frames too) into ``<logging_dir>/stacks/``; its process group is killed. A rank whose
process died (OOM killer, segfault, ``kill -9``) or was stuck runs again in a fresh process, ``retries`` times;
then :class:`RankFailed` is raised naming the rank, what happened, and the stack dump. A rank that raises a
Python exception fails the run at once (no retry: it would fail again) with the child's traceback.
"""

from __future__ import annotations

import faulthandler
import os
import selectors
import shutil
import signal
import subprocess
import sys
import time
from copy import deepcopy
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

MODULE = "citrus_assets.cpt_corpus.web.pool_watchdog"
EXIT_RANK_ERROR = 3  # a rank raised: the child reports it and exits with this code
DUMP_CHARS = 20_000  # at most this much of a stack dump goes into the error message
START_TIMEOUT_S = 300.0  # deadline of a process's start (imports, loading the executor) when timeout_s is shorter


class RankFailed(RuntimeError):
    """A datatrove rank of the local pool did not finish: it raised, its process died, or it hung."""

    def __init__(self, message: str, rank: int | None = None, stack_dump: str = ""):
        super().__init__(message)
        self.rank = rank
        self.stack_dump = stack_dump


PoolWorkerDied = RankFailed  # the name of the earlier pool watchdog's error


@dataclass
class _Worker:
    slot: int
    attempt: int
    proc: subprocess.Popen
    out: IO[bytes]
    stderr_path: Path
    stack_path: Path
    since: float
    rank: int | None = None
    ready: bool = False
    buf: bytes = b""
    lines: list[str] = field(default_factory=list)


def _child_env() -> dict[str, str]:
    """This process's environment, with its ``sys.path`` as ``PYTHONPATH`` (the child imports what it does)."""
    paths = [p or os.getcwd() for p in sys.path]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(p for p in paths if os.path.isdir(p)))
    env["PYTHONFAULTHANDLER"] = "1"  # a fatal signal (segfault) in the child prints its stacks to its stderr
    return env


def _tail(path: Path, chars: int = 4000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return ""


def _dump_stacks(w: _Worker) -> str:
    """The stuck child's stacks: faulthandler (all Python threads), then py-spy when installed."""
    with open(w.stack_path, "ab"):
        pass
    try:
        os.kill(w.proc.pid, signal.SIGUSR1)
    except ProcessLookupError:
        pass
    end = time.monotonic() + 3.0
    while time.monotonic() < end and w.stack_path.stat().st_size == 0 and w.proc.poll() is None:
        time.sleep(0.05)
    time.sleep(0.2)  # let faulthandler finish writing every thread
    pyspy = shutil.which("py-spy")
    if pyspy and w.proc.poll() is None:
        try:
            out = subprocess.run([pyspy, "dump", "--pid", str(w.proc.pid)], capture_output=True, text=True, timeout=30)
            with open(w.stack_path, "a") as fh:
                fh.write(f"\n--- py-spy dump (exit {out.returncode}) ---\n{out.stdout}{out.stderr}")
        except (OSError, subprocess.TimeoutExpired) as exc:
            with open(w.stack_path, "a") as fh:
                fh.write(f"\n--- py-spy dump failed: {exc} ---\n")
    return _tail(w.stack_path, DUMP_CHARS)


def _kill(w: _Worker) -> None:
    """SIGKILL the child and everything it started (its own process group)."""
    try:
        os.killpg(w.proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        w.proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass


def run_ranks(
    executor: Any, ranks: list[int], workers: int, timeout_s: float = 3600.0, retries: int = 1, poll_s: float = 0.1
) -> None:
    """Run ``ranks`` of the datatrove ``executor`` in ``workers`` fresh processes (see the module docstring).
    Returns when every rank has finished; raises :class:`RankFailed` otherwise (every child is killed first)."""
    import dill
    from datatrove.utils.logging import logger

    base = Path(executor.logging_dir.path) if hasattr(executor.logging_dir, "path") else Path(executor.logging_dir)
    work = base / "ranks"
    stacks = base / "stacks"
    work.mkdir(parents=True, exist_ok=True)
    stacks.mkdir(parents=True, exist_ok=True)
    spec = work / "executor.pik"
    with open(spec, "wb") as fh:
        dill.dump(executor, fh)
    env = _child_env()
    pending = list(ranks)
    tries: dict[int, int] = {r: 0 for r in ranks}
    starts = 0
    start_failures: list[str] = []
    sel = selectors.DefaultSelector()
    live: dict[int, _Worker] = {}

    def start(slot: int) -> None:
        nonlocal starts
        starts += 1
        stderr_path = work / f"worker{slot}-{starts}.stderr"
        r_fd, w_fd = os.pipe()
        with open(stderr_path, "wb") as err:
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    MODULE,
                    str(spec),
                    str(slot),
                    str(w_fd),
                    str(stacks / f"worker{slot}-{starts}.txt"),
                ],
                stdin=subprocess.PIPE,
                stdout=err,
                stderr=err,
                env=env,
                pass_fds=(w_fd,),
                start_new_session=True,
                close_fds=True,
            )
        os.close(w_fd)
        os.set_blocking(r_fd, False)  # a grandchild holding the write end must not block the reads
        out = os.fdopen(r_fd, "rb", buffering=0)
        w = _Worker(slot, starts, proc, out, stderr_path, stacks / f"worker{slot}-{starts}.txt", time.monotonic())
        live[slot] = w
        sel.register(out, selectors.EVENT_READ, w)

    def stop(w: _Worker, graceful: bool = False) -> None:
        if w.proc.stdin:
            try:
                w.proc.stdin.close()  # an idle child reads end-of-file and exits
            except OSError:
                pass
        if graceful:
            try:
                w.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        _kill(w)
        sel.unregister(w.out)
        w.out.close()
        live.pop(w.slot, None)

    def read(w: _Worker, block: bool = False) -> None:
        """Collect the child's answers (all of them, up to end-of-file, when ``block``: it has exited)."""
        while True:
            chunk = w.out.read(4096)
            if chunk:
                w.buf += chunk
                *done, w.buf = w.buf.split(b"\n")
                w.lines.extend(x.decode() for x in done)
            if not block or not chunk:  # None: nothing more now; b"": end-of-file
                return

    def lost(w: _Worker, what: str, dump: str = "") -> None:
        """The worker's process is gone or stuck: its rank goes back to the queue, or the run fails."""
        rank = w.rank
        stop(w)
        if rank is None:  # died or hung while starting (an import error would every time)
            start_failures.append(what)
            if len(start_failures) > retries:
                raise RankFailed(
                    f"datatrove rank worker {what} before taking a rank; stderr:\n"
                    f"{_tail(w.stderr_path)}" + (f"\nstack dump:\n{dump}" if dump else ""),
                    None,
                    dump,
                )
            return
        tries[rank] += 1
        if tries[rank] > retries:
            raise RankFailed(
                f"datatrove rank {rank} of {executor.world_size} failed: its process (pid {w.proc.pid}) {what}, "
                f"{tries[rank]} time(s) ({retries} retries allowed); stderr tail (logs and stacks under {base}):\n"
                f"{_tail(w.stderr_path, 2000)}" + (f"\nstack dump:\n{dump}" if dump else ""),
                rank,
                dump,
            )
        logger.warning(f"datatrove rank {rank}: its process {what}; running it again in a fresh process")
        pending.insert(0, rank)

    def answers(w: _Worker) -> None:
        for line in w.lines:
            kind, _, arg = line.partition(" ")
            if kind == "ready":
                w.ready, w.since = True, time.monotonic()
            elif kind == "done":
                w.rank, w.since = None, time.monotonic()
            elif kind == "failed":
                try:
                    w.proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    pass
                raise RankFailed(
                    f"datatrove rank {arg} of {executor.world_size} raised; its traceback:\n{_tail(w.stderr_path)}",
                    int(arg),
                )
        w.lines.clear()

    try:
        for slot in range(min(workers, len(pending))):
            start(slot)
        while pending or any(w.rank is not None for w in live.values()):
            for key, _ in sel.select(poll_s):
                read(key.data)
            for w in list(live.values()):
                answers(w)
                if w.proc.poll() is not None:  # exited: take its last answers ("failed"), then it is lost
                    read(w, block=True)
                    answers(w)
                    lost(w, f"exited with code {w.proc.returncode}")
                elif (w.rank is not None or not w.ready) and time.monotonic() - w.since > (
                    timeout_s if w.ready else max(timeout_s, START_TIMEOUT_S)
                ):
                    dump = _dump_stacks(w)
                    what = "starting" if w.rank is None else f"running rank {w.rank}"
                    limit = timeout_s if w.ready else max(timeout_s, START_TIMEOUT_S)
                    lost(w, f"was still {what} after the {limit:g} s deadline and was killed", dump)
                elif w.ready and w.rank is None:
                    if pending:
                        w.rank, w.since = pending.pop(0), time.monotonic()
                        try:
                            w.proc.stdin.write(f"{w.rank}\n".encode())
                            w.proc.stdin.flush()
                        except BrokenPipeError:
                            pass  # it has exited: found on the next round
                    else:
                        stop(w, graceful=True)  # nothing left for it
            idle = sum(1 for w in live.values() if w.rank is None)
            for slot in range(workers):
                if slot not in live and len(pending) > idle:
                    start(slot)
                    idle += 1
    finally:
        for w in list(live.values()):
            stop(w)
        sel.close()


def _set_parent_death_signal() -> None:
    """Linux: the child is killed when its parent dies (a killed step leaves no rank running)."""
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass


def worker_main(argv: list[str]) -> int:
    """The child: load the executor, then run each rank read from stdin; answer on the pipe ``argv[2]``."""
    spec, slot, fd, stack_file = argv[0], int(argv[1]), int(argv[2]), argv[3]
    _set_parent_death_signal()
    stack = open(stack_file, "w")
    faulthandler.register(signal.SIGUSR1, file=stack, all_threads=True)
    answer = os.fdopen(fd, "w", buffering=1)
    import dill

    with open(spec, "rb") as fh:
        executor = dill.load(fh)
    pipeline = executor.pipeline
    answer.write("ready\n")
    for line in sys.stdin:
        rank = int(line)
        executor.pipeline = deepcopy(pipeline)  # a fresh pipeline per rank, as datatrove's own loop does
        try:
            executor._run_for_rank(rank, slot)
        except BaseException:
            import traceback

            traceback.print_exc()
            sys.stderr.flush()
            answer.write(f"failed {rank}\n")
            return EXIT_RANK_ERROR
        answer.write(f"done {rank}\n")
    return 0


if __name__ == "__main__":
    from citrus_assets.cpt_corpus.web.pool_watchdog import worker_main as _main

    sys.exit(_main(sys.argv[1:]))
