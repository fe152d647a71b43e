"""Consultation files in their published shapes (issue 15): the English COVID-Dialogue text file (id= blocks),
a Chinese list of lists of turns, the undated original Chinese JSON (a documented partition, as configured),
and quarantine per consultation, never per file."""

from __future__ import annotations

import json
import os
import time

import dagster as dg
import pytest

from citrus_assets.jmed.consultations.dialogues import (
    list_months,
    load_dialogue_file,
    load_month,
    undated_key,
    undated_policy,
)
from tests.support.resources import make_resources

EN_TXT = """id=0
https://www.icliniq.com/qa/covid-19/can-coronavirus-symptoms-be-mild
Description
Q. Can coronavirus symptoms be mild for some people versus severe for others?
Dialogue
Patient:
Hello doctor, can coronavirus symptoms be mild for some people?

Doctor:
Hi, thanks for the query. Yes, symptoms vary with age and health.
Most people recover at home.

id=1
https://www.healthcaremagic.com/questions/fever-and-dry-cough
Description
I have fever and a dry cough since yesterday. Should I get tested?
Dialogue
Patient: I have fever and a dry cough since yesterday, should I get tested?
Doctor: Yes. Isolate at home and book a test; call if you get short of breath.
Patient: Thank you.

id=2
https://www.icliniq.com/qa/covid-19/no-answer-yet
Description
Q. Is it safe to visit my grandmother?
Dialogue
Patient:
Is it safe to visit my grandmother next week?
"""

ZH_LISTS = [
    ["病人：发热两天，咳嗽，有武汉旅行史。", "医生：建议尽快到发热门诊就诊，做核酸检测。", "病人：好的，谢谢医生。"],
    ["病人：孩子咽痛，需要做核酸吗？", "医生：如无接触史，可先对症处理，观察体温。"],
    ["病人：我想咨询一下口罩怎么选。"],  # no doctor turn: this one consultation is quarantined
]


def test_english_covid_dialogue_text_file(tmp_path):
    p = tmp_path / "COVID-Dialogue-Dataset-English.txt"
    p.write_text(EN_TXT, encoding="utf-8")
    r = load_dialogue_file(p)
    assert [x["dialogue_id"] for x in r.rows] == ["0", "1"]
    first = r.rows[0]
    assert [t["role"] for t in first["turns"]] == ["patient", "doctor"] and first["language"] == "en"
    assert first["turns"][1]["text"].endswith("Most people recover at home.")  # text on the lines after Doctor:
    assert [t["role"] for t in r.rows[1]["turns"]] == ["patient", "doctor", "patient"]
    assert "Description" not in first["transcript"] and "https://" not in first["transcript"]
    assert first["source_locator"] == "line 1" and r.rows[1]["source_locator"] == "line 13"
    (q,) = r.quarantine  # per consultation, not one record for the file
    assert q.reason == "no doctor turn" and q.source_locator == "line 22" and q.raw.startswith("id=2")


def test_chinese_list_of_lists(tmp_path):
    p = tmp_path / "covid_zh_train.json"
    p.write_text(json.dumps(ZH_LISTS, ensure_ascii=False), encoding="utf-8")
    r = load_dialogue_file(p)
    assert len(r.rows) == 2 and {x["language"] for x in r.rows} == {"zh"}
    assert [t["role"] for t in r.rows[0]["turns"]] == ["patient", "doctor", "patient"]
    assert [(q.source_locator, q.reason) for q in r.quarantine] == [("record 2", "no doctor turn")]


