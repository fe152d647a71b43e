"""The request cache's writer thread (issue 17): many rows per transaction, off the caller's thread,
written before ``generate`` returns, within ``FLUSH_S`` without a flush, and the repair still works."""

from __future__ import annotations

import os
import sqlite3
import time

from resources.llm import GenerationCache, LLMClient, SamplingParams
from resources.llm import cache as cache_mod
from resources.llm.backends.openai_backend import OpenAIBackend
from resources.llm.types import DEFAULT_MAX_CONCURRENCY, Generation


def rows_in(path) -> int:
    """Rows another connection sees (0 before the writer created the file or the table)."""
    if not os.path.exists(path):
        return 0
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT COUNT(*) FROM generations").fetchone()[0]
    except sqlite3.OperationalError:
        return 0
    finally:
        conn.close()


def test_put_later_is_written_by_the_writer_thread_in_few_transactions(tmp_path, monkeypatch):
    cache = GenerationCache(tmp_path / "c.sqlite")
    writes: list[tuple[int, str]] = []
    real = cache._write

    def counting(rows, prompt_rows):
        import threading

        writes.append((len(rows), threading.current_thread().name))
        real(rows, prompt_rows)

    monkeypatch.setattr(cache, "_write", counting)
    for i in range(3000):
        cache.put_later([(f"k{i}", Generation(f"text {i}", 1, 2, "stop"))], model_id="m", prompts={f"k{i}": f"p{i}"})
    cache.flush()
    assert sum(n for n, _ in writes) == 3000
    assert len(writes) <= 3000 // cache_mod.FLUSH_ROWS + 5, f"{len(writes)} transactions for 3000 rows"
    assert {name for _, name in writes} == {"citrus-llm-cache-writer"}
    assert rows_in(cache.path) == 3000  # visible to another connection once flushed
    assert cache.get_many(["k7"])["k7"].text == "text 7"


def test_queued_rows_reach_the_file_without_a_flush_within_the_interval(tmp_path):
    cache = GenerationCache(tmp_path / "c.sqlite")
    cache.put_later([("a", Generation("alpha", 1, 1, "stop"))])
    deadline = time.monotonic() + 10
    while rows_in(cache.path) == 0 and time.monotonic() < deadline:
        time.sleep(cache_mod.FLUSH_S / 2)
    assert rows_in(cache.path) == 1  # a run killed now would keep it


def test_reads_see_queued_writes_of_the_same_cache(tmp_path):
    cache = GenerationCache(tmp_path / "c.sqlite")
    cache.put_later([("a", Generation("alpha", 1, 1, "stop"))])
    assert cache.get_many(["a"])["a"].text == "alpha" and len(cache) == 1


def test_generate_writes_every_result_before_returning_in_batched_transactions(tmp_path, fake_server, monkeypatch):
    cache = GenerationCache(tmp_path / "c.sqlite")
    calls = []
    real = cache._write
    monkeypatch.setattr(cache, "_write", lambda rows, pr: (calls.append(len(rows)), real(rows, pr)))
    client = LLMClient(OpenAIBackend("m", fake_server.base_url, max_concurrency=4), cache)
    out = client.generate([f"q{i}" for i in range(60)], SamplingParams())
    assert [r[0].text for r in out] == [f"echo:q{i}#seed0#0" for i in range(60)]
    assert rows_in(cache.path) == 60  # another process would see all of them now
    assert sum(calls) == 60 and len(calls) < 60  # batched: fewer transactions than requests
    again = LLMClient(OpenAIBackend("m", fake_server.base_url), GenerationCache(tmp_path / "c.sqlite"))
    before = fake_server.requests
    assert [r[0].text for r in again.generate([f"q{i}" for i in range(60)])] == [r[0].text for r in out]
    assert fake_server.requests == before and again.stats["hits"] == 60


def test_a_damaged_file_is_repaired_by_the_writer(tmp_path, caplog):
    path = tmp_path / "c.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    cache = GenerationCache(path)
    cache.put_later([("a", Generation("alpha", 1, 1, "stop"))])
    cache.flush()
    assert len(cache.repairs) == 1 and os.path.exists(cache.repairs[0]["moved_to"])
    assert cache.get_many(["a"])["a"].text == "alpha"


def test_default_concurrency_feeds_a_batching_server():
    from resources.llm.settings import LLMSettings

    assert DEFAULT_MAX_CONCURRENCY >= 64
    assert OpenAIBackend("m", "http://127.0.0.1:1/v1").max_concurrency == DEFAULT_MAX_CONCURRENCY
    assert LLMSettings().max_concurrency == DEFAULT_MAX_CONCURRENCY
    assert "max_concurrency" in (LLMSettings.__doc__ or "")
