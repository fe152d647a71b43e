"""De-identification: seeded PII in both languages, every failure listed in issue 13 as a regression test,
look-alikes that must stay intact, the residual detector, the per-consultation quarantine and the check."""

import json

import pyarrow as pa
import pytest

from citrus_assets.jmed.checks import no_pii
from citrus_assets.jmed.consultations.deid import find_pii, residual_pii, scrub
from citrus_assets.jmed.consultations.dialogues import DIALOGUE_SCHEMA
from citrus_assets.jmed.steps import deidentify, deidentify_gated
from quality import validate_table

EN = (
    "Hi Dr. Smith, my name is John Carter, DOB: 03/07/1985. Call me at (555) 123-4567 or +1 415 555 0199, "
    "e-mail john.carter@example.com. I live at 42 Maple Grove Street, Apt 4B. MRN: 88231-A, SSN 123-45-6789. "
    "I was born on March 7, 1985."
)
ZH = (
    "医生您好，我叫王小明，身份证号110105199003071234，电话13800138000，住在北京市朝阳区建国路88号3单元。"
    "出生日期：1990年3月7日。谢谢马医生，张伟医生说没事。病历号：ZY2026001，座机010-62345678，邮箱wxm@example.cn。"
)


def test_english_pii_replaced_by_typed_placeholders():
    out, counts = scrub(EN)
    for secret in ("Smith", "John", "Carter", "1985", "555", "0199", "john.carter", "Maple", "88231", "6789"):
        assert secret not in out, secret
    assert counts == {"NAME": 2, "DOB": 2, "PHONE": 2, "EMAIL": 1, "ADDRESS": 1, "ID": 2}
    assert "Dr. [NAME]" in out and "MRN: [ID]" in out and find_pii(out) == [] and residual_pii(out) == []


def test_chinese_pii_replaced_by_typed_placeholders():
    out, counts = scrub(ZH)
    for secret in (
        "王小明",
        "110105",
        "13800138000",
        "建国路",
        "1990年",
        "马",
        "张伟",
        "ZY2026001",
        "62345678",
        "wxm@",
    ):
        assert secret not in out, secret
    assert "谢谢[NAME]医生" in out and "[NAME]医生说没事" in out and "病历号：[ID]" in out
    assert counts["NAME"] == 3 and counts["PHONE"] == 2 and counts["ADDRESS"] == 1 and counts["DOB"] == 1
    assert find_pii(out) == [] and residual_pii(out) == []


# ------------------------------------------------------------------ issue 13: names that were left in
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Regards, Dr. Bhagyesh V. Patel", "Regards, Dr. [NAME]"),  # was "Dr. [NAME] V. Patel"
        ("Dr. Anders Mark Christensen", "Dr. [NAME]"),  # was "Dr. [NAME] Christensen"
        ("Hi, I am Chaitanya, 27 years old", "Hi, I am [NAME], 27 years old"),  # was untouched
        ("昨天徐丹枫主任开了曲普瑞林", "昨天[NAME]主任开了曲普瑞林"),  # was untouched
        ("门诊找晁康医生", "门诊找[NAME]医生"),  # was "晁[NAME]医生"
        ("我是张伟", "我是[NAME]"),
        ("我妈妈刘秀英的情况", "我妈妈[NAME]的情况"),
        ("建议去协和医院找孙立新大夫看看", "建议去协和医院找[NAME]大夫看看"),
        ("感谢谢婉清教授的耐心解答！", "感谢[NAME]教授的耐心解答！"),
        ("My husband John has had chest pain since Monday.", "My husband [NAME] has had chest pain since Monday."),
        ("Sincerely,\nSiobhan O'Brien", "Sincerely,\n[NAME]"),
        ("Upload it to https://portal.example.net/chart?id=88231 today", "Upload it to [URL] today"),
    ],
)
def test_issue13_names_removed(text, expected):
    out, _ = scrub(text)
    assert out == expected
    assert residual_pii(out) == []


# ------------------------------------------------------------------ issue 13: clinical text that was damaged
@pytest.mark.parametrize(
    "text",
    [
        "我是桂林人",
        "出院时医生表示",
        "请复查医生决定",
        "主任医生",  # each lost characters to [NAME] before
        "我来自石家庄，在桂林工作。",
        "帕金森病需要长期服药。",
        "甘露醇和白蛋白",
        "阿莫西林是抗生素。",
        "我明白了，谢谢您。",
        "患者：谢谢医生。当时医生说是肺炎，病房医生让复查。体温38.5℃，血压130/85 mmHg，白细胞12.3×10^9/L。",
        "Parkinson disease was diagnosed three years ago.",
        "The Apgar score was 9 at five minutes.",
        "She was treated for Bell's palsy with prednisone.",
        "Hope you feel better soon.",
        "I am Type 2 diabetic.",
        "Patient: I am 34 years old, 70 kg, temperature 38.5 C, took 500 mg twice on 2026-11-03.",
        "Doctor, I have been having panic attacks.",
    ],
)
def test_clinical_text_and_places_are_left_alone(text):
    assert scrub(text) == (text, {})


# ------------------------------------------------------------------ the residual detector sees the old leftovers
@pytest.mark.parametrize(
    "leftover",
    [
        "Regards, Dr. [NAME] V. Patel",
        "Dr. [NAME] Christensen",
        "Hi, I am Chaitanya, 27 years old",
        "门诊找晁[NAME]医生",
        "昨天徐丹枫主任开了曲普瑞林",
        "my name is Jane Doe",
        "call 5551234567",
        "mail me at jd@example.org",
        "see www.example.com/me",
        "谢谢王医生",
        "我爸爸李建国今年65岁",
    ],
)
def test_residual_detector_flags_what_a_scrubber_left(leftover):
    assert residual_pii(leftover), leftover


