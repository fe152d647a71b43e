import dataclasses
import json
import sys

import pytest

from resources.llm import Generation, LLMBackendError, SamplingParams
from resources.llm.types import normalize_prompt


def test_sampling_params_defaults_and_canonical_json():
    p = SamplingParams()
    assert (p.n, p.temperature, p.top_p, p.max_tokens, p.stop, p.seed) == (1, 0.0, 1.0, 256, (), 0)
    assert p.to_json() == '{"max_tokens":256,"n":1,"seed":0,"stop":[],"temperature":0.0,"top_p":1.0}'
    assert json.loads(p.to_json())["n"] == 1
    assert "n" not in json.loads(p.cache_key_part())


def test_sampling_params_normalises_and_excludes_n_from_cache_key():
    a = SamplingParams(n=1, temperature=1, stop=["</s>", "\n\n"])
    b = SamplingParams(n=5, temperature=1.0, stop=("</s>", "\n\n"))
    assert a.stop == ("</s>", "\n\n") and isinstance(a.temperature, float)
    assert a.cache_key_part() == b.cache_key_part()
    assert a.to_json() != b.to_json()
    assert SamplingParams(stop="x").stop == ("x",)
    assert SamplingParams(seed=1).cache_key_part() != SamplingParams(seed=2).cache_key_part()
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.n = 3  # frozen


@pytest.mark.parametrize(
    "kwargs", [{"n": 0}, {"temperature": -1}, {"top_p": 0}, {"top_p": 1.5}, {"max_tokens": 0}, {"stop": [""]}]
)
def test_sampling_params_validation(kwargs):
    with pytest.raises(ValueError):
        SamplingParams(**kwargs)


def test_normalize_prompt():
    assert normalize_prompt("hi") == [{"role": "user", "content": "hi"}]
    msgs = [{"role": "system", "content": "s", "extra": 1}, {"role": "user", "content": "u"}]
    assert normalize_prompt(msgs) == [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]
    with pytest.raises(ValueError):
        normalize_prompt([{"role": "robot", "content": "x"}])
    with pytest.raises(TypeError):
        normalize_prompt([{"role": "user"}])
    with pytest.raises(TypeError):
        normalize_prompt([])


def test_generation_and_error_types():
    g = Generation("t", 1, 2, "stop")
    assert g.cached is False and g.sample_index == 0
    assert issubclass(LLMBackendError, RuntimeError)


def test_import_does_not_pull_vllm():
    import resources.llm  # noqa: F401

    assert "vllm" not in sys.modules
