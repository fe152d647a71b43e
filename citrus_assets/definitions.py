"""The Citrus lake code location: every paper stage composed into one Definitions.

One folder per stage, so the asset graph reads like the paper's Figure 3:
cpt_corpus (continued pre-training data), reasoning_data (SFT stage-3 data and the SFT mixes),
training (checkpoints and RL preference data), evaluation (the paper's benchmarks) and jmed (the
JMED-style benchmark builder).
"""

import dagster as dg

from citrus_assets.common.decontamination import checks as decontamination_checks
from citrus_assets.common.scheduling import staleness
from citrus_assets.common.stage_metadata import apply_stage_metadata
from citrus_assets.common.stages import find_stages
from citrus_assets.executors import citrus_executor
from citrus_assets.jobs import jobs
from citrus_assets.resources_config import build_resources
from quality.checks import rows_checks

# every stage package of citrus_assets, its assets, checks and sensors found in its modules (common/stages.py)
STAGES = find_stages()


def build_definitions(resources: dict | None = None) -> dg.Definitions:
    """The code location; ``resources`` replaces the environment-configured ones (tests, embedding)."""
    # the paper's stage, owner, engine and words on every asset (common/stage_metadata.py)
    assets = list(apply_stage_metadata(a for s in STAGES for a in s.assets))  # quality/empty.py
    return dg.Definitions(
        assets=assets,
        asset_checks=[
            *(c for s in STAGES for c in s.checks),
            *decontamination_checks.checks,
            *staleness.checks,
            # the non-blocking has_rows check of every asset whose empty partition must not look green
            *rows_checks(assets),
        ],
        sensors=[*(x for s in STAGES for x in s.sensors), staleness.stale_data_sensor],
        jobs=jobs,
        resources=resources if resources is not None else build_resources(),
        # picks multiprocess / in_process / celery / k8s when a run starts ($CITRUS_EXECUTOR, run config)
        executor=citrus_executor,
    )


defs = build_definitions()
