"""Training settings: ``TrainingResource`` (where/how to train) and one run config per trainer.

The run configs' defaults are the laptop demo (the built-in SmolLM2-135M on 2 CPU cores, each checkpoint in
about a minute: 2 optimizer steps of one 128-token sequence; fp32 training of 135M parameters costs several
seconds per 128 tokens on 2 cores). The paper's values are in each
docstring and are the defaults of the trainer dataclasses in ``training.config``; set them in the run config,
e.g. for SFT stage 1::

    ops:
      sft_stage1_checkpoint:
        config: {max_steps: -1, epochs: 2, global_batch_size: 512, per_device_batch_size: 4,
                 max_seq_len: 4096, learning_rate: 5.0e-6, save_steps: 500}
"""

import os

import dagster as dg

from resources.lake import Lake
from training.config import BaseTrainConfig
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


class CheckpointRunConfig(dg.Config):
    """Shared run settings (demo defaults). Paper: AdamW beta1 0.9, beta2 0.95, weight decay 1e-4, grad clip 1.0.

    ``global_batch_size`` = ``per_device_batch_size`` x gradient accumulation x world size (the accumulation
    is computed). ``max_steps`` > 0 caps the run (demo); -1 trains ``epochs``. ``save_steps``: a step
    checkpoint every N steps (a crashed run resumes from the last one). ``reuse``: unchanged inputs and
    settings reuse the finished run instead of retraining.
    """

    learning_rate: float = 5e-6
    global_batch_size: int = 1
    per_device_batch_size: int = 1
    epochs: float = 1.0
    max_steps: int = 2
    max_seq_len: int = 128
    adam_beta1: float = 0.9
    adam_beta2: float = 0.95
    weight_decay: float = 1e-4
    max_grad_norm: float = 1.0
    warmup_ratio: float = 0.0
    lr_scheduler_type: str = "cosine"
    save_steps: int = 500
    seed: int = 42
    gradient_checkpointing: bool = False
    reuse: bool = True


class CPTRunConfig(CheckpointRunConfig):
    """CPT with the bandit source sampler (floor: minimum probability of every source; eta: EXP3 rate;
    decay: discount of old rewards). The paper gives no CPT optimizer figures (trainer default lr 1e-5)."""

    learning_rate: float = 1e-5
    bandit_floor: float = 0.05
    bandit_eta: float = 0.1
    bandit_decay: float = 0.98


class SFTRunConfig(CheckpointRunConfig):
    """SFT (assistant-only loss). Paper: lr 5e-6, global batch 512, epochs 2 / 1 / 2 for stages 1 / 2 / 3."""


class CPORunConfig(CheckpointRunConfig):
    """CPO-SimPO. Paper: lr 1e-6 (Qwen; 3e-7 Llama), global batch 16, 3 epochs, cpo_alpha 0.05, beta 10,
    simpo_gamma 5.4 (the defaults here)."""

    learning_rate: float = 1e-6
    max_seq_len: int = 512  # prompt (system line + question) + answer; a prompt must leave room for the answer
    beta: float = 10.0
    simpo_gamma: float = 5.4
    cpo_alpha: float = 0.05
    loss_type: str = "simpo"


_SKIP = {"reuse"}


def trainer_config(
    run: CheckpointRunConfig, cls: type[BaseTrainConfig], model_path: str, bf16: bool
) -> BaseTrainConfig:
    """The trainer dataclass from a Dagster run config (same field names)."""
    values = {k: v for k, v in run.model_dump().items() if k not in _SKIP}
    return cls(**values, model_path=model_path, bf16=bf16)
