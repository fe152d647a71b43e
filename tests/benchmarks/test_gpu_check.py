"""benchmarks/gpu_check.sh --dry-run: the GPU check's own code end to end on CPU (tiny model), and its table."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_gpu_check_dry_run_writes_the_table(tmp_path):
    out = tmp_path / "out"
    env = {**os.environ, "PYTHON": sys.executable, "GPU_CHECK_WHEELS": str(tmp_path / "no-wheels")}
    proc = subprocess.run(
        [str(REPO / "benchmarks" / "gpu_check.sh"), "--dry-run", str(out)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads((out / "gpu_check.json").read_text())
    assert result["dry_run"] is True and result["environment"]["device"] == "cpu"
    gen = result["generation"]
    assert [r["batch"] for r in gen] == [1, 2, 4]
    for r in gen:  # the resource path and raw generate produced the same greedy text and counted tokens
        assert r["same_text"] and r["raw_tokens"] > 0 and r["resource_tokens"] == r["raw_tokens"], r
        assert r["raw_tok_s"] > 0 and r["resource_tok_s"] > 0
    assert [r["trainer"] for r in result["training"]] == ["TRL SFT", "TRL CPO-SimPO"]
    for r in result["training"]:
        assert r["timed_steps"] == 1 and r["tokens"] > 0 and r["tok_s"] > 0 and r["mfu"] is None, r
    md = (out / "gpu_check.md").read_text()
    assert md.startswith("# GPU check: DRY RUN on CPU")
    assert "| 4 | 4 | 4 |" in md and "| TRL CPO-SimPO | 1 |" in md


def test_gpu_check_refuses_to_invent_gpu_figures_without_a_gpu(tmp_path):
    import torch

    if torch.cuda.is_available():
        return  # on a GPU machine the real check runs instead
    env = {**os.environ, "PYTHON": sys.executable, "GPU_CHECK_WHEELS": str(tmp_path / "no-wheels")}
    proc = subprocess.run(
        [str(REPO / "benchmarks" / "gpu_check.sh"), str(tmp_path / "out")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode != 0 and "no CUDA device" in proc.stderr
    assert not (tmp_path / "out" / "gpu_check.md").exists()


def test_peak_table_matches_device_names():
    from benchmarks.gpu_check import mfu, peak_tflops

    assert peak_tflops("NVIDIA H100 80GB HBM3") == 989.4 and peak_tflops("NVIDIA H100 PCIe") == 756.0
    assert peak_tflops("NVIDIA H200") == 989.4 and peak_tflops("NVIDIA H100 NVL") == 835.0
    assert peak_tflops("Some Future GPU") is None and mfu(1e5, 10**8, 30, 576, 1024, None) is None
    # 100k tok/s on a 135M model at 1024 tokens, H100 SXM: (6*135e6 + 12*30*576*1024) * 1e5 / 989.4e12
    assert abs(mfu(1e5, 135_000_000, 30, 576, 1024, 989.4) - 0.1033) < 1e-3
