"""``common.llm_task.LLMTask``: a new step written in ~30 lines gets batching, retries, raw input/output, the
gen_* columns, quarantine with reasons and counts from the base."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import ClassVar

import pyarrow as pa
import pytest

from citrus_assets.common.llm_task import LLMTask, Reject, Reply
from citrus_assets.common.prompts import code_version, load_prompt, prompt_hash
from resources.lineage.ids import record_id
from resources.lineage.schema import GEN_FIELDS, PARENT_IDS, RECORD_ID, SOURCE_URI
from resources.llm import Generation, Prompt, SamplingParams


# ------------------------------------------------------------------- a whole new step (as in the module docstring)
@dataclass
class Shorten(LLMTask):
    name: ClassVar[str] = "short_questions"
    prompts: ClassVar[tuple[str, ...]] = ("open_rewrite_en",)
    schema: ClassVar[pa.Schema] = pa.schema(
        [
            (RECORD_ID, pa.string()),
            (PARENT_IDS, pa.list_(pa.string())),
            ("short", pa.string()),
            ("prompt", pa.string()),
            ("response", pa.string()),
            ("cached", pa.bool_()),
            *GEN_FIELDS,
        ]
    )

    def check_input(self, row: dict) -> Reject | None:
        return None if row["stem"].strip() else Reject("empty_stem", raw=row)

    def format_input(self, row: dict) -> Prompt:
        return [{"role": "user", "content": load_prompt("open_rewrite_en").render(question=row["stem"])}]

    def format_output(self, row: dict, reply: Reply) -> dict | Reject:
        text = reply.text.strip()
        reasons = [
            r
            for r, bad in (
                ("empty", not text),
                ("too_long: over 40 chars", len(text) > 40),
                ("truncated", reply.generation.finish_reason == "length"),
            )
            if bad
        ]
        if reasons:
            return Reject(*reasons)
        return {RECORD_ID: record_id("openq", row[RECORD_ID], text), PARENT_IDS: [row[RECORD_ID]], "short": text}


# ----------------------------------------------------------------------------------------------------------------


class FakeLLM:
    def __init__(self, replies):
        self.replies, self.model_id, self.model_revision, self.calls = replies, "fake", "r1", []

    def render(self, prompt):
        return "\n".join(m["content"] for m in prompt)

    def generate(self, prompts, params):
        self.calls.append((len(prompts), params))
        return [[Generation(self.replies(self.render(p), len(self.calls)), 7, 3, "stop", False)] for p in prompts]


ROWS = pa.Table.from_pylist(
    [
        {RECORD_ID: "qseed-1", "stem": "Which vitamin deficiency causes scurvy?", SOURCE_URI: "a.jsonl"},
        {RECORD_ID: "qseed-2", "stem": "   ", SOURCE_URI: "a.jsonl"},
        {
            RECORD_ID: "qseed-3",
            "stem": "A long stem that the model keeps too long on every single try?",
            SOURCE_URI: "a.jsonl",
        },
        {RECORD_ID: "qseed-4", "stem": "What is the first-line drug for anaphylaxis?", SOURCE_URI: "a.jsonl"},
    ]
)


def reply(prompt: str, call: int) -> str:
    if "scurvy" in prompt:
        return "Scurvy cause?"
    if "anaphylaxis" in prompt:
        return "" if call == 1 else "Anaphylaxis drug?"  # accepted on the retry
    return "x" * 60


def test_a_new_step_gets_the_whole_cycle_from_the_base():
    llm = FakeLLM(reply)
    table, quarantine, stats = Shorten(retries=1).run(ROWS, llm, SamplingParams(max_tokens=16, seed=4))
    # one batched call per round; the retry asks only the rejected rows, sampled with seed + 1
    assert [n for n, _ in llm.calls] == [3, 2]
    assert llm.calls[1][1].temperature == 0.8 and llm.calls[1][1].seed == 5 and llm.calls[0][1].temperature == 0
    rows = {r[PARENT_IDS][0]: r for r in table.to_pylist()}
    assert set(rows) == {"qseed-1", "qseed-4"} and table.schema == Shorten.schema
    first = rows["qseed-1"]
    assert first["short"] == "Scurvy cause?" and first["response"] == "Scurvy cause?" and "scurvy" in first["prompt"]
    assert first["gen_prompt_template"] == "open_rewrite_en" and first["gen_prompt_hash"] == prompt_hash(
        "open_rewrite_en"
    )
    assert (first["gen_model_id"], first["gen_prompt_tokens"], first["gen_completion_tokens"]) == ("fake", 7, 3)
    assert json.loads(rows["qseed-4"]["gen_sampling"])["seed"] == 5  # the sampling of the round that answered
    # rejects are quarantined with every reason, in input order; a bad input is never sent
    assert [(q.source_uri, q.source_locator) for q in quarantine] == [("a.jsonl", "qseed-2"), ("a.jsonl", "qseed-3")]
    assert quarantine[0].reason == "empty_stem" and json.loads(quarantine[0].raw)["stem"] == "   "
    assert quarantine[1].reason == ("attempt 1: too_long: over 40 chars; attempt 2: too_long: over 40 chars")
    assert quarantine[1].raw == "x" * 60  # the last response
    assert stats == {
        "llm_calls": 2,
        "rounds": 2,
        "accepted": 2,
        "accepted_on_retry": 1,
        "fallback": 0,
        "quarantined": 2,
        "cache_hits": 0,
        "prompt_tokens": 35,
        "generated_tokens": 15,
        "rejections": {"too_long": 2, "empty": 1},
        "counts": {},
    }


def test_no_rows_no_call_and_fallback_rows_have_no_gen_columns():
    llm = FakeLLM(lambda p, c: "")

    @dataclass
    class WithFallback(Shorten):
        def fallback(self, row: dict, rejections: list[str], last: Reject) -> dict | Reject:
            return {
                RECORD_ID: record_id("openq", row[RECORD_ID], "rule"),
                PARENT_IDS: [row[RECORD_ID]],
                "short": row["stem"][:10],
                "prompt": "",
            }

    table, quarantine, stats = WithFallback().run(ROWS.slice(0, 0), llm, SamplingParams())
    assert llm.calls == [] and table.num_rows == 0 and quarantine == [] and stats["llm_calls"] == 0
    table, quarantine, stats = WithFallback().run(ROWS, llm, SamplingParams())
    assert len(llm.calls) == 1 and stats["fallback"] == 3 and len(quarantine) == 1
    assert all(r["gen_model_id"] is None and r["prompt"] == "" for r in table.to_pylist())


def test_code_version_hashes_the_step_prompts_and_reject_needs_a_reason():
    assert Shorten.code_version("short-v1") == code_version("short-v1", "open_rewrite_en")
    with pytest.raises(ValueError):
        Reject()


def test_the_docstring_step_is_the_one_tested_here():
    import textwrap

    from citrus_assets.common import llm_task

    doc = llm_task.__doc__ or ""
    code = textwrap.dedent(doc[doc.index("::\n\n") + 4 : doc.index("\n\n    table, quarantine, stats")])
    ns = {
        "dataclass": dataclass,
        "ClassVar": ClassVar,
        "pa": pa,
        "LLMTask": LLMTask,
        "Reject": Reject,
        "Reply": Reply,
        "Prompt": Prompt,
        "RECORD_ID": RECORD_ID,
        "PARENT_IDS": PARENT_IDS,
        "GEN_FIELDS": GEN_FIELDS,
        "load_prompt": load_prompt,
        "record_id": record_id,
    }
    exec(compile("from __future__ import annotations\n" + code, "llm_task docstring", "exec"), ns)
    params = SamplingParams(max_tokens=16, seed=4)
    documented = ns["Shorten"](retries=1).run(ROWS, FakeLLM(reply), params)
    tested = Shorten(retries=1).run(ROWS, FakeLLM(reply), params)
    assert documented.table.to_pylist() == tested.table.to_pylist() and documented.stats == tested.stats
    assert documented.table.num_rows == 2


# ------------------------------------------------------------------- n > 1 samples: one row per prompt or per sample
class SampleLLM(FakeLLM):
    """``params.n`` samples: sample k of a prompt answers ``replies(prompt, k)``; sample 1 is cached."""

    def generate(self, prompts, params):
        self.calls.append((len(prompts), params))
        return [
            [Generation(self.replies(self.render(p), k), 7, 2 + k, "stop", k == 1, k) for k in range(params.n)]
            for p in prompts
        ]


@dataclass
class ShortenEach(Shorten):
    per_sample: ClassVar[bool] = True

    def format_output(self, row: dict, reply: Reply) -> dict | Reject:
        out = super().format_output(row, reply)
        return out if isinstance(out, Reject) else {**out, RECORD_ID: f"{out[RECORD_ID]}-{reply.index}"}


def sample_reply(prompt: str, k: int) -> str:
    return "" if k == 2 else f"Short {k}?"


def test_samples_one_row_per_prompt_sees_them_all_and_sums_their_tokens():
    seen = []

    class Vote(Shorten):
        def format_output(self, row, reply):
            seen.append([g.text for g in reply.samples])
            return super().format_output(row, reply)

    rows = ROWS.slice(0, 1)
    table, bad, stats = Vote().run(rows, SampleLLM(sample_reply), SamplingParams(n=3, max_tokens=16))
    (row,) = table.to_pylist()
    assert seen == [["Short 0?", "Short 1?", ""]] and row["response"] == "Short 0?" and not bad
    assert row["gen_completion_tokens"] == 2 + 3 + 4 and row["cached"] is False  # not every sample was cached
    assert (stats["accepted"], stats["generated_tokens"], stats["cache_hits"]) == (1, 9, 0)


def test_per_sample_rows_and_each_rejected_sample_quarantined_on_its_own():
    rows = ROWS.slice(0, 1)
    llm = SampleLLM(sample_reply)
    table, bad, stats = ShortenEach().run(rows.to_pylist(), llm, SamplingParams(n=3, max_tokens=16))
    got = table.to_pylist()
    assert [r["short"] for r in got] == ["Short 0?", "Short 1?"] and [r["cached"] for r in got] == [False, True]
    assert [r["gen_completion_tokens"] for r in got] == [2, 3] and len(llm.calls) == 1
    assert [(q.source_locator, q.reason) for q in bad] == [("qseed-1", "empty")]
    assert (stats["accepted"], stats["quarantined"], stats["cache_hits"], stats["rejections"]) == (
        2,
        1,
        1,
        {"empty": 1},
    )
    with pytest.raises(ValueError, match="no retries"):
        ShortenEach(retries=1).run(rows, llm, SamplingParams(n=2))
