"""The bundled evaluation sample (sample/benchmarks, written by the project): every file reads cleanly in its
published format, evaluation reads it by default with no real data anywhere, real files are added next to it,
and it does not overlap the training sample."""

import json
from pathlib import Path

import dagster as dg
import pytest

from citrus_assets.common.decontamination import benchmark_data
from citrus_assets.common.decontamination.index import default_eval_index
from citrus_assets.evaluation.registry import (
    BENCHMARK_NAMES,
    BENCHMARKS,
    benchmark_files,
    default_data_dirs,
    load_benchmark,
)
from citrus_assets.reasoning_data.seeds.loaders import detect_format, load_seed_file
from tests.support.resources import make_resources

SAMPLE = benchmark_data.BUNDLED_DATA_DIR
ROOT = SAMPLE / "benchmarks"
SPLIT_FILES = {"test_ground_truth.json"}  # PubMedQA's split-id file: read by the pubmedqa loader, not a question file
# file -> (format the loaders detect, number of options per item)
EXPECTED = {
    "medqa/bundled_4_options_test.jsonl": ("medqa_jsonl", {4}),
    "medqa/bundled_5_options_test.jsonl": ("medqa_jsonl", {5}),
    "pubmedqa/ori_pqal.json": ("pubmedqa", {3}),
    "medmcqa/dev.jsonl": ("medmcqa", {4}),
    "mmlu/anatomy_test.csv": ("mmlu_csv", {4}),
    "mmlu/clinical_knowledge_test.csv": ("mmlu_csv", {4}),
    "mmlu/medical_genetics_test.csv": ("mmlu_csv", {4}),
    "mmlu_pro/health_biology_test.jsonl": ("mmlu_pro", {10}),
    "medbullets/medbullets_op4.csv": ("medbullets", {4}),
    "medbullets/medbullets_op5.csv": ("medbullets", {5}),
    "careqa/CareQA_en.json": ("careqa", {4}),
    "jmed/jmed_test.jsonl": ("jmed", {21}),
    "cmexam/cmexam_test.csv": ("cmexam", {5}),
}


def _question_files() -> list[Path]:
    return sorted(p for p in ROOT.rglob("*") if p.is_file() and p.name not in SPLIT_FILES and p.name != "README.md")


@pytest.fixture
def no_real_data(monkeypatch, tmp_path):
    """CITRUS_DATA / CITRUS_EVAL_DATA unset and no ../shared/data visible (neither beside the repository
    nor beside the working directory)."""
    monkeypatch.delenv("CITRUS_DATA", raising=False)
    monkeypatch.delenv("CITRUS_EVAL_DATA", raising=False)
    fake_repo = tmp_path / "clone" / "repo"
    fake_repo.mkdir(parents=True)
    monkeypatch.setattr(benchmark_data, "REPO_ROOT", fake_repo)  # its ../shared/data does not exist
    monkeypatch.chdir(fake_repo)
    assert default_data_dirs() == [SAMPLE]


def test_every_bundled_file_loads_cleanly_with_answers_within_options():
    files = _question_files()
    assert {str(p.relative_to(ROOT)) for p in files} == set(EXPECTED)
    for path in files:
        fmt, n_options = EXPECTED[str(path.relative_to(ROOT))]
        assert detect_format(path) == fmt, path
        res = load_seed_file(path, seed_set="t")
        assert not res.quarantine, f"{path.name}: {res.quarantine[:2]}"
        assert res.duplicates == 0, path
        assert 4 <= len(res.rows) <= 20, (path, len(res.rows))
        assert {len(r["options"]) for r in res.rows} == n_options, path
        for r in res.rows:
            letters = [o["letter"] for o in r["options"]]
            assert r["answer_letters"] and set(r["answer_letters"]) <= set(letters), (path, r["stem"][:60])
            assert all(o["text"].strip() for o in r["options"])


def test_formats_that_only_the_sample_has():
    jmed = load_seed_file(ROOT / "jmed/jmed_test.jsonl", "t").rows
    assert any(len(r["answer_letters"]) > 1 for r in jmed)  # several correct options
    assert any(r["answer_letters"] == ["U"] for r in jmed)  # "none of the above" is the 21st option
    assert all(r["options"][-1]["text"] == "以上都不是" for r in jmed)
    cmexam = load_seed_file(ROOT / "cmexam/cmexam_test.csv", "t").rows
    assert {r["language"] for r in cmexam + jmed} == {"zh"} and any(len(r["answer_letters"]) > 1 for r in cmexam)
    pubmedqa = load_seed_file(ROOT / "pubmedqa/ori_pqal.json", "t").rows
    split = json.loads((ROOT / "pubmedqa/test_ground_truth.json").read_text())
    assert {json.loads(r["meta"])["pubid"] for r in pubmedqa} == set(split)
    assert {r["split"] for r in pubmedqa} == {"test"} and all(len(r["context"]) > 300 for r in pubmedqa)
    decisions = [o["text"] for r in pubmedqa for o in r["options"] if o["letter"] in r["answer_letters"]]
    assert set(decisions) == {"yes", "no", "maybe"} and decisions == [
        split[json.loads(r["meta"])["pubid"]] for r in pubmedqa
    ]
    # MedBullets op4 is the op5 file with one wrong option removed, as in the real release
    op4 = {r["stem"]: r for r in load_seed_file(ROOT / "medbullets/medbullets_op4.csv", "t").rows}
    for r5 in load_seed_file(ROOT / "medbullets/medbullets_op5.csv", "t").rows:
        r4 = op4[r5["stem"]]
        answer = lambda r: [o["text"] for o in r["options"] if o["letter"] in r["answer_letters"]]  # noqa: E731
        assert answer(r4) == answer(r5) and {o["text"] for o in r4["options"]} < {o["text"] for o in r5["options"]}


