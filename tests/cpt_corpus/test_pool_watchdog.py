"""The web stage's local pool (``pool_watchdog.run_ranks``): a rank whose process dies (kill -9, as the OOM
killer does) runs once more in a fresh process, and fails the run with a clear error when it dies again; a rank
that hangs is killed at its deadline with its stacks dumped; a rank that raises fails the run with its
traceback. Each case runs ``run_pipeline`` with 2 workers on 2 tasks from a script (like a user's), in a child
process with a timeout: the pool it replaces waited forever in such cases.

The stack dumps and error texts are kept under ``$CITRUS_TEST_ARTIFACTS/web_pool`` (else the test's tmp_path).
"""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent.parent

STEPS = '''
import os, signal, time

from datatrove.pipeline.base import PipelineStep


class FaultOnRankZero(PipelineStep):
    """Passes documents through; on rank 0 it kills its own process (``kill``), sleeps (``hang``) or raises
    (``raise``). With ``once`` (a marker file), only the first attempt does."""

    name = "fault"

    def __init__(self, fault, marker=""):
        super().__init__()
        self.fault, self.marker = fault, marker

    def run(self, data, rank=0, world_size=1):
        if rank == 0 and not (self.marker and os.path.exists(self.marker)):
            if self.marker:
                open(self.marker, "w").close()
            if self.fault == "kill":
                time.sleep(0.5)
                os.kill(os.getpid(), signal.SIGKILL)
            elif self.fault == "hang":
                time.sleep(3600)
            elif self.fault == "raise":
                raise ValueError("planted failure in rank 0")
        for doc in data:
            yield doc
'''


def artifacts(tmp_path: Path) -> Path:
    d = Path(os.environ.get("CITRUS_TEST_ARTIFACTS") or tmp_path) / "web_pool"
    d.mkdir(parents=True, exist_ok=True)
    return d


def run_script(tmp_path: Path, fault: str, once: bool = False, timeout_s: float = 3600.0, retries: int = 1):
    """Returns (RESULT line + stderr tail, written docs, the error text or "")."""
    inp, out = tmp_path / "in", tmp_path / f"out-{fault}"
    inp.mkdir(exist_ok=True)
    for f in range(2):
        (inp / f"part{f}.jsonl").write_text(
            "".join(json.dumps({"id": f"{f}-{i}", "text": f"document {i} of file {f}"}) + "\n" for i in range(3))
        )
    (tmp_path / "fault_steps.py").write_text(STEPS)
    marker = str(tmp_path / f"marker-{fault}") if once else ""
    error_file = tmp_path / f"error-{fault}.txt"
    script = tmp_path / f"caller_{fault}.py"
    script.write_text(
        textwrap.dedent(f"""
        import sys
        sys.path[:0] = [{str(REPO)!r}, {str(tmp_path)!r}]
        from datatrove.pipeline.readers import JsonlReader
        from datatrove.pipeline.writers import JsonlWriter
        from fault_steps import FaultOnRankZero
        from citrus_assets.cpt_corpus.web.pool_watchdog import RankFailed
        from citrus_assets.cpt_corpus.web.pipelines import ExecutorOptions, run_pipeline

        pipeline = [JsonlReader({str(inp)!r}), FaultOnRankZero({fault!r}, {marker!r}),
                    JsonlWriter({str(out)!r}, compression=None)]
        try:
            run_pipeline(pipeline, {str(tmp_path / f"logs-{fault}")!r}, tasks=2, workers=2,
                         options=ExecutorOptions(rank_timeout_s={timeout_s!r}, rank_retries={retries!r}))
            print("RESULT ok")
        except RankFailed as exc:
            open({str(error_file)!r}, "w").write(str(exc))
            print("RESULT failed rank", exc.rank)
    """)
    )
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = [line for line in proc.stdout.splitlines() if line.startswith("RESULT")]
    docs = (
        [json.loads(line) for f in sorted(out.glob("*.jsonl")) for line in f.read_text().splitlines()]
        if out.is_dir()
        else []
    )
    error = error_file.read_text() if error_file.is_file() else ""
    if error:
        (artifacts(tmp_path) / f"rank_failed_{fault}.txt").write_text(error)
    return (result[0] if result else "") + "\n" + proc.stderr[-4000:], docs, error


