import re

import pytest

from resources.llm import LLMResource, SamplingParams, clear_backend_cache
from resources.llm.backends.transformers_backend import TransformersBackend, local_revision, truncate_at_stop

PROMPTS = [
    "The lemon",
    "What is the capital of France?",
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Count one two three"}],
]


def fresh(model_dir, **kw):
    return LLMResource(model=model_dir, use_cache=False, **kw)


def test_render_uses_chat_template(tiny_model_dir):
    r = fresh(tiny_model_dir)
    assert r.render("hi") == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    assert r.render([{"role": "user", "content": "hi"}]) == r.render("hi")
    assert r.model_id == tiny_model_dir and r.model_revision == local_revision(tiny_model_dir)
    assert r.model_revision.startswith("local-")


def test_batch_greedy_determinism_and_token_counts(tiny_model_dir):
    r = fresh(tiny_model_dir, batch_size=2)  # 3 prompts -> 2 batches
    params = SamplingParams(max_tokens=12)
    out = r.generate(PROMPTS, params)
    assert [len(row) for row in out] == [1, 1, 1]
    clear_backend_cache()
    again = fresh(tiny_model_dir, batch_size=2).generate(PROMPTS, params)
    assert [[g.text for g in row] for row in out] == [[g.text for g in row] for row in again]
    tok = r.get_backend().tokenizer
    for prompt, row in zip(PROMPTS, out):
        g = row[0]
        assert g.prompt_tokens == len(tok(r.render(prompt), add_special_tokens=False)["input_ids"])
        assert g.finish_reason == "length" and g.completion_tokens == 12  # random weights: no EOS in 12 tokens
        assert not g.cached
    assert r.stats["generated_tokens"] == 36 and r.stats["misses"] == 3


def test_n_samples_greedy_are_copies_and_sampling_is_seeded(tiny_model_dir):
    r = fresh(tiny_model_dir)
    greedy = r.generate(["The lemon"], SamplingParams(n=3, max_tokens=8))[0]
    assert [g.sample_index for g in greedy] == [0, 1, 2] and len({g.text for g in greedy}) == 1
    sampled = r.generate(["The lemon", "x"], SamplingParams(n=3, max_tokens=8, temperature=1.0, seed=123))
    assert len({g.text for g in sampled[0]}) > 1  # different samples
    again = r.generate(["The lemon", "x"], SamplingParams(n=3, max_tokens=8, temperature=1.0, seed=123))
    assert [[g.text for g in row] for row in again] == [[g.text for g in row] for row in sampled]
    other = r.generate(["The lemon", "x"], SamplingParams(n=3, max_tokens=8, temperature=1.0, seed=7))
    assert [[g.text for g in row] for row in other] != [[g.text for g in row] for row in sampled]


def test_stop_strings_truncate_text(tiny_model_dir):
    r = fresh(tiny_model_dir)
    full = r.generate(["The lemon"], SamplingParams(max_tokens=16))[0][0]
    m = re.search(r"[A-Za-z]", full.text[1:])
    if m is None:
        pytest.skip("random model produced no ASCII letter to stop on")
    stop = m.group(0)
    cut = full.text.find(stop)
    g = r.generate(["The lemon"], SamplingParams(max_tokens=16, stop=(stop, "never-appears")))[0][0]
    assert g.text == full.text[:cut]
    assert g.finish_reason == "stop" and 0 < g.completion_tokens <= full.completion_tokens


def test_truncate_at_stop_helper():
    assert truncate_at_stop("abc\n\nxyz END", ["END", "\n\n"]) == ("abc", True)
    assert truncate_at_stop("abc", ["z"]) == ("abc", False)
    assert truncate_at_stop("abc", []) == ("abc", False)


def test_model_is_loaded_once_per_process_and_lazily(tiny_model_dir):
    a, b = fresh(tiny_model_dir), fresh(tiny_model_dir)
    assert a.get_backend() is b.get_backend()
    backend = a.get_backend()
    assert isinstance(backend, TransformersBackend)
    a.render("hi")
    assert backend._model is None  # rendering needs the tokenizer only
    a.generate(["hi"], SamplingParams(max_tokens=2))
    model = backend._model
    b.generate(["ho"], SamplingParams(max_tokens=2))
    assert backend._model is model
    assert fresh(tiny_model_dir, batch_size=3).get_backend() is not backend  # other config, other instance


def test_cached_rerun_after_restart_does_not_load_the_model(tiny_model_dir, monkeypatch):
    params = SamplingParams(n=2, max_tokens=10, temperature=0.9)
    first = LLMResource(model=tiny_model_dir).generate(PROMPTS, params)
    clear_backend_cache()  # "restart": nothing loaded, new resource and cache objects

    def boom(self, *a, **k):
        raise AssertionError("backend must not be called")

    monkeypatch.setattr(TransformersBackend, "generate", boom)
    r = LLMResource(model=tiny_model_dir)
    again = r.generate(PROMPTS, params)
    assert [[g.text for g in row] for row in again] == [[g.text for g in row] for row in first]
    assert all(g.cached for row in again for g in row) and r.stats["hits"] == 6
    assert r.get_backend()._model is None


def test_resource_in_a_dagster_asset(tiny_model_dir):
    import dagster as dg

    @dg.asset
    def answers(llm: LLMResource) -> list[str]:
        return [row[0].text for row in llm.generate(["The lemon"], SamplingParams(max_tokens=4))]

    result = dg.materialize([answers], resources={"llm": LLMResource(model=tiny_model_dir)})
    assert result.success and len(result.output_for_node("answers")) == 1
