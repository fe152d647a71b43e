"""The open-ended rewrite validator and the rule rewrite, on hand-made cases and every real MedQA/MedMCQA seed."""

import pytest

from citrus_assets.reasoning_data.questions.open_rules import check_rewrite, ground_truth, rule_rewrite, stem_numbers
from citrus_assets.reasoning_data.seeds.loaders import load_seed_file

STEM = (
    "A 24-year-old woman has fatigue. Hemoglobin is 9.1 g/dL, MCV 68 fL, platelets 1,200 x10^3/uL and "
    "blood pressure 138/90 mm Hg. Which of the following is the most likely diagnosis?"
)
OPTS = [{"letter": "A", "text": "Iron deficiency anemia"}, {"letter": "B", "text": "Vitamin B12 deficiency"}]
GOOD = (
    "A 24-year-old woman has fatigue; hemoglobin 9.1 g/dL, MCV 68 fL, platelets 1200 x10^3/uL, "
    "blood pressure 138/90 mm Hg. What is the most likely diagnosis?"
)


def reasons(rewrite, stem=STEM, opts=OPTS, letters=("A",), lang="en"):
    return check_rewrite(stem, rewrite, opts, list(letters), lang)


def test_faithful_rewrite_passes():
    assert reasons(GOOD) == []


@pytest.mark.parametrize(
    "rewrite, expected",
    [
        ("", "empty"),
        ("   ", "empty"),
        ("I'm sorry, but I can't rewrite medical questions.", "refusal"),
        (GOOD + "\nA. Iron deficiency\nB. B12 deficiency", "lists_options"),
        (GOOD + "\n(A) iron (B) folate", "lists_options"),
        (GOOD + " Choose: A) iron deficiency, B) folate deficiency", "lists_options"),
        (GOOD.replace("9.1 g/dL", "low"), "lost_number:9.1 g/dL"),
        (GOOD.replace("9.1 g/dL", "9.1 mg/dL"), "lost_number:9.1 g/dL"),  # a changed unit is a changed lab value
        (GOOD.replace("9.1", "19.1"), "lost_number:9.1 g/dL"),  # digits inside another number do not count
        (GOOD.replace("138/90", "138/95"), "lost_number:90 mm"),
        (GOOD.replace("24-year-old", "young"), "lost_number:24"),
        (GOOD + " Could it be iron deficiency anemia?", "gives_answer_away"),
        (
            "一名24岁女性，血红蛋白9.1 g/dL，MCV 68 fL，血小板1200 x10^3/uL，血压138/90 mm Hg。最可能的诊断是什么？",
            "language_changed:en->zh",
        ),
    ],
)
def test_rejections(rewrite, expected):
    assert expected in reasons(rewrite)


def test_answer_text_already_in_stem_is_no_give_away():
    stem = "Iron deficiency anemia is suspected in a 30-year-old. Which test confirms it?"
    opts = [{"letter": "A", "text": "Iron deficiency anemia"}, {"letter": "B", "text": "Serum ferritin"}]
    assert (
        check_rewrite(
            stem, "Iron deficiency anemia is suspected in a 30-year-old. What test confirms it?", opts, ["A"], "en"
        )
        == []
    )
    assert "gives_answer_away" in check_rewrite(stem, stem + " Serum ferritin?", opts, ["B"], "en")


def test_numbers_and_units_extracted():
    assert stem_numbers(STEM) == [
        ("24", ""),
        ("9.1", "g/dL"),
        ("68", "fL"),
        ("1200", "x10"),
        ("3", ""),
        ("138", ""),
        ("90", "mm"),
    ]
    assert ("39.5", "℃") in stem_numbers("体温39.5℃，心率110次/分")
    assert stem_numbers("IgA, C3 and HbA1c") == []  # digits inside names are not values


