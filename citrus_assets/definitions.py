"""The Citrus lake code location: every paper stage composed into one Definitions.

One folder per stage, so the asset graph reads like the paper's Figure 3:
cpt_corpus (continued pre-training data) and reasoning_data (SFT stage-3 data).
"""

import dagster as dg

from citrus_assets.cpt_corpus import defs as cpt_corpus
from citrus_assets.jobs import jobs
from citrus_assets.reasoning_data import defs as reasoning_data
from citrus_assets.resources_config import build_resources

STAGES = [cpt_corpus, reasoning_data]

defs = dg.Definitions(
    assets=[a for s in STAGES for a in s.assets],
    asset_checks=[c for s in STAGES for c in s.checks],
    sensors=[x for s in STAGES for x in s.sensors],
    jobs=jobs,
    resources=build_resources(),
    executor=dg.multiprocess_executor.configured({"max_concurrent": 2}),
)
