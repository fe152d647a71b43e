"""Every dagster.yaml variant (the repo's local one and deploy/*.yaml) loads: the file passes Dagster's
instance schema, and each pluggable class it names (storage, run launcher, run coordinator) imports and
accepts its config. Nothing connects: PostgreSQL and Kubernetes are not needed to validate."""

import importlib
import shutil
from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster._config import process_config
from dagster._core.instance.config import dagster_instance_config

from citrus_assets.executors import executor_from_env
from citrus_assets.instance_check import sqlite_concurrency_warning

REPO = Path(__file__).resolve().parents[2]
VARIANTS = [REPO / "dagster.yaml", *sorted((REPO / "deploy").glob("dagster.*.yaml"))]
ENV = {
    "DAGSTER_PG_USERNAME": "dagster",
    "DAGSTER_PG_PASSWORD": "pw",
    "DAGSTER_PG_HOST": "db",
    "DAGSTER_PG_DB": "dagster",
    "DAGSTER_PG_PORT": "5432",
    "CITRUS_IMAGE": "citrus-lake:latest",
    "CITRUS_K8S_NAMESPACE": "citrus",
}


def _classes(cfg: dict):
    """(section, module, class, config) of every pluggable class the instance config names."""
    for section, value in cfg.items():
        if isinstance(value, dict) and "module" in value and "class" in value:
            yield section, value["module"], value["class"], value.get("config") or {}
    if "postgres" in (cfg.get("storage") or {}):
        for cls in ("PostgresRunStorage", "PostgresEventLogStorage", "PostgresScheduleStorage"):
            yield "storage", "dagster_postgres", cls, cfg["storage"]["postgres"]


def test_there_are_postgres_k8s_and_celery_variants():
    names = {p.name for p in VARIANTS}
    assert {"dagster.yaml", "dagster.postgres.yaml", "dagster.k8s.yaml", "dagster.celery.yaml"} <= names


@pytest.mark.parametrize("path", VARIANTS, ids=lambda p: p.name)
def test_variant_loads(path, tmp_path, monkeypatch):
    for k, v in ENV.items():
        monkeypatch.setenv(k, v)
    shutil.copy(path, tmp_path / "dagster.yaml")
    config, _ = dagster_instance_config(str(tmp_path))  # Dagster's own schema validation
    raw = yaml.safe_load(path.read_text())
    checked = 0
    for section, module, cls, cls_config in _classes(raw):
        klass = getattr(importlib.import_module(module), cls)
        result = process_config(klass.config_type(), cls_config)
        assert result.success, f"{path.name} {section} {cls}: {[e.message for e in result.errors]}"
        checked += 1
    if path.name != "dagster.yaml":
        assert checked >= 3, "a deployment variant names its storage classes"
        assert config["storage"]["postgres"]["postgres_db"]["password"] == {"env": "DAGSTER_PG_PASSWORD"}
    else:  # the local default: SQLite storage (single writer), so one run at a time; no make-ui warning
        assert config["concurrency"]["runs"]["max_concurrent_runs"] == 1
        assert sqlite_concurrency_warning(tmp_path) is None
    assert "password: " not in path.read_text().replace("password: {env:", ""), "secrets come from env"


def test_executor_selection():
    assert executor_from_env({}).name == "multiprocess"
    assert executor_from_env({"CITRUS_EXECUTOR": "in_process"}) is dg.in_process_executor
    assert executor_from_env({"CITRUS_EXECUTOR": "celery", "CITRUS_CELERY_BROKER": "redis://b:6379/0"}).name == "celery"
    assert executor_from_env({"CITRUS_EXECUTOR": "k8s", "CITRUS_K8S_NAMESPACE": "ns"}).name == "k8s"
    with pytest.raises(ValueError, match="CITRUS_CELERY_BROKER"):
        executor_from_env({"CITRUS_EXECUTOR": "celery"})
    with pytest.raises(ValueError, match="must be one of"):
        executor_from_env({"CITRUS_EXECUTOR": "slurm"})


def test_gpu_run_config_matches_the_resources_and_run_configs():
    """deploy/run_config.gpu.yaml uses only real fields of the training/llm resources and the checkpoint run
    config (a renamed field would make the documented example fail in the launchpad)."""
    from citrus_assets.model_training.checkpoints.training_config import SFTRunConfig, TrainingResource
    from resources.llm import LLMResource

    cfg = yaml.safe_load((REPO / "deploy" / "run_config.gpu.yaml").read_text())
    for cls, part in ((TrainingResource, "training"), (LLMResource, "llm")):
        fields = cfg["resources"][part]["config"]
        assert set(fields) <= set(cls.model_fields), set(fields) - set(cls.model_fields)
        cls(**fields)
    run = cfg["ops"]["sft_stage3_checkpoint"]["config"]
    assert set(run) <= set(SFTRunConfig.model_fields), set(run) - set(SFTRunConfig.model_fields)
    SFTRunConfig(**run)
    hosts = [
        ln for ln in (REPO / "deploy" / "hostfile.example").read_text().splitlines() if ln and not ln.startswith("#")
    ]
    assert all(len(ln.split()) == 2 and ln.split()[1].startswith("slots=") for ln in hosts)


@pytest.mark.parametrize("path", sorted((REPO / "deploy").glob("accelerate.*.yaml")), ids=lambda p: p.name)
def test_accelerate_config_loads(path):
    """Each deploy/accelerate.*.yaml is a valid ``accelerate config`` file (accelerate's own loader rejects
    unknown keys), its process count covers every node, and the launcher passes it to ``accelerate launch``."""
    from accelerate.commands.config.config_args import ClusterConfig

    from citrus_assets.model_training.checkpoints.training_config import TrainingResource
    from training.config import SFTStageConfig
    from training.launch import command

    cfg = ClusterConfig.from_yaml_file(str(path))
    assert cfg.num_processes >= cfg.num_machines >= 1
    if cfg.num_machines > 1:
        assert cfg.main_process_ip and cfg.main_process_port
    spec = TrainingResource(
        launcher="accelerate",
        accelerate_config=str(path),
        num_machines=cfg.num_machines,
        machine_rank=cfg.num_machines - 1,
    ).spec()
    cmd = command(SFTStageConfig(), spec, "run.json")
    assert cmd[cmd.index("--config_file") + 1] == str(path) and "--num_processes" not in cmd
    assert ("--machine_rank" in cmd) == (cfg.num_machines > 1)
    assert cmd[-3:] == ["-m", "training.run", "run.json"]
