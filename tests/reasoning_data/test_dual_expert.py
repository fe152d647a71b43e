"""Control flow of the dual-expert loop with a scripted model behind the real LLM client and cache."""

import json

import pytest

from citrus_assets.common.decontamination.leakage import REDACTED
from citrus_assets.reasoning_data.traces import dual_roles as R
from citrus_assets.reasoning_data.traces.dual_expert import DualExpertLoop, LoopConfig, OpenQuestion
from resources.llm import GenerationCache, LLMClient
from tests.support.scripted_backend import Policy, ScriptedBackend, SimulatedCrash, detect_role

IDA, B12, ACD = "Iron deficiency anemia", "Vitamin B12 deficiency", "Anemia of chronic disease"
OPTIONS = ({"letter": "A", "text": IDA}, {"letter": "B", "text": B12}, {"letter": "C", "text": ACD})


def question(qid: str, text: str, letter: str = "A") -> OpenQuestion:
    truth = next(o["text"] for o in OPTIONS if o["letter"] == letter)
    return OpenQuestion(qid, text, truth, OPTIONS, (letter,), "en")


Q_DROP_KEEP = question("oq-1", "A woman with heavy periods has low ferritin. What is the most likely diagnosis?")
Q_KEEP = question("oq-2", "A vegan man has macrocytic anemia and neuropathy. What is the most likely diagnosis?", "B")
Q_NEVER = question(
    "oq-3", "A man with rheumatoid arthritis has normocytic anemia. What is the most likely diagnosis?", "C"
)
CANDIDATES = {Q_DROP_KEEP.question: [B12, IDA], Q_KEEP.question: [B12], Q_NEVER.question: [IDA]}
QUESTIONS = [Q_DROP_KEEP, Q_KEEP, Q_NEVER]


class CountingClient(LLMClient):
    generate_calls = 0

    def generate(self, prompts, params=None):
        self.generate_calls += 1
        return super().generate(prompts, params)


def client(tmp_path, policy=None, fail_on_call=None, name="cache.sqlite"):
    backend = ScriptedBackend(policy or Policy(CANDIDATES), fail_on_call=fail_on_call)
    return CountingClient(backend, GenerationCache(tmp_path / name)), backend


def prompts(result, role):
    return [c["prompt"] for c in result.calls if c["role"] == role]


def test_drop_keep_early_stop_and_retry_then_drop(tmp_path):
    llm, backend = client(tmp_path)
    loop = DualExpertLoop(llm, LoopConfig(max_rounds=3, max_attempts=2))
    r1, r2, r3 = loop.run(QUESTIONS)

    # Q1: the first step is dropped, its feedback reaches the next reasoning prompt, the second is kept,
    # the judge stops the question early (round 2 of 3); the conclusion verifies.
    steps = r1.final.steps
    assert [s["verdict"] for s in steps] == ["drop", "keep"]
    assert r1.final.accepted == [steps[1]["step"]] and B12 in steps[0]["step"] and IDA in steps[1]["step"]
    step_prompts = prompts(r1, R.STEP)
    assert "does not fit the key findings" not in step_prompts[0]
    assert steps[0]["feedback"] in step_prompts[1]  # the drop's feedback steers the next step
    assert r1.final.rounds == 2 and r1.final.status == "complete"
    assert r1.accepted and r1.final.verification["letters"] == ["A"] and len(r1.attempts) == 1
    # Q2 stops after round 1. Q3 never reaches its answer: retried once (a new seed), then dropped.
    assert r2.accepted and r2.final.rounds == 1
    assert not r3.accepted and len(r3.attempts) == 2 and r3.final.status == "max_rounds"
    assert r3.reason.startswith("not verified after 2 attempt(s): wrong answer A (truth C)")
    seeds = {json.loads(c["sampling"])["seed"] for c in r3.calls if c["role"] == R.START}
    assert seeds == {0, 1000}

    # ONE batched call per role and round over all active questions, nothing else.
    assert llm.generate_calls == len(loop.batches) and backend.calls == len(loop.batches)
    sizes = [(b["attempt"], b["role"], b["round"], b["prompts"]) for b in loop.batches]
    assert sizes[:5] == [
        (0, R.START, 0, 3),
        (0, R.STEP, 1, 3),
        (0, R.REFLECTION, 1, 3),
        (0, R.JUDGE, 1, 3),
        (0, R.STEP, 2, 2),
    ]
    assert (0, R.CONCLUSION, 3, 3) in sizes and (1, R.START, 0, 1) in sizes
    # The accepted steps are shown to the next reasoning call and to the conclusion.
    assert steps[1]["step"] in prompts(r1, R.CONCLUSION)[0]


def test_max_rounds_bounds_the_loop_and_last_round_skips_the_judge(tmp_path):
    class Stubborn(Policy):
        def judge(self, prompt):
            return "NO"

    llm, _ = client(tmp_path, Stubborn(CANDIDATES))
    loop = DualExpertLoop(llm, LoopConfig(max_rounds=2, max_attempts=1))
    (r,) = loop.run([Q_KEEP])
    assert r.final.rounds == 2 and r.final.status == "max_rounds"
    roles = [c["role"] for c in r.calls]
    assert roles == [R.START, R.STEP, R.REFLECTION, R.JUDGE, R.STEP, R.REFLECTION, R.CONCLUSION]


def test_unparseable_rating_drops_the_step(tmp_path):
    class Mumbling(Policy):
        def reflection(self, prompt):
            return "Hmm, interesting."

    llm, _ = client(tmp_path, Mumbling(CANDIDATES))
    (r,) = DualExpertLoop(llm, LoopConfig(max_rounds=1, max_attempts=1)).run([Q_KEEP])
    assert r.final.steps[0]["verdict"] == "drop" and r.final.steps[0]["rating_parsed"] is False
    assert r.final.accepted == []


