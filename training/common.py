"""What every trainer shares: TrainingArguments from a config, the metric stream, resume, the final save.

The training process prints one ``CITRUS_METRIC {json}`` line per Trainer log (rank 0 only); the launcher
(:mod:`training.launch`) parses those into the Dagster log and metadata. ``result.json`` in the run folder
is the run's summary (steps, tokens seen, loss curve, wall time, weights hash).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

from .config import BaseTrainConfig, hyperparameters

METRIC_PREFIX = "CITRUS_METRIC "
RESULT_FILE = "result.json"
MODEL_DIR = "model"
TRAINER_DIR = "trainer"


def trainer_dir(cfg: BaseTrainConfig) -> str:
    return os.path.join(cfg.output_dir, TRAINER_DIR)


def model_dir(cfg: BaseTrainConfig) -> str:
    return os.path.join(cfg.output_dir, MODEL_DIR)


def argument_kwargs(cfg: BaseTrainConfig) -> dict[str, Any]:
    """TrainingArguments keywords (shared by transformers' Trainer, TRL's SFTConfig and CPOConfig)."""
    import torch

    on_gpu = torch.cuda.is_available()
    extra = {"gradient_checkpointing": True} if cfg.gradient_checkpointing else {}
    return dict(
        **extra,
        output_dir=trainer_dir(cfg),
        per_device_train_batch_size=cfg.per_device_batch_size,
        gradient_accumulation_steps=cfg.grad_accum(),
        learning_rate=cfg.learning_rate,
        num_train_epochs=cfg.epochs,
        max_steps=cfg.max_steps,
        optim="adamw_torch",  # torch AdamW: no compiled DeepSpeed op on the default path
        adam_beta1=cfg.adam_beta1,
        adam_beta2=cfg.adam_beta2,
        weight_decay=cfg.weight_decay,
        max_grad_norm=cfg.max_grad_norm,
        warmup_steps=cfg.warmup_ratio,
        lr_scheduler_type=cfg.lr_scheduler_type,
        save_strategy="steps",
        save_steps=cfg.save_steps,
        save_total_limit=cfg.save_total_limit,
        logging_steps=cfg.logging_steps,
        seed=cfg.seed,
        data_seed=cfg.seed,
        bf16=cfg.bf16,
        deepspeed=cfg.deepspeed_config or None,
        use_cpu=not on_gpu,
        report_to="none",
        disable_tqdm=True,
        include_num_input_tokens_seen="non_padding",
        dataloader_pin_memory=on_gpu,
    )


def load_model(cfg: BaseTrainConfig):
    """The causal LM to train (call after building the TrainingArguments: ZeRO-3 partitions at load time)."""
    import torch
    from transformers import AutoModelForCausalLM

    dtype = torch.bfloat16 if cfg.bf16 else torch.float32
    return AutoModelForCausalLM.from_pretrained(cfg.model_path, dtype=dtype)


def last_checkpoint(cfg: BaseTrainConfig) -> str | None:
    from transformers.trainer_utils import get_last_checkpoint

    d = trainer_dir(cfg)
    return get_last_checkpoint(d) if os.path.isdir(d) else None


def is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def emit(event: str, /, **payload: Any) -> None:
    """One machine-readable line for the launcher (rank 0 only)."""
    if is_main_process():
        print(METRIC_PREFIX + json.dumps({**payload, "event": event}, default=float), flush=True)


def make_callbacks(cfg: BaseTrainConfig) -> list:
    from transformers import TrainerCallback

    class MetricStream(TrainerCallback):
        """Streams every Trainer log as a metric line and keeps the loss curve; the crash aid for tests."""

        def __init__(self):
            self.losses: list[tuple[int, float]] = []

        def on_log(self, args, state, control, logs=None, **kw):
            logs = dict(logs or {})
            if "loss" in logs:
                self.losses.append((state.global_step, float(logs["loss"])))
            emit("log", step=state.global_step, **{k: v for k, v in logs.items() if isinstance(v, (int, float))})

        def on_save(self, args, state, control, **kw):
            emit("checkpoint", step=state.global_step)

        def on_step_end(self, args, state, control, **kw):
            if cfg.fail_at_step > 0 and state.global_step >= cfg.fail_at_step:
                raise RuntimeError(f"simulated crash after step {state.global_step} (fail_at_step)")
            # The Trainer also writes a step checkpoint (optimizer state: ~3x the model) after the last step;
            # the final model is saved right after, so only the regular every-save_steps ones are kept.
            if state.global_step >= state.max_steps and state.save_steps and state.global_step % state.save_steps:
                control.should_save = False
            return control

    return [MetricStream()]


def weights_sha256(folder: str) -> str:
    """sha256 over the weight files (``*.safetensors``, ``*.bin``) of an HF folder, in name order."""
    h = hashlib.sha256()
    files = sorted(p for p in Path(folder).iterdir() if p.suffix in (".safetensors", ".bin"))
    if not files:
        raise FileNotFoundError(f"no weight files in {folder}")
    for p in files:
        h.update(p.name.encode())
        with open(p, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def runtime_info(trainer) -> dict[str, Any]:
    """How the run was executed: device, distributed backend, DeepSpeed ZeRO stage, parameter partitioning."""
    import torch
    import torch.distributed as dist

    plugin = getattr(trainer.accelerator.state, "deepspeed_plugin", None)
    model = trainer.model_wrapped if trainer.model_wrapped is not None else trainer.model
    return {
        "device": str(trainer.args.device),
        "world_size": dist.get_world_size() if dist.is_initialized() else 1,
        "backend": dist.get_backend() if dist.is_initialized() else None,
        "deepspeed_zero_stage": plugin.zero_stage if plugin is not None else None,
        "zero3_partitioned_params": sum(1 for p in model.parameters() if hasattr(p, "ds_id")),
        "torch_threads": torch.get_num_threads(),
    }


class NonFiniteTraining(RuntimeError):
    """Training produced NaN/inf weights or losses: the model must not be saved as a checkpoint."""


def require_finite(trainer) -> None:
    """Refuse to save a model whose weights (or logged losses) are NaN/inf. A NaN loss or gradient
    (e.g. an empty completion after truncation) silently turns every weight NaN; saving it would hand a
    broken model to every downstream stage, so the training process fails instead."""
    import math

    import torch

    bad_logs = [
        h
        for h in trainer.state.log_history
        if any(k in h and isinstance(h[k], float) and not math.isfinite(h[k]) for k in ("loss", "grad_norm"))
    ]
    bad_params = [n for n, p in trainer.model.named_parameters() if not torch.isfinite(p.detach()).all()]
    if bad_params:
        steps = sorted({h.get("step") for h in bad_logs})
        raise NonFiniteTraining(
            f"training produced non-finite weights in {len(bad_params)} tensors (e.g. {bad_params[0]}); "
            f"non-finite loss/grad_norm logged at steps {steps or 'none'}: not saving this model"
        )


def train_and_save(
    cfg: BaseTrainConfig, trainer, tokenizer, *, extra: dict[str, Any] | None = None, t0: float | None = None
) -> dict[str, Any]:
    """Train (resuming from the last step checkpoint if any), save the HF model, write ``result.json``."""
    t0 = time.perf_counter() if t0 is None else t0
    resume = last_checkpoint(cfg)
    if resume:
        emit("resume", checkpoint=resume)
    out = trainer.train(resume_from_checkpoint=resume)
    require_finite(trainer)
    runtime = runtime_info(trainer)
    emit("runtime", **runtime)
    mdir = model_dir(cfg)
    trainer.save_model(mdir)  # gathers ZeRO-3 shards (stage3_gather_16bit_weights_on_model_save)
    stream = next(c for c in trainer.callback_handler.callbacks if hasattr(c, "losses"))
    result: dict[str, Any] = {}
    if trainer.is_world_process_zero():
        tokenizer.save_pretrained(mdir)
        state = trainer.state
        losses = [(s, v) for s, v in stream.losses]
        # a resumed run only logged its own steps: keep the earlier ones from the checkpoint's state
        earlier = [(h["step"], float(h["loss"])) for h in state.log_history if "loss" in h]
        curve = sorted({s: v for s, v in earlier + losses}.items())
        result = {
            "kind": cfg.kind,
            "steps": int(state.global_step),
            "tokens_seen": int(state.num_input_tokens_seen or (extra or {}).get("tokens_seen", 0)),
            "final_loss": float(curve[-1][1]) if curve else float(out.training_loss),
            "train_loss": float(out.training_loss),
            "loss_curve": curve,
            "wall_s": round(time.perf_counter() - t0, 3),
            "train_runtime_s": float(out.metrics.get("train_runtime", 0.0)),
            "resumed_from": resume,
            "runtime": runtime,
            "model_path": mdir,
            "weights_sha256": weights_sha256(mdir),
            "hyperparameters": hyperparameters(cfg) | {"grad_accum": cfg.grad_accum(), "world_size": cfg.world_size()},
            **(extra or {}),
        }
        with open(os.path.join(cfg.output_dir, RESULT_FILE), "w") as fh:
            json.dump(result, fh, indent=1)
        emit("result", **{k: v for k, v in result.items() if k != "loss_curve"})
    return result
