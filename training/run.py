"""Training process entry point: ``python -m training.run <config.json | json text>``.

Runs the trainer named by the config's ``kind`` (``cpt`` | ``sft`` | ``cpo``) and exits 0 after writing
``<output_dir>/result.json``; any error exits non-zero with its traceback on stderr (the launcher shows
its tail). Launchers (``accelerate launch``, ``deepspeed``) start one such process per rank.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

from .config import from_json


def no_compiled_cpu_comm() -> None:
    """On CPU, DeepSpeed's comm backend builds a C++ shared-memory all-reduce op on first use (minutes of
    compiling on a laptop); gloo does the same job, so that op is skipped when there is no GPU."""
    import torch

    if torch.cuda.is_available():
        return
    # by module path: ``deepspeed.comm.torch`` as an attribute is the torch package re-exported by deepspeed.comm
    comm_torch: Any = importlib.import_module("deepspeed.comm.torch")
    comm_torch.build_shm_op = lambda: None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m training.run <config.json | json>", file=sys.stderr)
        return 2
    arg = argv[0]
    text = open(arg).read() if os.path.exists(arg) else arg
    cfg = from_json(text)
    if not os.path.exists(cfg.data_path):  # fail before the heavy imports
        raise FileNotFoundError(f"training data not found: {cfg.data_path}")
    os.makedirs(cfg.output_dir, exist_ok=True)
    if cfg.deepspeed_config:
        no_compiled_cpu_comm()
    # config.KINDS names the trainers: training/cpt.py, sft.py, cpo.py, each with run(cfg)
    trainer = importlib.import_module(f"{__package__}.{cfg.kind}")
    trainer.run(cfg)
    return 0


if __name__ == "__main__":
    sys.exit(main())