ALL_IDS = sorted(f"{f}-{i}" for f in range(2) for i in range(3))


def test_a_rank_whose_process_dies_twice_fails_the_run_with_a_clear_error(tmp_path):
    text, _, error = run_script(tmp_path, "kill")
    assert text.startswith("RESULT failed rank 0"), text
    assert "datatrove rank 0 of 2 failed" in error and "exited with code -9, 2 time(s)" in error


def test_a_rank_whose_process_died_runs_again_in_a_fresh_process(tmp_path):
    text, docs, _ = run_script(tmp_path, "kill", once=True)
    assert text.startswith("RESULT ok"), text
    assert "datatrove rank 0: its process exited with code -9; running it again in a fresh process" in text
    assert sorted(d["id"] for d in docs) == ALL_IDS


def test_a_hung_rank_is_killed_at_its_deadline_with_its_stacks_dumped(tmp_path):
    text, docs, error = run_script(tmp_path, "hang", timeout_s=4.0, retries=0)
    assert text.startswith("RESULT failed rank 0"), text
    assert "datatrove rank 0 of 2 failed" in error and "running rank 0 after the 4 s deadline and was killed" in error
    # the dump names the frame where it hangs (faulthandler: every thread of the stuck process)
    assert "stack dump:" in error and "fault_steps.py" in error and "in run" in error, error
    dumps = sorted((tmp_path / "logs-hang" / "stacks").glob("*.txt"))
    assert any("fault_steps.py" in p.read_text() for p in dumps)
    assert sorted(d["id"] for d in docs) == ["1-0", "1-1", "1-2"]  # rank 1 finished; rank 0 wrote nothing


def test_a_hung_rank_runs_again_and_the_run_completes(tmp_path):
    text, docs, _ = run_script(tmp_path, "hang", once=True, timeout_s=4.0, retries=1)
    assert text.startswith("RESULT ok"), text
    assert "after the 4 s deadline and was killed; running it again in a fresh process" in text
    assert sorted(d["id"] for d in docs) == ALL_IDS


def test_a_rank_that_raises_fails_the_run_at_once_with_its_traceback(tmp_path):
    text, _, error = run_script(tmp_path, "raise")
    assert text.startswith("RESULT failed rank 0"), text
    assert "datatrove rank 0 of 2 raised" in error and "ValueError: planted failure in rank 0" in error
    assert "running it again" not in text  # an exception is not retried: it would fail again


def test_option_bounds():
    from citrus_assets.cpt_corpus.web.pipelines import ExecutorOptions

    with pytest.raises(ValueError, match="rank_timeout_s"):
        ExecutorOptions(rank_timeout_s=0)
    with pytest.raises(ValueError, match="rank_retries"):
        ExecutorOptions(rank_retries=-1)


def test_a_rank_process_that_cannot_start_fails_the_run_with_its_error(tmp_path, monkeypatch):
    """A child that exits before taking a rank (here: its module cannot be imported) is started again
    ``retries`` times, then the run fails with the child's stderr; it never waits."""
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import JsonlWriter

    from citrus_assets.cpt_corpus.web import pool_watchdog
    from citrus_assets.cpt_corpus.web.pipelines import build_executor

    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.jsonl").write_text(json.dumps({"id": "a", "text": "x"}) + "\n")
    executor = build_executor(
        [JsonlReader(str(tmp_path / "in")), JsonlWriter(str(tmp_path / "out"))], tmp_path / "logs", tasks=2, workers=2
    )
    monkeypatch.setattr(pool_watchdog, "MODULE", "citrus_assets.cpt_corpus.no_such_module")
    with pytest.raises(pool_watchdog.RankFailed, match="before taking a rank") as info:
        pool_watchdog.run_ranks(executor, [0, 1], workers=2, timeout_s=60, retries=1)
    assert "No module named citrus_assets.cpt_corpus.no_such_module" in str(info.value)
    assert not list((tmp_path / "logs").glob("completions/*"))
