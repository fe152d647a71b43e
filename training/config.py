"""One config dataclass per trainer, with the Citrus paper's hyper-parameters as defaults.

Paper (Table 3, section 6.1): DeepSpeed ZeRO-3 + Accelerate, AdamW beta1 0.9 / beta2 0.95, weight decay
1e-4, gradient clip 1.0. SFT stages 1/2/3: lr 5e-6, global batch 512, 2 / 1 / 2 epochs. CPO-SimPO: lr 1e-6
(Qwen; 3e-7 for Llama), global batch 16, 3 epochs, cpo_alpha 0.05, beta 10, simpo_gamma 5.4. CPT: the paper
gives no optimizer figures; the defaults here are the usual continued-pretraining ones and the source mix is
driven by the bandit (``training.bandit``).

The global batch is ``per_device_batch_size x gradient_accumulation_steps x world_size``: the config names
the global and the per-device batch, the accumulation is computed from the world size at run time
(:meth:`BaseTrainConfig.grad_accum`). A config travels to the training process as JSON (:func:`to_json` /
:func:`from_json`); ``kind`` picks the trainer.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from typing import Any


@dataclass
class BaseTrainConfig:
    """What every trainer shares: paths, optimizer (paper defaults), schedule, checkpointing, launcher."""

    kind: str = ""
    model_path: str = ""  # HF folder or hub id training starts from
    data_path: str = ""  # Parquet file with the training rows (CPT: the shard manifest)
    output_dir: str = ""  # run folder: trainer/ (step checkpoints), model/ (final HF model), result.json
    learning_rate: float = 5e-6
    global_batch_size: int = 512
    per_device_batch_size: int = 4
    epochs: float = 1.0
    max_steps: int = -1  # > 0 overrides epochs
    max_seq_len: int = 4096
    adam_beta1: float = 0.9
    adam_beta2: float = 0.95
    weight_decay: float = 1e-4
    max_grad_norm: float = 1.0
    warmup_ratio: float = 0.03
    lr_scheduler_type: str = "cosine"
    save_steps: int = 500  # a step checkpoint every N optimizer steps (a crashed run resumes from the last)
    save_total_limit: int = 2
    logging_steps: int = 1
    seed: int = 42
    bf16: bool = False
    gradient_checkpointing: bool = False
    deepspeed_config: str = ""  # path of a DeepSpeed JSON config ("" = no DeepSpeed)
    fail_at_step: int = -1  # testing aid: raise after this optimizer step (simulates a crash)

    def world_size(self) -> int:
        return int(os.environ.get("WORLD_SIZE", "1"))

    def grad_accum(self, world_size: int | None = None) -> int:
        """Gradient accumulation steps so that per-device x accumulation x world size = global batch."""
        ws = world_size or self.world_size()
        per_step = self.per_device_batch_size * ws
        if self.global_batch_size < per_step or self.global_batch_size % per_step:
            raise ValueError(
                f"global_batch_size {self.global_batch_size} is not a multiple of per_device_batch_size "
                f"{self.per_device_batch_size} x world size {ws}"
            )
        return self.global_batch_size // per_step


@dataclass
class CPTConfig(BaseTrainConfig):
    """Continued pre-training with a bandit over sources (reward = recent loss on that source)."""

    kind: str = "cpt"
    learning_rate: float = 1e-5
    global_batch_size: int = 512
    epochs: float = 1.0
    max_seq_len: int = 4096
    bandit_floor: float = 0.05  # every source keeps at least this sampling probability
    bandit_eta: float = 0.1  # EXP3 learning rate
    bandit_decay: float = 0.98  # discount of old rewards (losses drift as the model learns)
    plot_every: int = 0  # 0: plot the source proportions only at the end


@dataclass
class SFTStageConfig(BaseTrainConfig):
    """SFT on chat ``messages`` with the loss on assistant tokens only (stage 1/2/3: 2/1/2 epochs)."""

    kind: str = "sft"
    learning_rate: float = 5e-6
    global_batch_size: int = 512
    epochs: float = 2.0
    max_seq_len: int = 4096


@dataclass
class CPOStageConfig(BaseTrainConfig):
    """Offline preference optimisation: TRL CPO with ``loss_type="simpo"`` (CPO-SimPO)."""

    kind: str = "cpo"
    learning_rate: float = 1e-6
    global_batch_size: int = 16
    epochs: float = 3.0
    max_seq_len: int = 4096
    beta: float = 10.0
    simpo_gamma: float = 5.4
    cpo_alpha: float = 0.05
    loss_type: str = "simpo"


KINDS: dict[str, type[BaseTrainConfig]] = {"cpt": CPTConfig, "sft": SFTStageConfig, "cpo": CPOStageConfig}

# Filled in by the code that launches a run (the trainer kind, paths, the training resource's bf16 and DeepSpeed
# file) or by tests (fail_at_step), never by a user: the Dagster run configs offer every other field, with
# these defaults (citrus_assets/model_training/checkpoints/training_config.py).
LAUNCH_FIELDS: tuple[str, ...] = (
    "kind",
    "model_path",
    "data_path",
    "output_dir",
    "bf16",
    "deepspeed_config",
    "fail_at_step",
)


def to_json(cfg: BaseTrainConfig) -> str:
    return json.dumps(dataclasses.asdict(cfg), sort_keys=True)


def from_dict(d: dict[str, Any]) -> BaseTrainConfig:
    cls = KINDS.get(d.get("kind", ""))
    if cls is None:
        raise ValueError(f"unknown trainer kind {d.get('kind')!r}; one of {sorted(KINDS)}")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - names)
    if unknown:
        raise ValueError(f"unknown {cls.__name__} fields: {unknown}")
    return cls(**d)


def from_json(text: str) -> BaseTrainConfig:
    return from_dict(json.loads(text))


def hyperparameters(cfg: BaseTrainConfig) -> dict[str, Any]:
    """The fields that shape the result (no paths, no testing aids): what metadata and run keys hash."""
    skip = {
        "model_path",
        "data_path",
        "output_dir",
        "fail_at_step",
        "deepspeed_config",
        "logging_steps",
        "save_steps",
        "save_total_limit",
        "plot_every",
    }
    return {k: v for k, v in dataclasses.asdict(cfg).items() if k not in skip}


__all__ = [
    "BaseTrainConfig",
    "CPTConfig",
    "CPOStageConfig",
    "KINDS",
    "LAUNCH_FIELDS",
    "SFTStageConfig",
    "from_dict",
    "from_json",
    "hyperparameters",
    "to_json",
]
