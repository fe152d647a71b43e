"""An asset that exists to produce rows and produced none says so, with the reason.

``empty_metadata(rows, reason)`` is ``{"empty_reason": reason}`` when ``rows`` is 0 (else ``{}``); the asset
adds it to its materialization metadata. The asset's checks quote it (``quality/empty.py`` decides their
severity) and the main job's summary prints the stage as ``EMPTY`` with it (``citrus_assets/demo.py``).
"""

from __future__ import annotations

import dagster as dg

from quality.checks import EMPTY_REASON
from resources.llm import BUILTIN_MODEL

__all__ = ["EMPTY_REASON", "empty_metadata", "model_hint"]


def empty_metadata(rows: int, reason: str) -> dict:
    return {} if rows else {EMPTY_REASON: dg.MetadataValue.text(reason)}


def model_hint(model: str) -> str:
    """Why a model may solve nothing: said plainly for the built-in 135M model."""
    if model == BUILTIN_MODEL or BUILTIN_MODEL.lower() in (model or "").lower():
        return "the built-in 135M model cannot solve them; use a real model (CITRUS_LLM_*) for medical traces"
    return f"{model} solved none of them"
