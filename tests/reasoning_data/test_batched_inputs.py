"""The chain's steps read their lake inputs batch by batch (issue 17 goal 3): ``judge_answers``, ``question_difficulty``
and ``open_questions`` are tagged ``BATCHED_INPUT_TAG``, so the IO manager hands them ``CommittedBatches``. Read that
way (in 1-row record batches, re-chunked; or only the columns a step uses), they give the rows, record ids, calls
and statistics of the whole table."""

import pyarrow as pa
import pytest

from citrus_assets.reasoning_data.questions.difficulty import ANSWER_COLUMNS, SEED_COLUMNS, label_difficulty
from citrus_assets.reasoning_data.questions.rewrite import RewriteSettings
from citrus_assets.reasoning_data.questions.staged import stage_rewrites
from citrus_assets.reasoning_data.schemas import OPEN_QUESTION_SCHEMA, SFT_EXAMPLE_SCHEMA
from citrus_assets.reasoning_data.seeds.judging import ANSWER_SCHEMA, answer_with_panel
from citrus_assets.reasoning_data.seeds.staged import stage_panel_answers
from citrus_assets.reasoning_data.traces.dual_expert import LoopConfig
from citrus_assets.reasoning_data.traces.sft_assets import SftRewriteConfig, build_sft_examples
from citrus_assets.reasoning_data.traces.sft_staged import stage_sft_examples
from citrus_assets.reasoning_data.traces.trace_rows import fingerprint, run_traces
from resources.lake import ChunkStage, Lake, QuarantineRecord, RowsById, input_chunks, input_table
from resources.lineage import LineageWriter
from resources.lineage import commit as C
from resources.llm import GenerationCache, LLMClient, SamplingParams
from tests.reasoning_data.test_chunk_staged import _reply
from tests.reasoning_data.test_question_prep import ALL, MI, SEEDS, ScriptedLLM, judge
from tests.reasoning_data.test_sft_examples import scripted_policy, scripted_questions
from tests.reasoning_data.test_traces_continuous import make_client, open_table, questions
from tests.support.scripted_backend import ScriptedBackend


def _committed(tmp_path, asset: str, table: pa.Table, batch_rows: int = 1) -> C.CommittedBatches:
    """``table`` published as partition ``p`` of ``asset``, read back the way the IO manager hands it to a tagged op."""
    lake = Lake(str(tmp_path / "lake"))
    C.publish_partition(lake, LineageWriter(lake.lineage_root), asset=asset, partition="p", table=table, run_id="r")
    return C.committed_batches(lake, asset, "p", batch_rows=batch_rows)


class Batches:
    """A batched input of ``table`` in ``batch_rows``-row batches (what ``CommittedBatches`` gives)."""

    def __init__(self, table: pa.Table, batch_rows: int) -> None:
        self.table, self.batch_rows, self.schema = table, batch_rows, table.schema

    def tables(self, columns=None):
        t = self.table if columns is None else self.table.select(columns)
        for lo in range(0, t.num_rows, self.batch_rows):
            yield t.slice(lo, self.batch_rows)


@pytest.mark.parametrize("batch_rows", [1, 2, 3, 5])
@pytest.mark.parametrize("chunk_size", [1, 2, 4])
def test_input_chunks_are_the_table_slices(batch_rows, chunk_size):
    table = pa.table({"record_id": [f"r{i}" for i in range(7)], "x": list(range(7))})
    want = [table.slice(lo, chunk_size).to_pylist() for lo in range(0, 7, chunk_size)]
    for value in (
        table,
        Batches(table, batch_rows),
        {"a": Batches(table.slice(0, 3), batch_rows), "b": Batches(table.slice(3), batch_rows)},
    ):
        assert [c.to_pylist() for c in input_chunks(value, chunk_size)] == want
        assert input_table(value, ["x"]).to_pylist() == table.select(["x"]).to_pylist()
    empty = Batches(table.slice(0, 0), batch_rows)
    assert list(input_chunks(empty, chunk_size)) == []
    assert input_table(empty, ["x"]).schema == pa.schema([("x", pa.int64())])


