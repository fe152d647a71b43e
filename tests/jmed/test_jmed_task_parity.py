"""JMED's EMR extraction and question generation give the same rows, record ids, quarantine, counts and cache keys
before and after their move onto ``common.llm_task.LLMTask`` (issue 16, change 4).

``golden/jmed_task_parity.json`` was written by the hand-written ``jmed.steps.extract_emr`` /
``generate_questions`` (the commit before the move) on the repo's sample consultations of 2026-11, with the
scripted backend behind the real ``LLMClient`` and its cache. Regenerate only when an output change is intended:
``CITRUS_REGEN_GOLDEN=1 .venv/bin/python -m pytest tests/jmed/test_jmed_task_parity.py``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import sqlite3
from pathlib import Path

import pytest

from citrus_assets.jmed import steps
from citrus_assets.jmed.consultations.dialogues import load_month
from resources.llm import SamplingParams
from resources.llm.cache import GenerationCache
from resources.llm.client import LLMClient
from tests.support.scripted_backend import Policy, ScriptedBackend

GOLDEN = Path(__file__).parent / "golden" / "jmed_task_parity.json"
ROOT = Path(__file__).resolve().parents[2]
DX = {"rust-coloured": "Lobar pneumonia", "TSH": "Hypothyroidism", "膀胱": "急性膀胱炎", "跖趾": "痛风"}


class Clinician(Policy):
    """EMR JSON for the record prompt (one consultation gets broken JSON -> rule fields or quarantine); a clean
    question, except one that names its diagnosis (-> template question)."""

    def other(self, prompt: str) -> str:
        if "structured medical record" in prompt:
            if "shrimp" in prompt:
                return "the patient has hives"
            diagnosis = next((v for k, v in DX.items() if k in prompt), "")
            return (
                "```json\n"
                + json.dumps(
                    {
                        "age": 40,
                        "sex": "female" if "woman" in prompt or "女" in prompt else "male",
                        "department": "呼吸内科" if re.search(r"咳", prompt) else "",
                        "chief_complaint": "symptoms for days",
                        "present_illness": "see consultation",
                        "history": "",
                        "exam_results": "abnormal tests",
                        "diagnosis": diagnosis,
                    },
                    ensure_ascii=False,
                )
                + "\n```"
            )
        if "最可能的诊断是什么" in prompt:
            return "患者40岁，反复不适数日，体格检查及化验异常，请结合病史分析。最可能的诊断是什么？"
        if "Hypothyroidism" in prompt:
            return "A 40-year-old with Hypothyroidism has tiredness. What is the most likely diagnosis?"
        return "A 40-year-old patient has had symptoms for several days with abnormal tests. What is the most likely diagnosis?"


def _keys(path: Path) -> list[str]:
    with sqlite3.connect(path) as conn:
        tables = [r[0] for r in conn.execute("select name from sqlite_master where type='table'")]
        return sorted(r[0] for r in conn.execute(f"select key from {next(t for t in tables if 'prompt' not in t)}"))


def _outputs(tmp: Path) -> dict:
    loaded, _ = load_month(ROOT / "sample" / "dialogues", "2026-11")
    deid, _ = steps.deidentify(loaded.table())
    llm = LLMClient(ScriptedBackend(Clinician(), model_id="scripted:jmed"), GenerationCache(tmp / "c.sqlite"))
    emr, emr_bad, emr_stats = steps.extract_emr(deid, llm, SamplingParams(max_tokens=48))
    qs, q_bad, q_stats = steps.generate_questions(emr, llm, SamplingParams(max_tokens=24))
    llm.cache.flush()
    out = {
        "emr": {"rows": emr.to_pylist(), "quarantine": [dataclasses.asdict(q) for q in emr_bad], "stats": emr_stats},
        "questions": {"rows": qs.to_pylist(), "quarantine": [dataclasses.asdict(q) for q in q_bad], "stats": q_stats},
        "keys": _keys(tmp / "c.sqlite"),
    }
    return json.loads(json.dumps(out, ensure_ascii=False, default=str))


def test_jmed_steps_match_the_hand_written_ones(tmp_path):
    if not (ROOT / "sample" / "dialogues").is_dir():
        pytest.skip("sample/dialogues is not in this checkout")
    got = _outputs(tmp_path)
    if os.environ.get("CITRUS_REGEN_GOLDEN"):
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps(got, ensure_ascii=False, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        pytest.skip("golden file rewritten")
    want = json.loads(GOLDEN.read_text(encoding="utf-8"))
    assert want["emr"]["rows"] and want["questions"]["rows"] and want["questions"]["stats"].get("template")
    for part in ("emr", "questions", "keys"):
        assert got[part] == want[part], part
