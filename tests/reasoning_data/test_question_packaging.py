"""Question files in their published packagings (issue 15): MedAgentsBench repackages several benchmarks in
one shape (``realidx``); packaging and benchmark are told apart and both kept. A file of no known format
(an open-ended QA file) is a quarantined, materialized, empty partition, never a failed run."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pytest

from citrus_assets.reasoning_data.seeds.loaders import detect_format, load_seed_file
from citrus_assets.reasoning_data.seeds.loaders_detect import benchmark_from_path, medagents_benchmark
from citrus_assets.reasoning_data.seeds.seed_files import BadRecord
from tests.support.resources import make_resources


def _q(i: int, **extra) -> dict:
    return {
        "realidx": f"{i:064x}",
        "question": f"A {30 + i}-year-old man has chest pain {i}. Next step?",
        "options": {"A": "ECG", "B": "Discharge", "C": "Chest CT", "D": "Troponin", "E": "n/a"},
        "answer_idx": "A",
        "answer": "ECG",
        **extra,
    }


# one or two records per benchmark, in the fields MedAgentsBench's data/<benchmark>/*.jsonl files carry
PACKAGED = {
    "afrimedqa": [_q(1, reason="An ECG within ten minutes."), _q(2, reason="idem")],
    "medqa": [_q(3, meta_info="step1")],
    "medqa_5options": [_q(4, meta_info="step2&3")],
    "medmcqa": [_q(5)],
    "pubmedqa": [
        {
            "realidx": "11146778",
            "question": "Context ... Is the APACHE II score reliable?",
            "answer": "yes",
            "answer_rationale": "It is.",
            "options": {"A": "yes", "B": "no", "C": "maybe"},
            "answer_idx": "A",
        }
    ],
    "mmlu": [_q(6)],
    "mmlu-pro": [_q(7, category="health", src="ori_mmlu-virology")],
    "medbullets": [_q(8)],
}
EXPECTED = {"medqa_5options": "medqa", "mmlu-pro": "mmlu_pro"}


def _write(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.mark.parametrize("folder", sorted(PACKAGED))
def test_medagentsbench_file_keeps_packaging_and_benchmark(tmp_path, folder):
    p = _write(tmp_path / "data" / folder / "test_hard.jsonl", PACKAGED[folder])
    assert detect_format(p) == "medagentsbench"
    res = load_seed_file(p, "s")
    bench = EXPECTED.get(folder, folder)
    assert res.quarantine == [] and len(res.rows) == len(PACKAGED[folder])
    for r in res.rows:
        meta = json.loads(r["meta"])
        assert r["source"] == bench  # lineage: the benchmark, not "mmlu_pro" for every realidx file
        assert meta["packaging"] == "medagentsbench" and meta["benchmark"] == bench
        assert meta["benchmark_from"] == "path" and "realidx" in meta
    if folder == "afrimedqa":  # the "E": "n/a" padding is not an option
        assert [o["letter"] for o in res.rows[0]["options"]] == ["A", "B", "C", "D"]


def test_benchmark_from_fields_when_the_name_says_nothing(tmp_path):
    cases = {"pubmedqa": PACKAGED["pubmedqa"], "mmlu_pro": PACKAGED["mmlu-pro"], "medqa": PACKAGED["medqa"]}
    for bench, rows in cases.items():
        p = _write(tmp_path / bench[::-1] / "test_hard.jsonl", rows)  # a folder name that names nothing
        assert medagents_benchmark(p) == (bench, "fields")
        assert {r["source"] for r in load_seed_file(p, "s").rows} == {bench}
    p = _write(tmp_path / "inbox" / "test_hard.jsonl", PACKAGED["medmcqa"])
    res = load_seed_file(p, "s")
    assert [r["source"] for r in res.rows] == ["unknown"]  # said so, not guessed
    assert json.loads(res.rows[0]["meta"])["benchmark_from"] == "unknown"


def test_benchmark_names_in_file_names():
    assert benchmark_from_path(Path("inbox/afrimedqa_test_hard.jsonl")) == "afrimedqa"
    assert benchmark_from_path(Path("x/mmlu-pro/test.jsonl")) == "mmlu_pro"
    assert benchmark_from_path(Path("x/pubmedqa/test.jsonl")) == "pubmedqa"  # not medqa
    assert benchmark_from_path(Path("x/medmcqa.jsonl")) == "medmcqa"
    assert benchmark_from_path(Path("x/seeds/test_hard.jsonl")) is None


def test_native_mmlu_pro_release_is_not_medagentsbench(tmp_path):
    row = {
        "question_id": 1,
        "question": "Which vitamin?",
        "options": ["A1", "B12", "C", "D"],
        "answer": "B",
        "answer_index": 1,
        "category": "health",
        "src": "ori_mmlu-nutrition",
        "cot_content": "",
    }
    p = _write(tmp_path / "test.jsonl", [row])
    assert detect_format(p) == "mmlu_pro"
    assert load_seed_file(p, "s").rows[0]["source"] == "mmlu_pro"


OPEN_QA = [  # clinical cases, each with several question-answer pairs and no options
    {
        "id": "case-1",
        "case": "A 54-year-old woman with fever and flank pain ...",
        "qa_pairs": [
            {"question": "Most likely diagnosis?", "answer": "Pyelonephritis"},
            {"question": "First-line treatment?", "answer": "Ceftriaxone"},
        ],
    },
]


def test_open_qa_file_is_named_not_crashed(tmp_path):
    p = _write(tmp_path / "open_cases.jsonl", OPEN_QA)
    with pytest.raises(BadRecord, match="open-ended QA"):
        load_seed_file(p, "s")
    p = _write(tmp_path / "open_flat.jsonl", [{"question": "Most likely diagnosis?", "answer": "Gout"}])
    with pytest.raises(BadRecord, match="open-ended QA"):
        load_seed_file(p, "s")


def test_unrecognized_file_is_a_quarantined_empty_partition(tmp_path):
    from citrus_assets.reasoning_data.seeds.assets import question_seeds, seed_sets
    from citrus_assets.reasoning_data.seeds.checks import checks
    from resources.inbox import InboxResource
    from resources.lake import Lake

    inbox = tmp_path / "inbox"
    _write(inbox / "open_cases.jsonl", OPEN_QA)
    root = str(tmp_path / "lake")
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(seed_sets.name, ["open_cases"])
    result = dg.materialize(
        [question_seeds, *checks],
        partition_key="open_cases",
        instance=instance,
        raise_on_error=False,
        selection=[question_seeds],
        resources=make_resources(root, inbox=InboxResource(seeds_dir=str(inbox))),
    )
    assert result.success
    (mat,) = result.get_asset_materialization_events()
    md = {k: v.value for k, v in mat.materialization.metadata.items()}
    assert md["quarantined"] == 1 and md["dagster/row_count"] == 0  # materialized, empty, visible
    q = Lake(root).read_quarantine("question_seeds", "open_cases")
    assert q.num_rows == 1 and "open-ended QA" in q.column("reason")[0].as_py()
