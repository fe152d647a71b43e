"""Audit from the Dagster UI in a real browser (issue 19 part 4; Playwright + Debian's Chromium).

A tiny lake is materialized into a fresh instance before `dagster dev` starts, the way the main job runs
(``demo.launch``: a defined job, tagged with the code location): ``nonmedical_reasoning`` (the non-medical
folder's rows, each citing its file and line) under ``sft_mix_job``, and stand-ins for ``rl_checkpoint``
(recorded as trained on that partition) and a 2-item ``jmed_benchmark`` month. ``citrus lineage serve``'s app
runs on 127.0.0.1 over the same lake, and the materializations' metadata links point at it.

1. From the asset's page in Dagster, the ``lineage`` link -> a record -> the source unit: the input file's
   line is on screen after 3 clicks, and it is the file's real line.
2. The global graph (screenshot): the evaluation assets are downstream of the checkpoint nodes (GraphQL
   ``dependencyKeys`` of the served graph), ``eval_jmed`` reads the JMED release; node labels the UI
   truncates are listed in ``truncated_labels.json``.
3. The main job's runs show on their job's page (not "jobless").
4. The lineage browser's record, partition and checkpoint pages render without console errors.

Screenshots go to ``$CITRUS_TEST_ARTIFACTS`` (else ``<tmp_path>/screenshots``).
"""

import json
import os
import threading
import time
from pathlib import Path

import pytest

from tests.ui.conftest import free_port, start_dagster_dev, stop_process_group, wait_for_asset_graph

MONTH = "2026-11"
ASSET = "nonmedical_reasoning"
JOB = "sft_mix_job"
CHECKPOINT_STAGES = ("cpt", "sft_stage1", "sft_stage2", "sft_stage3", "rl")

RUNS_QUERY = """query ($filter: RunsFilter!) { pipelineRunsOrError(filter: $filter) {
  __typename ... on Runs { results { runId pipelineName status } } } }"""
GRAPH_QUERY = "{ assetNodes { assetKey { path } groupName dependencyKeys { path } } }"


def _prepare(repo_root: Path, browser_base: str, out: dict):
    """Materialize the tiny lake into the instance at ``home`` (runs in this process, before dagster dev)."""

    def prepare(home: Path, lake: Path) -> None:
        import dagster as dg

        saved = {k: os.environ.get(k) for k in ("CITRUS_LAKE", "CITRUS_LINEAGE_BROWSER_URL")}
        os.environ.update(CITRUS_LAKE=str(lake), CITRUS_LINEAGE_BROWSER_URL=browser_base)
        try:
            from citrus_assets import demo
            from citrus_assets.definitions import build_definitions
            from citrus_assets.evaluation.standins import materialize_standins
            from citrus_assets.resources_config import build_resources

            defs = build_definitions(build_resources())
            folder = repo_root / "sample" / "reasoning"
            with dg.DagsterInstance.from_config(str(home)) as instance:
                job = defs.resolve_job_def(JOB).get_subset(asset_selection={dg.AssetKey(ASSET)})
                res = demo.launch(job, instance, None, {"ops": {ASSET: {"config": {"nonmedical_dir": str(folder)}}}})
                [mat] = [e.materialization for e in res.get_asset_materialization_events()]
                dv = mat.metadata["data_version"].value
                materialize_standins(
                    instance,
                    defs.resources,
                    month=MONTH,
                    items=2,
                    model_path="standin-model",
                    trained_on=[(ASSET, None, dv)],
                )
            out.update(run_id=res.run_id, data_version=dv, rows=mat.metadata["dagster/row_count"].value)
        finally:
            for k, v in saved.items():
                os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)

    return prepare


