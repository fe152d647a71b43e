"""Drill 9: size limits (issue 14 item 6). Each bomb is quarantined with its size, the rest of its file or
partition goes on, and the peak memory (Python allocations, tracemalloc) stays near the limit, not the bomb.

- a seed JSONL with one 64 MB question line (limit 1 MiB);
- a WARC.gz whose one record decompresses to 256 MB (record limit 1 MiB), and a JSONL shard with a 64 MB line;
- a blank 60-page PDF over ``max_pdf_pages=50`` (and a blank PDF under it: ``no_text``, not an empty document);
- a prompt over ``max_prompt_tokens``: not sent, an empty sample with finish reason ``prompt_too_long``.
"""

import gzip
import json
import tracemalloc

import pymupdf
import pytest

from citrus_assets.cpt_corpus.pdf.extract import extract_batch
from citrus_assets.cpt_corpus.web.curation import curate_shard
from citrus_assets.reasoning_data.seeds.loaders import load_seed_file
from resources.llm import Generation, LLMClient
from resources.llm.client import PROMPT_TOO_LONG
from tests.drills import drill_support as S

MiB = 1 << 20
BOMB = 64 * MiB


@pytest.fixture(autouse=True)
def _small_limits(monkeypatch):
    monkeypatch.setenv("CITRUS_MAX_RECORD_BYTES", str(MiB))
    monkeypatch.setenv("CITRUS_MAX_PDF_PAGES", "50")
    monkeypatch.setenv("CITRUS_MAX_PROMPT_TOKENS", "1000")


