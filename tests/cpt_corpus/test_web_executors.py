"""The web stage's datatrove executor, chosen per run: local (default), Ray or Slurm.

Ray and Slurm are not run here (a local Ray run of the web stage on the sample takes minutes on this
machine: benchmarks/web_ray.py; there is no Slurm cluster): the executors are built from the run config and
checked option by option, with ``sbatch`` never called. The Slurm path of ``run_pipeline`` (submit, wait for
the completion markers, merge the stats) runs against a stand-in ``sbatch`` that executes the pickled job
array in this process, exactly as ``launch_pickled_pipeline`` does on a compute node.
"""

import json
import os
import sys

import dagster as dg
import pytest
from datatrove.executor import LocalPipelineExecutor, RayPipelineExecutor, SlurmPipelineExecutor
from datatrove.pipeline.readers import JsonlReader
from datatrove.pipeline.writers import JsonlWriter

import citrus_assets.cpt_corpus.web.pipelines as web_exec
from citrus_assets.cpt_corpus.web.assets import WebCurationRunConfig
from citrus_assets.cpt_corpus.web.pipelines import ExecutorOptions, build_executor, run_pipeline
from tests.support.resources import make_resources


@pytest.fixture
def no_sbatch(monkeypatch):
    """Any attempt to reach Slurm fails the test."""
    import datatrove.executor.slurm as slurm

    def refuse(*a, **k):
        raise AssertionError(f"Slurm was called: {a!r}")

    monkeypatch.setattr(slurm, "launch_slurm_job", refuse)
    monkeypatch.setattr(slurm.subprocess, "check_output", refuse)
    monkeypatch.setattr(slurm.subprocess, "run", refuse)


def pipeline(tmp_path):
    src = tmp_path / "in"
    src.mkdir(exist_ok=True)
    for i in range(3):
        (src / f"{i:02d}.jsonl").write_text(json.dumps({"id": f"d{i}", "text": f"document number {i}"}) + "\n")
    return [JsonlReader(str(src)), JsonlWriter(str(tmp_path / "out"), compression=None)]


def test_local_is_the_default(tmp_path):
    cfg = WebCurationRunConfig()
    assert cfg.executor == "local" and cfg.to_config().execution == ExecutorOptions()
    ex = build_executor(pipeline(tmp_path), tmp_path / "logs", tasks=3, workers=8, options=cfg.to_config().execution)
    assert isinstance(ex, LocalPipelineExecutor) and ex.workers == 3 and not ex.skip_completed
    stats = run_pipeline(pipeline(tmp_path), tmp_path / "logs", tasks=3)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["00000.jsonl", "00001.jsonl", "00002.jsonl"]
    assert stats is not None


def test_ray_executor_from_the_run_config(tmp_path):
    cfg = WebCurationRunConfig(
        executor="ray", workers=2, cpus_per_task=2, mem_per_cpu_gb=1.5, ray_address="ray://head:10001"
    )
    options = cfg.to_config().execution
    assert options.kind == "ray" and options.ray_address == "ray://head:10001"
    ex = build_executor(pipeline(tmp_path), tmp_path / "logs", tasks=4, workers=cfg.workers, options=options)
    assert isinstance(ex, RayPipelineExecutor)  # built without importing ray (only run() needs it)
    assert (ex.tasks, ex.workers, ex.cpus_per_task, ex.mem_per_cpu_gb) == (4, 2, 2, 1.5)
    assert not ex.skip_completed and ex.logging_dir.path == str(tmp_path / "logs")
    all_at_once = build_executor(pipeline(tmp_path), tmp_path / "l2", tasks=4, workers=0, options=options)
    assert all_at_once.workers == 4


