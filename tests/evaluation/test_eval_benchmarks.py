"""The benchmark registry on the real public benchmark files, and their place in the decontamination index."""

import json
import shutil

from citrus_assets.common.decontamination.index import default_eval_index
from citrus_assets.common.text.answers import extract_answer
from citrus_assets.evaluation.registry import (
    BENCHMARK_NAMES,
    BENCHMARKS,
    benchmark_files,
    default_data_dirs,
    load_benchmark,
)
from citrus_assets.reasoning_data.seeds.loaders import detect_format, load_seed_file


def test_every_benchmark_file_loads(shared_data):
    root = shared_data / "benchmarks"
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.name != "test_ground_truth.json")
    assert files
    for path in files:
        res = load_seed_file(path, seed_set="t")
        assert res.rows, f"{path.name} ({detect_format(path)}) gave no rows"
        assert not res.quarantine, f"{path.name}: {res.quarantine[:2]}"


def test_registry_finds_the_shared_benchmarks(shared_data):
    present = {n: load_benchmark(n, shared_data, 0) for n in BENCHMARK_NAMES}
    loaded = {n for n, b in present.items() if b.rows}
    assert {"medqa", "pubmedqa", "medmcqa", "medbullets_op4", "mmlu_medical", "mmlu_pro"} <= loaded
    assert present["medqa"].available == 1273
    assert present["medmcqa"].available == 1000  # the shared sample holds the first 1,000 of 4,183
    for name in set(BENCHMARK_NAMES) - loaded:  # missing files: skipped with a message, not a crash
        assert name in present[name].skipped and not present[name].rows


def test_pubmedqa_is_the_standard_test_split_with_abstracts(shared_data):
    b = load_benchmark("pubmedqa", shared_data, 0)
    test_ids = set(json.loads((shared_data / "benchmarks/pubmedqa/test_ground_truth.json").read_text()))
    assert len(b.rows) == 500 and b.available == 500
    assert {json.loads(r["meta"])["pubid"] for r in b.rows} == test_ids
    assert all(r["split"] == "test" and len(r["context"]) > 200 for r in b.rows)
    assert {o["text"] for o in b.rows[0]["options"]} == {"yes", "no", "maybe"}


def test_pubmedqa_without_its_split_file_is_skipped(shared_data, tmp_path):
    (tmp_path / "benchmarks" / "pubmedqa").mkdir(parents=True)
    (tmp_path / "benchmarks" / "pubmedqa" / "ori_pqal.json").write_bytes(
        (shared_data / "benchmarks/pubmedqa/ori_pqal.json").read_bytes()
    )
    b = load_benchmark("pubmedqa", tmp_path)
    assert not b.rows and "test_ground_truth.json" in b.skipped


def test_mmlu_pro_has_ten_options_and_letters_up_to_j(shared_data):
    b = load_benchmark("mmlu_pro", shared_data, 0)
    counts = {len(r["options"]) for r in b.rows}
    assert max(counts) == 10
    assert any(set(r["answer_letters"]) & set("EFGHIJ") for r in b.rows)
    ten = next(r for r in b.rows if len(r["options"]) == 10)
    opts = {o["letter"]: o["text"] for o in ten["options"]}
    assert extract_answer("<answer>J</answer>", opts).letters == ("J",)
    assert all(json.loads(r["meta"]).get("category", "health") in ("health", "biology") for r in b.rows)


def test_max_items_is_a_stable_subset(shared_data):
    a = load_benchmark("medqa", shared_data, 5)
    b = load_benchmark("medqa", shared_data, 5)
    full = load_benchmark("medqa", shared_data, 0)
    assert [r["record_id"] for r in a.rows] == [r["record_id"] for r in b.rows]
    assert [r["question_id"] for r in a.rows] == sorted(r["question_id"] for r in full.rows)[:5]
    assert len(load_benchmark("medqa", shared_data).rows) == BENCHMARKS["medqa"].max_items


def test_data_dir_resolution(monkeypatch, tmp_path, shared_data):
    monkeypatch.setenv("CITRUS_EVAL_DATA", str(shared_data))
    bundled = default_data_dirs("")[0]
    assert bundled.name == "sample" and default_data_dirs("")[1:] == [shared_data]
    assert default_data_dirs(str(tmp_path)) == [bundled, shared_data]  # no benchmarks/ there: left out
    (tmp_path / "benchmarks").mkdir()
    assert default_data_dirs(str(tmp_path)) == [bundled, tmp_path, shared_data]  # added, never instead
    files, why = benchmark_files(BENCHMARKS["jmed"], tmp_path)
    assert not files and "jmed" in why


def test_decontamination_index_covers_the_eval_items(shared_data, tmp_path):
    """The n-gram index used on training data (default_eval_index) reads the same benchmarks/ folder and
    names items by the eval items' question_id (two of the benchmarks, copied, to keep the test fast)."""
    for folder in ("mmlu_pro", "medbullets"):
        shutil.copytree(shared_data / "benchmarks" / folder, tmp_path / "benchmarks" / folder)
    index = default_eval_index(tmp_path)
    for name, folder in (("mmlu_pro", "mmlu_pro"), ("medbullets_op4", "medbullets")):
        rows = load_benchmark(name, tmp_path, 6).rows
        own = 0
        for r in rows:
            hits = index.match("\n".join([r["stem"], *(o["text"] for o in r["options"])]), limit=50)
            assert hits and {m.benchmark for m in hits} == {folder}, (name, r["stem"][:60])
            own += r["question_id"] in {m.item_id for m in hits}
        assert own >= len(rows) - 1  # an n-gram shared with an earlier item is credited to that item
