import logging
import sqlite3
import subprocess
import sys
import textwrap

import pytest

from resources.llm import Generation, GenerationCache, LLMBackendError, LLMClient, SamplingParams, cache_key

WEIRD = "naïve ☃ 🍋 \x00 \r\n tab\t \ufffd \ud800 end"  # NUL, CRLF, replacement char, lone surrogate


class CountingBackend:
    """Deterministic fake backend that records what it was asked for."""

    model_id = "fake-model"
    revision = "r1"

    def __init__(self, fail: bool = False):
        self.calls: list[list] = []
        self.fail = fail

    def render(self, messages):
        return "|".join(f"{m['role']}:{m['content']}" for m in messages)

    def generate(self, requests, params):
        if self.fail:
            raise AssertionError("backend must not be called")
        self.calls.append([(r.rendered, r.sample_indices) for r in requests])
        return [
            [Generation(f"{r.rendered}#{s}{WEIRD}", len(r.rendered), 7 + s, "stop", False, s) for s in r.sample_indices]
            for r in requests
        ]


def test_roundtrip_is_byte_identical(tmp_path):
    cache = GenerationCache(tmp_path / "c.sqlite")
    key = cache_key("m", "r", "prompt", SamplingParams(), 0)
    cache.put_many([(key, Generation(WEIRD, 3, 4, "length"))])
    got = GenerationCache(tmp_path / "c.sqlite").get_many([key, "missing"])
    assert list(got) == [key]
    g = got[key]
    assert g.text == WEIRD and g.text.encode("utf-8", "surrogatepass") == WEIRD.encode("utf-8", "surrogatepass")
    assert (g.prompt_tokens, g.completion_tokens, g.finish_reason, g.cached) == (3, 4, "length", True)
    assert sqlite3.connect(tmp_path / "c.sqlite").execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_cache_key_parts():
    p = SamplingParams()
    base = cache_key("m", "r", "x", p, 0)
    assert base == cache_key("m", "r", "x", SamplingParams(n=4), 0)
    assert (
        len(
            {
                base,
                cache_key("m2", "r", "x", p, 0),
                cache_key("m", "r2", "x", p, 0),
                cache_key("m", "r", "y", p, 0),
                cache_key("m", "r", "x", p, 1),
                cache_key("m", "r", "x", SamplingParams(max_tokens=9), 0),
            }
        )
        == 6
    )


def test_hit_after_restart_without_calling_backend(tmp_path):
    path = tmp_path / "c.sqlite"
    prompts = ["a", [{"role": "system", "content": "s"}, {"role": "user", "content": "b"}]]
    params = SamplingParams(n=2, temperature=0.7)
    first_backend = CountingBackend()
    first = LLMClient(first_backend, GenerationCache(path)).generate(prompts, params)
    assert len(first_backend.calls) == 1 and all(not g.cached for row in first for g in row)

    restarted = LLMClient(CountingBackend(fail=True), GenerationCache(path))  # new objects, same file
    again = restarted.generate(prompts, params)
    assert [[g.text for g in row] for row in again] == [[g.text for g in row] for row in first]
    assert all(g.cached for row in again for g in row)
    assert [[(g.prompt_tokens, g.completion_tokens, g.finish_reason, g.sample_index) for g in r] for r in again] == [
        [(g.prompt_tokens, g.completion_tokens, g.finish_reason, g.sample_index) for g in r] for r in first
    ]
    assert restarted.stats["hits"] == 4 and restarted.stats["misses"] == 0
    assert restarted.cache.hits == 4


def test_only_misses_are_sent_and_duplicates_generated_once(tmp_path):
    backend = CountingBackend()
    client = LLMClient(backend, GenerationCache(tmp_path / "c.sqlite"))
    client.generate(["a"], SamplingParams(n=2, temperature=1.0))
    out = client.generate(["a", "b", "b"], SamplingParams(n=4, temperature=1.0))
    assert backend.calls[1] == [("user:a", (2, 3)), ("user:b", (0, 1, 2, 3))]
    assert [g.cached for g in out[0]] == [True, True, False, False]
    assert [g.text for g in out[1]] == [g.text for g in out[2]]
    # generated: "a" samples 0..3 and "b" samples 0..3, completion tokens 7 + s each
    assert client.stats == {
        "hits": 2,
        "misses": 12,
        "generated_tokens": 2 * (7 + 8 + 9 + 10),
        "prompt_tokens": 8 * len("user:a"),
        "backend_calls": 2,
        "prompts_too_long": 0,
        "cache_repairs": 0,
    }