def test_chinese_rewrite_checked_in_chinese():
    stem = "患者男，45岁，体温39.5℃，血压150/95mmHg。下列哪项是最可能的诊断"
    opts = [{"letter": "A", "text": "大叶性肺炎"}, {"letter": "B", "text": "肺结核"}]
    ok = "患者男，45岁，体温39.5℃，血压150/95mmHg。最可能的诊断是什么？"
    assert check_rewrite(stem, ok, opts, ["A"], "zh") == []
    assert "gives_answer_away" in check_rewrite(stem, ok + "是大叶性肺炎吗？", opts, ["A"], "zh")
    assert "language_changed:zh->en" in check_rewrite(
        stem, "Male, 45, temperature 39.5℃, BP 150/95mmHg. What is the most likely diagnosis?", opts, ["A"], "zh"
    )
    assert "lost_number:39.5 ℃" in check_rewrite(stem, ok.replace("39.5℃", "高热"), opts, ["A"], "zh")


@pytest.mark.parametrize(
    "stem, lang, expected",
    [
        (STEM, "en", "What is the most likely diagnosis?"),
        ("Axonal transport is:", "en", "Axonal transport is ___\nComplete the statement."),
        (
            "Anti-centromere antibodies are seen in which of the followings conditions:",
            "en",
            "Anti-centromere antibodies are seen in which conditions?",
        ),
        (
            "Which of the following is not true for myelinated nerve fibers:",
            "en",
            "What is not true for myelinated nerve fibers?",
        ),
        (
            "A 5-year-old boy has a fever of 40°C for 6 days and a rash.",
            "en",
            "A 5-year-old boy has a fever of 40°C for 6 days and a rash.\nWhat is the answer?",
        ),
        (
            "A 5-year-old boy has a fever for 6 days; a diagnosis must be made.",
            "en",
            "A 5-year-old boy has a fever for 6 days; a diagnosis must be made.\nWhat is the most likely diagnosis?",
        ),
        (
            "A 5-year-old boy has fever.\nA. Kawasaki disease\nB) Measles\nWhat is the cause?",
            "en",
            "A 5-year-old boy has fever.\nWhat is the cause?",
        ),
        ("患者女，30岁，发热3天。最可能的诊断是：", "zh", "患者女，30岁，发热3天。最可能的诊断是什么？"),
        ("患者男，45岁。下列哪项是最可能的诊断", "zh", "患者男，45岁。什么是最可能的诊断？"),
    ],
)
def test_rule_rewrite(stem, lang, expected):
    out = rule_rewrite(stem, lang)
    assert out.endswith(expected.split("\n")[-1]) and (expected in out or out == expected)


def test_ground_truth_joins_several_correct_options():
    opts = [{"letter": "A", "text": "Aspirin"}, {"letter": "B", "text": "Heparin"}, {"letter": "C", "text": "x"}]
    assert ground_truth(opts, ["A", "B"]) == "Aspirin; Heparin"


@pytest.mark.parametrize("rel", ["medqa/us_4_options_test.jsonl", "medmcqa/dev.jsonl"])
def test_rule_rewrite_of_every_real_seed_passes_the_validator(shared_data, rel):
    result = load_seed_file(shared_data / "benchmarks" / rel, "real")
    assert len(result.rows) > 900
    failures, with_numbers = [], 0
    for s in result.rows:
        closed = f"{s['context']}\n\n{s['stem']}" if s["context"] else s["stem"]
        rewrite = rule_rewrite(s["stem"], s["language"])
        rewrite = f"{s['context']}\n\n{rewrite}" if s["context"] else rewrite
        assert "which of the following" not in rewrite.lower()
        assert rewrite.rstrip("\"' ").endswith(("?", "？", "Complete the statement.", "请补全这句话。"))
        why = check_rewrite(closed, rewrite, s["options"], s["answer_letters"], s["language"])
        if why:
            failures.append((s["record_id"], why))
        if stem_numbers(closed):  # the validator is not trivially permissive on real text
            with_numbers += 1
            bare = check_rewrite(
                closed, "What is the most likely diagnosis?", s["options"], s["answer_letters"], s["language"]
            )
            assert any(r.startswith("lost_number") for r in bare)
    assert failures == []
    assert with_numbers > 100
