"""Progress is durable chunk by chunk (issue 17 goal 3): ``judge_answers``, ``open_questions`` and ``sft_examples``
stage their chunks under a key (``chunk_fingerprint`` of inputs, models, config, prompts, chunk size). A run that
crashes keeps its finished chunks; a re-run with a FRESH request cache (so a replay would show as new LLM calls)
asks nothing for them and gives the rows, quarantine and statistics of an uninterrupted run. Another key (changed
config or input) resumes nothing; a stage without a key empties its folder as before."""

import os

import pyarrow as pa
import pytest

from citrus_assets.reasoning_data.questions.rewrite import RewriteSettings
from citrus_assets.reasoning_data.questions.staged import rewrite_key, stage_rewrites
from citrus_assets.reasoning_data.schemas import OPEN_QUESTION_SCHEMA, SFT_EXAMPLE_SCHEMA
from citrus_assets.reasoning_data.seeds.judging import ANSWER_SCHEMA
from citrus_assets.reasoning_data.seeds.staged import judge_key, stage_panel_answers
from citrus_assets.reasoning_data.traces.dual_expert import LoopConfig
from citrus_assets.reasoning_data.traces.sft_assets import SftRewriteConfig, build_sft_examples
from citrus_assets.reasoning_data.traces.sft_staged import sft_key, stage_sft_examples
from citrus_assets.reasoning_data.traces.trace_rows import fingerprint, run_traces
from resources.lake import ChunkStage, chunk_fingerprint
from resources.llm import GenerationCache, LLMClient, SamplingParams
from tests.reasoning_data.test_batched_inputs import Batches
from tests.reasoning_data.test_chunk_staged import _reply
from tests.reasoning_data.test_question_prep import ALL, ANEMIA, MI, SEEDS, ScriptedLLM, judge
from tests.reasoning_data.test_sft_examples import GOOD, scripted_questions
from tests.support.scripted_backend import Policy, ScriptedBackend, SimulatedCrash


class Crash(RuntimeError):
    pass


def _crashing(reply, marker: str):
    """``reply`` that raises (a crash of the step) on a prompt holding ``marker``."""

    def crash(prompt, params, call_no):
        if marker in prompt:
            raise Crash(marker)
        return reply(prompt, params, call_no)

    return crash


def _recording(reply, prompts: list[str]):
    def rec(prompt, params, call_no):
        prompts.append(prompt)
        return reply(prompt, params, call_no)

    return rec


def _chunk_dirs(root) -> list[str]:
    return sorted(os.listdir(root)) if os.path.isdir(root) else []


# ------------------------------------------------------------------------------------------- open_questions
@pytest.mark.parametrize("crash_on, resumed", [("chest pain", 1), ("开放式问题", 2)])  # on chunk 2 or 3 of 3
def test_open_questions_resume_finished_chunks_after_a_crash(tmp_path, crash_on, resumed):
    settings = RewriteSettings(rule_fallback=False)  # the MI seed (chunk 2) is quarantined
    ref_stage = ChunkStage(tmp_path / "ref", OPEN_QUESTION_SCHEMA)
    ref_llm = ScriptedLLM(_reply)
    ref = stage_rewrites(SEEDS, ref_llm, settings, ref_stage, 1)
    assert ref.counts["quarantined"] == 1 and ref.counts["llm_accepted"] == 2

    root = tmp_path / "stage"
    key = rewrite_key(SEEDS, ScriptedLLM(_reply), settings, 1)
    with pytest.raises(Crash):
        stage_rewrites(
            SEEDS, ScriptedLLM(_crashing(_reply, crash_on)), settings, ChunkStage(root, OPEN_QUESTION_SCHEMA, key), 1
        )
    assert len([p for p in os.listdir(root / key) if p.endswith(".json")]) == resumed

    prompts: list[str] = []
    llm = ScriptedLLM(_recording(_reply, prompts))  # no request cache: a replayed chunk would be new calls
    stage = ChunkStage(root, OPEN_QUESTION_SCHEMA, key)
    got = stage_rewrites(SEEDS, llm, settings, stage, 1)
    assert (stage.n, stage.chunks_resumed) == (3, resumed)
    finished = [s["stem"][:25] for s in SEEDS.slice(0, resumed).to_pylist()]
    assert prompts and not any(f in p for f in finished for p in prompts)  # finished chunks are not asked again
    rest = ScriptedLLM(_reply)  # what the unfinished chunks alone cost: the re-run's calls, no more
    stage_rewrites(SEEDS.slice(resumed), rest, settings, ChunkStage(tmp_path / "rest", OPEN_QUESTION_SCHEMA), 1)
    assert llm.calls == rest.calls and len(llm.calls) < len(ref_llm.calls)
    assert stage.staged().read_all().to_pylist() == ref_stage.staged().read_all().to_pylist()
    assert list(stage.quarantine_records()) == list(ref_stage.quarantine_records())
    for field in ("counts", "rejection_reasons", "llm_calls", "generated_tokens", "rounds", "refers_to_options"):
        assert getattr(got, field) == getattr(ref, field), field
    assert got.seeds == ref.seeds == SEEDS.num_rows