def test_use_cache_false_always_generates():
    backend = CountingBackend()
    client = LLMClient(backend, None)
    client.generate(["a"])
    client.generate(["a"])
    assert len(backend.calls) == 2


@pytest.mark.parametrize(
    "tamper",
    [
        "UPDATE generations SET text = X'00ff'",
        "UPDATE generations SET checksum = 'deadbeef'",
        "UPDATE generations SET prompt_tokens = 'abc'",
    ],
)
def test_corrupt_entry_is_a_miss_and_is_regenerated(tmp_path, caplog, tamper):
    path = tmp_path / "c.sqlite"
    first = LLMClient(CountingBackend(), GenerationCache(path)).generate(["a", "b"])
    con = sqlite3.connect(path)
    key_a = cache_key("fake-model", "r1", "user:a", SamplingParams(), 0)
    con.execute(tamper + " WHERE key = ?", (key_a,))
    con.commit()
    con.close()
    backend = CountingBackend()
    client = LLMClient(backend, GenerationCache(path))
    with caplog.at_level(logging.WARNING, logger="resources.llm.cache"):
        out = client.generate(["a", "b"])
    assert "corrupt" in caplog.text
    assert backend.calls == [[("user:a", (0,))]]  # only the corrupt one regenerated
    assert out[0][0].text == first[0][0].text and not out[0][0].cached and out[1][0].cached
    third = LLMClient(CountingBackend(fail=True), GenerationCache(path)).generate(["a", "b"])  # overwritten: valid
    assert all(row[0].cached for row in third)


def test_unreadable_cache_file_is_moved_aside(tmp_path, caplog):
    path = tmp_path / "c.sqlite"
    path.write_bytes(b"this is not a sqlite database" * 100)
    with caplog.at_level(logging.WARNING, logger="resources.llm.cache"):
        out = LLMClient(CountingBackend(), GenerationCache(path)).generate(["a"])
    assert out[0][0].text.startswith("user:a#0")
    assert "unreadable" in caplog.text and list(tmp_path.glob("c.sqlite.corrupt-*"))


def test_partial_results_are_cached_when_backend_fails(tmp_path):
    class HalfFailing(CountingBackend):
        def generate(self, requests, params):
            good = super().generate(requests, params)
            err = LLMBackendError("endpoint http://x failed")
            err.partial = [good[0]] + [None] * (len(requests) - 1)
            raise err

    path = tmp_path / "c.sqlite"
    with pytest.raises(LLMBackendError):
        LLMClient(HalfFailing(), GenerationCache(path)).generate(["a", "b"])
    out = LLMClient(CountingBackend(fail=True), GenerationCache(path)).generate(["a"])
    assert out[0][0].cached


WRITER = textwrap.dedent("""
    import sys
    from resources.llm import Generation, GenerationCache, SamplingParams, cache_key
    cache = GenerationCache({path!r})
    worker = int(sys.argv[1])
    p = SamplingParams()
    for batch in range(30):
        items = []
        for j in range(10):
            i = batch * 10 + j
            # keys 0..299 overlap between the two workers (same content), 1000+ are private
            items.append((cache_key("m", "r", f"p{{i}}", p, 0), Generation(f"text {{i}}", i, i, "stop")))
            items.append((cache_key("m", "r", f"w{{worker}}-{{i}}", p, 0), Generation(f"w{{worker}} {{i}}", 1, 2, "stop")))
        cache.put_many(items)
        got = cache.get_many([k for k, _ in items])
        assert len(got) == len(items), (len(got), len(items))
    print("ok")
""")


def test_concurrent_writers_from_two_processes(tmp_path):
    path = tmp_path / "shared.sqlite"
    script = tmp_path / "writer.py"
    script.write_text(WRITER.format(path=str(path)))
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(w)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for w in (1, 2)
    ]
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0 and out.strip() == "ok", err
    cache = GenerationCache(path)
    assert len(cache) == 300 + 2 * 300
    p = SamplingParams()
    got = cache.get_many([cache_key("m", "r", f"p{i}", p, 0) for i in range(300)])
    assert len(got) == 300 and got[cache_key("m", "r", "p42", p, 0)].text == "text 42"
