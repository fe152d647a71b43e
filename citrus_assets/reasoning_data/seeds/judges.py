"""The judge panel: the N models that answer each seed closed-form (basis of easy/hard labels).

The paper lets several weaker models (7-8B instruct) answer every question; a question they all
get right is "easy". Each judge is an LLM configured like ``LLMResource`` (backend, model,
base_url, api_key_env, ...). An empty panel is the code location's one ``llm`` resource, judge
name ``"default"``, so the demo runs with the built-in model.

Example (Dagster resource config)::

    judges:
      config:
        judges:
          - {name: qwen7b, backend: openai, model: Qwen2.5-7B-Instruct, base_url: http://gpu1:8000/v1}
          - {name: llama8b, backend: openai, model: Llama-3.1-8B-Instruct, base_url: http://gpu2:8000/v1}
          - {name: local, same_as_llm: true}   # the code location's llm resource
"""

import dagster as dg

from resources.llm import LLMResource, LLMSettings

DEFAULT_JUDGE = "default"


class JudgeSpec(LLMSettings):
    """One judge: a name plus the `LLMSettings` of its model (``same_as_llm`` reuses the ``llm``
    resource; an empty ``cache_dir`` is the ``llm`` resource's cache folder)."""

    name: str
    same_as_llm: bool = False


def judge_llm(spec: JudgeSpec, default: LLMResource) -> LLMResource:
    """The LLM client of one judge (the default resource itself for ``same_as_llm``)."""
    if spec.same_as_llm:
        return default
    settings = spec.llm_settings()
    settings["cache_dir"] = spec.cache_dir or default.cache_dir
    return LLMResource(**settings, use_cache=default.use_cache)


def panel_clients(specs, default) -> list[tuple[str, object]]:
    """``[(judge name, llm)]`` in configured order; the default llm alone as "default" when empty."""
    specs = list(specs or [])
    if not specs:
        return [(DEFAULT_JUDGE, default)]
    names = [s.name.strip() for s in specs]
    if any(not n for n in names):
        raise ValueError("every judge needs a non-empty name")
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"judge names must be unique, repeated: {dup}")
    return [(n, judge_llm(s, default)) for n, s in zip(names, specs)]


class JudgePanelResource(dg.ConfigurableResource):
    """The judges of ``judge_answers``; empty = the ``llm`` resource alone (judge "default")."""

    judges: list[JudgeSpec] = []

    def clients(self, default) -> list[tuple[str, object]]:
        return panel_clients(self.judges, default)

    @property
    def names(self) -> list[str]:
        return [s.name.strip() for s in self.judges] or [DEFAULT_JUDGE]
