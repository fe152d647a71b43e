"""Deployment tests and the support package of the PostgreSQL instance drill
(``tests/drills/test_drill_postgres_instance.py``): ``pg_server.py`` (a throw-away PostgreSQL server and the
``postgres_server`` fixture), ``instance_trial.py`` (one trial of concurrent runs + a backfill + the daemon) and
``concurrency_defs.py`` (its tiny code location), also used by ``benchmarks/instance_concurrency.py``. This
conftest makes them importable (the project runs pytest with ``--import-mode=importlib``)."""

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)
