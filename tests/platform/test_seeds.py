import json

from citrus_assets.reasoning_data.seeds.loaders import load_seed_file
from citrus_assets.reasoning_data.seeds.seed_files import detect_language, load_medqa_jsonl


def test_real_medqa_file(shared_data):
    path = shared_data / "benchmarks" / "medqa" / "us_4_options_test.jsonl"
    res = load_medqa_jsonl(path, seed_set="medqa_test", split="test")
    assert len(res.rows) + res.duplicates == 1273
    assert res.quarantine == []
    t = res.table()
    ids = t["record_id"].to_pylist()
    assert len(set(ids)) == len(ids)
    for r in res.rows[:50]:
        letters = [o["letter"] for o in r["options"]]
        assert letters == ["A", "B", "C", "D"]
        assert r["answer_letters"][0] in letters
        assert r["source_locator"].startswith("line ")


def test_ids_survive_reordering_and_bad_lines_are_quarantined(tmp_path):
    good = [
        {"question": f"Question {i}?", "options": {"A": "x", "B": "y", "C": "z", "D": "w"}, "answer_idx": "B"}
        for i in range(4)
    ]
    a = tmp_path / "a.jsonl"
    a.write_text("\n".join(json.dumps(g) for g in good) + "\n")
    b = tmp_path / "b.jsonl"
    lines = [json.dumps(g) for g in reversed(good)]
    lines.insert(1, '{"question": "broken", ')
    lines.insert(2, json.dumps({"question": "no answer", "options": {"A": "x", "B": "y"}}))
    lines.insert(3, json.dumps({"question": "bad letter", "options": {"A": "x", "B": "y"}, "answer_idx": "E"}))
    b.write_bytes(("\n".join(lines) + "\n").encode() + b'{"question": "\xff\xfe latin"}\n')
    ra, rb = load_medqa_jsonl(a, "s"), load_medqa_jsonl(b, "s")
    assert sorted(r["record_id"] for r in ra.rows) == sorted(r["record_id"] for r in rb.rows)
    assert len(rb.quarantine) == 4
    reasons = " | ".join(q.reason for q in rb.quarantine)
    assert "malformed JSON" in reasons and "no answer" in reasons and "not among the options" in reasons
    assert "not UTF-8" in reasons
    assert {q.source_locator for q in rb.quarantine} == {"line 2", "line 3", "line 4", "line 8"}


def test_bundled_sample_loads_with_its_planted_bad_lines(repo_root):
    res = load_seed_file(repo_root / "sample" / "seeds" / "medqa_demo.jsonl", "medqa_demo")
    assert len(res.rows) == 8
    assert len(res.quarantine) == 2


def test_language_detection():
    assert detect_language("患者男性，45岁，发热三天") == "zh"
    assert detect_language("A 45-year-old man has fever") == "en"
