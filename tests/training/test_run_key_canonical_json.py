"""checkpointing hashes run keys with the one ``canonical_json`` (resources.lineage.ids), issue 16.

Its former private copy differed only in escaping non-ASCII text; run keys are made of ASCII
(stage names, hex data versions, numbers), so existing checkpoints keep their keys.
"""

import hashlib
import json

from citrus_assets.model_training.checkpoints import checkpointing
from resources.lineage.ids import canonical_json


def test_run_key_unchanged_for_ascii_inputs():
    args = ("sft_stage1", {"sft_examples/a": "0f3a"}, "smollm2", "ab12", {"lr": 2e-5, "epochs": 3.0, "name": "x"})
    old_blob = json.dumps(
        {"stage": args[0], "data": args[1], "base": args[2], "weights": args[3], "hp": args[4]},
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    assert checkpointing.run_key(*args) == hashlib.sha256(old_blob.encode()).hexdigest()[:16]
    assert not hasattr(checkpointing, "canonical")
    assert canonical_json({"b": 1, "a": "é"}) == '{"a":"é","b":1}'
