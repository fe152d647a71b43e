"""End to end in a real browser: `dagster dev` on the repo's workspace, driven by Playwright + Chromium.

Checks that the global asset graph shows every stage group, that materializing one partition launched
from the UI succeeds, and that its metadata (row count, a plot) is visible on the asset's page.
Screenshots go to ``$CITRUS_TEST_ARTIFACTS`` (else ``<tmp_path>/screenshots``).

The partition is ``pdf_documents`` / ``batch_001`` (the bundled ``sample/pdfs/batch_001``): pymupdf only,
no LLM and no shared data; its materialization carries ``dagster/row_count`` and a funnel plot (PNG in
Markdown).
"""

import re
import time
from pathlib import Path

import pytest

STAGE_GROUPS = ["cpt_corpus", "reasoning_data", "training", "evaluation", "jmed"]
ASSET, PARTITION = "pdf_documents", "batch_001"
DYNAMIC_PARTITIONS = {"pdf_batches": [PARTITION]}  # registered by the dagster_ui fixture before it starts
RUN_TIMEOUT_S = 300

RUN_QUERY = """query ($runId: ID!) { runOrError(runId: $runId) {
  __typename ... on Run { status tags { key value } assetSelection { path } } } }"""


class Shots:
    """Numbered screenshots in the artifacts folder; every path is printed."""

    def __init__(self, page, folder: Path):
        self.page, self.folder, self.n, self.paths = page, folder, 0, []

    def __call__(self, name: str, full_page: bool = False) -> Path:
        self.n += 1
        path = self.folder / f"ui_{self.n:02d}_{name}.png"
        self.page.screenshot(path=str(path), full_page=full_page)
        self.paths.append(path)
        print(f"[ui] screenshot: {path}")
        return path


def wait_for_run(ui, run_id: str, timeout: float = RUN_TIMEOUT_S) -> dict:
    deadline, run = time.time() + timeout, {}
    while time.time() < deadline:
        run = ui.graphql(RUN_QUERY, {"runId": run_id})["data"]["runOrError"]
        if run.get("status") in ("SUCCESS", "FAILURE", "CANCELED"):
            return run
        time.sleep(2)
    pytest.fail(f"run {run_id} not finished after {timeout:.0f} s (last: {run}):\n{ui.log_tail()}")


