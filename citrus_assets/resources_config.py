"""The resources of the code location, configured from environment settings.

Every value can also be changed per run in the Dagster UI launchpad. Secrets are
never values here: the OpenAI-compatible backend reads its key from the
environment variable named by ``api_key_env`` at call time.
"""

from __future__ import annotations

import os

from citrus_assets.evaluation.models import EvalModelsResource
from citrus_assets.model_training.checkpoints.training_config import TrainingResource
from citrus_assets.reasoning_data.seeds.judges import JudgePanelResource
from resources.inbox import InboxResource
from resources.lake import LakeResource
from resources.lake_io import LakeIOManager
from resources.llm import BUILTIN_MODEL, LLMResource
from resources.llm.cost_guard import cost_guard_from_env


def build_resources(lake_root: str = "") -> dict:
    """``lake_root``: the lake of the IO manager and the ``lake`` resource; empty (the default) resolves
    ``$CITRUS_LAKE``, else ``lake``, when a step runs (``resources.lineage.settings.default_paths``), never
    when the definitions are imported, so the order of setting the variable and importing does not matter."""
    return {
        "io_manager": LakeIOManager(root=lake_root),
        "lake": LakeResource(root=lake_root),
        # empty folders fall back to $CITRUS_{SEED,PDF,WEB}_INBOX, then the bundled sample (resources/inbox.py)
        "inbox": InboxResource(),
        "llm": LLMResource(
            backend=os.environ.get("CITRUS_LLM_BACKEND", "transformers"),
            model=os.environ.get("CITRUS_LLM_MODEL", BUILTIN_MODEL),
            base_url=os.environ.get("CITRUS_LLM_BASE_URL", ""),
            # cost guard of automatic runs: $CITRUS_LLM_AUTO_RUNS (0 = off), $CITRUS_LLM_MAX_REQUESTS_PER_AUTO_RUN
            **cost_guard_from_env(),
        ),
        # judges of the easy/hard labels: empty = the ``llm`` resource alone (set a panel in the launchpad)
        "judges": JudgePanelResource(),
        # base model, launcher (python / accelerate / deepspeed) and checkpoint folder of the training stage
        "training": TrainingResource(),
        # the served/registered models of the eval_models partitions (built-in by default), how evaluation loads
        # models, and its cost guard ($CITRUS_LLM_AUTO_RUNS, $CITRUS_LLM_MAX_REQUESTS_PER_AUTO_RUN)
        "eval_models": EvalModelsResource(**cost_guard_from_env()),
    }