def test_open_questions_changed_config_or_input_resume_nothing(tmp_path):
    settings = RewriteSettings(rule_fallback=False)
    root = tmp_path / "stage"
    key = rewrite_key(SEEDS, ScriptedLLM(_reply), settings, 1)
    with pytest.raises(Crash):
        stage_rewrites(
            SEEDS,
            ScriptedLLM(_crashing(_reply, "chest pain")),
            settings,
            ChunkStage(root, OPEN_QUESTION_SCHEMA, key),
            1,
        )
    other = RewriteSettings(rule_fallback=False, retries=2)
    reordered = pa.concat_tables([SEEDS.slice(1), SEEDS.slice(0, 1)])
    keys = {
        rewrite_key(SEEDS, ScriptedLLM(_reply), other, 1),  # config
        rewrite_key(reordered, ScriptedLLM(_reply), settings, 1),  # input ids (order)
        rewrite_key(SEEDS.slice(1), ScriptedLLM(_reply), settings, 1),  # input ids
        rewrite_key(SEEDS, ScriptedLLM(_reply, model_id="other"), settings, 1),  # model
        rewrite_key(SEEDS, ScriptedLLM(_reply), settings, 2),  # chunk size
    }
    assert len(keys) == 5 and key not in keys
    assert rewrite_key(Batches(SEEDS, 1), ScriptedLLM(_reply), settings, 1) == key  # batched input: same key
    new_key = rewrite_key(SEEDS, ScriptedLLM(_reply), other, 1)
    prompts: list[str] = []
    stage = ChunkStage(root, OPEN_QUESTION_SCHEMA, new_key)
    assert _chunk_dirs(root) == [new_key]  # the stale key's chunks are removed
    stage_rewrites(SEEDS, ScriptedLLM(_recording(_reply, prompts)), other, stage, 1)
    assert (stage.chunks_resumed, stage.n) == (0, 3)
    assert any(ANEMIA["stem"][:25] in p for p in prompts)  # the first chunk asked again


