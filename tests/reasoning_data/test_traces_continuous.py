"""Continuous scheduling of the dual-expert loop vs the rounds engine, with a scripted model behind the real client.

Same prompts, seeds and result rows for the same cache when the partition is one cohort; the documented
difference (the conclusion's seed round is the cohort's, not the partition's) when it is split."""

import pyarrow as pa
import pytest

from citrus_assets.reasoning_data.traces.continuous import ContinuousLoop
from citrus_assets.reasoning_data.traces.dual_expert import DualExpertLoop, LoopConfig, OpenQuestion
from citrus_assets.reasoning_data.traces.trace_rows import run_traces, trace_row
from resources.llm import GenerationCache, LLMClient
from tests.support.scripted_backend import Policy, ScriptedBackend, SimulatedCrash

CONDITIONS = [
    "Iron deficiency anemia",
    "Vitamin B12 deficiency",
    "Anemia of chronic disease",
    "Thalassemia minor",
    "Folate deficiency",
]


def questions(n: int) -> tuple[list[OpenQuestion], dict]:
    """n questions whose truth is found at step 1, 2, 3 or never (they stop at different rounds), some failing."""
    qs, cands = [], {}
    opts = tuple({"letter": "ABCDE"[i], "text": t} for i, t in enumerate(CONDITIONS))
    for k in range(n):
        truth = k % len(CONDITIONS)
        text = f"Patient {k} has anemia with finding {k * 7 % 13}. What is the most likely diagnosis?"
        order = [CONDITIONS[(truth + 1 + j) % 5] for j in range(k % 4)] + [CONDITIONS[truth]]
        if k % 6 == 5:
            order = [CONDITIONS[(truth + 1) % 5]]  # never finds it: wrong conclusion, a retry, then failed
        cands[text] = order
        qs.append(OpenQuestion(f"oq-{k}", text, CONDITIONS[truth], opts, ("ABCDE"[truth],), "en"))
    return qs, cands


class SeededPolicy(Policy):
    """The conclusion names the seed it was sampled with: any change of seed changes the row."""

    def conclusion(self, prompt: str) -> str:
        return super().conclusion(prompt) + f"\n(seed {self.params.seed})"


def make_client(tmp_path, cands, policy_cls=Policy, name="cache.sqlite"):
    backend = ScriptedBackend(policy_cls(cands))
    return LLMClient(backend, GenerationCache(tmp_path / name)), backend


def rows(results, llm, config):
    return [trace_row(r, llm, config) | {"accepted": r.accepted, "reason": r.reason} for r in results]


def test_one_cohort_sends_the_same_prompts_and_gives_the_same_rows_as_the_rounds_engine(tmp_path):
    qs, cands = questions(30)
    config = LoopConfig(max_rounds=3, max_attempts=2)
    old_llm, old_backend = make_client(tmp_path, cands, SeededPolicy, "old.sqlite")
    new_llm, new_backend = make_client(tmp_path, cands, SeededPolicy, "new.sqlite")
    old = DualExpertLoop(old_llm, config).run(qs)
    # one worker (max_in_flight == max_batch): the scripted policy reads the call's seed from shared state
    new = ContinuousLoop(new_llm, config, max_in_flight=4, max_batch=4, cohort_size=100).run(qs)
    assert sorted(old_backend.prompts) == sorted(new_backend.prompts)
    assert rows(old, old_llm, config) == rows(new, new_llm, config)
    assert {r.final.rounds for r in new} == {1, 2, 3}  # the fixture really stops at different rounds
    assert 0 < sum(r.accepted for r in new) < len(qs) and max(len(r.attempts) for r in new) == 2


def test_a_warm_rerun_on_the_rounds_engine_cache_is_all_hits_and_the_same_rows(tmp_path):
    qs, cands = questions(24)
    config = LoopConfig()
    llm, backend = make_client(tmp_path, cands)
    old = DualExpertLoop(llm, config).run(qs)
    sent = backend.calls
    new = ContinuousLoop(llm, config, max_in_flight=32, max_batch=4, cohort_size=8).run(qs)
    assert backend.calls == sent  # every prompt of the continuous run was in the cache
    assert all(c["cached"] for r in new for c in r.calls)
    strip = [{**row, "transcript": None} for row in rows(old, llm, config)]
    assert [{**row, "transcript": None} for row in rows(new, llm, config)] == strip