def test_judge_and_open_questions_from_committed_batches_equal_the_table(tmp_path):
    seeds = _committed(tmp_path, "question_seeds", SEEDS)
    spec = {"weak": ALL - {MI["stem"][:10]}, "strong": ALL}
    params = SamplingParams(max_tokens=8)
    for chunk_size in (1, 2):
        ref_panel = [(n, judge(ok)) for n, ok in spec.items()]
        ref_stage = ChunkStage(tmp_path / f"rj{chunk_size}", ANSWER_SCHEMA)
        ref_tally = stage_panel_answers(SEEDS, ref_panel, params, ref_stage, chunk_size)
        panel = [(n, judge(ok)) for n, ok in spec.items()]
        stage = ChunkStage(tmp_path / f"j{chunk_size}", ANSWER_SCHEMA)
        tally = stage_panel_answers(seeds, panel, params, stage, chunk_size)
        assert stage.staged().read_all().to_pylist() == ref_stage.staged().read_all().to_pylist()
        assert [llm.calls for _, llm in panel] == [llm.calls for _, llm in ref_panel]  # same batched calls
        assert tally.per_judge() == ref_tally.per_judge() and tally.n == ref_tally.n == 2 * SEEDS.num_rows

        settings = RewriteSettings(rule_fallback=False)
        ref_q = ChunkStage(tmp_path / f"rq{chunk_size}", OPEN_QUESTION_SCHEMA)
        ref = stage_rewrites(SEEDS, ScriptedLLM(_reply), settings, ref_q, chunk_size)
        q = ChunkStage(tmp_path / f"q{chunk_size}", OPEN_QUESTION_SCHEMA)
        got = stage_rewrites(seeds, ScriptedLLM(_reply), settings, q, chunk_size)
        assert q.staged().read_all().to_pylist() == ref_q.staged().read_all().to_pylist()
        assert list(q.quarantine_records()) == list(ref_q.quarantine_records()) and got.quarantine == []
        assert (got.counts, got.llm_calls, got.seeds) == (ref.counts, ref.llm_calls, SEEDS.num_rows)
        assert got.counts["quarantined"] == 1  # the fixture has a quarantined seed


def test_difficulty_from_the_columns_it_reads_equals_the_whole_tables(tmp_path):
    panel = [("weak", judge(ALL - {MI["stem"][:10]})), ("strong", judge(ALL))]
    answers = answer_with_panel(SEEDS, panel, SamplingParams(max_tokens=8))
    ref = label_difficulty(SEEDS, answers)
    seeds_in = _committed(tmp_path / "s", "question_seeds", SEEDS)
    answers_in = _committed(tmp_path / "a", "judge_answers", answers)
    pruned = (input_table(seeds_in, SEED_COLUMNS), input_table(answers_in, ANSWER_COLUMNS))
    for got in (label_difficulty(*pruned), label_difficulty(seeds_in, answers_in)):  # the seeds 1 row at a time
        assert got.table().to_pylist() == ref.table().to_pylist()
        assert (got.per_judge, got.judges, got.unjudged, got.counts()) == (
            ref.per_judge,
            ref.judges,
            ref.unjudged,
            ref.counts(),
        )
    twice = pa.concat_tables([SEEDS, SEEDS.slice(0, 1)])  # a repeated id: one label, as from a dict by id
    assert label_difficulty(Batches(twice, 1), answers).table().to_pylist() == ref.table().to_pylist()
    assert set(got.counts().values()) != {0} and got.counts()["easy"] and got.counts()["hard"]  # both labels


