"""De-identification rules on seeded PII (English and Chinese) and the blocking check."""

import pyarrow as pa

from citrus_assets.jmed.checks import no_pii
from citrus_assets.jmed.deid import find_pii, scrub
from citrus_assets.jmed.steps import deidentify
from quality import validate_table

EN = ("Hi Dr. Smith, my name is John Carter, DOB: 03/07/1985. Call me at (555) 123-4567 or +1 415 555 0199, "
      "e-mail john.carter@example.com. I live at 42 Maple Grove Street, Apt 4B. MRN: 88231-A, SSN 123-45-6789. "
      "I was born on March 7, 1985.")
ZH = ("医生您好，我叫王小明，身份证号110105199003071234，电话13800138000，住在北京市朝阳区建国路88号3单元。"
      "出生日期：1990年3月7日。谢谢马医生，张伟医生说没事。病历号：ZY2026001，座机010-62345678，邮箱wxm@example.cn。")


def test_english_pii_replaced_by_typed_placeholders():
    out, counts = scrub(EN)
    for secret in ("Smith", "John", "Carter", "1985", "555", "0199", "john.carter", "Maple", "88231", "6789"):
        assert secret not in out, secret
    assert counts == {"NAME": 2, "DOB": 2, "PHONE": 2, "EMAIL": 1, "ADDRESS": 1, "ID": 2}
    assert "Dr. [NAME]" in out and "MRN: [ID]" in out and find_pii(out) == []


def test_chinese_pii_replaced_by_typed_placeholders():
    out, counts = scrub(ZH)
    for secret in ("王小明", "110105", "13800138000", "建国路", "1990年", "马", "张伟", "ZY2026001", "62345678", "wxm@"):
        assert secret not in out, secret
    assert "谢谢[NAME]医生" in out and "[NAME]医生说没事" in out and "病历号：[ID]" in out
    assert counts["NAME"] == 3 and counts["PHONE"] == 2 and counts["ADDRESS"] == 1 and counts["DOB"] == 1
    assert find_pii(out) == []


def test_clinical_text_is_left_alone():
    text = ("患者：谢谢医生。当时医生说是肺炎，病房医生让复查。体温38.5℃，血压130/85 mmHg，白细胞12.3×10^9/L。"
            "Patient: I am 34 years old, 70 kg, temperature 38.5 C, took 500 mg twice on 2026-11-03.")
    assert scrub(text) == (text, {})


def test_blocking_rule_flags_remaining_pii():
    turns = [{"role": "patient", "text": "my name is Jane Doe"}, {"role": "doctor", "text": "诊断为痛风。"}]
    raw = pa.table({"record_id": ["a"], "transcript": ["Patient: my name is Jane Doe"], "turns": [turns]})
    assert not validate_table(raw, [no_pii], "t").success
    row = {"record_id": "dlg-" + "0" * 20, "parent_ids": ["src"], "dialogue_id": "x", "month": "2026-11",
           "language": "en", "source_uri": "f.json", "source_locator": "record 0", "turns": turns,
           "transcript": "Patient: my name is Jane Doe\nDoctor: 诊断为痛风。"}
    from citrus_assets.jmed.dialogues import DIALOGUE_SCHEMA
    clean, counts = deidentify(pa.Table.from_pylist([row], schema=DIALOGUE_SCHEMA))
    assert counts == {"NAME": 1} and clean["parent_ids"][0].as_py() == [row["record_id"]]
    assert validate_table(clean, [no_pii], "t").success
