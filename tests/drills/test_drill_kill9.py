"""Drill 1: kill -9 of a run during LLM synthesis, then re-materialize.

A run of question_seeds -> judge_answers (8 questions of the sample seed file) talks to an OpenAI-compatible
server started here. The server answers the first 5 requests and holds the rest; once those 5 are in the
run's request cache the run is SIGKILLed. The re-run must pay only for the 3 unfinished generations (the 5
finished ones are cache hits), and its judge_answers table must equal that of an uninterrupted run in another
lake with its own cache (all but the ``cached`` column). The killed run leaves no judge_answers data file and
no lineage commit.
"""

import json
import os
import signal
import subprocess
import sys

from resources.lake import Lake
from tests.drills import drill_support as S

FINISHED = 5  # generations the server completes before the kill
QUESTIONS = 8  # valid questions in sample/seeds/medqa_demo.jsonl


def test_kill9_during_llm_synthesis_then_rerun(tmp_path, drill_server):
    srv = drill_server
    srv.reset(mode=lambda user, n: "answer" if n <= FINISHED else "hold")
    env = S.make_env(tmp_path, "killed", srv.base_url, max_concurrency=8)
    runner = ["-m", "tests.drills.drill_runner"]  # from the repo root (cwd=S.REPO)
    args = {"mode": "slice", "env": env, "names": ["question_seeds", "judge_answers"]}
    proc = subprocess.Popen(
        [sys.executable, *runner, json.dumps(args)],
        cwd=S.REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        S.wait_for(lambda: len(srv.answered) >= FINISHED or proc.poll() is not None, 120, "the first generations")
        assert proc.poll() is None, proc.communicate()
        S.wait_for(lambda: srv.requests == QUESTIONS, 10, "every request in flight")
        # the finished generations reach the cache while the batch is still running (per-request persistence)
        try:
            S.wait_for(lambda: S.cache_rows(env["cache"]) >= FINISHED, 10, "the finished generations in the cache")
        finally:
            persisted = S.cache_rows(env["cache"])
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    finished = list(srv.answered)
    assert len(finished) == FINISHED and persisted == FINISHED

    # the killed run: question_seeds done and committed; judge_answers neither written nor committed
    lake = env["lake"]
    assert S.data_file(lake, "question_seeds").exists() and len(S.lineage_commits(lake, "question_seeds")) == 1
    assert not S.data_file(lake, "judge_answers").exists() and S.lineage_commits(lake, "judge_answers") == []
    assert S.temp_leftovers(lake) == []

    # re-materialize in this process: only the unfinished generations go to the server
    srv.release.set()
    srv.reset(mode=lambda user, n: "answer")
    result, _ = S.materialize(env, ["question_seeds", "judge_answers"])
    repaid = sorted(set(srv.answered) & set(finished))
    assert repaid == [], f"{len(repaid)} finished generations were paid for again"
    assert len(srv.answered) == QUESTIONS - FINISHED and srv.requests == QUESTIONS - FINISHED
    assert S.metadata(result, "judge_answers")["cache_hits"] == FINISHED
    assert len(S.lineage_commits(lake, "judge_answers")) == 1

    # an uninterrupted run in another lake with its own cache gives the same table
    clean = S.make_env(tmp_path, "clean", srv.base_url)
    srv.reset()
    S.materialize(clean, ["question_seeds", "judge_answers"])
    assert srv.requests == QUESTIONS
    got = S.table_without(Lake(lake).read_table("judge_answers", S.PARTITION), "cached")
    want = S.table_without(Lake(clean["lake"]).read_table("judge_answers", S.PARTITION), "cached")
    assert got.num_rows == QUESTIONS and got.equals(want)
    assert (
        Lake(lake)
        .read_table("question_seeds", S.PARTITION)
        .equals(Lake(clean["lake"]).read_table("question_seeds", S.PARTITION))
    )
    print(
        f"\nDRILL kill-9: {len(finished)} of {QUESTIONS} generations finished (and cached) before the kill, "
        f"re-paid {len(repaid)}, newly generated {QUESTIONS - FINISHED}; "
        f"judge_answers equals an uninterrupted run ({got.num_rows} rows, all columns but 'cached')"
    )
