import json

import pyarrow as pa
import pytest

from citrus_assets.common.decontamination import (
    BenchmarkItem,
    NGramIndex,
    decontaminate,
    default_eval_index,
    items_from_seeds,
)

ITEMS = [
    BenchmarkItem("fakebench", "fb-1",
                  "A 45-year-old man presents with crushing substernal chest pain radiating to the left arm "
                  "and jaw for the past two hours. Which of the following is the most appropriate next step?"),
    BenchmarkItem("fakebench", "fb-2",
                  "A 6-year-old girl is brought to the clinic because of periorbital edema, tea-colored urine and "
                  "hypertension three weeks after a sore throat. Which finding is most likely on biopsy?"),
    BenchmarkItem("fakebench", "fb-3", "Which vitamin deficiency causes scurvy?"),  # 5 words: too short
]


@pytest.fixture
def index():
    idx = NGramIndex(n=13)
    assert idx.add(ITEMS) == 2
    assert idx.skipped == 1
    return idx


def test_quoted_span_with_other_case_punctuation_and_whitespace_is_flagged(index):
    doc = ("Study notes for the boards. a 6 YEAR OLD girl is   brought to the clinic, because of periorbital\n"
           "EDEMA; tea colored urine -- and hypertension three weeks after... a sore throat! Good luck.")
    hits = index.match(doc)
    assert hits and {h.item_id for h in hits} == {"fb-2"}
    assert hits[0].benchmark == "fakebench"
    assert len(hits[0].ngram.split()) == 13
    assert index.contaminated(doc)
    # numbers are normalized (datatrove: every number -> 0), so a changed age still matches
    assert index.match("A 52-year-old man presents with crushing substernal chest pain radiating to the left "
                       "arm and jaw")[0].item_id == "fb-1"


def test_unrelated_medical_text_and_short_docs_are_not_flagged(index):
    unrelated = ("Metformin is a first-line therapy for type 2 diabetes mellitus; it lowers hepatic glucose "
                 "production and rarely causes hypoglycemia. Lactic acidosis is a rare but serious adverse effect, "
                 "especially in patients with renal impairment. A man presents with chest pain.")
    assert index.match(unrelated) == []
    assert not index.contaminated(unrelated)
    # a 12-word quote is below n=13
    assert not index.contaminated("substernal chest pain radiating to the left arm and jaw for the")
    assert index.contaminated("substernal chest pain radiating to the left arm and jaw for the past")  # 13
    assert not index.contaminated("")
    assert not index.contaminated("Which vitamin deficiency causes scurvy?")  # its item was too short to index


def test_min_words_indexes_short_items_whole():
    idx = NGramIndex(n=13, min_words=4)
    idx.add(ITEMS)
    assert idx.skipped == 0
    assert idx.match("Quiz: which VITAMIN deficiency causes scurvy? Answer: C")[0].item_id == "fb-3"
    assert not idx.contaminated("vitamin deficiency causes")


def test_save_load_round_trip(index, tmp_path):
    path = index.save(tmp_path / "sub" / "decont.npz")
    loaded = NGramIndex.load(path)
    assert len(loaded) == len(index) > 0
    assert (loaded.n, loaded.min_words, loaded.n_items, loaded.skipped) == (13, 13, 2, 1)
    doc = "a 6-year-old girl is brought to the clinic because of periorbital edema, tea-colored urine"
    assert loaded.match(doc) == index.match(doc)
    assert loaded.match(doc)[0].item_id == "fb-2"


def test_decontaminate_splits_a_table(index):
    table = pa.table({
        "record_id": ["r1", "r2", "r3", "r4"],
        "text": ["Clean text about influenza vaccination schedules in older adults and their efficacy.",
                 "Recall: A 45 year old man presents with crushing substernal chest pain radiating to the left arm.",
                 None,
                 "nothing here"],
        "answer": ["ok", "ok", "The girl is brought to the clinic because of periorbital edema tea colored urine "
                   "and hypertension", "ok"],
    })
    kept, removed = decontaminate(table, ["text", "answer"], index)
    assert kept["record_id"].to_pylist() == ["r1", "r4"]
    assert kept.schema == table.schema
    assert removed.column_names == ["record_id", "benchmark", "matched_item_id", "matched_ngram", "reason"]
    assert removed["record_id"].to_pylist() == ["r2", "r3"]
    assert removed["matched_item_id"].to_pylist() == ["fb-1", "fb-2"]
    assert set(removed["benchmark"].to_pylist()) == {"fakebench"}
    assert "answer" in removed["reason"][1].as_py()
    # one column only: r3 is kept
    kept1, removed1 = decontaminate(table, "text", index)
    assert kept1.num_rows == 3 and removed1["record_id"].to_pylist() == ["r2"]
    with pytest.raises(ValueError):
        decontaminate(table, "missing", index)


def test_items_from_seeds_and_default_index_on_made_up_benchmark(tmp_path):
    rows = [{"record_id": "q1", "stem": "Stem text", "context": "", "options": [{"letter": "A", "text": "alpha"}]}]
    assert items_from_seeds(rows, "b") == [BenchmarkItem("b", "q1", "Stem text\nalpha")]
    bench = tmp_path / "benchmarks" / "fakeqa"
    bench.mkdir(parents=True)
    q = {"question": ITEMS[0].text, "options": {"A": "Aspirin", "B": "ECG", "C": "CT", "D": "Discharge"},
         "answer_idx": "B"}
    (bench / "test.jsonl").write_text(json.dumps(q) + "\n")
    (bench / "notes.txt").write_text("not a benchmark\n")
    idx = default_eval_index(tmp_path)
    assert idx.benchmarks == ["fakeqa"] and idx.n_items == 1
    hit = idx.match("x " + ITEMS[0].text.upper())[0]
    assert hit.benchmark == "fakeqa" and hit.item_id.startswith("qseed")  # the seed's record id
    assert len(default_eval_index(tmp_path / "nowhere")) == 0


@pytest.fixture(scope="module")
def medqa_index():
    from tests.conftest import shared_data_dir
    from citrus_assets.reasoning_data.seeds import load_seed_file

    path = shared_data_dir() / "benchmarks" / "medqa" / "us_4_options_test.jsonl"
    if not path.is_file():
        pytest.skip(f"MedQA test file not found at {path}")
    rows = load_seed_file(path, "medqa_test").rows
    idx = NGramIndex()
    idx.add(items_from_seeds(rows, "medqa"))
    return idx, rows


def test_real_medqa_question_in_a_paragraph_is_caught(shared_data, medqa_index):
    idx, rows = medqa_index
    assert idx.n_items == len(rows) > 1000
    row = rows[123]
    doc = ("Here is a practice question I found online while studying for step one.\n\n"
           + row["stem"].lower().replace(",", " ,") + "\n\nI think the answer is obvious but let me know.")
    hits = idx.match(doc)
    assert hits and hits[0].benchmark == "medqa" and hits[0].item_id == row["record_id"]


def test_real_pubmedqa_abstracts_are_not_flagged_by_medqa(shared_data, medqa_index):
    idx, _ = medqa_index
    data = json.loads((shared_data / "benchmarks" / "pubmedqa" / "ori_pqal.json").read_text())
    abstracts = [" ".join(v["CONTEXTS"]) for v in list(data.values())[:50]]
    assert all(len(a.split()) > 50 for a in abstracts)
    assert [a[:60] for a in abstracts if idx.contaminated(a)] == []
