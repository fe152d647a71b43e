"""One canonical_json (resources.canonical), issue 16: LLM cache keys and record ids keep their values.

The expected keys and ids below were computed with the two copies it replaced (resources.llm.types, strict;
resources.lineage.ids, lenient) before the merge: a change here invalidates every cached generation or
every record id of an existing lake.
"""

import datetime
import json
import math
import pathlib

import pytest

from resources.canonical import canonical_json
from resources.lineage import ids
from resources.lineage.ids import record_id, source_id
from resources.llm.cache import cache_key
from resources.llm.types import SamplingParams

MSGS = [
    {"role": "system", "content": "Réponds en français."},
    {"role": "user", "content": "Q: 37 °C → 98.6 °F? ☤"},
]
RENDERED = "<|im_start|>user\nQ: 37 °C ☤<|im_end|>"
P_DEFAULT = SamplingParams()
P_SAMPLED = SamplingParams(n=4, temperature=0.7, top_p=0.95, max_tokens=1024, stop=("</answer>", "\n\n"), seed=None)


@pytest.mark.parametrize(
    "params, sample, expected",
    [
        (P_DEFAULT, 0, "e9c57a389496173cf21ef92d6daa94d78a819772a711a67c851713d5d3c164fa"),
        (P_DEFAULT, 3, "c96c4e09ffbb103d16c5a532585422a8c9c0f6a7236bf9d66c28f9801889c463"),
        (P_SAMPLED, 0, "0cd5cc22484965528c2673cdee099a288b40fe9508b7d665e5cbea3d35f11060"),
        (P_SAMPLED, 3, "10732b243c39badeeb5ca9c9d60f9717ba42a24fac84b4d911b7d7ef5c0c454c"),
    ],
)
def test_cache_keys_unchanged(params, sample, expected):
    assert cache_key("Qwen/Qwen2.5-0.5B-Instruct", "rev-abc", RENDERED, params, sample) == expected


def test_sampling_json_unchanged():
    stop = r'"stop":["</answer>","\n\n"]'
    assert P_SAMPLED.to_json() == '{"max_tokens":1024,"n":4,"seed":null,' + stop + ',"temperature":0.7,"top_p":0.95}'
    assert P_SAMPLED.cache_key_part() == '{"max_tokens":1024,"seed":null,' + stop + ',"temperature":0.7,"top_p":0.95}'


def test_record_ids_unchanged():
    assert record_id("qseed", "medqa", "A 45-year-old man…", {"A": "x", "B": 1.5}) == "qseed-c434db5548acf7f6a400"
    assert record_id("ans", ["q", 0]) == "ans-ab4606a3db5032e9a00b"
    assert source_id("s3://bucket/dir/file.jsonl", '{"q": "é"}') == "src-c549ec5b27074cedc5ec"
    # lenient: a value JSON cannot encode hashes as its str()
    assert record_id("qseed", datetime.date(2026, 12, 6), pathlib.PurePosixPath("a/b")) == "qseed-31850c5c26620972770f"


def test_one_home():
    assert ids.canonical_json is canonical_json  # the ids module re-exports it, it has no copy
    text = canonical_json(MSGS, strict=True)
    assert text == canonical_json(MSGS) == json.dumps(MSGS, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    assert text.startswith('[{"content":"Réponds en français.","role":"system"},')  # sorted keys, no spaces, UTF-8


@pytest.mark.parametrize("value", [float("nan"), math.inf, [1, -math.inf]])
def test_strict_refuses_nan(value):
    with pytest.raises(ValueError):
        canonical_json(value, strict=True)
    assert canonical_json(value)  # lenient: stable text (ids made this way keep their values)


def test_strict_refuses_what_json_cannot_say():
    d = datetime.date(2026, 12, 6)
    with pytest.raises(TypeError):
        canonical_json({"when": d}, strict=True)
    assert canonical_json({"when": d}) == '{"when":"2026-12-06"}'