def test_slurm_executor_from_the_run_config_without_sbatch(tmp_path, no_sbatch):
    cfg = WebCurationRunConfig(
        executor="slurm",
        workers=2,
        cpus_per_task=4,
        mem_per_cpu_gb=1.5,
        slurm_partition="cpu",
        slurm_time="02:30:00",
        slurm_qos="high",
        slurm_venv_path=str(tmp_path / "venv" / "bin" / "activate"),
        slurm_sbatch_args={"account": "citrus", "constraint": "avx2"},
    )
    ex = build_executor(
        pipeline(tmp_path), tmp_path / "logs", tasks=8, workers=cfg.workers, options=cfg.to_config().execution
    )
    assert isinstance(ex, SlurmPipelineExecutor) and not ex.skip_completed and ex.job_id is None
    assert (ex.tasks, ex.workers, ex.partition, ex.time, ex.qos) == (8, 2, "cpu", "02:30:00", "high")
    assert (ex.cpus_per_task, ex.mem_per_cpu_gb, ex.job_name) == (4, 2, "citrus_web")  # whole GB for sbatch
    args = ex.get_sbatch_args(max_array=8)
    assert args["partition"] == "cpu" and args["time"] == "02:30:00" and args["qos"] == "high"
    assert args["cpus-per-task"] == 4 and args["mem-per-cpu"] == "2G" and args["array"] == "0-7%2"
    assert args["account"] == "citrus" and args["constraint"] == "avx2"
    script = ex.get_launch_file_contents(args, "launch_pickled_pipeline executor.pik")
    assert "#SBATCH --partition=cpu" in script and "#SBATCH --account=citrus" in script
    assert f"source {tmp_path / 'venv' / 'bin' / 'activate'}" in script
    assert str(tmp_path / "logs" / "slurm_logs") in script  # Slurm's own logs next to the run's logs


def test_slurm_venv_defaults_to_this_environment(tmp_path):
    options = ExecutorOptions(kind="slurm", slurm_partition="cpu")
    if sys.prefix == sys.base_prefix:
        assert options.venv_path() is None
    else:
        assert options.venv_path() == os.path.join(sys.prefix, "bin", "activate")
    assert ExecutorOptions(kind="slurm", slurm_partition="p", slurm_venv_path=str(tmp_path)).venv_path() == str(
        tmp_path / "bin" / "activate"
    )


def test_bad_choices_fail_early():
    with pytest.raises(ValueError, match="slurm_partition"):
        ExecutorOptions(kind="slurm")
    with pytest.raises(ValueError, match="unknown datatrove executor"):
        ExecutorOptions(kind="spark")

    @dg.asset
    def a(config: WebCurationRunConfig):
        return None

    with pytest.raises(dg.DagsterInvalidConfigError, match="executor"):
        dg.materialize([a], run_config={"ops": {"a": {"config": {"executor": "spark"}}}})


def fake_cluster(monkeypatch, run_tasks: bool):
    """A stand-in ``sbatch``: runs the pickled job array here (or nothing: every task 'fails')."""
    import datatrove.executor.slurm as slurm
    import dill

    submitted = []

    def launch(contents, job_id_retriever, *args):
        submitted.append((contents, args))
        if "merge_stats" in contents:
            return "4243"
        pik = contents.split("launch_pickled_pipeline ", 1)[1].split()[0]
        if run_tasks:
            with open(pik, "rb") as fh:
                executor = dill.load(fh)
            for rank in range(executor.tasks):
                monkeypatch.setenv("SLURM_ARRAY_TASK_ID", str(rank))
                executor.run()
            monkeypatch.delenv("SLURM_ARRAY_TASK_ID")
        return "4242"

    monkeypatch.setattr(slurm, "launch_slurm_job", launch)
    monkeypatch.setattr(slurm, "expand_slurm_nodelist", lambda nodes: ["node-1"])
    monkeypatch.setenv("SLURM_NODELIST", "node-1")
    monkeypatch.setattr(web_exec, "_slurm_job_queued", lambda job_id: False)  # the array has left the queue
    return submitted


