"""The stage-3 mix over batched inputs (issue 17 goal 3): ``select_stage3`` given ``CommittedBatches``-like inputs
(``tables(columns)``) or ``{partition: batches}`` selects exactly what the whole-table call selects; the chunked
table build, token counts and the streamed JSONL export give the same values and bytes as the one-shot ones."""

import hashlib
import json

import pyarrow as pa
import pytest

from citrus_assets.reasoning_data.mixes import stage3
from citrus_assets.reasoning_data.mixes.assets import mix_table
from citrus_assets.reasoning_data.mixes.mixing import (
    MIX_SCHEMA,
    jsonl_bytes,
    jsonl_chunks,
    token_counts,
    write_side_files,
)
from citrus_assets.reasoning_data.mixes.stage3 import select_stage3
from citrus_assets.reasoning_data.schemas import DIFFICULTY_SCHEMA, EASY, HARD, SFT_EXAMPLE_SCHEMA
from resources.lake import Lake


class Batches:
    """What the IO manager gives a ``BATCHED_INPUT_TAG`` op (``CommittedBatches``): the rows ``n`` at a time."""

    def __init__(self, table: pa.Table, n: int):
        self.table, self.n, self.schema = table, n, table.schema
        self.columns_asked: list = []

    def tables(self, columns=None):
        self.columns_asked.append(columns)
        t = self.table if columns is None else self.table.select(columns)
        for lo in range(0, t.num_rows, self.n):
            yield t.slice(lo, self.n)


def _example(i: int, qid: str, prompt: str | None = None, assistant: str | None = None, messages="ok") -> dict:
    msgs = [
        {"role": "user", "content": prompt or f"Case {i}: what is the most likely diagnosis?"},
        {"role": "assistant", "content": assistant or f"<think>reasoning {i}</think><answer>dx {i}</answer>"},
    ]
    return {
        "record_id": f"sftex-{i:020x}",
        "parent_ids": [f"trace-{i}"],
        "question_id": qid,
        "language": "en",
        "messages": msgs if messages == "ok" else messages,
        "response": msgs[-1]["content"],
        "final_answer": f"dx {i}",
        "n_tokens": 10,
    }


def _inputs() -> tuple[pa.Table, pa.Table, pa.Table, list[dict]]:
    """Two seed partitions: easy/hard/unlabeled examples, bad ones (no messages, untagged answer, system-only),
    prompts repeated within and across partitions; labels with a conflict; non-medical rows (one repeating a
    medical prompt)."""
    a = [_example(i, f"q{i}") for i in range(20)]
    a.append(_example(20, "q-none"))  # unlabeled: counted hard
    a.append(_example(21, "q21", assistant="plain text, no tags"))
    a.append(_example(22, "q22", messages=None))
    a.append(_example(23, "q3", prompt="Case 12: what is the most likely diagnosis?"))  # hard twin of easy q12
    b = [_example(i, f"q{i}") for i in range(30, 45)]
    b.append(_example(45, "q45", prompt="Case 31: what is the most likely diagnosis?"))  # repeat across partitions
    b.append(_example(46, "q46", messages=[{"role": "system", "content": "only a system turn"}]))
    labels = [{"q": f"q{i}", "d": HARD if i % 3 == 0 else EASY} for i in [*range(22), *range(30, 47)]]
    labels.append({"q": "q0", "d": EASY})  # conflict: hard wins
    diff = [
        {
            "record_id": f"diff-{k:03d}-{x['q']}",
            "parent_ids": [x["q"]],
            "question_id": x["q"],
            "difficulty": x["d"],
            "rule": "all_correct",
            "judges": ["m"],
            "judges_correct": [x["d"] == EASY],
        }
        for k, x in enumerate(labels)
    ]
    gen = {f.name: None for f in SFT_EXAMPLE_SCHEMA if f.name.startswith("gen_")}
    table = lambda rows: pa.Table.from_pylist([dict(e, **gen) for e in rows], schema=SFT_EXAMPLE_SCHEMA)  # noqa: E731
    nonmed = [
        {
            "record_id": f"nonmed-{i:020x}",
            "parent_ids": [f"src-{i}"],
            "source": "nonmedical:t",
            "category": "nonmedical",
            "source_uri": "t.jsonl",
            "source_locator": f"line {i + 1}",
            "messages": [
                {"role": "user", "content": f"Puzzle {i}?" if i else "Case 5: what is the most likely diagnosis?"},
                {"role": "assistant", "content": f"<think>work {i}</think><answer>{i}</answer>"},
            ],
        }
        for i in range(30)
    ]
    return table(a), table(b), pa.Table.from_pylist(diff, schema=DIFFICULTY_SCHEMA), nonmed


def _same(got, want) -> None:
    assert got.rows == want.rows
    assert got.quarantine == want.quarantine  # same records (raw included), same order
    assert got.duplicates == want.duplicates
    assert got.unlabeled == want.unlabeled
    assert got.counts == want.counts


KW = {"easy_share": 0.4, "nonmedical_ratio": 0.5, "seed": 3, "min_nonmedical": 2}


