"""One config per engine (issue 16, change 5): a Dagster run config is made from its engine's dataclass.

Each pair below failed this before: the run config re-declared the engine's fields with other defaults. A field
declared by hand on the Dagster side that the engine also has, or an engine field the run config lacks, fails.
"""

import dataclasses

import dagster as dg
import pytest

from citrus_assets.common.engine_config import EngineRunConfig, declared_fields, engine_run_config
from citrus_assets.cpt_corpus.web.assets import RUN_TIME_KNOBS, WebCurationRunConfig, WebCurationSettings
from citrus_assets.cpt_corpus.web.config import WebCurationConfig
from citrus_assets.cpt_corpus.web.pipelines import ExecutorOptions
from citrus_assets.jobs import DEMO_RL_OPS, DEMO_TRAINING_OPS
from citrus_assets.model_training.checkpoints.training_config import (
    CPORunConfig,
    CPTRunConfig,
    SFTRunConfig,
    trainer_config,
)
from training.config import LAUNCH_FIELDS, CPOStageConfig, CPTConfig, SFTStageConfig

TRAINER_PAIRS = [(CPTRunConfig, CPTConfig), (SFTRunConfig, SFTStageConfig), (CPORunConfig, CPOStageConfig)]


def hand_declared(run_cls: type) -> set[str]:
    """Fields declared by hand in the run config's hand-written bases (the made class itself excluded)."""
    return set().union(
        *(declared_fields(k) for k in run_cls.__mro__[1:] if isinstance(k, type) and issubclass(k, EngineRunConfig))
    )


def engine_names(engine: type, exclude=()) -> set[str]:
    return {f.name for f in dataclasses.fields(engine)} - set(exclude)


@pytest.mark.parametrize("run_cls,engine", TRAINER_PAIRS, ids=lambda c: getattr(c, "__name__", ""))
def test_checkpoint_run_config_is_its_trainers_config(run_cls, engine):
    assert list(run_cls.engines) == [engine]
    trainer_fields = engine_names(engine, LAUNCH_FIELDS)
    assert set(run_cls.engines[engine]) == set(run_cls.engines[engine].values()) == trainer_fields
    hand = hand_declared(run_cls)
    assert hand == {"reuse"}, "the checkpoint run config declares only what no trainer has"
    assert not hand & engine_names(engine), f"declared on both sides: {sorted(hand & engine_names(engine))}"
    assert set(run_cls.model_fields) == hand | trainer_fields
    # the defaults are the trainer's (the paper's), in one place
    assert trainer_config(run_cls(), engine, "model", False) == engine(model_path="model")
    made = trainer_config(run_cls(max_steps=3, learning_rate=2e-5), engine, "m", True)
    assert (made.max_steps, made.learning_rate, made.bf16, made.kind) == (3, 2e-5, True, engine().kind)


def test_a_run_config_for_another_trainer_is_refused():
    with pytest.raises(TypeError, match="not CPOStageConfig"):
        trainer_config(SFTRunConfig(), CPOStageConfig, "m", False)


def test_the_main_jobs_training_values_are_run_config_fields():
    """The demo's values live in the main job's run config only; each names a real field and differs from the
    paper default it overrides (else it would not be needed)."""
    runs = {"cpt_checkpoint": CPTRunConfig, "rl_checkpoint": CPORunConfig}
    ops = {**DEMO_TRAINING_OPS, **DEMO_RL_OPS}
    assert set(ops) == {"cpt_checkpoint", "sft_stage1_checkpoint", "sft_stage2_checkpoint", "sft_stage3_checkpoint"} | {
        "rl_checkpoint"
    }
    for asset, part in ops.items():
        cls = runs.get(asset, SFTRunConfig)
        values = part["config"]
        assert set(values) <= set(cls.model_fields), set(values) - set(cls.model_fields)
        default = cls()
        assert all(getattr(default, k) != v for k, v in values.items()), asset
        cls(**values)


def test_web_run_config_is_the_executors_and_the_curations_config():
    run_cls = WebCurationRunConfig
    assert list(run_cls.engines) == [WebCurationConfig, ExecutorOptions]
    executor, curation = run_cls.engines[ExecutorOptions], run_cls.engines[WebCurationConfig]
    assert set(executor.values()) == engine_names(ExecutorOptions)
    assert executor["executor"] == "kind"  # the run-config name users know
    assert set(curation) == set(curation.values()) == set(RUN_TIME_KNOBS)
    hand = hand_declared(run_cls) - set(curation)  # the intermediate made class declares the curation's knobs
    assert hand == declared_fields(WebCurationSettings) == {"work_dir"}
    engine_side = engine_names(ExecutorOptions) | set(executor) | engine_names(WebCurationConfig)
    assert not hand & engine_side, f"declared on both sides: {sorted(hand & engine_side)}"
    assert set(run_cls.model_fields) == hand | set(executor) | set(curation)
    # the defaults are the engines'
    assert run_cls().executor_options() == ExecutorOptions()
    assert run_cls().to_config() == WebCurationConfig()
    cfg = run_cls(executor="slurm", slurm_partition="cpu", slurm_sbatch_args={"a": "b"}, languages=["en", "fr"])
    opts = cfg.executor_options()
    assert (opts.kind, opts.slurm_partition, opts.slurm_sbatch_args) == ("slurm", "cpu", {"a": "b"})
    assert cfg.to_config().languages == ("en", "fr") and cfg.to_config().execution == opts


def test_a_base_that_redeclares_an_engine_field_is_refused():
    class Again(EngineRunConfig):
        rank_retries: int = 5

    with pytest.raises(TypeError, match="second time"):
        engine_run_config("X", ExecutorOptions, Again)
    with pytest.raises(TypeError, match="no fields"):
        engine_run_config("X", ExecutorOptions, EngineRunConfig, exclude=["nope"])
    with pytest.raises(TypeError, match="second time"):  # nor may two engines offer the same name
        engine_run_config("X", WebCurationConfig, WebCurationRunConfig, include=["workers"])
    with pytest.raises(TypeError, match="name one"):
        WebCurationRunConfig().to_engine()


def test_dagster_reads_the_engine_defaults_from_the_made_config():
    seen = {}

    @dg.asset
    def probe(config: SFTRunConfig) -> None:
        seen["cfg"] = config

    assert dg.materialize([probe], run_config={"ops": {"probe": {"config": {"max_steps": 2}}}}).success
    assert seen["cfg"].max_steps == 2
    assert seen["cfg"].global_batch_size == SFTStageConfig().global_batch_size
