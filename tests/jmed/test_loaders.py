"""Consultation loaders on the real dialogue samples, the bundled sample, text transcripts and months."""

import json

from citrus_assets.jmed.consultations.dialogues import list_months, load_dialogue_file, load_month, month_of_name
from citrus_assets.jmed.consultations.emr import build_record, parse_json_object, rule_diagnosis
from citrus_assets.jmed.sensors import month_keys


def test_real_chinese_covid_dialogues(shared_data):
    r = load_dialogue_file(shared_data / "dialogues" / "covid_dialogue_zh.sample.json")
    assert len(r.rows) + len(r.quarantine) + r.duplicates == 400 and len(r.rows) >= 390
    row = r.rows[0]
    assert row["language"] == "zh" and row["dialogue_id"] == "1" and row["month"] is None
    assert row["turns"][0]["role"] == "patient" and row["turns"][1]["role"] == "doctor"
    assert row["transcript"].startswith("患者：") and row["parent_ids"][0].startswith("src-")


def test_real_chatdoctor_dialogues(shared_data):
    r = load_dialogue_file(shared_data / "dialogues" / "chatdoctor_synthetic.sample.json")
    assert len(r.rows) + r.duplicates == 500 and not r.quarantine
    assert {t["role"] for t in r.rows[0]["turns"]} == {"patient", "doctor"} and r.rows[0]["language"] == "en"


def test_bundled_sample_months_and_quarantine(repo_root, monkeypatch):
    folder = repo_root / "sample" / "dialogues"
    assert list_months(folder) == (["2026-11", "2026-12"], 0)
    nov, undated = load_month(folder, "2026-11")
    assert sorted(r["dialogue_id"] for r in nov.rows) == ["nov-001", "nov-002", "nov-003", "nov-004", "nov-005"]
    assert [q.reason for q in nov.quarantine] == ["no doctor turn"] and undated == 0
    assert {r["language"] for r in nov.rows} == {"en", "zh"}
    monkeypatch.chdir(repo_root)
    monkeypatch.delenv("CITRUS_DIALOGUE_INBOX", raising=False)
    assert month_keys() == ["2026-11", "2026-12"]


def test_text_transcripts_jsonl_and_month_sources(tmp_path):
    txt = tmp_path / "calls_2027-01.txt"
    txt.write_text(
        "Doctor: What brings you in?\nPatient: Burning when I pee.\nIt started two days ago.\n"
        "Doctor: Diagnosis: acute cystitis.\n---\n医生：哪里不舒服？\n病人：头痛。\n===\n"
        "some text before a speaker\nDoctor: hi\n",
        encoding="utf-8",
    )
    r = load_dialogue_file(txt)
    assert [row["month"] for row in r.rows] == ["2027-01", "2027-01"]
    assert r.rows[0]["turns"][1]["text"] == "Burning when I pee.\nIt started two days ago."
    assert r.rows[1]["language"] == "zh" and r.rows[1]["transcript"] == "医生：哪里不舒服？\n患者：头痛。"
    assert "before any speaker" in r.quarantine[0].reason and r.quarantine[0].source_locator.startswith("line")
    jl = tmp_path / "inbox.jsonl"
    jl.write_text(
        json.dumps({"id": 1, "date": "2027/02/05", "dialogue": "Patient: a\nDoctor: b"})
        + "\n{broken\n"
        + json.dumps({"month": "2027-03", "input": "p", "output": "d"})
        + "\n",
        encoding="utf-8",
    )
    r = load_dialogue_file(jl)
    assert [row["month"] for row in r.rows] == ["2027-02", "2027-03"] and "invalid JSON" in r.quarantine[0].reason
    assert month_of_name(tmp_path / "x_2026-13.json") is None and month_of_name(txt) == "2027-01"


def test_emr_parsing_and_fallbacks():
    assert parse_json_object('Sure! ```json\n{"age": 34, "diagnosis": "gout",}\n``` done') == {
        "age": 34,
        "diagnosis": "gout",
    }
    assert parse_json_object("{'age': None, 'sex': 'male'}") == {"age": None, "sex": "male"}
    assert parse_json_object("no json here {") is None
    turns = [
        {"role": "patient", "text": "我男，52岁，脚趾红肿。"},
        {"role": "doctor", "text": "血尿酸升高。诊断为痛风。口服秋水仙碱。"},
    ]
    rec, src = build_record(None, turns)
    assert (rec["age"], rec["sex"], rec["diagnosis"]) == (52, "male", "痛风") and src["diagnosis"] == "rule"
    assert rec["exam_results"] == "血尿酸升高。" and rec["department"] == "" and src["department"] == "none"
    rec, src = build_record(
        {"age": "40", "sex": "F", "diagnosis": ""},
        [{"role": "patient", "text": "I am 70."}, {"role": "doctor", "text": "Rest."}],
    )
    assert (rec["age"], rec["sex"], rec["diagnosis"]) == (40, "female", "") and src["age"] == "llm"
    assert rule_diagnosis(["You have been unwell. You have urticaria, most likely from shrimp."]) == "urticaria"
    assert rule_diagnosis(["It sounds like you may be suffering from panic disorder."]) == ""
