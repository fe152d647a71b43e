"""The resources tests run assets with: the code location's own (``build_resources``), on a given lake.

One home for what tests used to rebuild by hand (``{"io_manager": LakeIOManager(root=...), "lake": ...}``):
a test names only the resources it replaces (a tiny model, a scripted LLM, an inbox folder), so a resource
added to the code location reaches every test that runs assets. The ``lake_resources`` fixture
(``tests/conftest.py``) is this on ``tmp_path / "lake"``.
"""

from __future__ import annotations

import os
from typing import Any

from citrus_assets.resources_config import build_resources


def make_resources(lake_root: str | os.PathLike[str] = "", **overrides: Any) -> dict[str, Any]:
    """``build_resources(lake_root)`` with ``overrides`` replacing resources by key. An empty ``lake_root``
    resolves ``$CITRUS_LAKE`` when a step runs, as the code location does. A key the code location does not
    have is an error (a typo would otherwise run with the default resource)."""
    resources = build_resources(str(lake_root))
    unknown = sorted(set(overrides) - set(resources))
    if unknown:
        raise KeyError(f"not a resource of the code location: {unknown} (known: {sorted(resources)})")
    resources.update(overrides)
    return resources
