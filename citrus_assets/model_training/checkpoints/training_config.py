"""Training settings: ``TrainingResource`` (where/how to train) and one run config per trainer.

One config per engine: each run config is made from its trainer's dataclass in ``training.config``
(``citrus_assets.common.engine_config``), so its fields and defaults -- the paper's -- are declared there once;
``CheckpointRunConfig`` adds only the Dagster-side ``reuse``. The main job's laptop values (the built-in
SmolLM2-135M on 2 CPU cores, each checkpoint in about a minute: 2 optimizer steps of one 128-token sequence)
are its run config, ``citrus_assets.jobs.DEMO_TRAINING_OPS``; any run can set the same fields, e.g.::

    ops:
      sft_stage1_checkpoint:
        config: {max_steps: 2, global_batch_size: 1, per_device_batch_size: 1, max_seq_len: 128}
"""

import os

import dagster as dg

from citrus_assets.common.engine_config import EngineRunConfig, engine_run_config
from resources.lake import Lake
from training.config import LAUNCH_FIELDS, BaseTrainConfig, CPOStageConfig, CPTConfig, SFTStageConfig
from training.launch import LaunchSpec

# Checkpoint root of a remote (s3://...) lake when ``checkpoint_root`` is empty: trainers need a local folder.
REMOTE_CHECKPOINT_ROOT = os.path.join(".citrus", "checkpoints")


class TrainingResource(dg.ConfigurableResource):
    """Where training starts and how it is launched.

    ``base_model``: ``builtin`` (SmolLM2-135M-Instruct shipped with the project) or any HF folder / hub id.
    ``checkpoint_root``: ``""`` = ``<lake>/checkpoints`` (a local folder: trainers write there directly), or
    ``.citrus/checkpoints`` under the working directory when the lake is remote (``s3://...``).
    ``launcher``: ``python`` (one process; the CPU default), ``accelerate`` (``num_processes`` GPUs per
    machine, ``num_machines`` > 1 with ``machine_rank``/``main_process_ip``) or ``deepspeed`` (``hostfile``
    for multi-node). ``accelerate_config``: an ``accelerate config`` YAML for the accelerate launcher instead
    of the flags (``deploy/accelerate.*.yaml``; ``machine_rank`` still picks this node). ``deepspeed``: ZeRO-3
    (config generated; bf16 when ``bf16``) — off by default on CPU.
    """

    base_model: str = "builtin"
    checkpoint_root: str = ""
    launcher: str = "python"
    num_processes: int = 1
    num_machines: int = 1
    machine_rank: int = 0
    main_process_ip: str = ""
    main_process_port: int = 29500
    hostfile: str = ""
    accelerate_config: str = ""
    deepspeed: bool = False
    zero_stage: int = 3
    offload: bool = False
    bf16: bool = False
    keep_step_checkpoints: bool = False

    def base_model_path(self) -> str:
        if self.base_model in ("", "builtin"):
            from resources.llm import builtin_model_path

            return str(builtin_model_path())
        return self.base_model

    def root(self, lake: Lake) -> str:
        if self.checkpoint_root:
            return self.checkpoint_root
        if not lake.is_local:  # trainers write a local folder: like the lineage index, next to the working dir
            return os.path.abspath(REMOTE_CHECKPOINT_ROOT)
        return lake.join("checkpoints")

    def spec(self) -> LaunchSpec:
        return LaunchSpec(
            launcher=self.launcher,
            num_processes=self.num_processes,
            num_machines=self.num_machines,
            machine_rank=self.machine_rank,
            main_process_ip=self.main_process_ip,
            main_process_port=self.main_process_port,
            hostfile=self.hostfile,
            accelerate_config=self.accelerate_config,
            deepspeed=self.deepspeed,
            zero_stage=self.zero_stage,
            offload=self.offload,
        )


class CheckpointRunConfig(EngineRunConfig):
    """What every checkpoint asset's run config adds to its trainer's fields: ``reuse`` (unchanged inputs and
    settings reuse the finished run instead of retraining).

    The trainer's fields (``learning_rate``, ``global_batch_size``, ``per_device_batch_size``, ``epochs``,
    ``max_steps``, ``max_seq_len``, AdamW, warmup, schedule, ``save_steps``, ``seed``, ...) are those of its
    dataclass in ``training.config``, with its defaults (the paper's), under the same names: see there.
    ``global_batch_size`` = ``per_device_batch_size`` x gradient accumulation x world size (the accumulation
    is computed). ``max_steps`` > 0 caps the run; -1 trains ``epochs``.
    """

    reuse: bool = True


CPTRunConfig = engine_run_config(
    "CPTRunConfig",
    CPTConfig,
    CheckpointRunConfig,
    exclude=LAUNCH_FIELDS,
    doc="CPT with the bandit source sampler (bandit_floor: minimum probability of every source; bandit_eta: "
    "EXP3 rate; bandit_decay: discount of old rewards). Fields and defaults: training.config.CPTConfig.",
)
SFTRunConfig = engine_run_config(
    "SFTRunConfig",
    SFTStageConfig,
    CheckpointRunConfig,
    exclude=LAUNCH_FIELDS,
    doc="SFT (assistant-only loss). Fields and defaults: training.config.SFTStageConfig (paper: lr 5e-6, "
    "global batch 512, epochs 2 / 1 / 2 for stages 1 / 2 / 3).",
)
CPORunConfig = engine_run_config(
    "CPORunConfig",
    CPOStageConfig,
    CheckpointRunConfig,
    exclude=LAUNCH_FIELDS,
    doc="CPO-SimPO. Fields and defaults: training.config.CPOStageConfig (paper: lr 1e-6, global batch 16, "
    "3 epochs, cpo_alpha 0.05, beta 10, simpo_gamma 5.4).",
)


def trainer_config(
    run: CheckpointRunConfig, cls: type[BaseTrainConfig], model_path: str, bf16: bool
) -> BaseTrainConfig:
    """The trainer dataclass from a Dagster run config: its fields, plus the model path and bf16 (resource)."""
    cfg = run.to_engine(model_path=model_path, bf16=bf16)  # its one engine: the trainer's dataclass
    if not isinstance(cfg, cls):
        raise TypeError(f"{type(run).__name__} builds {type(cfg).__name__}, not {cls.__name__}")
    return cfg
