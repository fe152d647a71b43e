"""The Citrus lake code location: every paper stage composed into one Definitions.

Stages (one folder each, so the asset graph reads like the paper's Figure 3):
reasoning_data (question seeds → closed-form answers → …). Later stages join here.
"""

from __future__ import annotations

import dagster as dg

from citrus_assets import reasoning_data
from citrus_assets.jobs import jobs
from citrus_assets.resources_config import build_resources

defs = dg.Definitions(
    assets=[*reasoning_data.assets],
    asset_checks=[*reasoning_data.checks],
    sensors=[*reasoning_data.sensors],
    jobs=jobs,
    resources=build_resources(),
    executor=dg.multiprocess_executor.configured({"max_concurrent": 2}),
)
