"""The decontamination index: regression tests for every failure of issue 13 (made-up text of the same
shape), the project's renderings, Chinese items, the removal tables, the bundled-sample index, unreadable
benchmark files, and the real public files when ../shared/data is there."""

import json

import pyarrow as pa
import pytest

from citrus_assets.common.decontamination import benchmark_data
from citrus_assets.common.decontamination.index import (
    REMOVED_SCHEMA,
    BenchmarkItem,
    NGramIndex,
    cell_text,
    decontaminate,
    decontaminate_table,
    decontamination_metadata,
    decontamination_ok,
    default_eval_index,
    eval_index,
    index_dirs,
    items_from_seeds,
    quarantine_unreadable,
    tokenize,
)
from citrus_assets.common.prompts import load_prompt

VIGNETTES = [  # made-up USMLE-shaped items sharing the boilerplate the issue quotes
    BenchmarkItem(
        "fakebench",
        f"fb-{i}",
        f"A {age}-year-old woman is brought to the emergency department because of {c}. Her temperature "
        f"is 37.{i}°C (99.{i}°F), pulse is 9{i}/min, and blood pressure is 12{i}/8{i} mm Hg. {x} "
        "Which of the following is the most likely diagnosis?",
        a,
    )
    for i, (age, c, x, a) in enumerate(
        [
            (
                34,
                "a 2-day history of crushing substernal chest pain radiating to the jaw",
                "An ECG shows ST-segment elevations in leads II, III and aVF.",
                "Inferior myocardial infarction",
            ),
            (
                61,
                "sudden painless loss of vision in the right eye while reading the newspaper",
                "Fundoscopy shows a cherry-red spot at the macula.",
                "Central retinal artery occlusion",
            ),
            (
                25,
                "periorbital edema and tea-colored urine three weeks after a sore throat",
                "Urinalysis shows red blood cell casts.",
                "Poststreptococcal glomerulonephritis",
            ),
            (
                47,
                "fatigue, cold intolerance and a hoarse voice for six months",
                "Her thyroid gland is firm and nontender.",
                "Hashimoto thyroiditis",
            ),
            (
                72,
                "confusion and a fall at the nursing home this morning",
                "Serum sodium concentration is 118 mEq/L.",
                "Syndrome of inappropriate antidiuretic hormone",
            ),
            (
                19,
                "a pruritic rash on the flexor surfaces of both elbows",
                "There are excoriated papules and lichenified plaques.",
                "Atopic dermatitis",
            ),
        ]
    )
]
SHORT = [
    BenchmarkItem("mmluish", "m-1", "Which vitamin deficiency causes scurvy?", "Vitamin C"),
    BenchmarkItem("mmluish", "m-2", "Which of the following is an example of monosomy?", "45,X"),
]
ZH = [
    BenchmarkItem("zhbench", "z-1", "维生素C缺乏可引起下列哪种疾病", "坏血病"),
    BenchmarkItem(
        "zhbench",
        "z-2",
        "患者，男，45岁。反复上腹部疼痛3年，多于餐后半小时出现，持续1～2小时后缓解，近1周出现黑便。最可能的诊断是",
        "胃溃疡合并出血",
    ),
    BenchmarkItem("zhbench", "z-3", "青霉素过敏性休克首选的抢救药物是", "肾上腺素"),
]


@pytest.fixture(scope="module")
def index():
    idx = NGramIndex()
    assert idx.add(VIGNETTES + SHORT + ZH) == len(VIGNETTES + SHORT + ZH)
    assert idx.skipped == 0  # short English and Chinese items are indexed, none skipped
    return idx


def mcq(stem: str, options: list[str], letters="ABCDE") -> str:
    return load_prompt("citrus_mcq_user").render(
        question=stem, options="\n".join(f"{L}. {o}" for L, o in zip(letters, options))
    )


# -- precision: what the issue saw flagged -----------------------------------------------------------
def test_vignette_boilerplate_is_not_evidence(index):
    clean = (
        "A 45-year-old woman is brought to the emergency department because of a 3-day history of fever and "
        "productive cough. Her temperature is 37.1°C (99.1°F), pulse is 91/min, and blood pressure is "
        "121/81 mm Hg. Crackles are heard at the right lung base. Which of the following is the most likely "
        "diagnosis?"
    )
    assert index.match(clean) == []


