"""Which model sampled the RL data, and whether that is still the current stage-3 checkpoint.

``rejection_samples`` writes :data:`SAMPLER_CHECKPOINT` on every row (``preference_pairs`` copies it):
the ``record_id`` of the ``sft_stage3_checkpoint`` row it sampled from — that id hashes the weights, so a
retrained stage 3 has a new one — or ``config:<model>`` / ``resource:<model>`` when
``RejectionConfig.model`` chose another model on purpose.

RL must never train on pairs sampled from a *previous* stage-3 model: :func:`sampler_report` is what the
blocking check ``preference_pairs_current_sampler`` and ``rl_checkpoint`` itself evaluate.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import pyarrow as pa

from citrus_assets.model_training.schemas import SAMPLER_CHECKPOINT

CONFIGURED_PREFIXES = ("config:", "resource:")


def current_checkpoint_id(checkpoint: pa.Table | None) -> str:
    """The record id of the (one-row) stage-3 checkpoint table; "" when there is none."""
    if checkpoint is None or checkpoint.num_rows == 0 or "record_id" not in checkpoint.column_names:
        return ""
    return checkpoint["record_id"][-1].as_py() or ""


def sampler_id(model_source: str, checkpoint: pa.Table | None, model_id: str) -> str:
    """What a sampling run records: the checkpoint's id, or ``<source>:<model>`` for a configured model."""
    if model_source == "checkpoint":
        return current_checkpoint_id(checkpoint)
    return f"{model_source}:{model_id}"


def with_sampler(table: pa.Table, sampler: str) -> pa.Table:
    """``table`` with every row's :data:`SAMPLER_CHECKPOINT` set to ``sampler``."""
    col = pa.array([sampler] * table.num_rows, pa.string())
    if SAMPLER_CHECKPOINT in table.column_names:
        return table.set_column(table.column_names.index(SAMPLER_CHECKPOINT), SAMPLER_CHECKPOINT, col)
    return table.append_column(SAMPLER_CHECKPOINT, col)


@dataclass
class SamplerReport:
    """How the rows of an RL-data table relate to the current stage-3 checkpoint."""

    current: str
    rows: int = 0
    samplers: dict[str, int] = field(default_factory=dict)  # sampler id ("<unknown>" for null) -> rows
    stale_rows: int = 0  # sampled by another stage-3 checkpoint, or by an unknown model
    configured_rows: int = 0  # sampled by a model configured on purpose (RejectionConfig.model)

    @property
    def ok(self) -> bool:
        return bool(self.current) and self.stale_rows == 0

    def reason(self) -> str:
        if not self.current:
            return "no stage-3 checkpoint: nothing to compare the sampling model with"
        if not self.stale_rows:
            return f"all {self.rows} rows sampled by the current stage-3 checkpoint {self.current}" + (
                f" ({self.configured_rows} by a configured model)" if self.configured_rows else ""
            )
        others = sorted(k for k in self.samplers if k != self.current and not k.startswith(CONFIGURED_PREFIXES))
        return (
            f"{self.stale_rows} of {self.rows} rows were sampled by {', '.join(others)}, not the current "
            f"stage-3 checkpoint {self.current}: re-run rejection_samples and preference_pairs first"
        )

    def as_metadata(self) -> dict:
        return {
            "current_stage3_checkpoint": self.current,
            "rows": self.rows,
            "samplers": self.samplers,
            "stale_rows": self.stale_rows,
            "configured_rows": self.configured_rows,
        }


def sampler_report(table: pa.Table, checkpoint: pa.Table | None) -> SamplerReport:
    """Compare every row's sampler with the current stage-3 checkpoint (a missing column or null = unknown,
    i.e. stale: data written before samplers were recorded must be re-sampled)."""
    current = current_checkpoint_id(checkpoint)
    values = (
        table[SAMPLER_CHECKPOINT].to_pylist() if SAMPLER_CHECKPOINT in table.column_names else [None] * table.num_rows
    )
    counts = Counter("<unknown>" if v is None or v == "" else v for v in values)
    configured = sum(n for k, n in counts.items() if k.startswith(CONFIGURED_PREFIXES))
    stale = sum(n for k, n in counts.items() if k != current and not k.startswith(CONFIGURED_PREFIXES))
    return SamplerReport(
        current=current,
        rows=table.num_rows,
        samplers=dict(sorted(counts.items())),
        stale_rows=stale,
        configured_rows=configured,
    )
