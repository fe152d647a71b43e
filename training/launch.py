"""Start training out of process and stream it back: command line, DeepSpeed config, line streaming.

``launch(cfg, launcher=...)`` writes ``<output_dir>/config.json`` and starts

* ``python -m training.run config.json`` (``launcher="python"``, the CPU/laptop default, no DeepSpeed unless
  asked for),
* ``accelerate launch --num_processes N [--num_machines M --machine_rank R --main_process_ip ...]
  -m training.run config.json`` (``launcher="accelerate"``: one or many GPUs, one or many machines; DeepSpeed is switched on by the
  Trainer from ``deepspeed_config``, not by accelerate flags), or, with ``accelerate_config``, ``accelerate
  launch --config_file F [--machine_rank R]``: the file (``accelerate config`` output, see ``deploy/``) gives
  the topology and precision, and one file serves every node,
* ``deepspeed --hostfile H --num_gpus N --module training.run config.json`` (``launcher="deepspeed"``: a
  hostfile lists the nodes for multi-node runs).

With ``deepspeed=True`` a ZeRO-3 config is generated (:func:`zero3_config`: bf16 on GPU, fp32 on CPU, torch
AdamW from the Trainer, no compiled DeepSpeed ops) and passed to the Trainer through ``deepspeed_config``; on
CPU the processes talk over gloo. Every output line goes to ``on_line`` as it comes; ``CITRUS_METRIC`` lines
are parsed into ``on_metric``. A non-zero exit raises :class:`TrainingFailed` carrying the output's tail.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .common import METRIC_PREFIX, RESULT_FILE
from .config import BaseTrainConfig, to_json

LAUNCHERS = ("python", "accelerate", "deepspeed")
TAIL_LINES = 40


class TrainingFailed(RuntimeError):
    """The training process exited non-zero; ``tail`` holds its last output lines."""

    def __init__(self, returncode: int, tail: list[str], command: list[str]):
        self.returncode, self.tail, self.command = returncode, tail, command
        super().__init__(f"training exited with status {returncode}:\n" + "\n".join(tail))


@dataclasses.dataclass
class LaunchSpec:
    """Where and how to run: the deployment side of training (the TrainingResource fills it)."""

    launcher: str = "python"
    num_processes: int = 1  # processes (GPUs) per machine
    num_machines: int = 1
    machine_rank: int = 0
    main_process_ip: str = ""
    main_process_port: int = 29500
    hostfile: str = ""  # deepspeed launcher: one "host slots=N" line per node
    accelerate_config: str = ""  # accelerate launcher: an ``accelerate config`` YAML instead of the flags
    deepspeed: bool = False
    zero_stage: int = 3
    offload: bool = False  # ZeRO-Offload of optimizer/params to CPU (needs DeepSpeed's compiled CPU Adam)
    python: str = sys.executable


def zero3_config(*, bf16: bool, stage: int = 3, offload: bool = False) -> dict[str, Any]:
    """A DeepSpeed ZeRO config the HF Trainer fills in ("auto" values come from TrainingArguments)."""
    zero: dict[str, Any] = {
        "stage": stage,
        "overlap_comm": False,
        "contiguous_gradients": True,
        "reduce_bucket_size": "auto",
        "stage3_prefetch_bucket_size": "auto",
        "stage3_param_persistence_threshold": "auto",
        "stage3_gather_16bit_weights_on_model_save": True,  # save_model writes a whole HF model
    }
    if offload:
        zero["offload_optimizer"] = {"device": "cpu", "pin_memory": True}
        zero["offload_param"] = {"device": "cpu", "pin_memory": True}
    return {
        "bf16": {"enabled": "auto" if bf16 else False},
        "zero_optimization": zero,
        # the Trainer's torch AdamW is used as is: no DeepSpeedCPUAdam (a C++ op compiled on first use)
        "zero_force_ds_cpu_optimizer": False,
        "gradient_accumulation_steps": "auto",
        "gradient_clipping": "auto",
        "train_batch_size": "auto",
        "train_micro_batch_size_per_gpu": "auto",
        "steps_per_print": 10**9,
        "wall_clock_breakdown": False,
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def command(cfg: BaseTrainConfig, spec: LaunchSpec, config_path: str) -> list[str]:
    if spec.launcher == "python":
        if spec.num_processes * spec.num_machines != 1:
            raise ValueError("the python launcher runs one process; use accelerate or deepspeed for more")
        return [spec.python, "-m", "training.run", config_path]
    if spec.launcher == "accelerate" and spec.accelerate_config:
        if not Path(spec.accelerate_config).is_file():
            raise ValueError(f"accelerate config file {spec.accelerate_config!r} not found")
        cmd = [spec.python, "-m", "accelerate.commands.launch", "--config_file", spec.accelerate_config]
        if spec.num_machines > 1 or spec.machine_rank:  # this node's rank overrides the shared file's
            cmd += ["--machine_rank", str(spec.machine_rank)]
        return cmd + ["-m", "training.run", config_path]
    if spec.launcher == "accelerate":
        cmd = [
            spec.python,
            "-m",
            "accelerate.commands.launch",
            "--num_processes",
            str(spec.num_processes * spec.num_machines),
            "--num_machines",
            str(spec.num_machines),
            "--mixed_precision",
            "bf16" if cfg.bf16 else "no",
            "--dynamo_backend",
            "no",
        ]
        if spec.num_machines > 1:
            cmd += [
                "--machine_rank",
                str(spec.machine_rank),
                "--main_process_ip",
                spec.main_process_ip,
                "--main_process_port",
                str(spec.main_process_port),
            ]
        elif spec.num_processes > 1:
            cmd += ["--multi_gpu", "--main_process_port", str(free_port())]
        return cmd + ["-m", "training.run", config_path]
    if spec.launcher == "deepspeed":
        cmd = [
            spec.python,
            "-m",
            "deepspeed.launcher.runner",
            "--master_port",
            str(spec.main_process_port if spec.num_machines > 1 else free_port()),
        ]
        if spec.hostfile:
            cmd += ["--hostfile", spec.hostfile]
        else:
            cmd += ["--num_gpus", str(spec.num_processes)]
        return cmd + ["--module", "training.run", config_path]
    raise ValueError(f"unknown launcher {spec.launcher!r}; one of {LAUNCHERS}")


def child_env(spec: LaunchSpec) -> dict[str, str]:
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parent.parent)  # so ``-m training.run`` resolves in any cwd
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    env.setdefault("PYTHONUNBUFFERED", "1")
    env.setdefault("PYTHONWARNINGS", "ignore::FutureWarning,ignore::DeprecationWarning")
    if spec.deepspeed:
        env.setdefault("DS_ACCELERATOR", "cuda" if _has_gpu() else "cpu")
    if spec.launcher == "python" and spec.deepspeed:  # a one-process "distributed" run (gloo on CPU)
        env.update(RANK="0", LOCAL_RANK="0", WORLD_SIZE="1", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(free_port()))
    return env


def _has_gpu() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except ImportError:
        return False


def prepare(cfg: BaseTrainConfig, spec: LaunchSpec) -> tuple[BaseTrainConfig, str]:
    """Write the DeepSpeed config (if any) and the run config into the run folder."""
    local_model = os.path.exists(cfg.model_path)
    cfg = dataclasses.replace(
        cfg,
        output_dir=os.path.abspath(cfg.output_dir),
        data_path=os.path.abspath(cfg.data_path),
        model_path=os.path.abspath(cfg.model_path) if local_model else cfg.model_path,
    )
    os.makedirs(cfg.output_dir, exist_ok=True)
    if spec.deepspeed and not cfg.deepspeed_config:
        ds_path = os.path.join(cfg.output_dir, "deepspeed.json")
        with open(ds_path, "w") as fh:
            json.dump(zero3_config(bf16=cfg.bf16, stage=spec.zero_stage, offload=spec.offload), fh, indent=1)
        cfg = dataclasses.replace(cfg, deepspeed_config=ds_path)
    config_path = os.path.join(cfg.output_dir, "config.json")
    with open(config_path, "w") as fh:
        fh.write(to_json(cfg))
    return cfg, config_path


def launch(
    cfg: BaseTrainConfig,
    spec: LaunchSpec | None = None,
    *,
    on_line: Callable[[str], None] | None = None,
    on_metric: Callable[[dict], None] | None = None,
) -> dict[str, Any]:
    """Run training in a child process (or launcher); stream its output; return ``result.json``."""
    spec = spec or LaunchSpec()
    cfg, config_path = prepare(cfg, spec)
    cmd = command(cfg, spec, config_path)
    if on_line:
        on_line("launch: " + " ".join(cmd))
    tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
    log_path = os.path.join(cfg.output_dir, "train.log")
    with (
        open(log_path, "a") as log,
        subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
            env=child_env(spec),
            cwd=cfg.output_dir,
        ) as proc,
    ):
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = raw.rstrip("\n")
            log.write(raw)
            tail.append(line)
            if METRIC_PREFIX in line and on_metric:
                try:
                    on_metric(json.loads(line.split(METRIC_PREFIX, 1)[1]))
                    continue
                except ValueError:
                    pass
            if on_line and line.strip():
                on_line(line)
        rc = proc.wait()
    if rc != 0:
        raise TrainingFailed(rc, list(tail), cmd)
    with open(os.path.join(cfg.output_dir, RESULT_FILE)) as fh:
        return json.load(fh)