def _undated_inbox(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    recs = [{"Id": i, "Dialogue": turns} for i, turns in enumerate(ZH_LISTS)]
    p = inbox / "COVID-Dialogue-Dataset-Chinese.json"
    p.write_text(json.dumps(recs, ensure_ascii=False), encoding="utf-8")
    stamp = time.mktime((2026, 3, 15, 12, 0, 0, 0, 0, -1))
    os.utime(p, (stamp, stamp))
    return inbox, p


def test_undated_policies(tmp_path, monkeypatch):
    inbox, p = _undated_inbox(tmp_path)
    monkeypatch.delenv("CITRUS_DIALOGUE_UNDATED", raising=False)
    assert undated_policy() == "file" and undated_key(p, "file") == "COVID-Dialogue-Dataset-Chinese"
    assert list_months(inbox) == (["COVID-Dialogue-Dataset-Chinese"], 2)
    res, n_undated = load_month(inbox, "COVID-Dialogue-Dataset-Chinese")
    assert len(res.rows) == 2 and n_undated == 2 and len(res.quarantine) == 1
    assert {r["month_from"] for r in res.rows} == {"undated:file"}

    monkeypatch.setenv("CITRUS_DIALOGUE_UNDATED", "import_date")
    assert list_months(inbox) == (["2026-03"], 2)
    res, _ = load_month(inbox, "2026-03")
    assert {r["month_from"] for r in res.rows} == {"undated:import_date"} and len(res.quarantine) == 1

    assert list_months(inbox, undated="none") == ([], 2)  # the argument wins over the env
    with pytest.raises(ValueError, match="choose one of"):
        undated_policy("someday")


def test_dated_consultations_keep_their_month(tmp_path):
    p = tmp_path / "calls_2027-01.json"
    p.write_text(
        json.dumps(
            [
                {"id": "a", "date": "2026-12-30", "dialogue": ["Patient: cough", "Doctor: rest"]},
                {"id": "b", "dialogue": ["Patient: rash", "Doctor: antihistamine"]},
            ]
        )
    )
    r = load_dialogue_file(p, undated="file")
    assert [(x["month"], x["month_from"]) for x in r.rows] == [("2026-12", "record"), ("2027-01", "file_name")]


def test_unreadable_file_is_one_quarantined_unit(tmp_path):
    p = tmp_path / "latin1.txt"
    p.write_bytes("Patient: j'ai de la fi\u00e8vre\nDoctor: repos".encode("latin-1"))
    r = load_dialogue_file(p)
    assert r.rows == [] and [q.source_locator for q in r.quarantine] == ["file"]
    assert r.quarantine[0].reason.startswith("unreadable file")


def test_real_chinese_covid_sample_gets_a_partition(shared_data, monkeypatch):
    path = shared_data / "dialogues" / "covid_dialogue_zh.sample.json"
    if not path.is_file():
        pytest.skip(f"real sample not found: {path}")
    monkeypatch.delenv("CITRUS_DIALOGUE_UNDATED", raising=False)
    r = load_dialogue_file(path, undated="file")
    assert len(r.rows) >= 390 and {x["month"] for x in r.rows} == {"covid_dialogue_zh_sample"}
    assert {x["month_from"] for x in r.rows} == {"undated:file"}


def test_dialogues_asset_reports_the_undated_policy(tmp_path, monkeypatch):
    from citrus_assets.jmed.assets import dialogue_months, dialogues

    inbox, _ = _undated_inbox(tmp_path)
    monkeypatch.delenv("CITRUS_DIALOGUE_UNDATED", raising=False)
    key = "COVID-Dialogue-Dataset-Chinese"
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(dialogue_months.name, [key])
    root = str(tmp_path / "lake")
    result = dg.materialize(
        [dialogues],
        partition_key=key,
        instance=instance,
        run_config={"ops": {"dialogues": {"config": {"dialogues_dir": str(inbox)}}}},
        resources=make_resources(root),
    )
    assert result.success
    (mat,) = result.get_asset_materialization_events()
    md = {k: v.value for k, v in mat.materialization.metadata.items()}
    assert md["undated_policy"] == "file" and md["undated_in_inbox"] == 2 and md["quarantined"] == 1
    assert md["month_from"] == {"undated:file": 2} and md["dagster/row_count"] == 2