@pytest.fixture
def audit_setup(page, tmp_path, repo_root):
    """(dagster UI, lineage browser base URL, what was materialized); both servers stopped at the end."""
    import uvicorn

    from resources.lineage import LineageStore
    from resources.lineage.browser import create_app
    from resources.lineage.settings import default_paths

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    made: dict = {}
    proc, ui = start_dagster_dev(tmp_path, repo_root, {}, prepare=_prepare(repo_root, base, made))
    paths = default_paths(str(ui.lake))
    store = LineageStore(paths.lineage_root, paths.db_path)
    server = uvicorn.Server(
        uvicorn.Config(create_app(store, paths.lake), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    try:
        thread.start()
        deadline = time.monotonic() + 30
        while not server.started:
            assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
            time.sleep(0.05)
        wait_for_asset_graph(proc, ui)
        yield ui, base, made
    finally:
        server.should_exit = True
        thread.join(10)
        store.close()
        stop_process_group(proc, extra_marker=str(ui.home))


def _ellipsized(page) -> list[str]:
    """Words of the graph's node labels that the UI cut short (they carry an ellipsis)."""
    texts = page.eval_on_selector_all("svg foreignObject", "els => els.map(e => e.textContent || '')")
    return sorted({w for t in texts for w in t.split() if "…" in w})


@pytest.mark.slow
def test_asset_page_to_source_line_graph_jobs_and_lineage_pages(page, audit_setup, artifacts_dir):
    from playwright.sync_api import expect

    ui, base, made = audit_setup
    errors: list[str] = []  # console errors of lineage browser pages (the Dagster UI's own are not ours to judge)

    def watch(p) -> None:
        p.on(
            "console",
            lambda m: errors.append(f"{p.url}: {m.text}") if m.type == "error" and p.url.startswith(base) else None,
        )
        p.on("pageerror", lambda e: errors.append(f"{p.url}: {e}") if p.url.startswith(base) else None)

    page.context.on("page", watch)
    watch(page)
    shot = lambda p, name: p.screenshot(path=str(artifacts_dir / f"audit_{name}.png"), full_page=True)  # noqa: E731
    try:
        # 1. Asset page -> lineage browser -> record -> source line: 3 clicks.
        page.goto(f"{ui.url}/assets/{ASSET}", wait_until="domcontentloaded")
        link = page.locator(f"a[href^='{base}/partition']").first
        try:
            expect(link).to_be_visible(timeout=30_000)
        except AssertionError:  # not on the overview: the latest materialization's metadata on the Events tab
            page.get_by_role("tab", name="Events").or_(
                page.get_by_role("link", name="Events", exact=True)
            ).first.click()
            expect(link).to_be_visible()
        link.scroll_into_view_if_needed()
        shot(page, "01_asset_page")
        clicks = 0
        with page.context.expect_page() as popup:  # Dagster opens URL metadata in a new tab
            link.click()
        clicks += 1
        lb = popup.value
        lb.wait_for_load_state("domcontentloaded")
        assert lb.url.startswith(f"{base}/partition") and f"asset={ASSET}" in lb.url, lb.url
        shot(lb, "02_lineage_partition")
        lb.locator("a[href^='/record?id=']").first.click()
        clicks += 1
        lb.wait_for_selector("#lineage-graph")
        shot(lb, "03_lineage_record")
        lb.click("#lineage-graph a.node-source")
        clicks += 1
        line = lb.wait_for_selector("#source-line")
        shot(lb, "04_source_line")
        assert clicks <= 3
        body = lb.inner_text("body")
        files = sorted((Path(__file__).resolve().parents[2] / "sample" / "reasoning").glob("*.jsonl"))
        lines = [t.strip() for f in files for t in f.read_text(encoding="utf-8").splitlines() if t.strip()]
        shown = line.inner_text().strip()
        assert shown and any(t in shown or shown in t for t in lines), f"not a line of the input file: {shown[:300]}"
        assert any(f.name in body for f in files), "the source line page does not name the input file"

        # 2. The global graph: evaluation downstream of the checkpoints.
        nodes = {"/".join(n["assetKey"]["path"]): n for n in ui.graphql(GRAPH_QUERY)["data"]["assetNodes"]}
        deps = {k: {"/".join(d["path"]) for d in n["dependencyKeys"]} for k, n in nodes.items()}
        for stage in CHECKPOINT_STAGES:
            assert f"{stage}_checkpoint" in deps[f"eval_predictions_{stage}"], stage
            assert f"eval_predictions_{stage}" in deps[f"eval_scores_{stage}"], stage
            assert f"eval_scores_{stage}" in deps["eval_report"], stage
        assert deps["eval_jmed"] == {"rl_checkpoint", "jmed_benchmark"}
        assert {nodes[k]["groupName"] for k in ("eval_jmed", "eval_report")} == {"evaluation"}
        page.goto(f"{ui.url}/asset-groups", wait_until="domcontentloaded")
        graph = page.locator("svg foreignObject")
        expect(graph.get_by_text("evaluation", exact=True).first).to_be_visible()
        expect(graph.get_by_text("training", exact=True).first).to_be_visible()
        page.wait_for_timeout(2000)  # let the layout settle before the picture
        shot(page, "05_global_graph")
        truncated: dict[str, list[str]] = {}
        for group in ("training", "evaluation"):
            # a group's own graph; names cut short carry an ellipsis (recorded, with the pictures)
            page.goto(f"{ui.url}/locations/citrus_lake/asset-groups/{group}/lineage", wait_until="domcontentloaded")
            expect(page.locator("svg foreignObject").first).to_be_attached()
            page.wait_for_timeout(2000)
            shot(page, f"05_{group}_graph")
            truncated[group] = _ellipsized(page)
            zoom_in = page.get_by_role("button", name="zoom_in")
            if zoom_in.count():
                for _ in range(4):
                    zoom_in.first.click()
                    page.wait_for_timeout(300)
                page.wait_for_timeout(1000)
                shot(page, f"05_{group}_graph_zoomed_in")
                truncated[f"{group} (zoomed in)"] = _ellipsized(page)
        (artifacts_dir / "truncated_labels.json").write_text(json.dumps(truncated, indent=1))
        print(f"[ui] node labels the UI truncates: {truncated}")

        # 3. The main job's run on its job's page.
        tag = {"key": ".dagster/repository", "value": "__repository__@citrus_lake"}
        runs = ui.graphql(RUNS_QUERY, {"filter": {"pipelineName": JOB, "tags": [tag]}})["data"]["pipelineRunsOrError"]
        assert made["run_id"] in [r["runId"] for r in runs["results"]], runs
        page.goto(f"{ui.url}/locations/citrus_lake/jobs/{JOB}/runs", wait_until="domcontentloaded")
        expect(page.get_by_text(made["run_id"][:8]).first).to_be_visible()
        shot(page, "06_job_runs")

        # 4. Lineage browser pages: one record (above), one partition, one checkpoint; no console errors.
        lb.goto(f"{base}/partition?asset={ASSET}&partition=__all__", wait_until="domcontentloaded")
        assert ASSET in lb.inner_text("body")
        lb.goto(f"{base}/checkpoint?asset=rl_checkpoint", wait_until="domcontentloaded")
        card = lb.inner_text("body")
        assert "rl_checkpoint" in card and ASSET in card, card[:2000]
        shot(lb, "07_lineage_checkpoint")
        assert lb.evaluate("document.querySelectorAll('script').length") == 0
    except BaseException:
        try:
            shot(page, "failure")
            print("[ui] page text at failure:\n" + page.inner_text("body")[:3000])
        except Exception as e:  # noqa: BLE001 - the page itself may be gone
            print(f"[ui] no failure screenshot: {e}")
        print("[ui] dagster dev log tail:\n" + ui.log_tail())
        raise
    assert not errors, errors
    print(f"[ui] screenshots in {artifacts_dir}")
