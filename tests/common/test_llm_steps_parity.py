"""Rejection sampling, evaluation predict, textbook Evol-Instruct and the SFT rewrite on ``common.llm_task.LLMTask`` give the same
rows, record ids, quarantine, counts and cache keys as the hand-written versions (issue 16, change 4).

``golden/llm_steps_parity.json`` was written by the hand-written ``rejection.sample_items``,
``evaluation.predict.predict``, ``textbooks.evol.evolve_chunks`` and ``traces.sft_assets.build_sft_examples``
(the commit before each move), with a scripted backend (a different text per sample index; the SFT rewrite: the
dual-expert ``ScriptedBackend``) behind the real ``LLMClient`` and its SQLite cache.
Regenerate only when an output change is intended:
``CITRUS_REGEN_GOLDEN=1 .venv/bin/python -m pytest tests/common/test_llm_steps_parity.py``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sqlite3
from pathlib import Path

import pyarrow as pa
import pytest

from citrus_assets.cpt_corpus.textbooks.evol import TopicFilter, evolve_chunks
from citrus_assets.evaluation.predict import predict, sampling_for
from citrus_assets.evaluation.registry import EVAL_ITEM_SCHEMA
from citrus_assets.model_training.preference import nonmedical as nm
from citrus_assets.model_training.preference.rejection import medical_items, nonmedical_items, sample_items
from citrus_assets.reasoning_data.schemas import OPEN_QUESTION_SCHEMA
from resources.lineage.schema import RECORD_ID, SOURCE_URI
from resources.llm import SamplingParams
from resources.llm.cache import GenerationCache
from resources.llm.client import LLMClient
from resources.llm.types import Generation
from tests.support.scripted_backend import Policy, ScriptedBackend

GOLDEN = Path(__file__).parent / "golden" / "llm_steps_parity.json"


class SampleBackend:
    """``Backend`` protocol: the answer is ``script[phrase][sample index]`` for the first phrase found in the
    prompt (a phrase's list cycles), "" when no phrase is found."""

    revision = "v1"

    def __init__(self, script: dict[str, list[str]], model_id: str = "scripted:parity") -> None:
        self.script, self.model_id, self.calls = script, model_id, 0

    def render(self, messages: list[dict]) -> str:
        return "".join(f"<|{m['role']}|>{m['content']}\n" for m in messages) + "<|assistant|>"

    def generate(self, requests, params) -> list[list[Generation]]:
        self.calls += 1
        out = []
        for req in requests:
            texts = next((v for k, v in self.script.items() if k in req.rendered), [""])
            out.append(
                [
                    Generation(t := texts[i % len(texts)], len(req.rendered.split()), len(t.split()), "stop", False, i)
                    for i in req.sample_indices
                ]
            )
        return out


def _client(path: Path, script: dict[str, list[str]]) -> LLMClient:
    return LLMClient(SampleBackend(script), GenerationCache(path))


def _keys(path: Path) -> list[str]:
    with sqlite3.connect(path) as conn:
        tables = [r[0] for r in conn.execute("select name from sqlite_master where type='table'")]
        table = next(t for t in tables if "prompt" not in t)
        return sorted(r[0] for r in conn.execute(f"select key from {table}"))


# -- rejection sampling -----------------------------------------------------------------------------------------
OPTS = [("A", "Aspirin"), ("B", "Ibuprofen"), ("C", "Warfarin"), ("D", "Heparin")]
MIXED = "Which drug is an irreversible COX inhibitor used after a heart attack?"
WRONG = "Which drug prevents clots after surgery in this mixed case?"
MATH = "What is 12 times 12?"


def _ans(text: str, think: str = "thinking") -> str:
    return f"<think>{think}</think>\n<answer>{text}</answer>"


def _oq(i: int, question: str, letters=("A",), options=OPTS) -> dict:
    return {
        "record_id": f"oq-{i:020x}",
        "parent_ids": [f"qseed-{i:020x}"],
        "question_id": f"qseed-{i:020x}",
        "language": "en",
        "closed_stem": question,
        "open_question": question,
        "ground_truth": "; ".join(t for letter, t in options if letter in letters),
        "answer_letters": list(letters),
        "options": [{"letter": letter, "text": t} for letter, t in options],
        "rewrite_method": "rule",
        "rewrite_rejections": [],
        "prompt": "",
    }


REJECTION_SCRIPT = {
    MIXED: [_ans("Aspirin"), _ans("Ibuprofen"), _ans("A")],
    WRONG: [_ans("Warfarin"), "no answer tags at all"],
    MATH: [_ans("144"), _ans("\\boxed{144.0}"), _ans("124")],
}


def _rejection(tmp: Path) -> dict:
    questions = pa.Table.from_pylist(
        [_oq(1, MIXED), _oq(2, WRONG, letters=("D",)), _oq(3, "", letters=("A",)), _oq(4, MIXED, letters=())],
        schema=OPEN_QUESTION_SCHEMA,
    )
    refs = {"oq-" + f"{1:020x}": (_ans("Aspirin"), "sft-1"), "oq-" + f"{2:020x}": (_ans("Aspirin"), "sft-2")}
    med = medical_items(questions, references=refs)
    items = med.items + nonmedical_items([nm.Problem("src-" + "0" * 20, "x.jsonl", "line 1", MATH, "144", "12*12=144")])
    path = tmp / "rejection.sqlite"
    llm = _client(path, REJECTION_SCRIPT)
    table = sample_items(items, llm, SamplingParams(n=3, temperature=1.0, max_tokens=64, seed=0))
    empty = sample_items([], llm, SamplingParams(n=3))
    llm.cache.flush()
    return {
        "rows": table.to_pylist(),
        "schema": str(table.schema),
        "empty_rows": empty.num_rows,
        "quarantine": [dataclasses.asdict(q) for q in med.quarantine],
        "backend_calls": llm.backend.calls,
        "keys": _keys(path),
    }


# -- evaluation predict -----------------------------------------------------------------------------------------
def _item(stem: str, letters=("B",), n_opts=4, context="") -> dict:
    return {
        "record_id": f"evalq-{stem}",
        "parent_ids": ["src"],
        "benchmark": "medqa",
        "question_id": "q-" + stem,
        "source_uri": "f",
        "source_locator": "line 1",
        "seed_set": "s",
        "source": "medqa",
        "split": "test",
        "language": "en",
        "stem": stem,
        "context": context,
        "options": [{"letter": letter, "text": f"text {letter}"} for letter in "ABCDEFGHIJ"[:n_opts]],
        "answer_letters": list(letters),
        "meta": "{}",
    }


PREDICT_SCRIPT = {
    "Which drug first?": ["<answer>B</answer>", "<answer>C</answer>", "<answer>B</answer>"],
    "Which test second?": ["nothing", "nothing", "still nothing"],
    "Which one of ten?": ["<answer>J</answer>", "<answer>j</answer>", "<answer>A</answer>"],
}


def _predict(tmp: Path) -> dict:
    items = pa.Table.from_pylist(
        [
            _item("Which drug first?"),
            _item("Which test second?", letters=("A",), context="BACKGROUND: an abstract."),
            _item("Which one of ten?", n_opts=10, letters=("J",)),
        ],
        schema=EVAL_ITEM_SCHEMA,
    )
    out = {}
    for name, n, style, ckpt in (("voted", 3, "citrus", "ckpt-1"), ("greedy_plain", 1, "plain", "")):
        path = tmp / f"predict_{name}.sqlite"
        llm = _client(path, PREDICT_SCRIPT)
        params = sampling_for(n, 32, 0.7 if n > 1 else 0.0, 1.0, 0)
        table = predict(items, llm, params, model_key="fake", prompt_style=style, checkpoint_id=ckpt)
        again = predict(items, llm, params, model_key="fake", prompt_style=style, checkpoint_id=ckpt)  # cached
        llm.cache.flush()
        out[name] = {
            "rows": table.to_pylist(),
            "cached_rows": again.to_pylist(),
            "empty_rows": predict(items.slice(0, 0), llm, params, model_key="fake", prompt_style=style).num_rows,
            "backend_calls": llm.backend.calls,
            "keys": _keys(path),
        }
    return out


# -- textbook Evol-Instruct --------------------------------------------------------------------------------------
CHUNK_A = (
    "Iron deficiency anemia is the most common anemia worldwide. Ferritin is low and the red cells are "
    "microcytic and hypochromic. Treatment is oral iron and finding the source of blood loss."
)
CHUNK_B = (
    "Community-acquired pneumonia presents with fever, cough and a lobar infiltrate. Streptococcus pneumoniae "
    "is the most common cause; amoxicillin is a first-line antibiotic for outpatients."
)
GOOD_A = (
    "Question: Which laboratory finding best confirms iron deficiency anemia in a woman with heavy menses and "
    "microcytic red cells?\nAnswer: A low serum ferritin confirms iron deficiency anemia; oral iron is started "
    "and the source of blood loss is sought."
)
GOOD_B = (
    "Question: What is the most common bacterial cause of community-acquired pneumonia with a lobar "
    "infiltrate?\nAnswer: Streptococcus pneumoniae is the most common cause, and amoxicillin is a first-line "
    "antibiotic for outpatients."
)
EVOL_SCRIPT = {
    # per sample index (cycling): good, refusal, unparseable | good, off topic, empty; the 4th sample repeats the
    # 1st (a duplicate of a kept pair of the same chunk and operator)
    "Iron deficiency anemia is the most common": [
        GOOD_A,
        "I'm sorry, but I cannot help with that.",
        "Ferritin is low in iron deficiency, and oral iron is the usual treatment.",
    ],
    "Community-acquired pneumonia presents": [
        GOOD_B,
        "Question: What is the capital of France?\nAnswer: Paris is the capital city of France in Europe.",
        "",
    ],
}


def _evol(tmp: Path) -> dict:
    chunks = pa.Table.from_pylist(
        [
            {RECORD_ID: "tbc-" + "a" * 20, SOURCE_URI: "book.md", "heading_path": "Blood > Anemia", "text": CHUNK_A},
            {RECORD_ID: "tbc-" + "b" * 20, SOURCE_URI: "book.md", "heading_path": "Lung > Pneumonia", "text": CHUNK_B},
        ]
    )
    out = {}
    for name, n, ops in (("two_samples", 2, ("deepen", "concretize")), ("four_samples", 4, ("reasoning",))):
        path = tmp / f"evol_{name}.sqlite"
        llm = _client(path, EVOL_SCRIPT)
        res = evolve_chunks(
            chunks, llm, SamplingParams(n=n, temperature=0.7, max_tokens=64, seed=1), ops, TopicFilter()
        )
        again = evolve_chunks(chunks, llm, SamplingParams(n=n, temperature=0.7, max_tokens=64, seed=1), ops)
        llm.cache.flush()
        out[name] = {
            "rows": res.table.to_pylist(),
            "rejects": [dataclasses.asdict(q) for q in res.rejects],
            "stats": res.stats,
            "cached_stats": again.stats,
            "backend_calls": llm.backend.calls,
            "keys": _keys(path),
        }
    with pytest.raises(ValueError, match="unknown evolution operator"):
        evolve_chunks(chunks, _client(tmp / "bad.sqlite", EVOL_SCRIPT), SamplingParams(), ["nonsense"])
    return out


# -- SFT rewrite ---------------------------------------------------------------------------------------------------
SFT_GOOD = (
    "<think>Low ferritin and microcytosis... wait, let me reconsider B12: no, MCV is low.</think>\n"
    "<answer>Iron deficiency anemia</answer>"
)


class SftPolicy(Policy):
    """Question 1: a leak on the first try, clean (with white space around it) on the retry; question 2: wrong."""

    def rewrite(self, prompt: str) -> str:
        if "low ferritin" in prompt:
            return (
                SFT_GOOD.replace("Low ferritin", "The reviewer noted low ferritin")
                if self.params.seed == 0
                else f"\n {SFT_GOOD}\n\n"
            )
        return "<think>Macrocytosis and neuropathy.</think><answer>Iron deficiency anemia</answer>"


def _sft(tmp: Path) -> dict:
    from citrus_assets.reasoning_data.traces.dual_expert import LoopConfig
    from citrus_assets.reasoning_data.traces.sft_assets import SftRewriteConfig, build_sft_examples
    from citrus_assets.reasoning_data.traces.trace_rows import run_traces
    from tests.reasoning_data.test_sft_examples import scripted_policy, scripted_questions

    questions = scripted_questions()
    out = {}
    for name, attempts in (("retry", 2), ("one_attempt", 1)):
        path = tmp / f"sft_{name}.sqlite"
        llm = LLMClient(ScriptedBackend(scripted_policy(questions, SftPolicy)), GenerationCache(path))
        traces, _, _ = run_traces(questions, llm, LoopConfig())
        orphan = {**traces.to_pylist()[0], RECORD_ID: "trace-orphan", "question_id": "oq-missing"}
        traces = pa.concat_tables([traces, pa.Table.from_pylist([orphan], schema=traces.schema)])
        table, dropped, stats = build_sft_examples(traces, questions, llm, SftRewriteConfig(max_attempts=attempts))
        llm.cache.flush()
        out[name] = {
            "rows": table.to_pylist(),
            "quarantine": [dataclasses.asdict(q) for q in dropped],
            "stats": stats,
            "keys": _keys(path),
        }
    return out


def _outputs(tmp: Path) -> dict:
    out = {"rejection": _rejection(tmp), "predict": _predict(tmp), "evol": _evol(tmp), "sft_rewrite": _sft(tmp)}
    return json.loads(json.dumps(out, ensure_ascii=False, default=str))


def test_moved_steps_match_the_hand_written_ones(tmp_path):
    got = _outputs(tmp_path)
    if os.environ.get("CITRUS_REGEN_GOLDEN"):
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps(got, ensure_ascii=False, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        pytest.skip("golden file rewritten")
    want = json.loads(GOLDEN.read_text(encoding="utf-8"))
    # the fixture exercises every path: rewards 1 and 0, a reference kept and one refused, unverifiable questions,
    # votes with ties and no answers, cache hits on the second run, every Evol drop reason but degenerate
    rej = want["rejection"]
    assert len(rej["rows"]) == 9 and {r["reward"] for r in rej["rows"]} == {0.0, 1.0}
    assert len(rej["quarantine"]) == 2 and rej["empty_rows"] == 0
    assert [r["cached"] for r in want["predict"]["voted"]["cached_rows"]] == [True] * 3
    assert want["predict"]["voted"]["backend_calls"] == 1
    drops = want["evol"]["four_samples"]["stats"]["dropped_by_reason"]
    assert all(drops[k] for k in ("refusal", "duplicate", "off_topic", "empty", "unparseable")), drops
    sft = want["sft_rewrite"]
    assert [len(sft[k]["rows"]) for k in ("retry", "one_attempt")] == [1, 0]
    assert sft["retry"]["rows"][0]["response"] == SFT_GOOD and len(sft["one_attempt"]["quarantine"]) == 3
    for step in want:
        assert got[step] == want[step], step
