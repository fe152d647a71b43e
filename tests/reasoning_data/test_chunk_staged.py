"""``open_questions`` and ``sft_examples`` chunk by chunk (issue 17 goal 3): the chunk files (``ChunkStage``) handed to
the IO manager as a ``StagedParquet`` give the rows, record ids, quarantine, statistics, data version and lineage
rows of the one-call path over the whole partition, for the same input and model answers."""

import pyarrow as pa

from citrus_assets.reasoning_data.questions.rewrite import RewriteSettings, rewrite_seeds
from citrus_assets.reasoning_data.questions.staged import stage_rewrites
from citrus_assets.reasoning_data.schemas import OPEN_QUESTION_SCHEMA, SFT_EXAMPLE_SCHEMA
from citrus_assets.reasoning_data.seeds.judging import ANSWER_SCHEMA, answer_with_panel, judge_stats
from citrus_assets.reasoning_data.seeds.staged import stage_panel_answers
from citrus_assets.reasoning_data.traces.dual_expert import LoopConfig
from citrus_assets.reasoning_data.traces.sft_assets import SftRewriteConfig, build_sft_examples
from citrus_assets.reasoning_data.traces.sft_staged import stage_sft_examples
from citrus_assets.reasoning_data.traces.trace_rows import run_traces
from resources.lake import ChunkStage, Lake, StagedParquet
from resources.lineage import LineageWriter
from resources.lineage import commit as C
from resources.llm import GenerationCache, LLMClient, SamplingParams
from tests.lineage.test_staged_output import _lineage_rows
from tests.reasoning_data.test_question_prep import ALL, MI, SEEDS, ScriptedLLM, good_rewrite, judge
from tests.reasoning_data.test_sft_examples import GOOD, scripted_policy, scripted_questions
from tests.support.scripted_backend import Policy, ScriptedBackend


def _same_lake(tmp_path, table: pa.Table, staged: StagedParquet) -> None:
    """Both outputs published through the commit protocol give the same data file rows and lineage rows."""
    assert staged.data_version() == C.table_data_version(table)
    old, new = Lake(str(tmp_path / "old")), Lake(str(tmp_path / "new"))
    C.publish_partition(old, LineageWriter(old.lineage_root), asset="a", partition="p", table=table, run_id="r")
    C.publish_partition(
        new,
        LineageWriter(new.lineage_root),
        asset="a",
        partition="p",
        table=staged,
        run_id="r",
        data_version=staged.data_version(),
    )
    assert C.read_committed(new, "a", "p").to_pylist() == C.read_committed(old, "a", "p").to_pylist()
    assert _lineage_rows(new) == _lineage_rows(old) and _lineage_rows(old)


def _reply(prompt, params, call_no):  # the MI seed's rewrite loses every number: rejected, retried, quarantined
    return "Which artery?" if "chest pain" in prompt else good_rewrite(prompt)


