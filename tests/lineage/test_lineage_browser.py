"""The lineage browser (``citrus lineage serve``) over a small lake (``browser_lake.py``), with starlette's
TestClient: every kind of page, escaping of records holding HTML and script, 404s, the serve subcommand, and
the link to the browser in a materialization's metadata."""

import dagster as dg
import pyarrow as pa
import pytest
from starlette.testclient import TestClient

from resources.lake_io import LakeIOManager
from resources.lineage import LineageStore
from resources.lineage.browser import create_app
from resources.lineage.settings import ENV_BROWSER_URL, browser_link, default_paths
from tests.lineage.browser_lake import MODEL, REVISION, build_lake


@pytest.fixture()
def lake(tmp_path):
    return build_lake(tmp_path)


@pytest.fixture()
def client(lake):
    paths = default_paths(lake["root"])
    store = LineageStore(paths.lineage_root, paths.db_path)
    with TestClient(create_app(store, paths.lake)) as c:
        yield c
    store.close()


def _ok(client, url):
    r = client.get(url)
    assert r.status_code == 200, (url, r.status_code, r.text[:500])
    return r.text


def test_record_page_graph_llm_step_and_lake_row(client, lake):
    html = _ok(client, browser_link("record", base="", id=lake["answers"][0]))
    assert '<svg id="lineage-graph"' in html and html.count("<rect") == 3  # answer -> seed -> source line
    assert f'href="/source?id={lake["sources"][0]}"' in html  # site-relative: works on any host and port
    for text in (
        MODEL,
        REVISION,
        "answer_v1",
        "ph-a",
        "0.95",
        "12 prompt + 5 completion",
        "Likely measles.",
        "&lt;|im_start|&gt;user",
    ):
        assert text in html, text
    assert "question_seeds [medqa|train]" in html


def test_source_page_shows_the_line(client, lake):
    html = _ok(client, browser_link("source", base="", id=lake["sources"][0]))
    assert "fever and rash?" in html and "line 1" in html and lake["seeds"][0] in html


def test_script_in_records_is_escaped_everywhere(client, lake):
    pages = [
        browser_link("record", base="", id=lake["answers"][1]),
        browser_link("source", base="", id=lake["sources"][1]),
        browser_link("checkpoint", base="", asset="sft_stage1_checkpoint"),
    ]
    for url in pages:
        html = _ok(client, url)
        assert "<script" not in html and "<img" not in html, url
        assert "&lt;script&gt;" in html, url


def test_partition_page(client, lake):
    html = _ok(client, browser_link("partition", base="", asset="answers", partition="medqa|train"))
    for rid in lake["answers"]:
        assert browser_link("record", base="", id=rid) in html
    assert "sft_stage1_checkpoint" in html and "question_seeds [medqa|train]" in html


def test_checkpoint_partition_links_to_its_checkpoint_page(client):
    html = _ok(client, browser_link("partition", base="", asset="sft_stage1_checkpoint", partition="__all__"))
    assert f'id="checkpoint-link" href="{browser_link("checkpoint", base="", asset="sft_stage1_checkpoint")}"' in html
    html = _ok(client, browser_link("partition", base="", asset="answers", partition="medqa|train"))
    assert "checkpoint-link" not in html


def test_impact_pages(client, lake):
    html = _ok(client, browser_link("impact", base="", source=lake["src"]))
    assert "4 derived records" in html and "sft_stage1_checkpoint" in html
    assert "answers [medqa|train]" in html
    html = _ok(client, browser_link("impact", base="", asset="question_seeds", partition="medqa|train"))
    assert "sft_stage1_checkpoint" in html and lake["answers"][1] in html
    html = _ok(client, browser_link("impact", base="", record=lake["seeds"][0]))
    assert lake["answers"][0] in html and lake["answers"][1] not in html


def test_checkpoint_data_card_page(client):
    html = _ok(client, browser_link("checkpoint", base="", asset="sft_stage1_checkpoint"))
    assert "<h1>Data card of sft_stage1_checkpoint</h1>" in html  # Markdown rendered
    assert "<table>" in html and "<td>questions.jsonl</td>" in html
    assert "answers [medqa|train]" in html and "ckpt-1" in html


def test_search(client, lake):
    r = client.get("/search", params={"q": lake["answers"][0]}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == browser_link("record", base="", id=lake["answers"][0])
    r = client.get("/search", params={"q": "answers:medqa|train"}, follow_redirects=False)
    assert r.headers["location"] == browser_link("partition", base="", asset="answers", partition="medqa|train")
    r = client.get("/search", params={"q": "questions.jsonl"}, follow_redirects=False)
    assert r.headers["location"] == browser_link("impact", base="", source=lake["src"])
    html = _ok(client, "/search?q=medqa")  # two asset partitions: a list
    assert "answers [medqa|train]" in html and "question_seeds [medqa|train]" in html
    assert "Nothing matches" in _ok(client, "/search?q=nothing-like-this")
    assert "sft_stage1_checkpoint" in _ok(client, "/")


@pytest.mark.parametrize(
    "url",
    [
        "/record?id=ans-00000000000000000000",
        "/record",
        "/source?id=nope",
        "/partition?asset=answers&partition=nope",
        "/impact?source=nope.jsonl",
        "/impact?retraction=nope",
        "/checkpoint?asset=nope",
    ],
)
def test_unknown_ids_are_404(client, url):
    r = client.get(url)
    assert r.status_code == 404, (url, r.text[:300])
    assert "<h1>not found</h1>" in r.text


def test_materialization_metadata_links_to_the_browser(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_BROWSER_URL, "http://lineage.example:9000/")

    @dg.asset(partitions_def=dg.StaticPartitionsDefinition(["p1"]))
    def things() -> pa.Table:
        return pa.table({"record_id": ["thing-1", "thing-2"], "parent_ids": [[], []], "x": [1, 2]})

    res = dg.materialize(
        [things], partition_key="p1", resources={"io_manager": LakeIOManager(root=str(tmp_path / "lake"))}
    )
    md = res.asset_materializations_for_node("things")[0].metadata
    assert md["lineage"].value == "http://lineage.example:9000/partition?asset=things&partition=p1"
    sample = md["lineage_sample"].value
    assert "[thing-1](http://lineage.example:9000/record?id=thing-1)" in sample and "thing-2" in sample


def test_serve_subcommand_parses_with_local_default(monkeypatch):
    import argparse

    from citrus_assets.cli import lineage as cli

    parser = argparse.ArgumentParser(prog="citrus")
    cli.add_lineage_subcommands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["lineage", "serve", "--port", "9123"])
    assert (args.lineage_command, args.host, args.port) == ("serve", "127.0.0.1", 9123)
    called = {}
    monkeypatch.setattr("resources.lineage.browser.serve", lambda *a: called.setdefault("args", a))
    assert cli.run_lineage_command(args) == 0 and called["args"][:2] == ("127.0.0.1", 9123)