def test_split_cohorts_differ_only_in_the_documented_conclusion_seed(tmp_path):
    """Cohorts of 1: a question that stopped early is concluded at its own last round, not the partition's."""
    qs, cands = questions(12)
    config = LoopConfig(max_rounds=3, max_attempts=1)
    old_llm, _ = make_client(tmp_path, cands, SeededPolicy, "old.sqlite")
    new_llm, _ = make_client(tmp_path, cands, SeededPolicy, "new.sqlite")
    old = DualExpertLoop(old_llm, config).run(qs)
    new = ContinuousLoop(new_llm, config, max_in_flight=1, max_batch=1, cohort_size=1).run(qs)
    changed = 0
    for o, n in zip(old, new):
        o_conc = [c for c in o.calls if c["role"] == "conclusion"][0]
        n_conc = [c for c in n.calls if c["role"] == "conclusion"][0]
        assert o_conc["round"] == 3 and n_conc["round"] == n.final.rounds
        assert [c["prompt"] for c in o.calls] == [c["prompt"] for c in n.calls]  # the same prompts ...
        changed += o.final.conclusion != n.final.conclusion  # ... and a different conclusion seed when stopped early
        assert (o.final.conclusion != n.final.conclusion) == (n.final.rounds < 3)
    assert changed > 0


def test_many_workers_and_cohorts_give_the_rounds_engine_rows(tmp_path):
    qs, cands = questions(40)
    config = LoopConfig()
    old_llm, _ = make_client(tmp_path, cands, name="old.sqlite")
    new_llm, _ = make_client(tmp_path, cands, name="new.sqlite")
    old = DualExpertLoop(old_llm, config).run(qs)
    loop = ContinuousLoop(new_llm, config, max_in_flight=24, max_batch=3, cohort_size=7, window=3)
    new = loop.run(qs)
    assert rows(old, old_llm, config) == rows(new, new_llm, config)
    assert loop.requests == sum(r.llm_calls for r in new) and loop.batches >= loop.requests / 3


def open_table(qs, **extra) -> pa.Table:
    """The ``open_questions`` rows of ``qs`` (the columns the loop reads), plus ``extra`` columns of one value."""
    return pa.Table.from_pylist(
        [
            {
                "record_id": q.question_id,
                "open_question": q.question,
                "ground_truth": q.ground_truth,
                "options": list(q.options),
                "answer_letters": list(q.answer_letters),
                "language": "en",
                **extra,
            }
            for q in qs
        ]
    )


@pytest.mark.parametrize("scheduling", ["rounds", "continuous"])
def test_run_traces_same_table_either_scheduling(tmp_path, scheduling):
    qs, cands = questions(18)
    table = open_table(qs)
    llm, _ = make_client(tmp_path, cands, name="a.sqlite")
    ref, ref_q, ref_stats = run_traces(table, llm, LoopConfig(), scheduling="rounds")
    llm2, _ = make_client(tmp_path, cands, name=f"{scheduling}.sqlite")
    got, got_q, stats = run_traces(
        table, llm2, LoopConfig(), scheduling=scheduling, chunk_size=5, spill_dir=tmp_path / "spill"
    )
    assert got.to_pylist() == ref.to_pylist() and got_q == ref_q
    drop = {"llm_batches", "chunks", "chunks_resumed"}
    assert {k: v for k, v in stats.items() if k not in drop} == {k: v for k, v in ref_stats.items() if k not in drop}


