"""The resources of the code location. Nothing here reads the environment: the environment settings are
read when a run starts (the lake root: ``resources.lineage.settings.default_paths``; the LLM settings and
the cost guard: ``env_defaults``, ``resources/llm/settings.py`` ``SETTINGS_ENV`` and
``resources/llm/cost_guard.py`` ``GUARD_ENV``), so the order of setting a variable and importing does not matter.

Every value can also be changed per run in the Dagster UI launchpad. Secrets are never values here: the
OpenAI-compatible backend reads its key from the declared environment variable named by ``api_key_env``
at call time (``resources/llm/secrets.py``), or a deployment binds it with ``dg.EnvVar``:
``build_resources(api_key=dg.EnvVar("CITRUS_OPENAI_API_KEY"))`` (``deploy/definitions_openai.py``). The default
code location does not: an unset ``dg.EnvVar`` fails every run, and the built-in backend needs no key; choosing by
``$CITRUS_LLM_BACKEND`` would read the environment at import.
"""

from __future__ import annotations

from citrus_assets.evaluation.models import EvalModelsResource
from citrus_assets.model_training.checkpoints.training_config import TrainingResource
from citrus_assets.reasoning_data.seeds.judges import JudgePanelResource
from resources.inbox import InboxResource
from resources.lake import LakeResource
from resources.lake_io import LakeIOManager
from resources.llm import LLMResource


def build_resources(lake_root: str = "", api_key: str | None = None) -> dict:
    """``lake_root``: the lake of the IO manager and the ``lake`` resource; empty (the default) resolves
    ``$CITRUS_LAKE``, else ``lake``, when a step runs (``resources.lineage.settings.default_paths``), never
    when the definitions are imported, so the order of setting the variable and importing does not matter.

    ``api_key``: the ``llm`` resource's key, a ``dg.EnvVar`` of a declared name (resolved when a run starts;
    every run then needs the variable set, "" = no key); None (the default) reads ``api_key_env`` at call time."""
    return {
        "io_manager": LakeIOManager(root=lake_root),
        "lake": LakeResource(root=lake_root),
        # empty folders fall back to $CITRUS_{SEED,PDF,WEB}_INBOX, then the bundled sample (resources/inbox.py)
        "inbox": InboxResource(),
        # settings left at their defaults come from $CITRUS_LLM_BACKEND / _MODEL / _BASE_URL and the cost guard of
        # automatic runs from $CITRUS_LLM_AUTO_RUNS (0 = off) / $CITRUS_LLM_MAX_REQUESTS_PER_AUTO_RUN, when a run starts
        "llm": LLMResource(env_defaults=True, api_key=api_key),
        # judges of the easy/hard labels: empty = the ``llm`` resource alone (set a panel in the launchpad)
        "judges": JudgePanelResource(),
        # base model, launcher (python / accelerate / deepspeed) and checkpoint folder of the training stage
        "training": TrainingResource(),
        # the served/registered models of the eval_models partitions (built-in by default), how evaluation loads
        # models, and its cost guard ($CITRUS_LLM_AUTO_RUNS, $CITRUS_LLM_MAX_REQUESTS_PER_AUTO_RUN)
        "eval_models": EvalModelsResource(env_defaults=True),
    }