# ------------------------------------------------------------------------------------------- judge_answers
def test_judge_answers_resume_finished_chunks_after_a_crash(tmp_path):
    spec = {"weak": ALL - {MI["stem"][:10]}, "strong": ALL}
    params = SamplingParams(max_tokens=8)
    ref_panel = [(n, judge(ok)) for n, ok in spec.items()]
    ref_stage = ChunkStage(tmp_path / "ref", ANSWER_SCHEMA)
    ref = stage_panel_answers(SEEDS, ref_panel, params, ref_stage, 1)

    root = tmp_path / "stage"
    key = judge_key(SEEDS, [(n, judge(ok)) for n, ok in spec.items()], params, 1)
    crashing = [(n, judge(ok)) for n, ok in spec.items()]
    crashing[0][1].reply = _crashing(crashing[0][1].reply, MI["stem"][:25])  # the first judge's 2nd chunk of 3
    with pytest.raises(Crash):
        stage_panel_answers(SEEDS, crashing, params, ChunkStage(root, ANSWER_SCHEMA, key), 1)

    panel = [(n, judge(ok)) for n, ok in spec.items()]
    stage = ChunkStage(root, ANSWER_SCHEMA, key)
    tally = stage_panel_answers(SEEDS, panel, params, stage, 1)
    assert (stage.n, stage.chunks_resumed) == (6, 1)
    assert [len(llm.calls) for _, llm in panel] == [2, 3]  # the finished chunk is not asked again
    assert stage.staged().read_all().to_pylist() == ref_stage.staged().read_all().to_pylist()
    assert list(stage.quarantine_records()) == [] == list(ref_stage.quarantine_records())
    assert tally.per_judge() == ref.per_judge()
    assert (tally.n, tally.correct, tally.no_answer, tally.generated_tokens) == (
        ref.n,
        ref.correct,
        ref.no_answer,
        ref.generated_tokens,
    )
    # another panel (a judge renamed) or sampling is another key
    renamed = [("weak2", judge(ALL)), ("strong", judge(ALL))]
    assert (
        len({key, judge_key(SEEDS, renamed, params, 1), judge_key(SEEDS, panel, SamplingParams(max_tokens=9), 1)}) == 3
    )


# ------------------------------------------------------------------------------------------- sft_examples
def _sft_inputs(tmp_path):
    """Three verified traces (every question's candidates hold its ground truth) and a rewrite policy that keeps the
    first and drops the others (wrong answer)."""
    qs = scripted_questions()
    cands = {}
    for q in qs.to_pylist():
        wrong = [o["text"] for o in q["options"] if o["letter"] not in q["answer_letters"]]
        cands[q["open_question"]] = wrong + [q["ground_truth"]]
    llm = LLMClient(ScriptedBackend(Policy(cands)), GenerationCache(tmp_path / "traces.sqlite"))
    traces, _, _ = run_traces(qs, llm, LoopConfig())
    assert traces.num_rows == 3
    return qs, traces, cands


class Rewriter(Policy):
    crash_on: str | None = None
    seen: list[str]

    def rewrite(self, prompt):
        if self.crash_on and self.crash_on in prompt:
            raise SimulatedCrash(self.crash_on)
        self.seen.append(prompt)
        if "low ferritin" in prompt:
            return GOOD
        return "<think>Some anemia.</think><answer>Iron deficiency anemia</answer>"


def _rewriter(cands, tmp_path, name, crash_on=None):
    policy = Rewriter(cands)
    policy.crash_on, policy.seen = crash_on, []
    backend = ScriptedBackend(policy)
    return LLMClient(backend, GenerationCache(tmp_path / name)), backend, policy


