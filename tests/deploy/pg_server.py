"""A throw-away PostgreSQL server for tests and benchmarks: ``initdb`` into a temporary folder, ``postgres``
on 127.0.0.1 at a free port (TCP only, no Unix socket), one database with a password, stopped and removed
by :meth:`PostgresServer.stop`.

The binaries come from Debian's ``postgresql`` package (``.ci/run`` installs it): ``initdb`` on ``PATH`` or
under ``/usr/lib/postgresql/<version>/bin``. ``initdb`` refuses to run as root, so as root the cluster
belongs to the ``postgres`` system user that package creates (``runuser -u postgres``).
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path


class PostgresUnavailable(RuntimeError):
    """The PostgreSQL server binaries (or a non-root user to run them) are not on this machine."""


def find_bin_dir() -> Path:
    """The folder that holds ``initdb``, ``pg_ctl`` and ``postgres`` of the newest installed version."""
    on_path = shutil.which("initdb")
    candidates = [Path(os.path.realpath(on_path)).parent] if on_path else []
    candidates += [
        Path(p).parent
        for p in sorted(
            glob.glob("/usr/lib/postgresql/*/bin/initdb"),
            key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
            reverse=True,
        )
    ]
    for d in candidates:
        if all((d / b).is_file() for b in ("initdb", "pg_ctl", "postgres")):
            return d
    raise PostgresUnavailable(
        "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found on PATH or under "
        "/usr/lib/postgresql/*/bin: install Debian's `postgresql` package (.ci/run does)"
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    """One PostgreSQL cluster in a temporary folder. ``env()`` gives the ``DAGSTER_PG_*`` variables that
    ``deploy/dagster.*.yaml`` read."""

    user = "citrus"
    db = "dagster"

    def __init__(self, root: str | None = None):
        self.bin = find_bin_dir()
        self.as_user: str | None = None
        if os.geteuid() == 0:
            try:
                pwd.getpwnam("postgres")
            except KeyError as exc:
                raise PostgresUnavailable(
                    "running as root and there is no `postgres` user to own the cluster "
                    "(Debian's postgresql package creates it)"
                ) from exc
            if not shutil.which("runuser"):
                raise PostgresUnavailable("running as root without `runuser` to start PostgreSQL as `postgres`")
            self.as_user = "postgres"
        self.root = Path(tempfile.mkdtemp(prefix="citrus-pg-", dir=root))
        self.data = self.root / "data"
        self.port = free_port()
        self.password = secrets.token_hex(12)
        self.log = self.root / "postgres.log"
        self._started = False

    def _run(self, *args: str, input_text: str | None = None, timeout: float = 120) -> str:
        cmd = [str(self.bin / args[0]), *args[1:]]
        if self.as_user:
            cmd = ["runuser", "-u", self.as_user, "--", *cmd]
        done = subprocess.run(cmd, input=input_text, capture_output=True, text=True, timeout=timeout, cwd=self.root)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(args[:2])} exited {done.returncode}: {done.stderr.strip()[-2000:]}")
        return done.stdout

    def start(self) -> PostgresServer:
        if self.as_user:  # the cluster and its log belong to `postgres`; the folder must be reachable by it
            os.chmod(self.root, 0o755)
            shutil.chown(self.root, user=self.as_user)
        pwfile = self.root / "pwfile"
        pwfile.write_text(self.password + "\n")
        if self.as_user:
            shutil.chown(pwfile, user=self.as_user)
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            self.user,
            "--pwfile",
            str(pwfile),
            "-A",
            "scram-sha-256",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        )
        pwfile.unlink()
        # TCP on 127.0.0.1 only; no Unix socket (its default folder may not be writable); room for many runs.
        opts = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -c unix_socket_directories='' "
            "-c max_connections=200 -c fsync=off -c full_page_writes=off -c synchronous_commit=off"
        )
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", opts, "-w", "-t", "60", "start")
        self._started = True
        self._psql_createdb()
        return self

    def _psql_createdb(self) -> None:
        import psycopg2

        deadline = time.monotonic() + 30
        while True:
            try:
                conn = psycopg2.connect(
                    host="127.0.0.1", port=self.port, user=self.user, password=self.password, dbname="postgres"
                )
                break
            except psycopg2.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{self.db}"')
        conn.close()

    def env(self) -> dict[str, str]:
        return {
            "DAGSTER_PG_USERNAME": self.user,
            "DAGSTER_PG_PASSWORD": self.password,
            "DAGSTER_PG_HOST": "127.0.0.1",
            "DAGSTER_PG_PORT": str(self.port),
            "DAGSTER_PG_DB": self.db,
        }

    def connect(self):
        import psycopg2

        return psycopg2.connect(
            host="127.0.0.1", port=self.port, user=self.user, password=self.password, dbname=self.db
        )

    def stop(self) -> None:
        try:
            if self._started:
                self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "60", "stop")
                self._started = False
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
