"""The lineage browser (``citrus lineage serve``) over a small lake, with starlette's TestClient.

The lake is written the way assets write it: data files through :class:`Lake`, lineage through
:class:`LineageWriter` (record_lineage layout), a real source file whose lines the seeds cite, an LLM-made
asset whose prompt and response hold HTML and a script, a data card row with its ``card.md``, and a
checkpoint trained on the LLM-made partition.
"""

import json

import dagster as dg
import pyarrow as pa
import pytest
from starlette.testclient import TestClient

from resources.lake import Lake
from resources.lake_io import LakeIOManager
from resources.lineage import LineageStore, LineageWriter, record_id, source_id, table_data_version
from resources.lineage.browser import create_app
from resources.lineage.settings import ENV_BROWSER_URL, browser_link, default_paths

EVIL = '<script>alert("x")</script><img src=x onerror=alert(1)>'
LINES = ['{"question": "fever and rash?"}', '{"question": "' + EVIL.replace('"', "'") + '"}']
MODEL, REVISION = "Qwen/Qwen2.5-0.5B-Instruct", "7ae557604adf67be50417f59c2c2f167def9a775"


@pytest.fixture()
def lake(tmp_path):
    root = tmp_path / "lake"
    src = tmp_path / "raw" / "questions.jsonl"
    src.parent.mkdir(parents=True)
    src.write_text("\n".join(LINES) + "\n")
    lk = Lake(str(root))
    writer = LineageWriter(lk.lineage_root)
    ids: dict = {}

    def mat(asset, part, table, run="run-1"):
        path = lk.write_asset(asset, part, table)
        dv = table_data_version(table)
        writer.write_materialization(asset=asset, partition=part, run_id=run, data_version=dv, code_version="v1",
                                     table=table, data_path=lk.url(path))
        return dv

    sids = [source_id(str(src), raw) for raw in LINES]
    seeds = [record_id("qseed", s) for s in sids]
    mat("question_seeds", "medqa|train", pa.table({
        "record_id": seeds, "parent_ids": [[s] for s in sids], "source_uri": [str(src)] * 2,
        "source_locator": ["line 1", "line 2"], "question": [json.loads(x)["question"] for x in LINES]}))
    answers = [record_id("ans", s) for s in seeds]
    sampling = json.dumps({"temperature": 0.7, "top_p": 0.95}, sort_keys=True)
    ans_dv = mat("answers", "medqa|train", pa.table({
        "record_id": answers, "parent_ids": [[s] for s in seeds],
        "prompt": ["<|im_start|>user\nfever and rash?", "<|im_start|>user\n" + EVIL],
        "response": ["Likely measles.", "Answer: " + EVIL],
        "gen_model_id": [MODEL] * 2, "gen_model_revision": [REVISION] * 2,
        "gen_prompt_template": ["answer_v1"] * 2, "gen_prompt_hash": ["ph-a", "ph-b"],
        "gen_sampling": [sampling] * 2, "gen_prompt_tokens": [12, 40], "gen_completion_tokens": [5, 30]}))
    writer.write_checkpoint_inputs(checkpoint_asset="sft_stage1_checkpoint", checkpoint_partition=None,
                                   checkpoint_data_version="ckpt-1", run_id="train-1",
                                   inputs=[("answers", "medqa|train", ans_dv)])
    card_md = lk.data_path("sft_stage1_data_card", None, "card.md")
    lk.fs.makedirs(card_md.rsplit("/", 1)[0], exist_ok=True)
    with lk.fs.open(card_md, "wb") as fh:
        fh.write(f"# Data card of sft_stage1_checkpoint\n\n| source | units |\n|---|---|\n| questions.jsonl | 2 |\n\n"
                 f"Note: {EVIL}\n".encode())
    mat("sft_stage1_data_card", "__all__", pa.table({
        "record_id": [record_id("datacard", "sft_stage1", "ck")], "parent_ids": [[]],
        "checkpoint_asset": ["sft_stage1_checkpoint"], "checkpoint_data_version": ["ckpt-1"],
        "complete": [True], "problems": [[]], "card_md_path": [lk.url(card_md)], "card_json": ["{}"]}))
    ids.update(sources=sids, seeds=seeds, answers=answers, src=str(src), root=str(root))
    return ids


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
    assert browser_link("source", base="", id=lake["sources"][0]).replace("&", "&amp;") in html
    for text in (MODEL, REVISION, "answer_v1", "ph-a", "0.95", "12 prompt + 5 completion", "Likely measles.",
                 "&lt;|im_start|&gt;user"):
        assert text in html, text
    assert "question_seeds [medqa|train]" in html


def test_source_page_shows_the_line(client, lake):
    html = _ok(client, browser_link("source", base="", id=lake["sources"][0]))
    assert "fever and rash?" in html and "line 1" in html and lake["seeds"][0] in html


def test_script_in_records_is_escaped_everywhere(client, lake):
    pages = [browser_link("record", base="", id=lake["answers"][1]),
             browser_link("source", base="", id=lake["sources"][1]),
             browser_link("checkpoint", base="", asset="sft_stage1_checkpoint")]
    for url in pages:
        html = _ok(client, url)
        assert "<script" not in html and "<img" not in html, url
        assert "&lt;script&gt;" in html, url


def test_partition_page(client, lake):
    html = _ok(client, browser_link("partition", base="", asset="answers", partition="medqa|train"))
    for rid in lake["answers"]:
        assert browser_link("record", base="", id=rid) in html
    assert "sft_stage1_checkpoint" in html and "question_seeds [medqa|train]" in html


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


@pytest.mark.parametrize("url", [
    "/record?id=ans-00000000000000000000", "/record", "/source?id=nope", "/partition?asset=answers&partition=nope",
    "/impact?source=nope.jsonl", "/impact?retraction=nope", "/checkpoint?asset=nope",
])
def test_unknown_ids_are_404(client, url):
    r = client.get(url)
    assert r.status_code == 404, (url, r.text[:300])
    assert "<h1>not found</h1>" in r.text


def test_materialization_metadata_links_to_the_browser(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_BROWSER_URL, "http://lineage.example:9000/")

    @dg.asset(partitions_def=dg.StaticPartitionsDefinition(["p1"]))
    def things() -> pa.Table:
        return pa.table({"record_id": ["thing-1", "thing-2"], "parent_ids": [[], []], "x": [1, 2]})

    res = dg.materialize([things], partition_key="p1",
                         resources={"io_manager": LakeIOManager(root=str(tmp_path / "lake"))})
    md = res.asset_materializations_for_node("things")[0].metadata
    assert md["lineage"].value == "http://lineage.example:9000/partition?asset=things&partition=p1"
    sample = md["lineage_sample"].value
    assert "[thing-1](http://lineage.example:9000/record?id=thing-1)" in sample and "thing-2" in sample