def _peak(fn):
    tracemalloc.start()
    try:
        out = fn()
        return out, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _huge_question_line(fh, size: int) -> None:
    fh.write(b'{"question": "')
    chunk = b"a" * MiB
    for _ in range(size // MiB):
        fh.write(chunk)
    fh.write(b'", "options": {"A": "x", "B": "y", "C": "z", "D": "w"}, "answer_idx": "A"}\n')


def test_a_huge_seed_line_is_quarantined_with_its_size(tmp_path):
    good = [line for line in S.SEEDS.read_bytes().splitlines(keepends=True) if b"truncated line" not in line][:3]
    path = tmp_path / "bomb.jsonl"
    with open(path, "wb") as fh:
        fh.write(good[0])
        _huge_question_line(fh, BOMB)
        fh.writelines(good[1:])
    line_size = len(path.read_bytes().splitlines(keepends=True)[1])
    small = tmp_path / "small.jsonl"
    small.write_bytes(b"".join(good))
    _, baseline = _peak(lambda: load_seed_file(small, "small"))  # warm: models the loader loads once
    _, baseline = _peak(lambda: load_seed_file(small, "small"))
    result, peak = _peak(lambda: load_seed_file(path, "bomb"))
    assert len(result.rows) == 3
    bad = [q for q in result.quarantine if q.source_locator == "line 2"]
    assert len(bad) == 1 and bad[0].reason.startswith("too_large") and f"is {line_size} bytes" in bad[0].reason
    assert bad[0].raw == ""
    assert peak < baseline + 8 * MiB, (peak, baseline)
    print(
        f"\nDRILL limits-seed-line: a {BOMB // MiB} MB question line -> quarantined ({bad[0].reason[:60]}...), "
        f"3 other lines loaded, peak Python memory {peak / MiB:.1f} MB vs {baseline / MiB:.1f} MB for the same "
        f"file without the bomb (max_record_bytes 1 MiB)"
    )


def _warc_record(target: str, payload_size: int | None = None, body: bytes = b"") -> bytes | None:
    http = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n"
    length = len(http) + (payload_size if payload_size is not None else len(body))
    return (
        (
            f"WARC/1.0\r\nWARC-Type: response\r\nWARC-Record-ID: <urn:uuid:{target}>\r\nWARC-Target-URI: "
            f"http://example.org/{target}\r\nWARC-Date: 2024-01-01T00:00:00Z\r\nContent-Type: application/http; "
            f"msgtype=response\r\nContent-Length: {length}\r\n\r\n"
        ).encode()
        + http
        + body
    )


def test_decompression_bombs_in_web_shards_are_quarantined(tmp_path):
    page = (
        b"<html><body>"
        + b"<p>Hypertension is a common chronic condition managed with lifestyle change.</p>" * 20
        + b"</body></html>"
    )
    warc = tmp_path / "bomb.warc.gz"
    with open(warc, "wb") as raw:
        for target, size in (("bomb", 256 * MiB), ("ok", None)):
            with gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=1) as gz:  # one gzip member per record
                if size is None:
                    gz.write(_warc_record(target, body=page) + b"\r\n\r\n")
                else:
                    gz.write(_warc_record(target, payload_size=size))
                    zeros = b"\0" * MiB
                    for _ in range(size // MiB):
                        gz.write(zeros)
                    gz.write(b"\r\n\r\n")
    compressed = warc.stat().st_size
    small = tmp_path / "small.jsonl"
    small.write_bytes(json.dumps({"text": "A short clinical note about asthma inhalers. " * 10}).encode() + b"\n")
    for i in range(2):  # warm: the filters' models load once per process
        _, baseline = _peak(lambda i=i: curate_shard(small, "mem://small.jsonl", tmp_path / f"w0{i}"))
    r, peak = _peak(lambda: curate_shard(warc, "mem://bomb.warc.gz", tmp_path / "w"))
    reasons = [q.reason for q in r.quarantine]
    assert any(x.startswith("too_large: the record") for x in reasons), reasons
    assert peak < baseline + 32 * MiB, (peak, baseline)

    jsonl = tmp_path / "bomb.jsonl"
    with open(jsonl, "wb") as fh:
        fh.write(json.dumps({"text": "A short clinical note about asthma inhalers. " * 10}).encode() + b"\n")
        fh.write(b'{"text": "' + b"b" * BOMB + b'"}\n')
    rj, peak_j = _peak(lambda: curate_shard(jsonl, "mem://bomb.jsonl", tmp_path / "w2"))
    assert [q.source_locator for q in rj.quarantine if q.reason.startswith("too_large")] == ["line 2"]
    assert peak_j < baseline + 16 * MiB, (peak_j, baseline)
    print(
        f"\nDRILL limits-web: WARC.gz of {compressed / MiB:.2f} MB with a 256 MB record -> record quarantined "
        f"('{[x for x in reasons if x.startswith('too_large')][0][:50]}...'), peak Python memory {peak / MiB:.1f} MB; "
        f"JSONL with a {BOMB // MiB} MB line -> line 2 quarantined, peak {peak_j / MiB:.1f} MB; a one-line shard "
        f"peaks at {baseline / MiB:.1f} MB"
    )


def test_pdf_page_bomb_and_blank_pdf_are_quarantined(tmp_path):
    paths = []
    for name, pages in (("bomb.pdf", 60), ("blank.pdf", 3)):
        doc = pymupdf.open()
        for _ in range(pages):
            doc.new_page()
        doc.save(tmp_path / name)
        paths.append(tmp_path / name)
    rows, quarantine, stats = extract_batch(paths)
    reasons = {q.source_uri.rsplit("/", 1)[-1]: q.reason for q in quarantine}
    assert (
        rows == []
        and reasons["bomb.pdf"].startswith("too_large: 60 pages")
        and reasons["blank.pdf"].startswith("no_text")
    )
    print(
        f"\nDRILL limits-pdf: a blank 60-page PDF (max_pdf_pages 50) -> {reasons['bomb.pdf']}; "
        f"a blank 3-page PDF -> {reasons['blank.pdf']}; 0 empty documents"
    )


def test_a_prompt_over_the_token_limit_is_not_sent(tmp_path):
    class Backend:
        model_id, revision, sent = "m", "r", []

        def render(self, messages):
            return messages[-1]["content"]

        def generate(self, requests, params):
            self.sent.extend(r.rendered for r in requests)
            return [[Generation("ok", 1, 1, "stop")] for _ in requests]

    backend = Backend()
    client = LLMClient(backend)
    out = client.generate(["short question", "x" * 4004 * 4])
    assert backend.sent == ["short question"] and out[0][0].text == "ok"
    assert out[1][0].finish_reason == PROMPT_TOO_LONG and out[1][0].text == "" and client.stats["prompts_too_long"] == 1
    print(
        f"\nDRILL limits-prompt: a ~{out[1][0].prompt_tokens}-token prompt (max_prompt_tokens 1000) -> not sent, "
        f"flagged {PROMPT_TOO_LONG}; the other prompt answered"
    )
