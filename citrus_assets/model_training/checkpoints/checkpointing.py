"""The plain logic behind the checkpoint assets: run folders, reuse, launching, the checkpoint row.

A training run lives in ``<checkpoint root>/<stage>/<run key>/`` where the run key hashes everything that
shapes the result: the input data versions, the starting model (path + weights hash) and the
hyper-parameters. So

* unchanged inputs and settings find the finished run (``result.json`` + ``model/``) and reuse it: no
  retraining;
* a crashed run leaves its step checkpoints in ``trainer/``; the next materialization with the same inputs
  lands in the same folder and resumes from the last saved step;
* after success the step checkpoints (optimizer state, several times the model's size) are removed unless
  ``keep_step_checkpoints``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from citrus_assets.model_training.schemas import CHECKPOINT_SCHEMA
from resources.lineage.ids import canonical_json, record_id
from training.common import MODEL_DIR, RESULT_FILE, TRAINER_DIR, weights_sha256
from training.config import BaseTrainConfig, hyperparameters
from training.launch import LaunchSpec, launch


def run_key(
    stage: str, data_versions: dict[str, str], base_model: str, base_weights: str, hparams: dict[str, Any]
) -> str:
    blob = canonical_json(
        {"stage": stage, "data": data_versions, "base": base_model, "weights": base_weights, "hp": hparams}
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def model_identity(path: str) -> str:
    """A content id of a local HF folder (weights hash), else the path/id itself (hub ids, remote)."""
    p = Path(path)
    if p.is_dir():
        marker = p / "citrus_builtin.json"  # the built-in model: its revision is already a content hash
        if marker.exists():
            return json.loads(marker.read_text()).get("revision", "")
        try:
            return weights_sha256(str(p))
        except FileNotFoundError:
            return ""
    return path


def finished_result(run_dir: str) -> dict[str, Any] | None:
    """``result.json`` of a completed run whose model folder is still there, else None."""
    res = os.path.join(run_dir, RESULT_FILE)
    if not os.path.exists(res):
        return None
    with open(res) as fh:
        result = json.load(fh)
    mdir = result.get("model_path") or os.path.join(run_dir, MODEL_DIR)
    return result if os.path.isdir(mdir) else None


def write_training_table(table: pa.Table, run_dir: str, columns: list[str]) -> str:
    """The rows the trainer reads, as Parquet in the run folder (the run is self-contained)."""
    os.makedirs(run_dir, exist_ok=True)
    path = os.path.join(run_dir, "train.parquet")
    missing = [c for c in columns if c not in table.column_names]
    if missing:
        raise ValueError(f"training input lacks columns {missing}")
    pq.write_table(table.select(columns), path)
    return path


@dataclasses.dataclass
class TrainOutcome:
    result: dict[str, Any]
    run_dir: str
    reused: bool


def train_stage(
    cfg: BaseTrainConfig,
    *,
    stage: str,
    data_table: pa.Table,
    data_columns: list[str],
    data_versions: dict[str, str],
    root: str,
    spec: LaunchSpec,
    reuse: bool = True,
    keep_step_checkpoints: bool = False,
    on_line: Callable[[str], None] | None = None,
    on_metric: Callable[[dict], None] | None = None,
) -> TrainOutcome:
    """Train ``cfg`` on ``data_table`` in its run folder (or reuse the finished run with the same key)."""
    key = run_key(stage, data_versions, cfg.model_path, model_identity(cfg.model_path), hyperparameters(cfg))
    run_dir = os.path.abspath(os.path.join(root, stage, key))
    if reuse and (done := finished_result(run_dir)) is not None:
        return TrainOutcome(done, run_dir, True)
    data_path = write_training_table(data_table, run_dir, data_columns)
    cfg = dataclasses.replace(cfg, data_path=data_path, output_dir=run_dir)
    result = launch(cfg, spec, on_line=on_line, on_metric=on_metric)
    if not keep_step_checkpoints:
        shutil.rmtree(os.path.join(run_dir, TRAINER_DIR), ignore_errors=True)
    return TrainOutcome(result, run_dir, False)


def checkpoint_table(
    stage: str, result: dict[str, Any], *, base_model: str, parent_ids: list[str], data_versions: dict[str, str]
) -> pa.Table:
    """The checkpoint asset's one row (``CHECKPOINT_SCHEMA``)."""
    sha = result["weights_sha256"]
    row = {
        "record_id": record_id("ckpt", stage, sha),
        "parent_ids": parent_ids,
        "stage": stage,
        "model_path": result["model_path"],
        "base_model": base_model,
        "weights_sha256": sha,
        "steps": int(result["steps"]),
        "tokens_seen": int(result["tokens_seen"]),
        "wall_s": float(result["wall_s"]),
        "final_loss": float(result["final_loss"]),
        "hyperparameters": canonical_json(result["hyperparameters"]),
        "data_versions": canonical_json(data_versions),
    }
    return pa.Table.from_pylist([row], schema=CHECKPOINT_SCHEMA)


def line_chart_md(series: dict[str, list[tuple[float, float]]], title: str, xlabel: str, ylabel: str):
    """Line chart(s) as a Markdown image (for the loss curve in materialization metadata)."""
    import base64
    import io

    import dagster as dg
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.2), dpi=90)
    for name, pts in series.items():
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", markersize=3, label=name)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if any(series.values()):
        ax.legend()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return dg.MetadataValue.md(f"![{title}](data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()})")


def png_md(path: str, title: str):
    import base64

    import dagster as dg

    with open(path, "rb") as fh:
        return dg.MetadataValue.md(f"![{title}](data:image/png;base64,{base64.b64encode(fh.read()).decode()})")