def test_every_benchmark_reads_the_sample_with_no_real_data(no_real_data):
    covered: set[str] = set()
    for name in BENCHMARK_NAMES:
        files, why = benchmark_files(BENCHMARKS[name], SAMPLE)
        assert files, why
        covered |= {str(p.relative_to(ROOT)) for p in files}
        full = load_benchmark(name, default_data_dirs(), 0)
        assert full.rows and not full.quarantine and not full.skipped, (name, full.skipped)
        assert full.data_dirs == ["sample"] and full.available == len(full.rows)
        assert {r["data_dir"] for r in full.rows} == {"sample"}
        assert {r["benchmark_file"] for r in full.rows} == {str(p.relative_to(ROOT)) for p in files}
        demo = load_benchmark(name, default_data_dirs())  # the registry's demo size
        assert len(demo.rows) == min(BENCHMARKS[name].max_items, full.available)
    assert covered == set(EXPECTED)  # no bundled file is left unread by the registry


def test_real_files_are_added_next_to_the_sample(shared_data, monkeypatch):
    monkeypatch.setenv("CITRUS_EVAL_DATA", str(shared_data))
    dirs = default_data_dirs()
    assert dirs[0] == SAMPLE and shared_data in dirs
    bundled = load_benchmark("medqa", [SAMPLE], 0)
    real = load_benchmark("medqa", [shared_data], 0)
    both = load_benchmark("medqa", dirs, 0)
    assert both.available == bundled.available + real.available == 12 + 1273
    assert both.data_dirs == ["sample", str(shared_data)] and both.available_by_dir["sample"] == 12
    assert any(f.startswith("sample/benchmarks/medqa/") for f in both.files)
    assert any(f.startswith(f"{shared_data}/benchmarks/medqa/") for f in both.files)
    # the max_items subset fills from the bundled sample first, then the real files (both stable)
    demo = load_benchmark("medqa", dirs)
    n_demo = BENCHMARKS["medqa"].max_items
    assert [r["question_id"] for r in demo.rows] == [r["question_id"] for r in bundled.rows][:n_demo]
    twenty = load_benchmark("medqa", dirs, 20)
    assert twenty.selected_by_dir() == {"sample": 12, str(shared_data): 8}
    assert [r["question_id"] for r in twenty.rows[12:]] == [r["question_id"] for r in real.rows[:8]]


def test_the_sample_does_not_overlap_the_training_sample():
    """The decontamination index of the bundled sample finds nothing in the training-side sample files
    (else decontamination would remove training rows of the demo)."""
    index = default_eval_index(SAMPLE)
    assert index.n_items >= 130
    units = 0
    for folder in ("seeds", "reasoning", "instructions", "textbooks", "web", "dialogues"):
        for path in sorted((SAMPLE / folder).rglob("*")):
            if not path.is_file() or path.suffix not in (".jsonl", ".json", ".txt", ".md"):
                continue
            text = path.read_text(encoding="utf-8", errors="replace")
            for unit in text.splitlines() if path.suffix == ".jsonl" else [text]:
                units += 1
                assert not index.match(unit, limit=1), (path, unit[:80])
    assert units >= 20


def test_eval_items_partitions_materialize_from_the_sample(no_real_data, tmp_path):
    """With no real data anywhere, every eval_items partition has items and passes its check."""
    from citrus_assets.evaluation.assets import eval_items
    from citrus_assets.evaluation.checks import checks
    from resources.lake import Lake

    lake_root = str(tmp_path / "lake")
    resources = make_resources(lake_root)
    instance = dg.DagsterInstance.ephemeral()
    for name in BENCHMARK_NAMES:
        res = dg.materialize([eval_items, checks[0]], partition_key=name, resources=resources, instance=instance)
        assert res.success
        assert [e.passed for e in res.get_asset_check_evaluations()] == [True], name
        md = {k: v.value for k, v in res.get_asset_materialization_events()[0].materialization.metadata.items()}
        assert md["data_dirs"] == ["sample"] and md["items_selected"] > 0 and md["skipped"] == "no"
        rows = Lake(lake_root).read_table("eval_items", name).to_pylist()
        assert rows and all(r["data_dir"] == "sample" and r["benchmark_file"] for r in rows)