@pytest.mark.parametrize("batch_rows", [1, 2, 3, 7, 100])
def test_rows_by_id_in_order_is_one_pass_and_any_order_is_answered(batch_rows):
    table = pa.table({"record_id": [f"r{i}" for i in range(12)], "x": list(range(12)), "y": ["a"] * 12})
    rows = {r["record_id"]: {"record_id": r["record_id"], "x": r["x"]} for r in table.to_pylist()}
    ordered = [["r0", "r1", "r2"], ["r3"], ["r3", "r4", "r9"], ["r10", "r11"]]  # a repeat of the last batch's id
    for value in (
        table,
        Batches(table, batch_rows),
        {"a": Batches(table.slice(0, 5), 2), "b": Batches(table.slice(5), 3)},
    ):
        lookup = RowsById(value, ["x"])
        for ids in ordered:
            got = lookup.take(ids)
            assert got.column_names == ["record_id", "x"]
            assert sorted(got.to_pylist(), key=lambda r: r["x"]) == [
                rows[i] for i in sorted(set(ids), key=lambda i: int(i[1:]))
            ]
        assert lookup.rescans == 0
        one_batch = isinstance(value, pa.Table) or (
            isinstance(value, Batches) and batch_rows >= table.num_rows
        )  # r0 and r11 in the same batch
        back = RowsById(value, ["x"])
        back.take(["r11"])
        assert back.take(["r0", "r5"]).to_pylist() == [rows["r0"], rows["r5"]] and back.rescans == (
            0 if one_batch else 1
        )  # behind: a rescan
        assert back.take(["nope"]).num_rows == 0 and back.take([]).schema.names == ["record_id", "x"]


@pytest.mark.parametrize("batch_rows", [1, 4])
def test_reasoning_traces_from_committed_batches_equal_the_table(tmp_path, batch_rows):
    qs, cands = questions(11)
    table = open_table(qs, rewrite_method="llm")  # a column the loop does not read: a batched input skips it
    llm, _ = make_client(tmp_path, cands, name="a.sqlite")
    ref, ref_q, ref_stats = run_traces(table, llm, LoopConfig(), chunk_size=3, spill_dir=tmp_path / "ref")
    batches = Batches(table, batch_rows)
    assert fingerprint(batches, llm, LoopConfig(), 3) == fingerprint(table, llm, LoopConfig(), 3)
    llm2, _ = make_client(tmp_path, cands, name="b.sqlite")
    staged, failed, stats = run_traces(batches, llm2, LoopConfig(), chunk_size=3, spill_dir=tmp_path / "s", staged=True)
    assert staged.read_all().to_pylist() == ref.to_pylist() and ref.num_rows > 0
    assert [QuarantineRecord(*r.values()) for t in failed for r in t.to_pylist()] == ref_q
    assert {k: v for k, v in stats.items() if k != "llm_batches"} == {
        k: v for k, v in ref_stats.items() if k != "llm_batches"
    }
    llm3, _ = make_client(tmp_path, cands, name="c.sqlite")  # the synchronous engine reads it whole, same rows
    rounds, _, _ = run_traces(batches, llm3, LoopConfig(), scheduling="rounds")
    assert rounds.num_rows == ref.num_rows


def test_sft_examples_from_batched_inputs_equal_the_tables(tmp_path):
    qs = scripted_questions()
    llm = LLMClient(ScriptedBackend(scripted_policy(qs)), GenerationCache(tmp_path / "c.sqlite"))
    traces, _, _ = run_traces(qs, llm, LoopConfig())
    assert traces.num_rows == 2
    ref_stage = ChunkStage(tmp_path / "ref", SFT_EXAMPLE_SCHEMA)
    ref = stage_sft_examples(traces, qs, llm, SftRewriteConfig(), ref_stage, build_sft_examples, chunk_size=1)
    stage = ChunkStage(tmp_path / "b", SFT_EXAMPLE_SCHEMA)
    fresh = LLMClient(ScriptedBackend(scripted_policy(qs)), GenerationCache(tmp_path / "d.sqlite"))
    got = stage_sft_examples(
        _committed(tmp_path / "t", "reasoning_traces", traces),
        _committed(tmp_path / "q", "open_questions", qs),
        fresh,
        SftRewriteConfig(),
        stage,
        build_sft_examples,
        chunk_size=1,
    )
    assert stage.staged().read_all().to_pylist() == ref_stage.staged().read_all().to_pylist()
    assert ref_stage.staged().read_all().num_rows > 0
    assert got == ref and got["question_rescans"] == 0


def test_the_trace_steps_are_tagged_for_batched_inputs():
    from citrus_assets.reasoning_data.traces.assets import reasoning_traces
    from citrus_assets.reasoning_data.traces.sft_assets import sft_examples
    from resources.lake import BATCHED_INPUT_TAG, BATCHES

    for asset in (reasoning_traces, sft_examples):
        assert asset.op.tags.get(BATCHED_INPUT_TAG) == BATCHES, asset.key
