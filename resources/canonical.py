"""The one canonical JSON of the lake: the text that record ids, run keys and LLM cache keys hash.

A leaf module (standard library only), so ``resources.llm`` uses it without importing the lineage
package (DuckDB, pyarrow); ``resources.lineage.ids`` re-exports it.
"""

from __future__ import annotations

import json
from typing import Any


def canonical_json(value: Any, *, strict: bool = False) -> str:
    """Deterministic JSON: keys sorted, no whitespace (``,`` and ``:``), non-ASCII kept as UTF-8 text.

    For JSON values (dict, list, str, int, finite float, bool, None) both modes give the same text, so a
    hash of it never depends on the mode. They differ only on what JSON cannot say:

    - ``strict=False`` (record ids, run keys, log lines): a value ``json`` cannot encode (a date, a path,
      a numpy scalar) is written as its ``str()``, and NaN / infinity as ``NaN`` / ``Infinity`` (not
      valid JSON, but stable). Ids made this way must keep their values, so this mode never changes.
    - ``strict=True`` (LLM prompts, sampling parameters, cache keys, raw LLM payloads): such a value raises
      ``TypeError`` (not encodable) or ``ValueError`` (NaN, infinity) instead of being stringified, so
      two different inputs cannot share a key through ``str()`` and the text is always valid JSON.
    """
    if strict:
        return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
