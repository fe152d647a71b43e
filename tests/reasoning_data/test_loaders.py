"""Benchmark loaders: every real sample file, made-up files for the formats not shipped, bad rows."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import pytest

from citrus_assets.common.text.answers import ALL_LETTERS
from citrus_assets.reasoning_data.seeds import loaders_io
from citrus_assets.reasoning_data.seeds.loaders import (
    FieldMapping,
    detect_format,
    load_careqa,
    load_cmexam,
    load_cmmlu,
    load_jmed,
    load_mapped,
    load_medbullets,
    load_medmcqa,
    load_mmlu_csv,
    load_mmlu_pro,
    load_pubmedqa,
    load_seed_file,
    mapping_sidecar,
    medmcqa_cop_base,
)
from citrus_assets.reasoning_data.seeds.seed_files import SEED_SCHEMA, BadRecord
from resources.lineage.ids import is_record_id

# file -> (format, source, records in SOURCES.md, identical records in the file, split from the name)
REAL = {
    "medqa/us_4_options_test.jsonl": ("medqa_jsonl", "medqa", 1273, 0, "test"),
    "medmcqa/dev.jsonl": ("medmcqa", "medmcqa", 1000, 0, "dev"),
    "pubmedqa/ori_pqal.json": ("pubmedqa", "pubmedqa", 1000, 0, None),
    "mmlu/anatomy_test.csv": ("mmlu_csv", "mmlu", 135, 0, "test"),
    "mmlu/clinical_knowledge_test.csv": ("mmlu_csv", "mmlu", 265, 0, "test"),
    "mmlu/medical_genetics_test.csv": ("mmlu_csv", "mmlu", 100, 0, "test"),
    # 4 questions appear twice under two links (bit.ly and step2.medbullets.com), same text and answer
    "medbullets/medbullets_op4.csv": ("medbullets", "medbullets", 308, 4, "test"),
    # 43 questions appear twice with consecutive realidx (MMLU professional_medicine repeats); MedAgentsBench
    # packaging (realidx), the benchmark told from the folder name
    "mmlu_pro/health_test.sample.jsonl": ("medagentsbench", "mmlu_pro", 400, 43, "test"),
}


def check_rows(res, source: str | None = None):
    t = res.table()
    assert t.schema == SEED_SCHEMA
    ids = t["record_id"].to_pylist()
    assert len(set(ids)) == len(ids) and all(is_record_id(i) for i in ids)
    for r in res.rows:
        letters = [o["letter"] for o in r["options"]]
        assert letters == list(ALL_LETTERS[: len(letters)])
        assert r["answer_letters"] and set(r["answer_letters"]) <= set(letters)
        assert r["stem"] and all(o["text"] for o in r["options"])
        assert source is None or r["source"] == source
    return t


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text(
        "".join((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n" for r in rows), encoding="utf-8"
    )
    return path


def write_csv(path: Path, rows: list[list], header: list[str] | None = None) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        if header:
            w.writerow(header)
        w.writerows(rows)
    return path


def reasons(res) -> str:
    return " | ".join(f"{q.source_locator}: {q.reason}" for q in res.quarantine)


# ---------------------------------------------------------------- real files
@pytest.mark.parametrize("rel", sorted(REAL))
def test_real_file_detected_and_loaded(shared_data, rel):
    fmt, source, n, dups, split = REAL[rel]
    path = shared_data / "benchmarks" / rel
    assert detect_format(path) == fmt
    res = load_seed_file(path, "real")
    assert res.quarantine == [], reasons(res)
    assert len(res.rows) + res.duplicates == n and res.duplicates == dups
    check_rows(res, source)
    assert {r["language"] for r in res.rows} == {"en"}
    assert split is None or {r["split"] for r in res.rows} == {split}
    assert all(r["source_uri"] == path.name and r["parent_ids"][0].startswith("src-") for r in res.rows)


def test_every_real_benchmark_file_is_covered(shared_data):
    files = {
        str(p.relative_to(shared_data / "benchmarks")) for p in (shared_data / "benchmarks").rglob("*") if p.is_file()
    }
    assert files - set(REAL) == {"pubmedqa/test_ground_truth.json"}
    with pytest.raises(BadRecord, match="split-id file"):
        detect_format(shared_data / "benchmarks" / "pubmedqa" / "test_ground_truth.json")


def test_real_pubmedqa_test_split_and_context(shared_data):
    d = shared_data / "benchmarks" / "pubmedqa"
    truth = json.loads((d / "test_ground_truth.json").read_text())
    res = load_pubmedqa(d / "ori_pqal.json", "pqal")
    by_split = Counter(r["split"] for r in res.rows)
    assert by_split == {"test": 500, "train": 500}
    letter = {"yes": "A", "no": "B", "maybe": "C"}
    for r in res.rows:
        pid = json.loads(r["meta"])["pubid"]
        assert (r["split"] == "test") == (pid in truth)
        if pid in truth:
            assert r["answer_letters"] == [letter[truth[pid]]]
        assert [o["text"] for o in r["options"]] == ["yes", "no", "maybe"]
        assert r["source_locator"].startswith(f"key {pid} (line ")
    first = json.loads((d / "ori_pqal.json").read_text())["21645374"]
    row = next(r for r in res.rows if json.loads(r["meta"])["pubid"] == "21645374")
    assert row["context"].startswith(f"{first['LABELS'][0]}: {first['CONTEXTS'][0][:40]}")
    assert row["context"].count("\n") == len(first["CONTEXTS"]) - 1
    dev = load_pubmedqa(d / "ori_pqal.json", "pqal", other_split="dev", split_ids_file=d / "test_ground_truth.json")
    assert Counter(r["split"] for r in dev.rows) == {"test": 500, "dev": 500}


def test_real_medmcqa_cop_is_one_based(shared_data):
    path = shared_data / "benchmarks" / "medmcqa" / "dev.jsonl"
    assert medmcqa_cop_base(path) == 1  # cop takes 1..4 in this release, never 0
    first = json.loads(path.open().readline())
    row = load_medmcqa(path, "m").rows[0]
    assert row["answer_letters"] == ["ABCD"[first["cop"] - 1]]
    assert json.loads(row["meta"])["choice_type"] == first["choice_type"]


@pytest.mark.parametrize(
    "rel", ["medmcqa/dev.jsonl", "mmlu/anatomy_test.csv", "pubmedqa/ori_pqal.json", "medbullets/medbullets_op4.csv"]
)
def test_ids_stable_under_reordering(shared_data, tmp_path, rel):
    src = shared_data / "benchmarks" / rel
    dst = tmp_path / src.name
    if src.suffix == ".json":  # both re-serialized the same way: entry bytes (source ids) must match
        doc = json.loads(src.read_text())
        (tmp_path / "a").mkdir()
        src = tmp_path / "a" / src.name
        src.write_text(json.dumps(doc, indent=1))
        dst.write_text(json.dumps(dict(reversed(doc.items())), indent=1))
        for d in (tmp_path, tmp_path / "a"):
            (d / "test_ground_truth.json").write_bytes(
                shared_data.joinpath("benchmarks", "pubmedqa", "test_ground_truth.json").read_bytes()
            )
    elif src.suffix == ".csv":  # both re-written by csv.writer
        rows = list(csv.reader(src.open(newline="", encoding="utf-8")))
        header, body = (rows[:1], rows[1:]) if rel.startswith("medbullets") else ([], rows)
        (tmp_path / "a").mkdir()
        src = write_csv(tmp_path / "a" / src.name, header + body)
        write_csv(dst, header + body[::-1])
    else:
        dst.write_text("".join(reversed(src.read_text().splitlines(keepends=True))))
    a, b = load_seed_file(src, "s"), load_seed_file(dst, "s")
    key = lambda res: sorted((r["record_id"], r["split"], r["parent_ids"][0]) for r in res.rows)  # noqa: E731
    assert key(a) == key(b) and b.quarantine == []


# ---------------------------------------------------------------- made-up files for the other formats
Q4 = {"A": "alpha", "B": "beta", "C": "gamma", "D": "delta"}


def test_medqa_five_options_and_json_array(tmp_path):
    rows = [
        {"question": f"Q{i}?", "options": {**Q4, "E": "epsilon"}, "answer_idx": "E", "meta_info": "step1"}
        for i in range(3)
    ]
    res = load_seed_file(write_jsonl(tmp_path / "us_5_options_train.jsonl", rows), "m5")
    assert len(res.rows) == 3 and res.rows[0]["split"] == "train" and res.rows[0]["answer_letters"] == ["E"]
    arr = tmp_path / "medqa_dev.json"
    arr.write_text(json.dumps(rows + [rows[0]]))
    res2 = load_seed_file(arr, "m5")
    assert detect_format(arr) == "medqa_jsonl" and res2.duplicates == 1
    assert {r["record_id"] for r in res2.rows} == {r["record_id"] for r in res.rows}


def test_medbullets_op5(tmp_path):
    header = ["link", "question", "opa", "opb", "opc", "opd", "ope", "answer_idx", "answer", "explanation"]
    p = write_csv(
        tmp_path / "medbullets_op5.csv",
        [
            ["l1", "Which one?", "a", "b", "c", "d", "e", "E", "e", "why, with\na newline"],
            ["l2", "Text answer?", "a", "b", "c", "d", "e", "", "c", ""],
            ["l3", "Bad letter?", "a", "b", "c", "d", "e", "F", "", ""],
        ],
        header,
    )
    assert detect_format(p) == "medbullets"
    res = load_seed_file(p, "mb5")
    assert [r["answer_letters"] for r in res.rows] == [["E"], ["C"]]
    assert len(res.rows[0]["options"]) == 5 and json.loads(res.rows[0]["meta"])["explanation"] == "why, with\na newline"
    assert [q.source_locator for q in res.quarantine] == ["row 3 (line 5)"]
    assert "not among the options" in res.quarantine[0].reason


def test_careqa_json_lines_and_csv(tmp_path):
    rows = [
        {
            "exam_id": 1,
            "question": "Which drug?",
            "op1": "a",
            "op2": "b",
            "op3": "c",
            "op4": "d",
            "cop": 4,
            "year": 2020,
            "category": "Pharmacology",
            "unique_id": "u1",
        },
        {
            "exam_id": 1,
            "question": "¿Qué fármaco se usa?",
            "op1": "a",
            "op2": "b",
            "op3": "c",
            "op4": "d",
            "cop": 5,
            "year": 2021,
            "category": "Nursing",
            "unique_id": "u2",
        },
        {"exam_id": 1, "question": "No answer", "op1": "a", "op2": "b", "op3": "c", "op4": "d"},
    ]
    p = write_jsonl(tmp_path / "CareQA_en.json", rows)  # the HF files are JSON lines named .json
    assert detect_format(p) == "careqa"
    res = load_seed_file(p, "careqa")
    assert [r["answer_letters"] for r in res.rows] == [["D"]]
    assert res.rows[0]["split"] == "test" and res.rows[0]["language"] == "en" and res.rows[0]["source"] == "careqa"
    assert json.loads(res.rows[0]["meta"])["year"] == 2020
    assert "not among the options" in res.quarantine[0].reason and "missing field 'cop'" in res.quarantine[1].reason
    c = write_csv(tmp_path / "CareQA_es.csv", [[r.get(k, "") for k in rows[0]] for r in rows[:1]], list(rows[0]))
    assert detect_format(c) == "careqa" and load_careqa(c, "es").rows[0]["language"] == "es"


def test_jmed_21_options_and_several_answers(tmp_path):
    opts = {letter: f"选项{letter}" for letter in ALL_LETTERS}
    rows = [
        {
            "id": "j1",
            "department": "心内科",
            "question": "患者男性，65岁，胸痛两小时，可能的诊断有哪些？",
            "options": opts,
            "answer": "A,C",
        },
        {
            "id": "j2",
            "department": "儿科",
            "question": "患儿发热三天，下列哪些检查需要做？",
            "options": list(opts.values()),
            "answer": ["U", "B"],
        },
        {"id": "j3", "department": "儿科", "question": "下列哪项正确？", "options": opts, "answer": "ACU"},
        {"id": "j4", "department": "儿科", "question": "答案超出选项？", "options": opts, "answer": "V"},
    ]
    p = write_jsonl(tmp_path / "jmed_test.jsonl", rows)
    assert detect_format(p) == "jmed"
    res = load_jmed(p, "jmed")
    check_rows(res, "jmed")
    assert [r["answer_letters"] for r in res.rows] == [["A", "C"], ["B", "U"], ["A", "C", "U"]]
    assert all(len(r["options"]) == 21 and r["language"] == "zh" for r in res.rows)
    assert json.loads(res.rows[0]["meta"]) == {"department": "心内科", "id": "j1"}
    assert res.quarantine[0].source_locator == "line 4" and "not option letter" in res.quarantine[0].reason


def test_cmmlu_csv(tmp_path):
    (tmp_path / "test").mkdir()
    p = write_csv(
        tmp_path / "test" / "clinical_knowledge.csv",
        [
            ["0", "下列哪种药物是β受体阻滞剂？", "美托洛尔", "硝苯地平", "卡托普利", "呋塞米", "A"],
            ["1", "x+1=2, x=?", "1", "2", "3", "4", "A"],  # mostly not CJK: still zh, the file is Chinese
            ["2", "缺答案", "甲", "乙", "丙", "丁", ""],
        ],
        ["", "Question", "A", "B", "C", "D", "Answer"],
    )
    assert detect_format(p) == "cmmlu"
    res = load_seed_file(p, "cmmlu")
    assert len(res.rows) == 2 and {r["language"] for r in res.rows} == {"zh"}
    assert {r["split"] for r in res.rows} == {"test"}
    assert json.loads(res.rows[0]["meta"]) == {"subject": "clinical_knowledge"}
    assert "missing field 'answer'" in res.quarantine[0].reason and res.quarantine[0].source_locator == "row 3 (line 4)"
    assert load_cmmlu(p, "c", split="dev").rows[0]["split"] == "dev"


def test_cmexam_csv(tmp_path):
    header = ["Question", "Options", "Answer", "Explanation", "Clinical Department"]
    p = write_csv(
        tmp_path / "val.csv",
        [
            [
                "关于高血压的治疗，下列说法正确的是",
                "A 限盐\nB 戒烟\nC 多吃盐\nD 规律运动\nE 熬夜",
                "ABD",
                "解释",
                "心内科",
            ],
            ["单选题：首选药物是", "A 阿司匹林\nB 肝素\n  续行文字\nC 华法林", "B", "", ""],
            ["选项缺失", "", "A", "", ""],
            ["答案越界", "A 甲\nB 乙", "C", "", ""],
        ],
        header,
    )
    assert detect_format(p) == "cmexam"
    res = load_cmexam(p, "cmexam")
    assert [r["answer_letters"] for r in res.rows] == [["A", "B", "D"], ["B"]]
    assert res.rows[1]["options"][1]["text"] == "肝素\n续行文字"
    assert {r["language"] for r in res.rows} == {"zh"} and res.rows[0]["split"] == "validation"
    assert json.loads(res.rows[0]["meta"]) == {"clinical department": "心内科", "explanation": "解释"}
    assert "missing field 'options'" in res.quarantine[0].reason and "not among the options" in res.quarantine[1].reason


def test_mmlu_pro_release_and_mmlu_hf_rows(tmp_path):
    rows = [
        {
            "question_id": 1,
            "question": "Q?",
            "options": ["a", "b", "c", "d", "e", "f", "N/A", "N/A"],
            "answer": "F",
            "answer_index": 5,
            "category": "health",
            "src": "ori_mmlu-virology",
        },
        {
            "question_id": 2,
            "question": "Q2?",
            "options": [str(i) for i in range(11)],
            "answer": "K",
            "answer_index": 10,
            "category": "health",
        },
    ]
    p = write_jsonl(tmp_path / "mmlu_pro_test.jsonl", rows[:1])
    assert detect_format(p) == "mmlu_pro"
    res = load_mmlu_pro(write_jsonl(tmp_path / "mmlu_pro_test.jsonl", rows), "mp")
    assert len(res.rows[0]["options"]) == 6 and res.rows[0]["answer_letters"] == ["F"]
    assert res.rows[1]["answer_letters"] == ["K"] and len(res.rows[1]["options"]) == 11
    hf = write_jsonl(
        tmp_path / "anatomy.jsonl",
        [{"question": "Q?", "subject": "anatomy", "choices": ["a", "b", "c", "d"], "answer": 0}],
    )
    assert detect_format(hf) == "mmlu_json"
    r = load_seed_file(hf, "hf").rows[0]
    assert r["source"] == "mmlu" and r["answer_letters"] == ["A"] and json.loads(r["meta"]) == {"subject": "anatomy"}


def test_medmcqa_cop_base_per_file(tmp_path):
    def row(i, cop):
        return {
            "question": f"Q{i}?",
            "opa": "a",
            "opb": "b",
            "opc": "c",
            "opd": "d",
            "cop": cop,
            "id": str(i),
            "choice_type": "multi",
            "subject_name": "Anatomy",
            "exp": None,
        }

    zero = write_jsonl(tmp_path / "zero_train.jsonl", [row(0, 0), row(1, 3)])
    assert medmcqa_cop_base(zero) == 0
    assert [r["answer_letters"] for r in load_medmcqa(zero, "m").rows] == [["A"], ["D"]]
    amb = write_jsonl(tmp_path / "amb.jsonl", [row(0, 1), row(1, 3)])
    assert medmcqa_cop_base(amb) == 1 and medmcqa_cop_base(amb, default=0) == 0
    assert [r["answer_letters"] for r in load_medmcqa(amb, "m").rows] == [["A"], ["C"]]
    assert [r["answer_letters"] for r in load_medmcqa(amb, "m", default_cop_base=0).rows] == [["B"], ["D"]]
    assert [r["answer_letters"] for r in load_medmcqa(amb, "m", cop_base=0).rows] == [["B"], ["D"]]
    both = write_jsonl(tmp_path / "both.jsonl", [row(0, 0), row(1, 4), row(2, -1), {**row(3, 2), "opb": ""}])
    res = load_medmcqa(both, "m")  # inconsistent file: default (1-based), cop 0 quarantined
    assert [r["answer_letters"] for r in res.rows] == [["D"]] and json.loads(res.rows[0]["meta"])["cop_base"] == 1
    assert ["line 1", "line 3", "line 4"] == [q.source_locator for q in res.quarantine]
    assert "outside the options" in res.quarantine[0].reason and "no answer" in res.quarantine[1].reason
    assert "empty text" in res.quarantine[2].reason
    c = write_csv(tmp_path / "medmcqa.csv", [[row(0, 0)[k] for k in row(0, 0)]], list(row(0, 0)))
    assert detect_format(c) == "medmcqa" and load_seed_file(c, "m").rows[0]["answer_letters"] == ["A"]


def test_pubmedqa_without_split_file_and_hf_rows(tmp_path):
    doc = {
        "111": {
            "QUESTION": "Does X help?",
            "CONTEXTS": ["c1", "c2"],
            "LABELS": ["BACKGROUND", "RESULTS"],
            "final_decision": "maybe",
            "LONG_ANSWER": "la",
        },
        "222": {"QUESTION": "Unlabelled?", "CONTEXTS": ["c"], "LABELS": ["X"]},
    }
    p = tmp_path / "ori_pqal.json"
    p.write_text(json.dumps(doc))  # one line, no sibling test_ground_truth.json
    res = load_seed_file(p, "pq")
    assert [r["split"] for r in res.rows] == ["train"] and res.rows[0]["answer_letters"] == ["C"]
    assert res.rows[0]["context"] == "BACKGROUND: c1\nRESULTS: c2"
    assert res.quarantine[0].source_locator == "key 222 (line 1)" and "final_decision" in res.quarantine[0].reason
    hf = write_jsonl(
        tmp_path / "pqa_labeled_train.jsonl",
        [
            {
                "pubid": 111,
                "question": "Does X help?",
                "long_answer": "la",
                "final_decision": "maybe",
                "context": {"contexts": ["c1", "c2"], "labels": ["BACKGROUND", "RESULTS"]},
            }
        ],
    )
    assert detect_format(hf) == "pubmedqa"
    assert load_seed_file(hf, "pq").rows[0]["record_id"] == res.rows[0]["record_id"]
    with pytest.raises(FileNotFoundError):
        load_pubmedqa(p, "pq", split_ids_file=tmp_path / "missing.json")


def test_generic_mapping_csv_jsonl_and_sidecar(tmp_path):
    m = FieldMapping(
        stem="Prompt",
        options=["o1", "o2", "o3"],
        answer="Gold",
        answer_format="index1",
        context="Case",
        id="qid",
        split="part",
    )
    p = write_csv(
        tmp_path / "custom.csv",
        [
            ["q1", "A case.", "Which?", "x", "y", "z", "2", "dev"],
            ["q2", "", "Which two?", "x", "y", "", "1,2", ""],
            ["q3", "", "Bad?", "x", "y", "z", "nine", ""],
        ],
        ["qid", "Case", "Prompt", "o1", "o2", "o3", "Gold", "part"],
    )
    res = load_mapped(p, "c", m, source="custom_exam")
    assert [r["answer_letters"] for r in res.rows] == [["B"], ["A", "B"]]
    assert [r["split"] for r in res.rows] == ["dev", "train"] and res.rows[0]["context"] == "A case."
    assert len(res.rows[1]["options"]) == 2 and json.loads(res.rows[0]["meta"]) == {"qid": "q1"}
    assert res.rows[0]["source"] == "custom_exam" and "not a number" in res.quarantine[0].reason
    j = write_jsonl(
        tmp_path / "custom.jsonl",
        [
            {"q": "Which?", "opts": {"A": "x", "B": "y"}, "ans": "y"},
            {"q": "Block?", "opts": "A x\nB y", "ans": "x"},
            {"q": "List?", "opts": ["x", "y"], "ans": "nope"},
        ],
    )
    mapping = {
        "stem": "q",
        "options": "opts",
        "answer": "ans",
        "answer_format": "text",
        "source": "mine",
        "language": "en",
    }
    mapping_sidecar(j).write_text(json.dumps(mapping))
    assert detect_format(j) == "mapped"
    res = load_seed_file(j, "c")
    assert [r["answer_letters"] for r in res.rows] == [["B"], ["A"]] and res.rows[0]["source"] == "mine"
    assert "matches 0 options" in res.quarantine[0].reason
    nohead = write_csv(tmp_path / "nohead.csv", [["Which?", "x", "y", "B"]])
    r = load_mapped(nohead, "c", FieldMapping(stem="0", options=["1", "2"], answer="3", header=False)).rows[0]
    assert r["answer_letters"] == ["B"]
    with pytest.raises(ValueError):
        FieldMapping(stem="q", options="o", answer="a", answer_format="roman")
    with pytest.raises(ValueError, match="unknown FieldMapping keys"):
        FieldMapping.from_dict({"stem": "q", "options": "o", "answer": "a", "colour": 1})


# ---------------------------------------------------------------- bad input never crashes a load
def test_bad_rows_are_quarantined_with_file_locator_and_reason(tmp_path):
    good = {"question": "Q?", "opa": "a", "opb": "b", "opc": "c", "opd": "d", "cop": 4}
    p = tmp_path / "medmcqa_bad.jsonl"
    p.write_bytes(
        b"\n".join(
            [
                json.dumps(good).encode(),
                b'{"question": "broken',
                json.dumps({**good, "question": ""}).encode(),
                b"[1, 2]",
                json.dumps(good).encode(),
                b'{"question": "\xff\xfe", "opa": "a", "cop": 1}',
                json.dumps({**good, "cop": "x"}).encode(),
            ]
        )
        + b"\n"
    )
    res = load_medmcqa(p, "bad")
    assert len(res.rows) == 1 and res.duplicates == 1 and len(res.quarantine) == 5
    assert {q.source_uri for q in res.quarantine} == {p.name}
    got = {q.source_locator: q.reason for q in res.quarantine}
    assert "malformed JSON" in got["line 2"] and "missing field 'question'" in got["line 3"]
    assert "not a JSON object" in got["line 4"] and "not UTF-8" in got["line 6"] and "not a number" in got["line 7"]

    csvp = tmp_path / "anatomy_test.csv"
    csvp.write_bytes(b'Q1?,a,b,c,d,A\nQ2?,a,b,c,B\n"Q3 \xe9?",a,b,c,d,C\nQ4?,a,b,c,d,E\nQ5?,a,,c,d,A\n')
    res = load_mmlu_csv(csvp, "bad")
    assert len(res.rows) == 1
    got = {q.source_locator: q.reason for q in res.quarantine}
    assert "5 columns" in got["row 2 (line 2)"] and "not UTF-8" in got["row 3 (line 3)"]
    assert "not among the options" in got["row 4 (line 4)"] and "empty text" in got["row 5 (line 5)"]

    bullets = tmp_path / "medbullets_op4.csv"
    bullets.write_text("link,question,opa,opb,opc,opd,answer_idx,answer\nl,Q?,a,b,c,d,B,b,EXTRA\nl,Q?,a,b\n")
    got = [q.reason for q in load_medbullets(bullets, "bad").quarantine]
    assert "9 fields, the header has 8" in got[0] and "missing fields" in got[1]

    pq = tmp_path / "ori_pqal.json"
    pq.write_bytes(
        b'{"1": {"QUESTION": "Ok?", "CONTEXTS": ["c"], "final_decision": "yes"},\n'
        b' "2": {"QUESTION": "\xff?", "CONTEXTS": ["c"], "final_decision": "no"},\n'
        b' "3": ["not", "a", "record"],\n "4": {"QUESTION": oops}}'
    )
    res = load_pubmedqa(pq, "bad")
    assert len(res.rows) == 1
    assert [q.source_locator for q in res.quarantine] == ["key 2 (line 2)", "key 3 (line 3)", "after entry 3"]
    assert "not UTF-8" in res.quarantine[0].reason and "not a JSON object" in res.quarantine[1].reason
    assert "malformed JSON at line 4" in res.quarantine[2].reason

    latin = tmp_path / "cmexam_gbk.csv"
    latin.write_bytes(b"Question,Options,Answer\n" + "题目,A 甲\nB 乙,A\n".encode("gbk"))
    res = load_cmexam(latin, "bad")
    assert res.rows == [] and "not UTF-8" in res.quarantine[0].reason

    with pytest.raises(BadRecord, match="unrecognized seed file format"):
        detect_format(write_jsonl(tmp_path / "other.jsonl", [{"text": "not a question"}]))


def test_json_document_streams_in_small_chunks(shared_data, monkeypatch):
    path = shared_data / "benchmarks" / "pubmedqa" / "ori_pqal.json"
    whole = load_pubmedqa(path, "p")
    monkeypatch.setattr(loaders_io._JsonStream, "CHUNK", 97)
    chunked = load_pubmedqa(path, "p")
    assert [(r["record_id"], r["source_locator"], r["parent_ids"]) for r in chunked.rows] == [
        (r["record_id"], r["source_locator"], r["parent_ids"]) for r in whole.rows
    ]
