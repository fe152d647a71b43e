import importlib.util
import re

import pytest

from resources.llm import BUILTIN_MODEL, LLMBackendError, LLMResource, SamplingParams
from resources.llm.backends.builtin import builtin_model_path, builtin_revision, chat_template_from_gguf, gguf_path


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vllm is installed here")
def test_vllm_selected_without_vllm_gives_clear_error(tiny_model_dir):
    r = LLMResource(backend="vllm", model=tiny_model_dir)
    with pytest.raises(LLMBackendError, match=r"backend='vllm'.*needs the vllm package.*not installed"):
        r.generate(["hi"])


def test_builtin_revision_names_package_version_and_gguf_hash():
    assert gguf_path().name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert re.fullmatch(r"\d+\.\d+\.\d+\+[0-9a-f]{12}", builtin_revision())


@pytest.mark.slow
def test_builtin_model_converts_loads_and_answers():
    path = builtin_model_path()
    assert (path / "model.safetensors").is_file() and (path / "citrus_builtin.json").is_file()
    r = LLMResource(use_cache=False)
    assert r.model_id == BUILTIN_MODEL and r.model_revision == builtin_revision()
    assert r.render("hi").endswith("<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n")
    out = r.generate(["What is the capital of France? Answer in one short sentence."], SamplingParams(max_tokens=24))
    g = out[0][0]
    assert "Paris" in g.text and g.finish_reason == "stop" and g.completion_tokens > 0


@pytest.mark.slow
def test_gguf_metadata_has_the_chatml_template():
    template = chat_template_from_gguf(gguf_path())
    assert template and "<|im_start|>" in template and "add_generation_prompt" in template
