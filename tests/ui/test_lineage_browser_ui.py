"""The lineage browser in a real browser (Playwright + Debian's Chromium, as ``test_ui_browser.py``).

``citrus lineage serve``'s app runs under uvicorn on 127.0.0.1 over the small lake of
``tests/lineage/browser_lake.py``. From an asset partition's page (where a materialization's ``lineage``
metadata link lands) a source line of the input file is reached in at most 3 clicks; the record, partition
and checkpoint pages render without console errors, and the record holding HTML and script runs none of it.
Screenshots go to ``$CITRUS_TEST_ARTIFACTS`` (else ``<tmp_path>/screenshots``).
"""

import socket
import threading
import time

import pytest

from resources.lineage import LineageStore
from resources.lineage.browser import create_app
from resources.lineage.settings import browser_link, default_paths
from tests.lineage.browser_lake import build_lake


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def browser_url(tmp_path):
    import uvicorn

    ids = build_lake(tmp_path)
    paths = default_paths(ids["root"])
    store = LineageStore(paths.lineage_root, paths.db_path)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(store, paths.lake), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", ids
    server.should_exit = True
    thread.join(10)
    store.close()


def test_partition_to_source_line_in_three_clicks(page, browser_url, artifacts_dir):
    base, ids = browser_url
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("dialog", lambda d: (errors.append(f"dialog opened: {d.message}"), d.dismiss()))

    page.goto(browser_link("partition", base=base, asset="answers", partition="medqa|train"))
    page.screenshot(path=str(artifacts_dir / "lineage_01_partition.png"), full_page=True)
    page.click(f"a[href='{browser_link('record', base='', id=ids['answers'][1])}']")  # click 1: a record
    page.wait_for_selector("#lineage-graph")
    assert page.evaluate("document.querySelectorAll('script, img').length") == 0  # the record's markup stayed text
    page.screenshot(path=str(artifacts_dir / "lineage_02_record.png"), full_page=True)
    page.click("#lineage-graph a.node-source")  # click 2: the source unit in the graph
    line = page.wait_for_selector("#source-line")
    assert "script" in line.inner_text() and "line 2" in page.inner_text("body")
    assert page.evaluate("document.querySelectorAll('script, img').length") == 0
    page.screenshot(path=str(artifacts_dir / "lineage_03_source_line.png"), full_page=True)

    page.goto(browser_link("checkpoint", base=base, asset="sft_stage1_checkpoint"))
    assert "Data card of sft_stage1_checkpoint" in page.inner_text("#data-card")
    page.screenshot(path=str(artifacts_dir / "lineage_04_checkpoint.png"), full_page=True)
    assert page.evaluate("document.querySelectorAll('script, img').length") == 0
    assert not errors, errors
