"""Review import (three tiers from CSV/JSON), statuses, benchmark rows and the release round trip."""

import json

import pyarrow as pa

from citrus_assets.jmed.items.options import build_item
from citrus_assets.jmed.items.review import age_sex_counts, benchmark_rows, jsonl_lines, load_decisions, review_items
from citrus_assets.jmed.schemas import OPTIONS_SCHEMA
from citrus_assets.reasoning_data.seeds.loaders import load_jmed


def item(did, dx, lang="en", question="A patient has symptoms. What is the most likely diagnosis?", age=30, sex="male"):
    it = build_item(dx, lang, did)
    return {
        "record_id": f"jmedo-{did}",
        "parent_ids": ["q"],
        "dialogue_id": did,
        "month": "2026-11",
        "language": lang,
        "age": age,
        "sex": sex,
        "department": "Dept",
        "diagnosis": dx,
        "question": question,
        "options": [{"letter": k, "text": v} for k, v in it.options.items()],
        "option_codes": it.option_codes,
        "answer_letters": it.answer_letters,
        "answer_codes": it.answer_codes,
        "normalization": "[]",
    }


def test_sample_decisions_import(repo_root):
    decisions, problems = load_decisions(repo_root / "sample" / "jmed_reviews")
    assert problems == []
    assert decisions["primary"]["nov-005"]["verdict"] == "reject"
    assert set(decisions["chief"]) == {"nov-001", "nov-002", "nov-003"}
    assert decisions["chief"]["nov-001"]["reviewer"] == "chief-physician-01"


def test_statuses_tiers_and_release(tmp_path):
    folder = tmp_path / "reviews"
    folder.mkdir()
    (folder / "primary.csv").write_text(
        "item_id,verdict,reviewer,reviewed_at\na,approve,p1,t1\nb,approve,p1,t1\n"
        "c,reject,p2,t2\nd,approve,p1,t1\ne,maybe,p1,t1\nf,approve,p1,t1\n"
    )
    (folder / "secondary.jsonl").write_text(
        "\n".join(json.dumps({"item_id": i, "verdict": "通过", "reviewer": "s"}) for i in ("a", "b", "d", "f"))
    )
    (folder / "chief.json").write_text(
        json.dumps(
            [
                {"item_id": "a", "verdict": "approve", "reviewer": "c"},
                {"item_id": "d", "verdict": "approve", "record_id": "jmedo-old"},
                {"item_id": "f", "verdict": "approve", "reviewer": "c"},
            ]
        )
    )
    decisions, problems = load_decisions(folder)
    assert len(problems) == 1 and "row 5" in problems[0]
    items = pa.Table.from_pylist(
        [
            item("a", "Gout", age=34),
            item("b", "Asthma"),
            item("c", "Migraine"),
            item("d", "Urticaria"),
            item("e", "急性膀胱炎", "zh", "患者女，28岁，尿频尿急两天。最可能的诊断是什么？"),
            item("f", "Gout", question="Is this gout? What is the most likely diagnosis?"),
        ],
        schema=OPTIONS_SCHEMA,
    )
    reviewed = review_items(items, decisions)
    status = dict(zip(reviewed["dialogue_id"].to_pylist(), reviewed["status"].to_pylist()))
    assert status == {
        "a": "approved",
        "b": "pending_chief",
        "c": "rejected_primary",
        "d": "pending_chief",
        "e": "pending_primary",
        "f": "auto_rejected",
    }
    a = reviewed.to_pylist()[0]
    assert (a["primary_reviewer"], a["secondary_verdict"], a["chief_reviewer"]) == ("p1", "approve", "c")
    bench = benchmark_rows(reviewed)
    assert bench["id"].to_pylist() == ["a"] and bench["tiers_approved"].to_pylist() == [3]
    assert age_sex_counts(bench) == {"31-40": {"male": 1, "female": 0, "unknown": 0}}
    path = tmp_path / "jmed.jsonl"
    path.write_text("\n".join(jsonl_lines(bench)) + "\n", encoding="utf-8")
    loaded = load_jmed(path, seed_set="jmed")
    assert len(loaded.rows) == 1 and not loaded.quarantine
    seed = loaded.rows[0]
    assert len(seed["options"]) == 21 and seed["answer_letters"] == bench["answer"][0].as_py()
    assert seed["options"][-1]["text"] == "None of the above" and seed["split"] == "test"