def test_slurm_run_waits_for_the_job_array_and_merges_stats(tmp_path, monkeypatch):
    submitted = fake_cluster(monkeypatch, run_tasks=True)
    options = ExecutorOptions(kind="slurm", slurm_partition="cpu", slurm_poll_s=0.01)
    stats = run_pipeline(pipeline(tmp_path), tmp_path / "logs", tasks=3, workers=2, options=options)
    assert len(submitted) == 2 and "#SBATCH --array=0-2%2" in submitted[0][0]  # the job array, then merge_stats
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["00000.jsonl", "00001.jsonl", "00002.jsonl"]
    assert sorted(os.listdir(tmp_path / "logs" / "completions")) == ["00000", "00001", "00002"]
    assert "documents" in json.dumps(stats.to_json())  # merged from the tasks' stats files


def test_slurm_run_fails_when_tasks_did_not_complete(tmp_path, monkeypatch):
    fake_cluster(monkeypatch, run_tasks=False)
    options = ExecutorOptions(kind="slurm", slurm_partition="cpu", slurm_poll_s=0.01)
    with pytest.raises(RuntimeError, match="3 of 3 datatrove tasks did not complete"):
        run_pipeline(pipeline(tmp_path), tmp_path / "logs", tasks=3, options=options)


def test_squeue_answers(monkeypatch):
    import subprocess

    def answer(stdout="", stderr="", rc=0):
        return lambda *a, **k: subprocess.CompletedProcess(a, rc, stdout, stderr)

    monkeypatch.setattr(web_exec.subprocess, "run", answer("4242_1\n4242_2\n"))
    assert web_exec._slurm_job_queued("4242")
    monkeypatch.setattr(web_exec.subprocess, "run", answer(""))
    assert not web_exec._slurm_job_queued("4242")  # no element of the array left
    monkeypatch.setattr(
        web_exec.subprocess, "run", answer(stderr="slurm_load_jobs error: Invalid job id specified", rc=1)
    )
    assert not web_exec._slurm_job_queued("4242")
    monkeypatch.setattr(web_exec.subprocess, "run", answer(stderr="Unable to contact slurm controller", rc=1))
    assert web_exec._slurm_job_queued("4242")  # unknown: keep waiting


@pytest.mark.slow
def test_web_stage_on_a_local_ray_cluster(tmp_path, repo_root):
    """web_documents -> web_corpus on sample/web with ``executor: ray`` (a local Ray started by the step)."""
    ray = pytest.importorskip("ray")
    from citrus_assets.cpt_corpus.web.assets import web_corpus, web_documents, web_shards
    from resources.inbox import InboxResource
    from resources.lake import Lake

    if ray.is_initialized():
        ray.shutdown()
    lake_root = str(tmp_path / "lake")
    resources = make_resources(lake_root, inbox=InboxResource(web_dir=str(repo_root / "sample" / "web")))
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(web_shards.name, ["web_demo"])
    cfg = {"executor": "ray", "workers": 2, "work_dir": str(tmp_path / "work")}
    try:
        for name, asset, key in (("web_documents", web_documents, "web_demo"), ("web_corpus", web_corpus, None)):
            res = dg.materialize(
                [web_documents, web_corpus],
                selection=[asset],
                partition_key=key,
                resources=resources,
                instance=instance,
                run_config={"ops": {name: {"config": cfg}}},
            )
            assert res.success
            assert ray.is_initialized()  # the pipelines ran on Ray, not in a local pool
        lake = Lake(lake_root)
        # the same documents as the local executor keeps (tests/cpt_corpus/test_web_assets.py, shard_a)
        assert lake.read_table("web_documents", "web_demo").num_rows == 4
        assert lake.read_quarantine("web_documents", "web_demo").num_rows == 1
        assert lake.read_table("web_corpus", None).num_rows == 3  # the near-duplicate anemia page removed
        assert not any((tmp_path / "work").iterdir())  # datatrove's folders under work_dir, removed afterwards
    finally:
        ray.shutdown()
