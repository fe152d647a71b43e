"""21-option rules: count, letters, 'None of the above' last, no duplicates, no parent/child, normalization."""

import pytest

from citrus_assets.common.text.answers import letters_for
from citrus_assets.jmed.items import icd10
from citrus_assets.jmed.items.options import NoAnswer, build_item, item_problems, normalize_answers
from citrus_assets.jmed.items.questions import check_question, leaks, template_question


def test_shipped_list_is_well_formed():
    names = icd10.load_names()
    assert len(names) >= 300
    assert all(e.name and e.name_zh and len(e.code) >= 3 and e.code[0].isalpha() for e in names)
    assert len({e.name.casefold() for e in names}) == len(names)


@pytest.mark.parametrize(
    "text,code,method",
    [
        ("Lobar pneumonia", "J18.1", "exact"),
        ("heart attack", "I21.9", "exact"),
        ("急性膀胱炎", "N30.0", "exact"),
        ("疑似痛风", "M10.9", "exact"),
        ("probable acute bronchitis (viral)", "J20.9", "exact"),
        ("bronchitis, acute", "J20.9", "fuzzy"),
    ],
)
def test_normalization(text, code, method):
    m = icd10.normalize(text)
    assert m is not None and m.entry.code == code and m.method == method


def test_unmatched_diagnosis_is_refused():
    with pytest.raises(NoAnswer):
        build_item("spontaneous combustion of the left ear", "en", "k")


def test_several_diagnoses_are_several_answers():
    entries, info = normalize_answers("Type 2 diabetes mellitus; essential hypertension")
    assert [e.code for e in entries] == ["E11.9", "I10"] and {i["method"] for i in info} == {"exact"}
    item = build_item("Type 2 diabetes mellitus; essential hypertension", "en", "multi")
    assert len(item.answer_letters) == 2
    assert sorted(item.options[a] for a in item.answer_letters) == [
        "Essential hypertension",
        "Type 2 diabetes mellitus",
    ]


@pytest.mark.parametrize(
    "dx,lang", [("Lobar pneumonia", "en"), ("急性膀胱炎", "zh"), ("Gout", "en"), ("COVID-19", "zh")]
)
def test_item_rules(dx, lang):
    item = build_item(dx, lang, f"2026-11:{dx}")
    assert list(item.options) == list(letters_for(21))
    assert item.options["U"] == ("以上都不是" if lang == "zh" else "None of the above") and item.option_codes[-1] == ""
    texts = [t.casefold() for t in item.options.values()]
    assert len(set(texts)) == 21
    answer = item.answer_codes[0]
    for code in item.option_codes[:-1]:
        if code != answer:
            assert not icd10.related(code, answer)  # no parent/child or same-category distractor
    for i, a in enumerate(item.option_codes[:-1]):
        for b in item.option_codes[i + 1 : -1]:
            assert not icd10.related(a, b) and icd10.jaccard(icd10.by_code(a).name, icd10.by_code(b).name) < 0.8
    same_dept = sum(icd10.chapter(c)[1] == icd10.chapter(answer)[1] for c in item.option_codes[:-1])
    assert same_dept >= 10  # plausible differentials of the same chapter/department come first
    assert build_item(dx, lang, f"2026-11:{dx}") == item  # fixed seed per item
    assert build_item(dx, lang, "another item").options != item.options


def test_related_rule_and_item_problems():
    assert icd10.related("J18.1", "J18.9") and icd10.related("J18", "J18.1") and not icd10.related("J18.1", "J20.9")
    item = build_item("Lobar pneumonia", "en", "k")
    options, codes = dict(item.options), list(item.option_codes)
    other = next(letter for letter in options if letter not in item.answer_letters and letter != "U")
    i = list(options).index(other)
    options[other], codes[i] = "Pneumonia", "J18.9"
    problems = item_problems(options, codes, item.answer_letters, "A man has fever and cough. What is it?", "en")
    assert any("parent/child" in p for p in problems)
    options[other] = options[item.answer_letters[0]]
    assert any("duplicate" in p for p in item_problems(options, codes, item.answer_letters, "x?", "en"))
    assert any(
        "contains the answer" in p
        for p in item_problems(item.options, item.option_codes, item.answer_letters, "Is it lobar pneumonia?", "en")
    )
    assert item_problems(item.options, item.option_codes, item.answer_letters, "A man has a cough. Why?", "en") == []


def test_question_validator_and_template():
    assert leaks("The X-ray shows pneumonia in the right lobe.", ["Lobar pneumonia"], "en") == ["pneumonia"]
    assert leaks("尿常规白细胞升高，膀胱区压痛。", ["急性膀胱炎"], "zh")
    assert (
        check_question(
            "A 34-year-old man has a cough and fever for three days. What is the most likely diagnosis?",
            ["Lobar pneumonia"],
            "en",
        )
        == []
    )
    assert check_question("qwe rty uio pas dfg hjk lzx cvb nm qwe rty uio pas", ["Gout"], "en")
    rec = {
        "age": 23,
        "sex": "female",
        "chief_complaint": "",
        "history": "",
        "present_illness": "My name is [NAME]. I got itchy welts after shrimp. You have urticaria.",
        "exam_results": "Welts blanch on pressure.",
        "diagnosis": "urticaria",
    }
    q = template_question(rec, "en")
    assert q.startswith("A 23-year-old woman") and q.endswith("What is the most likely diagnosis?")
    assert "urticaria" not in q.lower() and "[NAME]" not in q and check_question(q, ["urticaria"], "en") == []
