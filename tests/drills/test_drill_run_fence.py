"""Drill (issue 14 item 3): a step that outlives its run commits nothing.

The orphan of a kill -9 of a run worker: the run is marked FAILURE in the Dagster instance (as the run monitor or
a UI "terminate" does) while its judge_answers step is still generating; the step goes on, finishes every
generation, and reaches the IO manager. The IO manager reads the run's status (one instance query per output)
and refuses to publish or commit: no judge_answers data file, no lineage commit, the step fails naming the run
and its status. A re-run, a new run id, then commits normally; its lineage commit records its own run id.
"""

import dagster as dg
import pyarrow.parquet as pq

from resources.lake_io import RunNotLiveError  # noqa: F401 - the error the step fails with
from tests.drills import drill_support as S

QUESTIONS = 8  # valid questions in sample/seeds/medqa_demo.jsonl


def test_step_of_a_failed_run_commits_nothing(tmp_path, drill_server):
    srv = drill_server
    (tmp_path / "dagster_home").mkdir()
    instance = dg.DagsterInstance.local_temp(str(tmp_path / "dagster_home"))
    env = S.make_env(tmp_path, "fenced", srv.base_url)
    marked = []

    def fail_run_then_answer(user: str, n: int) -> str:
        if n == 1:  # the run dies while its step is generating: the instance marks it FAILURE
            for run in instance.get_runs():
                if run.status == dg.DagsterRunStatus.STARTED:
                    instance.report_run_failed(run, message="drill: run worker killed")
                    marked.append(run.run_id)
        return "answer"

    srv.reset(mode=fail_run_then_answer)
    result, _ = S.materialize(env, ["question_seeds", "judge_answers"], instance=instance, raise_on_error=False)
    lake = env["lake"]
    assert len(marked) == 1 and instance.get_run_by_id(marked[0]).status == dg.DagsterRunStatus.FAILURE
    generated_after_failure = len(srv.answered)
    assert generated_after_failure == QUESTIONS  # the orphaned step did finish its work ...
    errors = S.step_errors(result)
    assert "judge_answers" in errors and "RunNotLiveError" in errors["judge_answers"], errors
    assert f"run {marked[0]} is FAILURE" in errors["judge_answers"]
    committed = S.lineage_commits(lake, "judge_answers")
    published = S.data_file(lake, "judge_answers").exists()
    assert committed == [] and not published  # ... and committed nothing
    assert len(S.lineage_commits(lake, "question_seeds")) == 1  # finished before the run died: kept

    # the re-run (a new run id) commits; its commit row records its run id
    srv.reset(mode=lambda user, n: "answer")
    rerun, _ = S.materialize(env, ["question_seeds", "judge_answers"], instance=instance)
    commits = S.lineage_commits(lake, "judge_answers")
    assert len(commits) == 1 and rerun.run_id != marked[0]
    assert pq.read_table(f"{lake}/{commits[0]}").column("run_id").to_pylist() == [rerun.run_id]
    assert S.data_file(lake, "judge_answers").exists()
    print(
        f"\nDRILL run fence: run marked FAILURE during its step; the step finished {generated_after_failure} "
        f"generations after that, then committed {len(committed)} lineage commits and published "
        f"{int(published)} data files; the re-run committed {len(commits)} under its own run id"
    )
