"""Drill 3: an OpenAI-compatible server (started here on 127.0.0.1) that misbehaves during judge_answers.

Per scenario, question_seeds -> judge_answers (-> question_difficulty) of the 8 sample questions run in a
fresh lake against a server that times out, answers HTTP 500 for some prompts, sends malformed JSON, or
answers in prose without an ``<answer>`` block. Checked: retries are bounded (the server sees exactly
prompts x (max_retries + 1) requests for a failing prompt), the step error names the endpoint and the cause,
a failed step leaves no materialization event, no judge_answers file or lineage commit and no temp file,
only good generations are cached (a re-run pays just for the failed prompts), and unparseable answers are
kept, flagged and counted (``no_answer``) instead of crashing the run.
"""

from resources.lake import Lake
from resources.llm import LLMResource
from tests.drills import drill_support as S

QUESTIONS = 8


def fast_backoff(env: dict) -> None:
    """Shrink the retry backoff of the env's OpenAI backend (the resource reuses it: same settings)."""
    backend = LLMResource(**env["llm"]).get_backend()
    backend.backoff_s, backend.max_backoff_s = 0.02, 0.1


def failing_prompt(user: str) -> bool:
    """A fixed subset of the 8 sample prompts (chosen by their text; 6 of them)."""
    return S.answer_letter(user + "#500") == "A"


FAILURES = {
    # scenario: (server mode, llm settings, expected error text, attempts per prompt)
    "timeout": (lambda u, n: "timeout", dict(timeout_s=0.3, max_retries=1), "timeout after 0.3s", 2),
    "http_500": (lambda u, n: "500" if failing_prompt(u) else "answer", dict(max_retries=2), "HTTP 500", 3),
    "malformed_json": (lambda u, n: "malformed", dict(max_retries=1), "malformed response", 2),
}


def assert_nothing_materialized(env: dict, instance) -> None:
    lake = env["lake"]
    assert S.materialization_count(instance, "judge_answers") == 0
    assert S.materialization_count(instance, "question_seeds") == 1
    assert not any(f.startswith("judge_answers/") for f in S.lake_files(lake)), S.lake_files(lake)
    assert S.lineage_commits(lake, "judge_answers") == []
    assert not any("/judge_answers/" in f for f in S.lake_files(lake) if f.startswith("_lineage/"))
    assert S.temp_leftovers(lake) == []


def test_misbehaving_server_fails_cleanly_and_unparseable_answers_are_counted(tmp_path, drill_server):
    srv = drill_server
    srv.slow_s = 1.0
    table = []
    for name, (mode, settings, cause, attempts) in FAILURES.items():
        env = S.make_env(tmp_path, name, srv.base_url, **settings)
        fast_backoff(env)
        srv.reset(mode=mode)
        result, instance = S.materialize(env, ["question_seeds", "judge_answers"], raise_on_error=False)
        assert not result.success
        errors = S.step_errors(result)
        assert set(errors) == {"judge_answers"}, errors
        err = errors["judge_answers"]
        assert srv.endpoint in err and cause in err and f"failed after {attempts} attempts" in err, err
        assert "no running event loop" not in err, err  # no unrelated exception chained to the error
        good = srv.behaviours.get("answer", 0)
        n_bad = QUESTIONS - good
        assert n_bad > 0 and srv.requests == good + n_bad * attempts  # bounded retries, nothing more
        assert_nothing_materialized(env, instance)
        assert S.cache_rows(env["cache"]) == good  # only good generations are cached
        line = next(ln for ln in err.splitlines() if srv.endpoint in ln).strip()
        table.append((name, n_bad, attempts, srv.requests, good, line[line.index("failed after") :][:100]))

        if name == "http_500":  # the server recovers: the re-run pays only for the prompts that had failed
            srv.reset(mode=lambda u, n: "answer")
            result, instance = S.materialize(env, ["question_seeds", "judge_answers"], instance=instance)
            assert srv.requests == n_bad and S.metadata(result, "judge_answers")["cache_hits"] == good
            assert S.materialization_count(instance, "judge_answers") == 1
            assert len(S.lineage_commits(env["lake"], "judge_answers")) == 1
            recovered = (n_bad, good)

    # prose without <answer>: the run succeeds; every answer is kept, flagged as no answer, counted, scored wrong
    env = S.make_env(tmp_path, "no_answer", srv.base_url)
    srv.reset(mode=lambda u, n: "no_answer")
    result, instance = S.materialize(env, ["question_seeds", "judge_answers", "question_difficulty"])
    md = S.metadata(result, "judge_answers")
    rows = Lake(env["lake"]).read_table("judge_answers", S.PARTITION).to_pylist()
    assert len(rows) == QUESTIONS and md["no_answer"] == QUESTIONS and md["accuracy"] == 0.0
    assert all(r["predicted_letters"] == [] and r["extraction"] == "none" and not r["correct"] for r in rows)
    assert md["per_judge"]["default"]["no_answer"] == QUESTIONS
    assert S.metadata(result, "question_difficulty")["hard"] == QUESTIONS  # no answer is never "easy"

    print(
        f"\nDRILL bad-server: scenario -> failing prompts x attempts -> server requests, cached -> step error "
        f"(each names 'OpenAI-compatible endpoint {srv.endpoint} (model {S.MODEL})')"
    )
    for row in table:
        print("  {:<15} {:>2} prompts x {} attempts -> {:>2} requests, {} cached | {}".format(*row))
    print(f"  http_500 re-run after recovery: {recovered[0]} requests, {recovered[1]} cache hits, materialized once")
    print(
        f"  no <answer> block: run succeeded, {md['no_answer']}/{QUESTIONS} answers kept as no_answer "
        f"(extraction 'none', scored wrong), question_difficulty hard={QUESTIONS}"
    )