def test_open_questions_in_chunks_equal_one_call(tmp_path):
    settings = RewriteSettings(rule_fallback=False)
    ref = rewrite_seeds(SEEDS, ScriptedLLM(_reply), settings)
    assert ref.table().num_rows == 2 and len(ref.quarantine) == 1  # the fixture has both outcomes
    for chunk_size in (1, 2):
        stage = ChunkStage(tmp_path / f"stage-{chunk_size}", OPEN_QUESTION_SCHEMA)
        got = stage_rewrites(SEEDS, ScriptedLLM(_reply), settings, stage, chunk_size)
        staged = stage.staged()
        assert len(staged.paths) == -(-SEEDS.num_rows // chunk_size)
        assert staged.read_all().to_pylist() == ref.table().to_pylist()
        assert list(stage.quarantine_records()) == ref.quarantine
        assert (got.counts, got.rejection_reasons, got.cache_hits, got.generated_tokens) == (
            ref.counts,
            ref.rejection_reasons,
            ref.cache_hits,
            ref.generated_tokens,
        )
        assert got.refers_to_options == ref.refers_to_options and got.rounds == ref.rounds
    _same_lake(tmp_path, ref.table(), staged)


def test_sft_examples_in_chunks_equal_one_call(tmp_path):
    questions = scripted_questions()

    class Mixed(Policy):  # question 1 kept, question 2 dropped (wrong answer): one of each, in different chunks
        def rewrite(self, prompt):
            if "low ferritin" in prompt:
                return GOOD
            return "<think>Macrocytosis and neuropathy.</think><answer>Iron deficiency anemia</answer>"

    llm = LLMClient(ScriptedBackend(scripted_policy(questions, Mixed)), GenerationCache(tmp_path / "c.sqlite"))
    traces, _, _ = run_traces(questions, llm, LoopConfig())
    ref, ref_dropped, ref_stats = build_sft_examples(traces, questions, llm, SftRewriteConfig())
    assert ref.num_rows == 1 and len(ref_dropped) == 1
    stage = ChunkStage(tmp_path / "stage", SFT_EXAMPLE_SCHEMA)
    fresh = LLMClient(ScriptedBackend(scripted_policy(questions, Mixed)), GenerationCache(tmp_path / "d.sqlite"))
    stats = stage_sft_examples(traces, questions, fresh, SftRewriteConfig(), stage, build_sft_examples, chunk_size=1)
    staged = stage.staged()
    assert len(staged.paths) == traces.num_rows == 2
    assert staged.read_all().to_pylist() == ref.to_pylist()
    assert list(stage.quarantine_records()) == ref_dropped
    assert stats.pop("question_rescans") == 0  # the traces follow the questions' order: one forward pass
    assert stats == ref_stats
    _same_lake(tmp_path, ref, staged)


def test_an_empty_stage_is_an_empty_output(tmp_path):
    stage = ChunkStage(tmp_path / "s", OPEN_QUESTION_SCHEMA)
    got = stage_rewrites(SEEDS.slice(0, 0), ScriptedLLM(_reply), RewriteSettings(), stage)
    assert stage.staged().paths == () and stage.staged().read_all().num_rows == 0
    assert list(stage.quarantine_records()) == [] and got.counts["llm_accepted"] == 0


def test_quarantine_from_chunk_tables_equals_the_records_file(tmp_path):
    ref = rewrite_seeds(SEEDS, ScriptedLLM(_reply), RewriteSettings(rule_fallback=False))
    stage = ChunkStage(tmp_path / "s", OPEN_QUESTION_SCHEMA)
    stage_rewrites(SEEDS, ScriptedLLM(_reply), RewriteSettings(rule_fallback=False), stage, 1)
    a, b = Lake(str(tmp_path / "a")), Lake(str(tmp_path / "b"))
    assert a.write_quarantine("open_questions", "p", ref.quarantine)[1] == 1
    assert b.write_quarantine("open_questions", "p", stage.quarantine_tables())[1] == 1  # Arrow, no records

    def rows(lake):
        return lake.read_quarantine("open_questions", "p").drop_columns(["quarantined_at"]).to_pylist()

    assert rows(a) == rows(b) and rows(a)[0]["reason"]


def test_judge_answers_in_chunks_equal_one_call(tmp_path):
    spec = {"weak": ALL - {MI["stem"][:10]}, "strong": ALL}  # right and wrong answers, two judges
    params = SamplingParams(max_tokens=8)
    ref = answer_with_panel(SEEDS, [(n, judge(ok)) for n, ok in spec.items()], params)
    assert not all(ref["correct"].to_pylist()) and any(ref["correct"].to_pylist())
    for chunk_size in (1, 2):
        panel = [(n, judge(ok)) for n, ok in spec.items()]
        stage = ChunkStage(tmp_path / f"judge-{chunk_size}", ANSWER_SCHEMA)
        tally = stage_panel_answers(SEEDS, panel, params, stage, chunk_size)
        staged = stage.staged()
        assert len(staged.paths) == len(spec) * -(-SEEDS.num_rows // chunk_size)
        sizes = [min(chunk_size, SEEDS.num_rows - lo) for lo in range(0, SEEDS.num_rows, chunk_size)]
        assert [[c[0] for c in llm.calls] for _, llm in panel] == [sizes, sizes]  # one batched call per chunk
        assert staged.read_all().to_pylist() == ref.to_pylist()  # same rows, record ids and order
        assert list(stage.quarantine_records()) == []  # no quarantine, as in the one call
        assert tally.per_judge() == judge_stats(ref)
        assert (tally.n, tally.correct, tally.no_answer, tally.cached) == (
            ref.num_rows,
            sum(ref["correct"].to_pylist()),
            sum(1 for x in ref["predicted_letters"].to_pylist() if not x),
            sum(ref["cached"].to_pylist()),
        )
        assert tally.generated_tokens == sum(ref["gen_completion_tokens"].to_pylist())
    _same_lake(tmp_path, ref, staged)
