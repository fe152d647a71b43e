"""The code location of a deployment whose ``llm`` resource talks to an OpenAI-compatible server with a key.

The one difference from ``citrus_assets.definitions``: the key is bound with ``dg.EnvVar``, so Dagster reads
``$CITRUS_OPENAI_API_KEY`` when a run starts and the UI shows the variable's name, never its value. Every run of
this location then needs the variable set (``""`` = no key); the key is sent only to the URLs the deployment
bound keys to (``$CITRUS_LLM_BASE_URL``, ``$CITRUS_LLM_KEY_URLS``; ``resources/llm/secrets.py``). Importing it
reads no environment variable.

Load it instead of the default location: ``dagster dev -f deploy/definitions_openai.py`` (from the repository
root), or in a workspace file::

    load_from:
      - python_file: {relative_path: deploy/definitions_openai.py, working_directory: ., location_name: citrus_lake}
"""

import dagster as dg

from citrus_assets.definitions import build_definitions
from citrus_assets.resources_config import build_resources

defs = build_definitions(build_resources(api_key=dg.EnvVar("CITRUS_OPENAI_API_KEY")))