def _row(turns, rid="dlg-" + "0" * 20, did="x", language="en"):
    return {
        "record_id": rid,
        "parent_ids": ["src"],
        "dialogue_id": did,
        "month": "2026-11",
        "language": language,
        "source_uri": "f.json",
        "source_locator": "record 0",
        "turns": turns,
        "transcript": "\n".join(t["text"] for t in turns),
    }


def test_blocking_rule_flags_remaining_pii():
    turns = [{"role": "patient", "text": "my name is Jane Doe"}, {"role": "doctor", "text": "诊断为痛风。"}]
    raw = pa.table({"record_id": ["a"], "transcript": ["Patient: my name is Jane Doe"], "turns": [turns]})
    assert not validate_table(raw, [no_pii], "t").success
    clean, counts = deidentify(pa.Table.from_pylist([_row(turns)], schema=DIALOGUE_SCHEMA))
    assert counts == {"NAME": 1} and clean["parent_ids"][0].as_py() == ["dlg-" + "0" * 20]
    assert validate_table(clean, [no_pii], "t").success


def test_check_fails_on_a_kept_record_with_a_leftover_name():
    """What the old check passed: the scrubber's partial output "Dr. [NAME] V. Patel" in a kept record."""
    for text in ("Regards, Dr. [NAME] V. Patel", "门诊找晁[NAME]医生", "Hi, I am Chaitanya, 27 years old"):
        kept = pa.table({"record_id": ["a"], "transcript": [text], "turns": [[{"role": "doctor", "text": text}]]})
        assert not validate_table(kept, [no_pii], "t").success, text


def test_gate_quarantines_one_consultation_and_keeps_the_others(monkeypatch):
    """A consultation whose scrubbed text still trips the detector is set aside with a reason (not the
    flagged text); the partition keeps the rest and the check passes on them."""
    from citrus_assets.jmed import steps

    ok = [{"role": "patient", "text": "Hi, I am Chaitanya, 27 years old"}, {"role": "doctor", "text": "Any fever?"}]
    leaky = [{"role": "patient", "text": "Doctor, I have a cough."}, {"role": "doctor", "text": "Regards, Dr. Ann Lee"}]
    table = pa.Table.from_pylist([_row(ok, "dlg-a", "a"), _row(leaky, "dlg-b", "b")], schema=DIALOGUE_SCHEMA)
    # simulate a scrubber that misses the sign-off's surname
    real = steps.scrub_turns

    def weak(turns):
        out, counts = real(turns)
        return [
            {**t, "text": t["text"].replace("[NAME]", "[NAME] Lee")} if "Regards" in t["text"] else t for t in out
        ], counts

    monkeypatch.setattr(steps, "scrub_turns", weak)
    kept, counts, bad = deidentify_gated(table)
    assert kept["dialogue_id"].to_pylist() == ["a"] and counts == {"NAME": 1}
    assert len(bad) == 1 and bad[0].source_uri == "deidentified_dialogues:b" and "NAME" in bad[0].reason
    raw = json.loads(bad[0].raw)
    assert raw["parent_record_id"] == "dlg-b" and raw["findings"][0]["turn"] == 1
    assert "Lee" not in bad[0].raw and "Lee" not in bad[0].reason
    assert validate_table(kept, [no_pii], "t").success


# ------------------------------------------------------------------ citrus deid
def _cli(tmp_path, name, content, *args):
    import io

    from citrus_assets.cli.deid import main

    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()
    code = main(str(path), *args, out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_cli_text_clean_exit_0(tmp_path):
    code, out, _ = _cli(tmp_path, "c.txt", "Regards, Dr. Bhagyesh V. Patel\n门诊找晁康医生，电话13800138000\n")
    assert code == 0 and out == "Regards, Dr. [NAME]\n门诊找[NAME]医生，电话[PHONE]\n"


def test_cli_report_and_exit_1_when_something_is_left(tmp_path):
    # with --lang zh the English name rules do not run: the detector sees the name and the exit code says so
    code, out, err = _cli(tmp_path, "c.txt", "Regards, Dr. Bhagyesh V. Patel\n门诊找晁康医生\n", "zh", True)
    report = json.loads(out)
    assert code == 1 and "residual detector" in err
    assert report["units"] == 2 and report["replaced"] == {"NAME": 1} and report["residual_units"] == 1
    assert report["residual"][0]["unit"] == 0 and report["residual"][0]["type"] == "NAME"
    assert "Bhagyesh" not in json.dumps(report["residual"])


def test_cli_jsonl_keeps_the_shape(tmp_path):
    line = {"id": 7, "turns": [{"role": "patient", "text": "我是张伟，电话13912345678"}]}
    code, out, _ = _cli(tmp_path, "c.jsonl", json.dumps(line, ensure_ascii=False) + "\n")
    assert code == 0 and json.loads(out) == {"id": 7, "turns": [{"role": "patient", "text": "我是[NAME]，电话[PHONE]"}]}


def test_cli_unreadable_file_exit_2(tmp_path):
    code, out, err = _cli(tmp_path, "bad.jsonl", "{not json\n")
    assert code == 2 and out == "" and "cannot read" in err
    from citrus_assets.cli import main

    assert main(["deid", str(tmp_path / "missing.txt")]) == 2
