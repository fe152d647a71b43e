"""A watchdog for datatrove's local worker pool: a worker that dies must fail the run, not hang it.

``LocalPipelineExecutor`` with ``workers > 1`` runs its tasks through ``multiprocess.Pool.imap_unordered``.
When a pool worker dies (the kernel's OOM killer, a segfault in a native library, ``kill -9``), the pool
starts a replacement, but the task the dead worker held is lost and the wait for its result never returns.

:func:`dead_worker_watchdog` watches the children of this process while the run is in progress. A child that
has exited with a non-zero code while the executor still has unfinished tasks (no completion marker), and
that is still so ``grace_s`` later (an ordinary failure, where the pool is terminated on purpose, ends the
run well within that time), interrupts the waiting main thread with a real signal (``SIGUSR1`` sent to that
thread: a lock wait is only woken by one, ``_thread.interrupt_main`` is not enough); the run then raises
:class:`PoolWorkerDied` naming the process, its exit code and the unfinished ranks. Children are looked at
every ``poll_s`` while alive (the pool reaps a dead worker within 0.1 s, so the watchdog keeps its own
handle on each worker it has seen). Signal handlers can only be set from the main thread: called from
another thread, the run goes on without the watchdog.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from typing import Iterator


class PoolWorkerDied(RuntimeError):
    """A process of the local datatrove pool exited abnormally while tasks were unfinished."""


class _Interrupted(BaseException):
    """Raised in the main thread by the watchdog's signal (a BaseException: no ``except Exception`` eats it)."""


def _interrupt(signum, frame):
    raise _Interrupted()


def _children() -> list:
    import multiprocess

    return list(multiprocess.active_children())


@contextlib.contextmanager
def dead_worker_watchdog(executor, poll_s: float = 0.2, grace_s: float = 5.0) -> Iterator[None]:
    """Run the body (``executor.run()``) under the watchdog; raises :class:`PoolWorkerDied` on a lost task."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    main_ident = threading.main_thread().ident
    previous = signal.signal(signal.SIGUSR1, _interrupt)
    stop = threading.Event()
    lock = threading.Lock()  # the main thread leaving the run and the watchdog interrupting it exclude each other
    found: list[str] = []

    def watch() -> None:
        seen: dict[int, object] = {}
        dead_since: float | None = None
        while not stop.wait(poll_s):
            for p in _children():
                seen.setdefault(p.pid, p)
            dead = [p for p in seen.values() if p.exitcode not in (None, 0)]
            if not dead:
                dead_since = None
                continue
            dead_since = dead_since or time.monotonic()
            if time.monotonic() - dead_since < grace_s:
                continue
            incomplete = executor.get_incomplete_ranks(skip_completed=True)
            with lock:
                if stop.is_set():
                    return
                if incomplete:
                    p = dead[0]
                    found.append(f"datatrove pool worker {p.name} (pid {p.pid}) exited with code {p.exitcode} "
                                 f"while {len(incomplete)} of {executor.world_size} tasks were unfinished (ranks "
                                 f"{list(incomplete)[:10]}); its task is lost and the pool would wait forever")
                    signal.pthread_kill(main_ident, signal.SIGUSR1)
                    return

    thread = threading.Thread(target=watch, name="datatrove-pool-watchdog", daemon=True)
    thread.start()
    try:
        try:
            yield
        finally:
            with lock:
                stop.set()
    except _Interrupted:
        raise PoolWorkerDied(found[0] if found else "datatrove pool worker died") from None
    finally:
        signal.signal(signal.SIGUSR1, previous)
    thread.join()
