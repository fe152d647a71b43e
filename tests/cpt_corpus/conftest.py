"""A scripted LLM resource for the textbook assets: fixed answers chosen from the prompt, no model."""

import re

import dagster as dg
import pytest

from resources.llm.types import Generation


class ScriptedLLM(dg.ConfigurableResource):
    """Same surface as LLMResource (generate / render / model_id / model_revision).

    Per prompt: the "HEART FAILURE" chunk is refused, the "concretize" operator answers off topic, everything else
    gets a grounded pair whose answer is the chunk's first sentence.
    """

    def render(self, prompt) -> str:
        return "\n".join(f"<{m['role']}>{m['content']}" for m in prompt)

    @property
    def model_id(self) -> str:
        return "scripted"

    @property
    def model_revision(self) -> str:
        return "1"

    def generate(self, prompts, params):
        out = []
        for p in prompts:
            user = p[-1]["content"]
            heading = re.search(r"Textbook section: (.*)", user).group(1)
            passage = user.split("Passage:\n", 1)[1]
            first = re.split(r"(?<=\.)\s", passage.strip(), maxsplit=1)[0]
            if heading == "HEART FAILURE":
                text = "I'm sorry, but I cannot answer medical questions."
            elif "concrete case" in user:
                text = "Question: What is the capital of France?\nAnswer: Paris is the capital of France."
            else:
                text = f"Question: What does the section {heading} say first?\nAnswer: {first}"
            out.append([Generation(text, 100, 20, "stop", False, i) for i in range(params.n)])
        return out


@pytest.fixture
def scripted_llm():
    return ScriptedLLM()