def test_feedback_naming_the_answer_is_redacted_before_it_reaches_the_reasoning_expert(tmp_path):
    class Leaky(Policy):
        def reflection(self, prompt):
            return f"VERDICT: DROP\nFEEDBACK: Weigh the ferritin level. The correct answer is {IDA.lower()}."

    llm, _ = client(tmp_path, Leaky({Q_DROP_KEEP.question: [ACD, B12]}))
    (r,) = DualExpertLoop(llm, LoopConfig(max_rounds=2, max_attempts=1)).run([Q_DROP_KEEP])
    first = r.final.steps[0]
    assert first["feedback_redacted"] and IDA.lower() in [x.lower() for x in first["leaks"]]
    assert first["feedback"] == f"Weigh the ferritin level. {REDACTED}"
    second_prompt = prompts(r, R.STEP)[1]
    assert "Weigh the ferritin level." in second_prompt and REDACTED in second_prompt
    for p in prompts(r, R.STEP) + prompts(r, R.CONCLUSION):
        assert IDA.lower() not in p.lower()
    # the raw reviewer reply stays in the transcript (audit), the sanitized feedback is what travels on
    assert "correct answer is" in [c for c in r.calls if c["role"] == R.REFLECTION][0]["response"]


def test_transcript_records_every_call_rendered(tmp_path):
    llm, _ = client(tmp_path)
    (r,) = DualExpertLoop(llm, LoopConfig(max_rounds=3, max_attempts=1)).run([Q_DROP_KEEP])
    t = json.loads(r.transcript())
    assert t == json.loads(json.dumps(t, sort_keys=True)) and r.transcript() == r.transcript()
    calls = t["attempts"][0]["calls"]
    assert len(calls) == r.llm_calls == 8
    for c in calls:
        assert Q_DROP_KEEP.question in c["prompt"] and "{question}" not in c["prompt"]
        assert detect_role(c["prompt"]) != "other" and c["response"]
        assert c["model"] == "scripted:dual-expert" and len(c["prompt_hash"]) == 16 and c["cached"] is False
        assert c["prompt_tokens"] > 0 and c["completion_tokens"] > 0
    assert r.prompt_tokens == sum(c["prompt_tokens"] for c in calls)
    # the reviewer knows the truth; the reasoning expert never sees it in its prompt
    assert all(Q_DROP_KEEP.ground_truth in c["prompt"] for c in calls if c["role"] in (R.REFLECTION, R.JUDGE))
    assert all("Correct answer" not in c["prompt"] for c in calls if c["role"] in (R.START, R.STEP, R.CONCLUSION))


@pytest.mark.parametrize("crash_on", [2, 5, 9])
def test_resume_after_crash_replays_finished_calls_from_the_cache(tmp_path, crash_on):
    reference, ref_backend = client(tmp_path, name="reference.sqlite")
    expected = DualExpertLoop(reference, LoopConfig()).run(QUESTIONS)
    total = ref_backend.calls

    crashing, backend = client(tmp_path, fail_on_call=crash_on)
    with pytest.raises(SimulatedCrash):
        DualExpertLoop(crashing, LoopConfig()).run(QUESTIONS)
    done = crashing.stats["misses"]  # prompts generated and cached before the crash
    assert backend.calls == crash_on and done > 0

    resumed, backend2 = client(tmp_path)  # a fresh process: new backend, same cache file
    loop = DualExpertLoop(resumed, LoopConfig())
    results = loop.run(QUESTIONS)
    assert resumed.stats["hits"] == done  # every finished call replayed for free ...
    assert backend2.calls == total - (crash_on - 1)  # ... only the remaining calls reach the model
    assert [x.transcript() for x in results] != [] and [
        [(c["prompt"], c["response"]) for c in x.calls] for x in results
    ] == [[(c["prompt"], c["response"]) for c in x.calls] for x in expected]
    cached = [c["cached"] for x in results for c in x.calls]
    assert sum(cached) == done


def test_verification_uses_the_shared_answer_rule():
    assert R.verify(f"CONCLUSION: fits.\n<answer>{IDA}</answer>", OPTIONS, ["A"], IDA).correct
    wrong = R.verify(f"<answer>{B12}</answer>", OPTIONS, ["A"], IDA)
    assert not wrong.correct and wrong.letters == ("B",)
    assert not R.verify("<answer>probably something</answer>", OPTIONS, ["A"], IDA).letters
    assert R.verify(f"<answer>{IDA}</answer>", [], [], IDA).correct  # no options: the ground truth alone
    assert R.parse_rating("**Verdict:** keep\nFeedback: fine").verdict == "keep"
    assert R.parse_rating("DROP. Feedback: no").verdict == "drop"
    assert R.parse_rating("DROP. Look at the ferritin.") == R.Rating("drop", "Look at the ferritin.", True)
    assert R.parse_complete("Yes.") and not R.parse_complete("Not yet, yes later")


def test_redaction_of_answer_leaks_in_both_languages():
    from citrus_assets.common.decontamination.leakage import redact_answer_leaks

    zh = redact_answer_leaks("注意铁蛋白水平。正确答案是缺铁性贫血。", "缺铁性贫血")
    assert zh.text == f"注意铁蛋白水平。{REDACTED}" and zh.redacted
    clean = redact_answer_leaks("Weigh the MCV before testing another candidate.", IDA)
    assert not clean.redacted and clean.text == "Weigh the MCV before testing another candidate."
    inline = redact_answer_leaks("Think about iron deficiency anemia, given the low ferritin", IDA)
    assert IDA.lower() not in inline.text.lower() and inline.leaks == (IDA,)