def test_numbers_are_content_and_number_tables_are_never_evidence():
    from datatrove.utils.text import TextNormConfig, simplify_text

    # the datatrove difference, pinned: its normalisation makes every number 0, ours keeps them
    assert simplify_text("a 45 year old", TextNormConfig()) == simplify_text("a 52 year old", TextNormConfig())
    assert tokenize("a 45 year old")[0] != tokenize("a 52 year old")[0]
    table = " ".join(str(x) for x in range(100, 160))  # a table of numbers, also inside a benchmark item
    idx = NGramIndex()
    idx.add(
        [
            BenchmarkItem(
                "b",
                "t-1",
                "Table 2 shows the baseline characteristics of the patients enrolled in the "
                "randomized trial of early mobilisation after hip fracture surgery: " + table,
            )
        ]
    )
    assert idx.skipped == 0 and not idx.contaminated("Results: " + table + " (n = 60).")
    assert not idx.contaminated(" ".join(["0"] * 40))


# -- recall: what the issue saw missed -----------------------------------------------------------------
def test_quoted_vignette_with_case_whitespace_punctuation_edits_is_flagged_with_its_span(index):
    item = VIGNETTES[2].text
    doc = "Study notes.\n" + item.upper().replace(",", " ;").replace(" ", "   ") + "\nGood luck!"
    hits = index.match(doc)
    assert [(h.benchmark, h.item_id, h.kind) for h in hits] == [("fakebench", "fb-2", "ngram")]
    # the document's own text; the shared opening ("a 0 year old woman is brought to ...") is not evidence
    assert hits[0].span in doc and "PERIORBITAL" in hits[0].span and not hits[0].span.startswith("A ")
    assert tokenize("High dose ß-carotene, 45,X")[0] == tokenize("HIGH DOSE SS-CAROTENE 45X")[0]  # case-folded
    # a fifth of the vignette quoted is enough; a phrase is not
    words = item.split()
    assert index.contaminated(" ".join(words[len(words) // 3 :]))
    assert not index.contaminated("periorbital edema and tea-colored urine three weeks after a sore throat")


def test_project_mcq_prompt_and_relettered_reordered_options_are_flagged(index):
    stem = VIGNETTES[1].text
    opts = ["Central retinal artery occlusion", "Retinal detachment", "Vitreous hemorrhage", "Glaucoma"]
    assert index.match(mcq(stem, opts))[0].item_id == "fb-1"
    # short items are matched whole: stem + correct option, any letter, any order
    for letters, order in (("ABCD", [0, 1, 2, 3]), ("abcd", [3, 1, 0, 2]), ("1234", [2, 3, 1, 0])):
        o = ["Vitamin A", "Vitamin B1", "Vitamin C", "Vitamin D"]
        hits = index.match(mcq("Which vitamin deficiency causes scurvy?", [o[i] for i in order], letters))
        assert [(h.item_id, h.kind) for h in hits] == [("m-1", "whole")]
    assert index.match("WHICH OF THE FOLLOWING IS AN EXAMPLE OF MONOSOMY?\nA . 46 ,XX\nB. 45X")[0].item_id == "m-2"
    # the stem without the answer, or the answer without the stem, is not the item
    assert not index.contaminated("Which vitamin deficiency causes scurvy? Think about collagen.")
    assert not index.contaminated("Vitamin C is found in citrus fruit.")


def test_project_open_prompt_with_the_answer_is_flagged(index):
    doc = load_prompt("citrus_open_user").render(question="Which vitamin deficiency causes scurvy?")
    assert not index.contaminated(doc)  # no answer: the stem alone is below evidence
    assert index.match(doc + "\n<think>collagen</think><answer>Vitamin C</answer>")[0].item_id == "m-1"


def test_chinese_items_are_indexed_and_exact_copies_flagged(index):
    for item in ZH:
        opts = [item.answer, "佝偻病", "脚气病", "夜盲症"]
        assert index.match(mcq(item.text, opts, "DCBA"))[0].item_id == item.item_id
        spaced = " ".join(item.text).replace("，", ",") + "\n答案：" + item.answer  # whitespace/punctuation edits
        assert index.match(spaced)[0].item_id == item.item_id
    # the same exam boilerplate with other content is not the item
    assert not index.contaminated("患者，男，45岁。反复咳嗽咳痰5年，加重3天伴发热。最可能的诊断是")


# -- tables of training rows ---------------------------------------------------------------------------
def test_decontaminate_checks_content_fields_of_every_column(index):
    msgs = lambda u, a: [{"role": "user", "content": u}, {"role": "assistant", "content": a}]  # noqa: E731
    table = pa.table(
        {
            "record_id": ["r1", "r2", "r3", "r4"],
            "prompt": [
                msgs("Tell me about influenza vaccination.", "Yearly.")[:1],
                msgs(VIGNETTES[0].text, "")[:1],
                msgs("Which vitamin deficiency causes scurvy?", "")[:1],
                msgs("Which vitamin deficiency causes scurvy?", "")[:1],
            ],
            "chosen": [
                msgs("", "Yearly, in autumn.")[1:],
                msgs("", "MI")[1:],
                msgs("", "Vitamin C, clearly.")[1:],
                msgs("", "Collagen synthesis fails.")[1:],
            ],
        }
    )
    kept, removed = decontaminate(table, ["prompt", "chosen"], index)
    assert kept["record_id"].to_pylist() == ["r1", "r4"] and kept.schema == table.schema
    assert removed.schema == REMOVED_SCHEMA
    rows = removed.to_pylist()
    assert [(r["record_id"], r["benchmark"], r["matched_item_id"]) for r in rows] == [
        ("r2", "fakebench", "fb-0"),
        ("r3", "mmluish", "m-1"),
    ]
    assert rows[0]["column"] == "prompt" and "crushing substernal" in rows[0]["matched_span"]
    assert "Vitamin C" in rows[1]["matched_span"]  # stem in the prompt, answer in the completion: one span
    assert cell_text(msgs("hi", "there")) == "hi\nthere"  # roles are not content
    with pytest.raises(ValueError):
        decontaminate(table, "missing", index)


def test_save_load_round_trip(index, tmp_path):
    path = index.save(tmp_path / "sub" / "decont.npz", extra={"data_dirs": ["x"]})
    loaded, extra = NGramIndex.load_with_extra(path)
    assert extra == {"data_dirs": ["x"]} and loaded.params() == index.params()
    assert (len(loaded), loaded.n_items, loaded.benchmarks) == (len(index), index.n_items, index.benchmarks)
    docs = [
        VIGNETTES[3].text,
        mcq("Which vitamin deficiency causes scurvy?", ["Vitamin C", "Iron"]),
        ZH[1].text,
        "nothing here",
    ]
    assert [loaded.match(d) for d in docs] == [index.match(d) for d in docs]


# -- the project's index: bundled sample first, unreadable files named ---------------------------------
def _bench(root, name, rows, fname="test.jsonl"):
    d = root / "benchmarks" / name
    d.mkdir(parents=True, exist_ok=True)
    (d / fname).write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root


def _medqa_row(item: BenchmarkItem) -> dict:
    return {
        "question": item.text,
        "options": {"A": item.answer, "B": "Other", "C": "None", "D": "All"},
        "answer_idx": "A",
    }


@pytest.fixture
def isolated(monkeypatch, tmp_path):
    """Benchmark dirs under the test's control: a made-up bundled sample, no environment, no ../shared."""
    bundled = _bench(tmp_path / "bundled", "bundledqa", [_medqa_row(VIGNETTES[4])])
    monkeypatch.setattr(benchmark_data, "BUNDLED_DATA_DIR", bundled)
    monkeypatch.delenv("CITRUS_EVAL_DATA", raising=False)
    monkeypatch.setenv("CITRUS_DATA", str(tmp_path / "no-shared"))
    return tmp_path


def test_eval_index_always_holds_the_bundled_sample_and_names_unreadable_files(isolated):
    extra = _bench(isolated / "extra", "fakeqa", [_medqa_row(VIGNETTES[0])])
    (extra / "benchmarks" / "fakeqa" / "broken.jsonl").write_text('{"question": "half a record\n')
    (extra / "benchmarks" / "fakeqa" / "README.md").write_text("documentation, not items\n")
    (extra / "benchmarks" / "fakeqa" / "test_ground_truth.json").write_text('{"12345": "yes"}')  # split ids
    index, report = eval_index(extra, cache_dir=isolated / "cache")
    assert index.benchmarks == ["bundledqa", "fakeqa"] and index.n_items == 2
    assert report.data_dirs[0] == str(benchmark_data.BUNDLED_DATA_DIR)
    assert [u["file"].rsplit("/", 1)[-1] for u in report.unreadable] == ["broken.jsonl"]
    assert [a["file"].rsplit("/", 1)[-1] for a in report.auxiliary] == ["test_ground_truth.json"]  # named, not bad
    assert index.match(VIGNETTES[4].text)[0].benchmark == "bundledqa"
    from resources.lake import Lake

    lake = Lake(str(isolated / "lake"))
    assert quarantine_unreadable(lake, report)  # quarantined in the lake, with the reason
    [q] = lake.read_quarantine("decontamination_index").to_pylist()
    assert q["source_uri"].endswith("broken.jsonl") and "unreadable benchmark file (fakeqa)" in q["reason"]
    cached, report2 = eval_index(extra, cache_dir=isolated / "cache")  # from the .npz cache
    assert cached.n_items == 2 and report2.unreadable == report.unreadable
    assert len(default_eval_index(isolated / "nowhere")) == 0
    idx, rep = index_dirs([isolated / "nowhere"])
    assert idx.n_items == 0 and rep.unreadable == []


def test_items_from_seeds_keep_stem_and_correct_answer():
    rows = [
        {
            "record_id": "q1",
            "stem": "Stem text",
            "context": "ctx",
            "options": [{"letter": "A", "text": "alpha"}, {"letter": "B", "text": "beta"}],
            "answer_letters": ["B"],
        }
    ]
    assert items_from_seeds(rows, "b") == [BenchmarkItem("b", "q1", "Stem text\nctx", "beta")]


def test_empty_index_fails_unless_opted_out_and_the_opt_out_is_recorded(isolated, monkeypatch):
    monkeypatch.setattr(benchmark_data, "BUNDLED_DATA_DIR", isolated / "empty-sample")
    table = pa.table({"record_id": ["r1"], "text": [VIGNETTES[4].text]})
    kept, removed, meta = decontaminate_table(table, "text")
    assert kept.num_rows == 1 and removed.num_rows == 0 and meta["index_items"] == 0
    assert meta["status"] == "FAILED: empty index" and decontamination_ok(meta)[0] is False
    _, _, meta = decontaminate_table(table, "text", allow_no_decontamination=True)
    assert meta["allow_no_decontamination"] is True and meta["status"].startswith("OFF")
    assert decontamination_ok(meta) == (True, "decontamination explicitly turned off (allow_no_decontamination: true)")
    assert decontamination_ok(None)[0] is False
    idx = NGramIndex()
    idx.add(VIGNETTES)
    meta = decontamination_metadata(idx, index_dirs([])[1], removed, False)
    assert meta["status"] == "on" and decontamination_ok(meta)[0]


def test_blocking_check_fails_on_empty_index_and_passes_with_opt_out():
    import dagster as dg

    from citrus_assets.common.decontamination.checks import decontamination_check

    for meta, expected in (
        ({"index_items": 0, "allow_no_decontamination": False}, False),
        ({"index_items": 0, "allow_no_decontamination": True, "status": "OFF"}, True),
        ({"index_items": 12, "removed": 1}, True),
    ):

        @dg.asset(name="toy_mix")
        def toy_mix():
            # materialized below in the same iteration, so the loop variable is the one meant
            return dg.MaterializeResult(metadata={"decontamination": dg.MetadataValue.json(meta)})  # noqa: B023

        result = dg.materialize([toy_mix, decontamination_check(toy_mix)], raise_on_error=False)
        [evaluation] = result.get_asset_check_evaluations()
        assert evaluation.check_name == "toy_mix_decontaminated" and evaluation.passed is expected, meta


def test_data_card_shows_the_opt_out():
    from citrus_assets.model_training.data_cards.cards import decontamination_lines

    off = {
        "asset": "sft_stage1_mix",
        "partition": "__all__",
        "status": "OFF (allow_no_decontamination)",
        "allow_no_decontamination": True,
        "index_items": 0,
        "removed": 0,
        "benchmarks": [],
    }
    on = {
        "asset": "cpt_documents",
        "partition": "__all__",
        "status": "on",
        "index_items": 40,
        "removed": 2,
        "benchmarks": ["medqa"],
        "unreadable_benchmark_files": [{"file": "b/broken.jsonl"}],
    }
    text = "\n".join(decontamination_lines([off, on]))
    assert "| OFF (allow_no_decontamination) |" in text and "turned OFF by the run config" in text
    assert "b/broken.jsonl" in text
    assert "turned OFF" not in "\n".join(decontamination_lines([on]))


# -- the CLI ---------------------------------------------------------------------------------------------
def test_cli_exit_codes_json_and_formats(isolated, capsys):
    import pyarrow.parquet as pq

    from citrus_assets.cli import main

    bench = _bench(isolated / "mine", "fakeqa", [_medqa_row(VIGNETTES[2])])
    clean = isolated / "clean.jsonl"
    clean.write_text(json.dumps({"messages": [{"role": "user", "content": "How do vaccines work?"}]}) + "\n")
    assert main(["decontam", "check", str(clean), "--benchmarks", str(bench)]) == 0
    assert "0 of 1 records" in capsys.readouterr().out

    dirty = isolated / "dirty.jsonl"
    dirty.write_text(clean.read_text() + json.dumps({"text": "Q: " + VIGNETTES[2].text}) + "\n")
    text = isolated / "notes.txt"
    text.write_text("My notes\n" + mcq(VIGNETTES[4].text, ["SIADH", "Other"]))
    pq.write_table(pa.table({"prompt": [ZH[0].text + "\nA 坏血病\nB 佝偻病"], "id": ["x"]}), isolated / "rows.parquet")
    files = [str(dirty), str(text), str(isolated / "rows.parquet")]
    assert main(["decontam", "check", *files, "--benchmarks", str(bench), "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    got = {(m["file"].rsplit("/", 1)[-1], m["locator"], m["benchmark"]) for m in out["matches"]}
    assert got == {("dirty.jsonl", "line 2", "fakeqa"), ("notes.txt", "file", "bundledqa")}  # no zh in this index
    assert out["n_records_matched"] == 2 and out["index"]["benchmarks"] == ["bundledqa", "fakeqa"]
    assert all(m["span"] and m["item_id"] for m in out["matches"])
    assert main(["decontam", "check", str(isolated / "missing.jsonl")]) == 2  # unreadable input
    capsys.readouterr()


# -- real public files (skip when ../shared/data is absent) ---------------------------------------------
@pytest.fixture(scope="module")
def medqa():
    from citrus_assets.reasoning_data.seeds.loaders import load_seed_file
    from tests.conftest import shared_data_dir

    path = shared_data_dir() / "benchmarks" / "medqa" / "us_4_options_test.jsonl"
    if not path.is_file():
        pytest.skip(f"MedQA test file not found at {path} (set CITRUS_DATA)")
    rows = load_seed_file(path, "medqa_test").rows
    idx = NGramIndex()
    idx.add(items_from_seeds(rows, "medqa"))
    return idx, rows


def test_real_medqa_items_in_the_project_prompt_are_caught(medqa):
    idx, rows = medqa
    assert idx.n_items == len(rows) > 1000
    for row in rows[100:140]:
        doc = mcq(row["stem"], [o["text"] for o in row["options"]][::-1])
        assert idx.match(doc)[0].item_id == row["record_id"]


def test_real_medbullets_and_mmlu_pro_are_mostly_not_flagged_by_medqa(medqa, shared_data):
    """The issue saw 95% of MedBullets flagged; what is left are real near-copies of MedQA items."""
    from citrus_assets.reasoning_data.seeds.loaders import load_seed_file

    idx, _ = medqa
    for rel, limit in (("medbullets/medbullets_op4.csv", 0.05), ("mmlu_pro/health_test.sample.jsonl", 0.01)):
        rows = load_seed_file(shared_data / "benchmarks" / rel, "x").rows
        flagged = sum(idx.contaminated(r["stem"] + "\n" + "\n".join(o["text"] for o in r["options"])) for r in rows)
        assert flagged <= limit * len(rows), (rel, flagged)
    data = json.loads((shared_data / "benchmarks" / "pubmedqa" / "ori_pqal.json").read_text())
    abstracts = [" ".join(v["CONTEXTS"]) for v in list(data.values())[:50]]
    assert [a[:60] for a in abstracts if idx.contaminated(a)] == []
