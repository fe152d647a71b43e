"""A scripted stand-in for LLMResource: known responses per question, the same generate/render surface."""

from __future__ import annotations

from resources.llm import Generation, SamplingParams


class ScriptedLLM:
    """``script`` maps a question substring to the responses of samples 0, 1, ... (cycled to ``n``)."""

    model_id = "scripted-model"
    model_revision = "r1"

    def __init__(self, script: dict[str, list[str]]):
        self.script = script
        self.calls: list[tuple[int, SamplingParams]] = []

    def render(self, messages) -> str:
        return "".join(f"<|{m['role']}|>\n{m['content']}\n" for m in messages) + "<|assistant|>\n"

    def generate(self, prompts, params: SamplingParams):
        self.calls.append((len(prompts), params))
        out = []
        for p in prompts:
            user = p[-1]["content"]
            texts = next(v for k, v in self.script.items() if k in user)
            out.append(
                [
                    Generation(texts[i % len(texts)], 20, 10 + len(texts[i % len(texts)]) // 4, "stop", False, i)
                    for i in range(params.n)
                ]
            )
        return out