@pytest.mark.slow
def test_ui_graph_launch_partition_and_metadata(page, artifacts_dir, dagster_ui, repo_root):
    # `page` comes first: without playwright or Chromium the test skips before dagster dev starts.
    from playwright.sync_api import expect

    assert (repo_root / "sample" / "pdfs" / PARTITION).is_dir(), "the bundled PDF batch is missing"
    ui, shots, timings = dagster_ui, Shots(page, artifacts_dir), dagster_ui.timings
    t = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal t
        timings[name] = round(time.perf_counter() - t, 1)
        t = time.perf_counter()

    try:
        # 1. The global asset graph: one node per stage group (graph nodes are SVG foreignObjects;
        #    the group list in the sidebar is not counted).
        page.goto(f"{ui.url}/asset-groups", wait_until="domcontentloaded")
        graph = page.locator("svg foreignObject")
        for group in STAGE_GROUPS:
            expect(graph.get_by_text(group, exact=True).first).to_be_visible()
        shots("asset_graph")
        lap("graph_s")

        # 2. Launch one partition from the asset's page: Materialize… -> pick the partition -> Launch 1 run.
        page.goto(f"{ui.url}/assets/{ASSET}", wait_until="domcontentloaded")
        page.get_by_role("button", name=re.compile(r"\bMaterialize")).click()
        dialog = page.get_by_role("dialog")
        expect(dialog.get_by_text(f"Launch runs to materialize {ASSET}")).to_be_visible()
        dialog.get_by_text("Select a partition or create one").click()
        page.get_by_text(PARTITION, exact=True).filter(visible=True).first.click()  # the option in the popover
        page.keyboard.press("Escape")  # closes the partition popover, not the dialog
        expect(page.get_by_placeholder("Filter partitions")).to_be_hidden()  # popover gone (fades out)
        expect(dialog.get_by_text("1 partition", exact=True)).to_be_visible()
        launch = dialog.get_by_role("button", name="Launch 1 run")
        expect(launch).to_be_enabled()
        shots("launch_dialog")
        launch.click()
        expect(page.get_by_text(re.compile(r"^Launched run "))).to_be_visible()
        run_link = page.locator("a[href*='/runs/']", has_text="View").first
        href = run_link.get_attribute("href")
        run_id = href.rstrip("/").rsplit("/", 1)[-1]
        assert re.fullmatch(r"[0-9a-f-]{36}", run_id), href
        print(f"[ui] launched run {run_id} from the UI")
        lap("launch_s")

        # 3. The run succeeds: GraphQL says so, and so does the run's page.
        run_link.click()
        page.wait_for_url(re.compile(f"/runs/{run_id}"))
        run = wait_for_run(ui, run_id)
        lap("run_s")
        tags = {tag["key"]: tag["value"] for tag in run.get("tags", [])}
        assert run["status"] == "SUCCESS", f"run {run_id}: {run['status']}\n{ui.log_tail()}"
        assert tags.get("dagster/partition") == PARTITION, tags
        assert [ASSET] in [a["path"] for a in run["assetSelection"] or []], run
        status = page.get_by_text("Success", exact=True).filter(visible=True).first  # the run's status tag
        try:
            expect(status).to_be_visible(timeout=20_000)
        except AssertionError:  # the page missed the live update: load it again
            page.reload(wait_until="domcontentloaded")
            expect(status).to_be_visible()
        shots("run_success")
        lap("run_page_s")

        # 4. The partition's materialization metadata on the asset's Events tab: row count and a plot.
        import pyarrow.parquet as pq

        data = ui.lake / ASSET / PARTITION / "data.parquet"
        assert data.is_file(), f"no lake file at {data}"
        rows = pq.read_metadata(data).num_rows
        assert rows > 0
        page.goto(f"{ui.url}/assets/{ASSET}", wait_until="domcontentloaded")
        page.get_by_role("tab", name="Events").or_(page.get_by_role("link", name="Events", exact=True)).first.click()
        expect(page.get_by_text(f"Partition {PARTITION} materialized in run {run_id[:8]}")).to_be_visible()
        row_count = page.locator("tr", has_text="dagster/row_count").first
        expect(row_count).to_be_visible()
        cells = [c.strip() for c in row_count.locator("td").all_inner_texts()]
        assert cells[:1] == ["dagster/row_count"] and str(rows) in cells[1:], cells
        row_count.scroll_into_view_if_needed()
        expect(page.locator("tr", has_text="funnel_picture").first).to_be_visible()
        shots("asset_metadata", full_page=True)
        page.locator("tr", has_text="funnel_picture").first.get_by_text("[Show Markdown]").click()
        plot_dialog = page.get_by_role("dialog")
        expect(plot_dialog.get_by_text("funnel_picture")).to_be_visible()
        img = plot_dialog.locator("img[src^='data:image/png']").first
        expect(img).to_be_visible()
        page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=img.element_handle())
        size = img.evaluate("img => [img.naturalWidth, img.naturalHeight]")
        assert size[0] >= 200 and size[1] >= 100, f"plot too small: {size}"
        expect(plot_dialog.get_by_text("files in").first).to_be_visible()  # the numbers table under the plot
        shots("metadata_plot")
        lap("metadata_s")
    except BaseException:
        try:
            shots("failure", full_page=True)
            print("[ui] page text at failure:\n" + page.inner_text("body")[:4000])
        except Exception as e:  # the page itself may be gone
            print(f"[ui] no failure screenshot: {e}")
        print("[ui] dagster dev log tail:\n" + ui.log_tail())
        raise
    finally:
        timings["browser_total_s"] = round(sum(v for k, v in timings.items() if k != "server_start_s"), 1)
        print(f"[ui] timings (s): {timings}")
    assert len(shots.paths) == 5