def test_a_crash_late_in_the_step_keeps_the_finished_chunks_and_the_rerun_skips_them(tmp_path):
    qs, cands = questions(20)
    table = open_table(qs)
    ref_llm, _ = make_client(tmp_path, cands, name="ref.sqlite")
    ref, ref_q, ref_stats = run_traces(table, ref_llm, LoopConfig(), scheduling="rounds")
    spill = tmp_path / "spill"
    kw = dict(chunk_size=4, spill_dir=spill, max_in_flight=2, max_batch=2)
    crashing = ScriptedBackend(Policy(cands), fail_on_call=110)
    with pytest.raises(SimulatedCrash):
        run_traces(table, LLMClient(crashing, GenerationCache(tmp_path / "c.sqlite")), LoopConfig(), **kw)
    on_disk = len(list(spill.glob("*/chunk-*.json")))
    assert 0 < on_disk < 5  # some chunks finished before the crash, not all
    again = ScriptedBackend(Policy(cands))
    got, got_q, stats = run_traces(table, LLMClient(again, GenerationCache(tmp_path / "c.sqlite")), LoopConfig(), **kw)
    assert stats["chunks_resumed"] == on_disk and stats["chunks"] == 5
    strip = lambda rows: [{**r, "transcript": None} for r in rows]  # noqa: E731 - cached flags differ after a crash
    assert strip(got.to_pylist()) == strip(ref.to_pylist())
    assert [q.source_locator for q in got_q] == [q.source_locator for q in ref_q]
    assert {k: stats[k] for k in ("questions", "accepted", "llm_calls")} == {
        k: ref_stats[k] for k in ("questions", "accepted", "llm_calls")
    }  # counts of the resumed chunks kept


def test_local_model_gets_the_rounds_engine_batches_and_outputs(tmp_path, repo_root, tiny_model_dir):
    """The main job's case (a model in process): the same batches, hence the same sampled text, either way."""
    from resources.llm import LLMResource
    from tests.support.demo_questions import open_questions_from_seed_file

    table = open_questions_from_seed_file(repo_root / "sample" / "seeds" / "medqa_demo.jsonl", limit=4)
    config = LoopConfig(
        max_rounds=2,
        max_attempts=2,
        max_tokens_start=6,
        max_tokens=6,
        max_tokens_reflection=6,
        max_tokens_judge=2,
        max_tokens_conclusion=6,
    )
    out = {}
    for scheduling in ("rounds", "continuous"):
        llm = LLMResource(model=tiny_model_dir, use_cache=False, cache_dir=str(tmp_path / "models"))
        seen = []
        original = llm.client.generate

        def spy(prompts, params=None, _orig=original, _seen=seen):
            _seen.append((len(prompts), params.seed, params.max_tokens))
            return _orig(prompts, params)

        llm.client.generate = spy
        got, failed, stats = run_traces(table, llm, config, scheduling=scheduling, spill_dir=tmp_path / scheduling)
        out[scheduling] = (got.to_pylist(), [(q.source_locator, q.reason, q.raw) for q in failed], seen)
    assert out["continuous"][2] == out["rounds"][2]  # identical batches
    assert out["continuous"][:2] == out["rounds"][:2] and len(out["rounds"][1]) + len(out["rounds"][0]) == 4


def test_each_prompt_is_rendered_once_and_a_client_without_rendered_still_works(tmp_path):
    """The loop renders a call's prompt once (its call record keeps it, LLMClient.generate takes it); a client
    whose generate does not take ``rendered`` renders it itself, with the same rows."""
    qs, cands = questions(18)
    config = LoopConfig(max_rounds=3, max_attempts=2)
    llm, backend = make_client(tmp_path, cands, SeededPolicy, "once.sqlite")
    renders = []
    render = backend.render
    backend.render = lambda messages: renders.append(1) or render(messages)
    loop = ContinuousLoop(llm, config, max_in_flight=4, max_batch=4, cohort_size=100)
    shared = loop.run(qs)
    assert loop.requests > len(qs) and len(renders) == loop.requests  # before: 2 per request

    class PlainGenerate(LLMClient):
        def generate(self, prompts, params=None):
            return super().generate(prompts, params)

    plain_backend = ScriptedBackend(SeededPolicy(cands))
    plain = PlainGenerate(plain_backend, GenerationCache(tmp_path / "plain.sqlite"))
    own = ContinuousLoop(plain, config, max_in_flight=4, max_batch=4, cohort_size=100).run(qs)
    assert rows(own, plain, config) == rows(shared, llm, config)
    assert sorted(plain_backend.prompts) == sorted(backend.prompts)