def test_sft_examples_resume_finished_chunks_after_a_crash(tmp_path):
    qs, traces, cands = _sft_inputs(tmp_path)
    config = SftRewriteConfig()
    ref_llm, ref_backend, ref_policy = _rewriter(cands, tmp_path, "ref.sqlite")
    ref_stage = ChunkStage(tmp_path / "ref", SFT_EXAMPLE_SCHEMA)
    ref = stage_sft_examples(traces, qs, ref_llm, config, ref_stage, build_sft_examples, chunk_size=1)
    assert ref["kept"] == 1 and ref["dropped"] == 2

    root = tmp_path / "stage"
    crash_llm, _, _ = _rewriter(cands, tmp_path, "crash.sqlite", crash_on="neuropathy")  # the 2nd trace of 3
    key = sft_key(traces, qs, crash_llm, config, 1)
    with pytest.raises(SimulatedCrash):
        stage_sft_examples(
            traces, qs, crash_llm, config, ChunkStage(root, SFT_EXAMPLE_SCHEMA, key), build_sft_examples, 1
        )

    llm, backend, policy = _rewriter(cands, tmp_path, "fresh.sqlite")  # a fresh request cache
    stage = ChunkStage(root, SFT_EXAMPLE_SCHEMA, sft_key(traces, qs, llm, config, 1))
    got = stage_sft_examples(traces, qs, llm, config, stage, build_sft_examples, chunk_size=1)
    assert (stage.n, stage.chunks_resumed) == (3, 1)
    assert policy.seen == [p for p in ref_policy.seen if "low ferritin" not in p]  # chunk 1 not rewritten again
    assert 0 < backend.calls < ref_backend.calls and got["llm_calls"] == ref["llm_calls"]  # saved calls counted
    assert stage.staged().read_all().to_pylist() == ref_stage.staged().read_all().to_pylist()
    assert list(stage.quarantine_records()) == list(ref_stage.quarantine_records())
    assert got == ref

    # another config or another input (ids) is another key: nothing resumed, the stale chunks removed
    other = SftRewriteConfig(max_attempts=3)
    assert sft_key(traces, qs, llm, other, 1) != key
    assert sft_key(traces.slice(1), qs, llm, config, 1) != key
    assert sft_key(traces, qs.slice(1), llm, config, 1) != key  # the second input counts too
    fresh = ChunkStage(root, SFT_EXAMPLE_SCHEMA, sft_key(traces.slice(1), qs, llm, config, 1))
    assert _chunk_dirs(root) == [fresh.key] and fresh.resume() is None


# ------------------------------------------------------------------------------------------- ChunkStage itself
def test_a_chunk_without_its_marker_is_not_resumed_and_no_key_empties_the_folder(tmp_path):
    settings = RewriteSettings(rule_fallback=False)
    root = tmp_path / "stage"
    key = rewrite_key(SEEDS, ScriptedLLM(_reply), settings, 1)
    with pytest.raises(Crash):
        stage_rewrites(
            SEEDS,
            ScriptedLLM(_crashing(_reply, "开放式问题")),
            settings,
            ChunkStage(root, OPEN_QUESTION_SCHEMA, key),
            1,
        )
    os.remove(root / key / "chunk-000001.json")  # chunk 2's data written, its marker not: not complete
    stage = ChunkStage(root, OPEN_QUESTION_SCHEMA, key)
    assert stage.done(0) is not None and stage.done(1) is None
    stage_rewrites(SEEDS, ScriptedLLM(_reply), settings, stage, 1)
    assert stage.chunks_resumed == 1 and stage.n == 3

    plain = ChunkStage(root, OPEN_QUESTION_SCHEMA)  # no key: emptied, nothing resumed, as before
    assert _chunk_dirs(root) == [] and plain.resume() is None and plain.done(0) is None
    stage_rewrites(SEEDS, ScriptedLLM(_reply), settings, plain, 1)
    assert plain.chunks_resumed == 0 and plain.staged().cleanup == str(root)
    assert stage.staged().cleanup == str(root)  # a keyed stage's output removes the whole root once published


def test_the_traces_fingerprint_is_the_shared_one(tmp_path):
    class M:
        model_id, model_revision = "m", "r1"

    table = pa.table({"record_id": ["a", "b", "c"]})
    from citrus_assets.reasoning_data.traces import dual_roles as R

    want = chunk_fingerprint([table], [M()], LoopConfig().to_json(), R.prompt_set_hash(), "3")
    assert fingerprint(table, M(), LoopConfig(), 3) == want
    assert fingerprint(Batches(table, 1), M(), LoopConfig(), 3) == want
    # two inputs are told apart from one input holding both's ids
    assert chunk_fingerprint([table.slice(0, 1), table.slice(1)], [M()]) != chunk_fingerprint([table], [M()])
