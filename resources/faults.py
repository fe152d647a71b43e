"""Named fault-injection points, for the crash drills (``tests/drills/``).

Code calls ``fault_point("<name>", asset=...)`` at each step of a multi-step write. Nothing happens unless the
environment variable ``CITRUS_FAULT`` names that point (``<name>``, or ``<name>@<asset>`` to hit only that
asset's write); then the process SIGKILLs itself right there: no ``finally`` block, no ``atexit`` handler, no
flush runs, exactly as with a ``kill -9`` from outside, but at a known step instead of at a moment chosen by
timing. ``POINTS`` lists every point, in the order a partition write reaches them.
"""

from __future__ import annotations

import os
import signal

FAULT_ENV = "CITRUS_FAULT"

# The commit protocol of a partition write (resources/lineage/commit.py), in order.
POINTS = (
    "lake.staged",  # the data file is staged under its hidden name; no lineage yet
    "lineage.rows",  # the record_lineage file is in place; no commit row
    "lineage.commit_tmp",  # the commit row is written under its temporary name, not renamed yet
    "lineage.committed",  # the commit row is in place (the partition version is committed); data not published
    "lake.published",  # data.parquet is in place; the step has not reported its materialization
)


def fault_point(name: str, *, asset: str | None = None) -> None:
    """SIGKILL this process when ``$CITRUS_FAULT`` is ``name`` or ``name@asset``; otherwise do nothing."""
    wanted = os.environ.get(FAULT_ENV)
    if not wanted:
        return
    if name not in POINTS:
        raise ValueError(f"unknown fault point {name!r} (resources.faults.POINTS)")
    point, _, only = wanted.partition("@")
    if point == name and (not only or only == asset):
        os.kill(os.getpid(), signal.SIGKILL)
