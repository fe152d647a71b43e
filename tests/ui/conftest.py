"""Fixtures of the browser tests: a `dagster dev` on the repo's workspace and a headless Chromium page.

The browser is Debian's Chromium (``scripts/install_browser.sh``) driven by Playwright for Python; a
browser download by Playwright itself does not work on these machines, so it is never attempted.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
# Environment settings of the code location that would point the UI test away from the bundled sample.
_CLEARED_ENV = (
    "CITRUS_PDF_INBOX",
    "CITRUS_SEED_INBOX",
    "CITRUS_WEB_INBOX",
    "CITRUS_TEXTBOOK_INBOX",
    "CITRUS_INSTRUCTION_INBOX",
    "CITRUS_DIALOGUE_INBOX",
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def graphql(port: int, query: str, variables: dict | None = None) -> dict:
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query, "variables": variables or {}}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=20) as resp:
        return json.loads(resp.read())


@dataclass
class DagsterUI:
    """A running `dagster dev`: its URL, port, instance folder, lake and log file."""

    url: str
    port: int
    home: Path
    lake: Path
    log: Path
    timings: dict = field(default_factory=dict)

    def graphql(self, query: str, variables: dict | None = None) -> dict:
        return graphql(self.port, query, variables)

    def log_tail(self, n: int = 60) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def _wait_group_gone(proc: subprocess.Popen, timeout: float) -> bool:
    pgid, deadline = proc.pid, time.time() + timeout
    while time.time() < deadline:
        proc.poll()  # reap the leader: a zombie still counts as a member of its group
        if not _group_alive(pgid):
            return True
        time.sleep(0.5)
    return not _group_alive(pgid)


def _processes_mentioning(text: str) -> list[int]:
    """PIDs (other than ours) whose command line names ``text`` (the temporary DAGSTER_HOME)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline:
            pids.append(int(entry.name))
    return pids


def stop_process_group(proc: subprocess.Popen, extra_marker: str | None = None) -> None:
    """SIGTERM the whole process group of ``proc`` (dagster dev, its webserver, daemon and code server),
    SIGKILL what is left after 30 s; then SIGKILL any straggler of this instance that left the group."""
    pgid = proc.pid  # started with start_new_session=True: its own session and process group
    if _group_alive(pgid):
        os.killpg(pgid, signal.SIGTERM)
        if not _wait_group_gone(proc, 30):
            print(f"[ui] process group {pgid} still alive 30 s after SIGTERM: SIGKILL")
            os.killpg(pgid, signal.SIGKILL)
            _wait_group_gone(proc, 10)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
    if extra_marker and sys.platform.startswith("linux"):
        for pid in _processes_mentioning(extra_marker):
            print(f"[ui] straggler of the instance outside the group: SIGKILL {pid}")
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


@pytest.fixture
def artifacts_dir(tmp_path) -> Path:
    """Where screenshots go: ``$CITRUS_TEST_ARTIFACTS`` if set, else ``<tmp_path>/screenshots``."""
    configured = os.environ.get("CITRUS_TEST_ARTIFACTS")
    d = Path(configured) if configured else tmp_path / "screenshots"
    d.mkdir(parents=True, exist_ok=True)
    return d


@pytest.fixture
def playwright_sync():
    """Playwright's sync API, or a skip when it or Debian's Chromium is missing."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed (pip install playwright; do NOT run `playwright install`)")
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found: run scripts/install_browser.sh (apt-get install chromium)")
    with sync_playwright() as p:
        yield p


@pytest.fixture
def page(playwright_sync):
    """A fresh headless Chromium page (1600x1000) with Dagster's community pop-up already dismissed."""
    browser = playwright_sync.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    try:
        context = browser.new_context(viewport={"width": 1600, "height": 1000})
        # The "Join the Dagster community" dialog of a first visit covers the page; mark it as seen.
        context.add_init_script("try { window.localStorage.setItem('communityNux', '\"1\"') } catch (e) {}")
        context.set_default_timeout(60_000)  # a shared 2-core machine can be slow to render
        yield context.new_page()
        context.close()
    finally:
        browser.close()


def start_dagster_dev(
    tmp_path: Path,
    repo_root: Path,
    dynamic_partitions: dict[str, list[str]],
    prepare: Callable[[Path, Path], None] | None = None,
) -> tuple[subprocess.Popen, DagsterUI]:
    """``prepare(home, lake)``, when given, runs before the server starts (e.g. materializes a tiny lake
    into the instance at ``home``)."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text((repo_root / "dagster.yaml").read_text())
    lake = tmp_path / "lake"
    if dynamic_partitions:  # registered before the server starts, in the same instance storage
        import dagster as dg

        with dg.DagsterInstance.from_config(str(home)) as instance:
            for name, keys in dynamic_partitions.items():
                instance.add_dynamic_partitions(name, keys)
    if prepare is not None:
        prepare(home, lake)
    env = {k: v for k, v in os.environ.items() if k not in _CLEARED_ENV}
    # in_process: the run's steps share its process, so the code location is imported once per run, not once
    # more per step (a run of one partition is I/O of seconds; imports dominate on a shared 2-core machine).
    env.update(DAGSTER_HOME=str(home), CITRUS_LAKE=str(lake), CITRUS_EXECUTOR="in_process")
    port = free_port()
    log = tmp_path / "dagster_dev.log"
    dagster = Path(sys.executable).with_name("dagster")
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(dagster), "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
            cwd=repo_root,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: stopped as a whole at the end
        )
    return proc, DagsterUI(url=f"http://127.0.0.1:{port}", port=port, home=home, lake=lake, log=log)


def wait_for_asset_graph(proc: subprocess.Popen, ui: DagsterUI, timeout: float = 180) -> list[dict]:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            nodes = ui.graphql("{ assetNodes { assetKey { path } groupName } }")["data"]["assetNodes"]
            if nodes:
                return nodes
        except (OSError, KeyError, TypeError, ValueError):
            pass
        if proc.poll() is not None:
            pytest.fail(f"dagster dev exited with {proc.returncode}:\n{ui.log_tail()}")
        time.sleep(1)
    pytest.fail(f"dagster dev did not serve the asset graph within {timeout:.0f} s:\n{ui.log_tail()}")


@pytest.fixture
def dagster_ui(tmp_path, repo_root, request):
    """`dagster dev -w workspace.yaml` on 127.0.0.1 with a temporary DAGSTER_HOME (the repo's dagster.yaml)
    and lake; the test module's ``DYNAMIC_PARTITIONS`` ({partitions def: [keys]}) are registered first.
    Stopped as a whole process group at the end, so no webserver, daemon or code server is left."""
    t0 = time.perf_counter()
    proc, ui = start_dagster_dev(tmp_path, repo_root, getattr(request.module, "DYNAMIC_PARTITIONS", {}))
    try:
        wait_for_asset_graph(proc, ui)
        ui.timings["server_start_s"] = round(time.perf_counter() - t0, 1)
        yield ui
    finally:
        t1 = time.perf_counter()
        stop_process_group(proc, extra_marker=str(ui.home))
        ui.timings["server_stop_s"] = round(time.perf_counter() - t1, 1)
        print(f"[ui] dagster dev stopped in {ui.timings['server_stop_s']} s (log: {ui.log})")
