"""Web shards in the shapes real crawls publish (issue 15): a URL fetched twice with an identical payload,
an HTML page that libmagic sniffs as JavaScript, non-HTML and empty payloads, identical JSONL lines.
Nothing a reader reads disappears into a funnel count: it is kept, rejected (with its reason) or quarantined."""

from __future__ import annotations

import io
import random

import pytest

from citrus_assets.cpt_corpus.web.curation import curate_shard
from quality.gx import validate_table
from quality.suites import id_suite
from tests.support.web_synth import SynthDoc, html_page, make_document, write_jsonl

JS_FIRST = b"'use strict';\nvar x = 1;\n"  # libmagic calls a payload that opens like this application/javascript


def _warc(path, items):
    """items: (url, body bytes, HTTP content type, WARC-Identified-Payload-Type or None)."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    with open(path, "wb") as fh:
        w = WARCWriter(fh, gzip=str(path).endswith(".gz"))
        w.write_record(w.create_warcinfo_record(path.name, {"software": "test"}))
        for url, body, ctype, identified in items:
            req = StatusAndHeaders("GET / HTTP/1.1", [("Host", url.split("/")[2])], is_http_request=True)
            w.write_record(w.create_warc_record(url, "request", http_headers=req))
            http = StatusAndHeaders("200 OK", [("Content-Type", ctype)], protocol="HTTP/1.1")
            extra = {"WARC-Identified-Payload-Type": identified} if identified else None
            w.write_record(
                w.create_warc_record(
                    url, "response", payload=io.BytesIO(body), http_headers=http, warc_headers_dict=extra
                )
            )
    return path


@pytest.fixture(scope="module")
def crawl(tmp_path_factory):
    import magic

    tmp = tmp_path_factory.mktemp("crawl")
    rng = random.Random(15)
    page = html_page(make_document(rng), "Anaemia").encode()
    js_page = JS_FIRST + html_page(make_document(rng), "Asthma").encode()
    assert magic.from_buffer(js_page, mime=True) == "application/javascript"  # the sniffing this test is about
    items = [
        ("https://a.example/anaemia", page, "text/html; charset=UTF-8", None),
        ("https://a.example/anaemia", page, "text/html; charset=UTF-8", None),  # the crawler fetched it again
        ("https://b.example/asthma", js_page, "text/html; charset=UTF-8", None),  # libmagic: JavaScript
        ("https://b.example/asthma2", js_page, "text/html; charset=UTF-8", "application/javascript"),
        ("https://c.example/logo.png", b"\x89PNG\r\n\x1a\n" + bytes(64), "image/png", None),
        ("https://c.example/empty", b"", "text/html", None),
    ]
    p = _warc(tmp / "crawl.warc.gz", items)
    return curate_shard(p, "mem://crawl.warc.gz", tmp / "w")


def test_repeated_fetch_kept_once_and_recorded_as_exact_duplicate(crawl):
    from warcio.archiveiterator import ArchiveIterator  # noqa: F401 - warcio present

    urls = crawl.documents.column("url").to_pylist()
    assert urls.count("https://a.example/anaemia") == 1
    dup = [r for r in crawl.rejects.to_pylist() if r["reason"].startswith("exact_duplicate_fetch")]
    assert len(dup) == 1 and dup[0]["filter"] == "read" and dup[0]["url"] == "https://a.example/anaemia"
    kept = crawl.documents.to_pylist()[urls.index("https://a.example/anaemia")]
    # the reject names its own WARC record id and the kept one's
    assert dup[0]["source_doc_id"].startswith("<urn:uuid:") and dup[0]["source_doc_id"] != kept["source_doc_id"]
    assert dup[0]["source_doc_id"] in dup[0]["reason"] and kept["source_doc_id"] in dup[0]["reason"]
    assert dup[0]["source_locator"] != kept["source_locator"]


def test_record_ids_unique_and_blocking_id_suite_passes(crawl):
    ids = crawl.documents.column("record_id").to_pylist() + crawl.rejects.column("record_id").to_pylist()
    assert len(ids) == len(set(ids))
    assert validate_table(crawl.documents, id_suite(), "web_ids").success


def test_declared_html_wins_over_libmagic_and_crawler_guess(crawl):
    urls = set(crawl.documents.column("url").to_pylist())
    assert {"https://b.example/asthma", "https://b.example/asthma2"} <= urls


def test_every_unit_not_passed_on_is_a_reject_with_reason(crawl):
    read = {r["url"]: r["reason"] for r in crawl.rejects.to_pylist() if r["filter"] == "read"}
    assert (
        read["https://c.example/logo.png"].startswith("non_html")
        and "declared image/png" in read["https://c.example/logo.png"]
    )
    assert read["https://c.example/empty"].startswith("empty")
    f = crawl.funnel[0]
    assert f["rejected"] == {"empty": 1, "exact_duplicate_fetch": 1, "non_html": 1}
    assert f["skipped"] == {"request": 6, "warcinfo": 1}  # records that are not documents
    # every unit dropped by the reader is accounted for: quarantined, rejected or not a document
    assert f["dropped"] == f["quarantined"] + sum(f["rejected"].values()) + sum(f["skipped"].values())
    assert sum(f["rejected"].values()) == len(read)
    assert crawl.metadata()["rejects_by_filter"]["read"] == 3


def test_identical_jsonl_lines_get_distinct_record_ids(tmp_path):
    rng = random.Random(3)
    d = SynthDoc("same", make_document(rng), "https://j.example/1", "original")
    r = curate_shard(write_jsonl(tmp_path / "j.jsonl", [d, d]), "mem://j.jsonl", tmp_path / "w")
    ids = r.documents.column("record_id").to_pylist()
    assert len(ids) == 2 and len(set(ids)) == 2