@pytest.mark.parametrize("n", [1, 3, 1000])
def test_batched_inputs_select_what_the_whole_table_selects(n):
    a, b, diff, nonmed = _inputs()
    whole = select_stage3(pa.concat_tables([a, b]), diff, nonmed, **KW)
    assert whole.counts["quarantined"] == 3 and whole.counts["medical_easy"] > 0 and whole.duplicates
    assert whole.unlabeled == ["q-none"] and whole.counts["label_conflicts"] == 1
    diff_batches = Batches(diff, n)
    mapping = {"set_a": Batches(a, n), "set_b": Batches(b, n)}
    got = select_stage3(mapping, diff_batches, nonmed, **KW)
    _same(got, whole)
    assert diff_batches.columns_asked == [["record_id", "question_id", "difficulty"]]  # 3 columns only
    _same(select_stage3(Batches(pa.concat_tables([a, b]), n), diff, nonmed, **KW), whole)  # one partition
    # the quarantine keeps the whole input row, as the table path did
    raw = json.loads(next(q.raw for q in got.quarantine if q.source_locator == f"sftex-{22:020x}"))
    assert raw["messages"] is None and raw["final_answer"] == "dx 22" and raw["parent_ids"] == ["trace-22"]


def test_rank_ties_keep_input_order(monkeypatch):
    a, b, diff, nonmed = _inputs()
    monkeypatch.setattr(stage3, "hash_rank", lambda rid, seed=0: 7)  # every example ties
    whole = select_stage3(pa.concat_tables([a, b]), diff, nonmed, **KW)
    for n in (1, 3):
        _same(select_stage3({"set_a": Batches(a, n), "set_b": Batches(b, n)}, Batches(diff, n), nonmed, **KW), whole)
    # ties in input order: the hard rows come in the order of the inputs, partition a before b
    order = [r["record_id"] for r in pa.concat_tables([a, b]).to_pylist()]
    hard = [r["parent_ids"][0] for r in whole.rows if r["category"] == "medical_hard"]
    assert hard == sorted(hard, key=order.index) and hard[0] == order[0]
    assert [q.source_locator for q in whole.quarantine] == [f"sftex-{i:020x}" for i in (21, 22, 46)]


class WordTokenizer:
    def __init__(self):
        self.calls = 0

    def __call__(self, texts, add_special_tokens=False):
        self.calls += 1
        return {"input_ids": [t.split() for t in texts]}


def test_chunked_tokens_table_and_streamed_export_are_identical(tmp_path):
    a, b, diff, nonmed = _inputs()
    sel = select_stage3(pa.concat_tables([a, b]), diff, nonmed, **KW)
    convs = [r["messages"] for r in sel.rows]
    one = WordTokenizer()
    want = token_counts(one, convs, chunk=10**9)
    chunked = WordTokenizer()
    assert token_counts(chunked, convs, chunk=3) == want and chunked.calls > one.calls == 1
    assert token_counts(WordTokenizer(), [], chunk=3) == ([], [])

    n_tokens = want[0]
    reference = pa.Table.from_pylist([dict(r, n_tokens=n) for r, n in zip(sel.rows, n_tokens)], schema=MIX_SCHEMA)
    rows = list(sel.rows)
    table = mix_table(rows, n_tokens, chunk=4)
    assert rows == [] and table.equals(reference)  # the row dicts are released, the table is the same
    assert mix_table([], [], chunk=4).schema == MIX_SCHEMA

    old = b"".join(
        json.dumps({"messages": m}, ensure_ascii=False).encode("utf-8") + b"\n" for m in table["messages"].to_pylist()
    )
    assert b"".join(jsonl_chunks(table, batch_rows=1)) == old == jsonl_bytes(table)
    lake = Lake(str(tmp_path / "lake"))
    files = write_side_files(lake, "sft_stage3_mix", table, None)
    with lake.fs.open(lake.data_path("sft_stage3_mix", None, "export.jsonl"), "rb") as fh:
        data = fh.read()
    assert data == old and files["export_sha256"] == hashlib.sha256(old).hexdigest()
    assert len(data.splitlines()) == len(sel.rows)


def test_chunked_decontamination_removes_what_one_pass_removes():
    from citrus_assets.common.decontamination.index import BenchmarkItem, NGramIndex
    from citrus_assets.reasoning_data.mixes.mixing import decontaminate_mix

    leaked = (
        "A 61-year-old retired carpenter reports three weeks of painless jaundice, pale stools, dark urine, "
        "pruritus and a weight loss of eight kilograms; a palpable nontender gallbladder is found on examination"
    )
    idx = NGramIndex()
    idx.add([BenchmarkItem("medqa", "m-1", leaked, "pancreatic cancer")])
    a, b, diff, nonmed = _inputs()
    rows = select_stage3(pa.concat_tables([a, b]), diff, nonmed, **KW).rows
    for k in (2, 7, 8, len(rows) - 1):  # leaked prompts in several chunks, the last row included
        rows[k] = dict(rows[k], messages=[{"role": "user", "content": leaked}, *rows[k]["messages"][1:]])
    table = mix_table(rows, [1] * len(rows))
    kept, removed = decontaminate_mix(table, idx, chunk=10**9)
    assert removed.num_rows == 4 and kept.num_rows == table.num_rows - 4
    assert set(removed.column_names) >= {"record_id", "benchmark", "category", "source"}
    for chunk in (1, 3):
        k2, r2 = decontaminate_mix(table, idx, chunk=chunk)
        assert k2.equals(kept) and r2.equals(removed)
    empty_kept, empty_removed = decontaminate_mix(table.slice(0, 0), idx, chunk=3)
    assert empty_kept.num_rows == 0 and empty_removed.schema == removed.schema
