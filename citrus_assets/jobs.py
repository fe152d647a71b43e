"""Jobs, and the main job's plan (which job runs for which partitions, in order)."""

from __future__ import annotations

import dagster as dg

from citrus_assets.reasoning_data import seed_sets

REASONING_DATA_JOB = "reasoning_data_job"

reasoning_data_job = dg.define_asset_job(
    REASONING_DATA_JOB,
    selection=dg.AssetSelection.groups("reasoning_data"),
    description="Seeds → closed-form answers for one seed set (with the assets' checks).",
)

jobs = [reasoning_data_job]

# The main job: (job name, dynamic partitions definition name or None) in dependency order.
MAIN_PLAN: list[tuple[str, str | None]] = [(REASONING_DATA_JOB, seed_sets.name)]
