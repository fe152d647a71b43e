"""The steps moved onto ``common.llm_task.LLMTask`` give the same rows, record ids, quarantine, counts and cache
keys as before the move (issue 16, change 4).

``golden/llm_task_parity.json`` was written by the hand-written versions of ``seeds.judging.answer_with_panel``
and ``questions.rewrite.rewrite_seeds`` (commit before the move), with the scripted backend behind the real
``LLMClient`` and its SQLite cache. Regenerate only when an output change is intended:
``CITRUS_REGEN_GOLDEN=1 .venv/bin/python -m pytest tests/reasoning_data/test_llm_task_parity.py``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sqlite3
from pathlib import Path

import pyarrow as pa
import pytest

from citrus_assets.reasoning_data.questions.rewrite import RewriteSettings, rewrite_seeds
from citrus_assets.reasoning_data.seeds.judging import answer_with_panel, judge_stats
from citrus_assets.reasoning_data.seeds.seed_files import SEED_SCHEMA, make_seed
from resources.llm import SamplingParams
from resources.llm.cache import GenerationCache
from resources.llm.client import LLMClient
from tests.support.scripted_backend import Policy, ScriptedBackend

GOLDEN = Path(__file__).parent / "golden" / "llm_task_parity.json"


def _seed(stem: str, options: dict[str, str], answer: str, n: int) -> dict:
    return make_seed(
        uri="parity.jsonl",
        locator=f"line {n}",
        raw=stem.encode(),
        seed_set="t",
        source="medqa",
        split="train",
        stem=stem,
        options=options,
        answers=[answer],
    )


ANEMIA = _seed(
    "A 24-year-old woman has heavy menses. Hemoglobin is 9.1 g/dL and ferritin 6 ng/mL. "
    "Which of the following is the most likely diagnosis?",
    {"A": "Iron deficiency anemia", "B": "Vitamin B12 deficiency", "C": "Thalassemia trait"},
    "A",
    1,
)
MI = _seed(
    "A 58-year-old man has chest pain for 40 minutes with ST elevation in II, III and aVF. "
    "Which coronary artery is most likely occluded?",
    {"A": "Left anterior descending artery", "B": "Left circumflex artery", "C": "Right coronary artery"},
    "C",
    2,
)
ZH = _seed(
    "患者男，45岁，发热3天，体温39.5℃，咳铁锈色痰。胸片示右下肺大片实变影。最可能的诊断是",
    {"A": "大叶性肺炎", "B": "肺结核", "C": "肺癌"},
    "A",
    3,
)
NO_TRUTH = {
    **_seed(
        "A 30-year-old man has a fever of 39 C for 2 days. What is the most likely cause?",
        {"A": "Influenza", "B": "Malaria"},
        "A",
        4,
    ),
    "answer_letters": ["D"],
}  # the key is not an option
SEEDS = pa.Table.from_pylist([ANEMIA, MI, ZH], schema=SEED_SCHEMA)
SEEDS_WITH_BAD = pa.Table.from_pylist([ANEMIA, NO_TRUTH, MI, ZH], schema=SEED_SCHEMA)
GOOD = {
    "Hemoglobin": "A 24-year-old woman has heavy menses, hemoglobin 9.1 g/dL and ferritin 6 ng/mL. "
    "What is the most likely diagnosis?",
    "coronary": "A 58-year-old man has 40 minutes of chest pain with ST elevation in II, III and aVF. "
    "Which coronary artery is occluded?",
}


class Clinician(Policy):
    """Judging: answers A (right for two seeds); rewrite: the MI seed is bad on the greedy round, good on retry;
    the Chinese seed always comes back empty (rule fallback or quarantine)."""

    def other(self, prompt: str) -> str:
        if "<Question>" in prompt:
            return "<think>iron studies</think>\n<answer>A</answer>"
        if "coronary" in prompt and self.params is not None and self.params.temperature == 0:
            return "Which artery is occluded?\nA. LAD\nB. Circumflex"
        return next((v for k, v in GOOD.items() if k in prompt), "")


def _client(path: Path, model: str = "scripted:parity") -> LLMClient:
    return LLMClient(ScriptedBackend(Clinician(), model_id=model), GenerationCache(path))


def _keys(path: Path) -> list[str]:
    with sqlite3.connect(path) as conn:
        tables = [r[0] for r in conn.execute("select name from sqlite_master where type='table'")]
        table = next(t for t in tables if "prompt" not in t)
        return sorted(r[0] for r in conn.execute(f"select key from {table}"))


def _outputs(tmp: Path) -> dict:
    out: dict = {}
    panel = [
        ("strong", _client(tmp / "judge.sqlite", "scripted:strong")),
        ("weak", _client(tmp / "judge.sqlite", "scripted:weak")),
    ]
    answers = answer_with_panel(SEEDS, panel, SamplingParams(max_tokens=32))
    for _, llm in panel:
        llm.cache.flush()
    out["judging"] = {"rows": answers.to_pylist(), "stats": judge_stats(answers), "keys": _keys(tmp / "judge.sqlite")}
    for name, settings in (
        ("rewrite_retry_fallback", RewriteSettings(retries=1, seed=3)),
        ("rewrite_quarantine", RewriteSettings(retries=0, rule_fallback=False)),
    ):
        path = tmp / f"{name}.sqlite"
        llm = _client(path)
        res = rewrite_seeds(SEEDS_WITH_BAD, llm, settings)
        llm.cache.flush()
        out[name] = {
            "rows": res.table().to_pylist(),
            "quarantine": [dataclasses.asdict(q) for q in res.quarantine],
            "counts": res.counts,
            "rejection_reasons": res.rejection_reasons,
            "llm_calls": res.llm_calls,
            "cache_hits": res.cache_hits,
            "generated_tokens": res.generated_tokens,
            "rounds": res.rounds,
            "refers_to_options": res.refers_to_options,
            "keys": _keys(path),
        }
    return json.loads(json.dumps(out, ensure_ascii=False))


def test_migrated_steps_match_the_hand_written_ones(tmp_path):
    got = _outputs(tmp_path)
    if os.environ.get("CITRUS_REGEN_GOLDEN"):
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps(got, ensure_ascii=False, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        pytest.skip("golden file rewritten")
    want = json.loads(GOLDEN.read_text(encoding="utf-8"))
    # the fixture exercises every path: accepted, accepted on retry, rule fallback, quarantine before and after asking
    rr = want["rewrite_retry_fallback"]
    assert rr["counts"] == {"llm_accepted": 2, "llm_accepted_on_retry": 1, "rule_fallback": 1, "quarantined": 1}
    assert want["rewrite_quarantine"]["counts"]["quarantined"] == 3 and len(want["judging"]["rows"]) == 6
    for step in want:
        assert got[step] == want[step], step
