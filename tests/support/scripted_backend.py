"""A scripted LLM backend for the dual-expert loop and the SFT rewrite (tests, benchmark, dry runs).

It implements the ``resources.llm.types.Backend`` protocol, so it runs behind the real
``LLMClient`` and its persistent cache. It recognises each role by its prompt file and answers by a
:class:`Policy` whose methods tests override. The default policy plays a plausible clinician:
for each question it knows a list of candidate answers (``candidates``); the reasoning expert tests
them one per step; the reflection expert (who reads the ground truth from its prompt) keeps a step
that names it and drops the others with steering feedback; the judge says YES once a kept step names
it; the conclusion names the candidate of the last kept step (or the first candidate); the rewrite
turns the notes into a first-person ``<think>``/``<answer>`` text. ``fail_on_call=k`` raises on the
k-th backend call (a simulated crash).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from resources.llm.types import Generation, Request, SamplingParams

MARKERS = (  # (role, a phrase only that role's prompt file contains)
    ("reflection", "You are the reflection expert"),
    ("judge", "Is the differential complete"),
    ("conclusion", "Conclude your work-up"),
    ("rewrite", "Rewrite these notes"),
    ("step", "Write exactly ONE next reasoning step"),
    ("start", "Begin the work-up"),
)


class SimulatedCrash(RuntimeError):
    pass


def detect_role(prompt: str) -> str:
    return next((role for role, marker in MARKERS if marker in prompt), "other")


def field(prompt: str, label: str) -> str:
    """The rest of the line after ``label`` in a prompt."""
    m = re.search(re.escape(label) + r"[^\n:]*:\s*(.*)", prompt)
    return m.group(1).strip() if m else ""


def question_of(prompt: str) -> str:
    m = re.search(r"<Question>\n(.*?)\n</Question>", prompt, re.DOTALL)
    return m.group(1).strip() if m else ""


def block(prompt: str, header: str, end: str) -> str:
    i = prompt.find(header)
    if i < 0:
        return ""
    j = prompt.find(end, i + len(header))
    return prompt[i + len(header) : j if j >= 0 else None].strip()


class Policy:
    """What the scripted model answers, per role (override any method)."""

    params: SamplingParams | None = None  # the sampling of the call being answered

    def __init__(self, candidates: dict[str, Sequence[str]] | None = None) -> None:
        self.candidates = {k.strip(): list(v) for k, v in (candidates or {}).items()}

    def cands(self, prompt: str) -> list[str]:
        return self.candidates.get(question_of(prompt), ["an unknown condition"])

    def accepted_steps(self, prompt: str) -> list[str]:
        text = next(
            (
                b
                for b in (
                    block(prompt, h, "\n\n")
                    for h in (
                        "already accepted:\n",
                        "Accepted steps:\n",
                        "Accepted reasoning steps:\n",
                        "accepted reasoning steps:\n",
                    )
                )
                if b
            ),
            "",
        )
        return [re.sub(r"^\d+\.\s*", "", s) for s in text.splitlines() if re.match(r"^\d+\.", s)]

    def start(self, prompt: str) -> str:
        return "FACTS: the findings as stated\nCANDIDATES: " + ", ".join(self.cands(prompt))

    def step(self, prompt: str) -> str:
        """Test the next candidate: one per kept step, one more after a dropped step (stateless)."""
        feedback = block(prompt, "Comment on your last proposed step:\n", "\n\n")
        dropped = "does not fit" in feedback or "was dropped" in feedback
        cands = self.cands(prompt)
        k = min(len(self.accepted_steps(prompt)) + int(dropped), len(cands) - 1)
        return f"Test the candidate {cands[k]} against the findings."

    def reflection(self, prompt: str) -> str:
        truth = field(prompt, "Correct answer (for you only")
        step = block(prompt, "New step to rate:\n", "\n\n")
        if truth and truth.casefold() in step.casefold():
            return "VERDICT: KEEP\nFEEDBACK: Sound; now check that the remaining findings fit."
        return "VERDICT: DROP\nFEEDBACK: That candidate does not fit the key findings; weigh another one."

    def judge(self, prompt: str) -> str:
        truth = field(prompt, "Correct answer (for you only")
        steps = block(prompt, "Accepted reasoning steps:\n", "\n\n")
        return "YES" if truth and truth.casefold() in steps.casefold() else "NO"

    def conclusion(self, prompt: str) -> str:
        steps = self.accepted_steps(prompt)
        found = [c for c in self.cands(prompt) if steps and c.casefold() in steps[-1].casefold()]
        answer = found[0] if found else self.cands(prompt)[0]
        return f"CONCLUSION: The findings fit {answer} best.\n<answer>{answer}</answer>"

    def rewrite(self, prompt: str) -> str:
        answer = field(prompt, "Final answer")
        return (
            "<think>Let me go through the findings first. My first thought was another cause; wait, let me "
            f"reconsider, that does not fit the key findings. Everything fits {answer}.</think>\n"
            f"<answer>{answer}</answer>"
        )

    def other(self, prompt: str) -> str:
        return ""


class ScriptedBackend:
    """``Backend`` protocol: ChatML-like rendering, answers from a :class:`Policy`."""

    def __init__(
        self,
        policy: Policy | None = None,
        model_id: str = "scripted:dual-expert",
        revision: str = "v1",
        fail_on_call: int | None = None,
    ) -> None:
        self.policy = policy or Policy()
        self.model_id, self.revision = model_id, revision
        self.fail_on_call = fail_on_call
        self.calls = 0  # backend generate calls
        self.prompts: list[tuple[str, str]] = []  # (role, rendered) of every prompt actually generated

    def render(self, messages: list[dict]) -> str:
        return (
            "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
            + "<|im_start|>assistant\n"
        )

    def generate(self, requests: Sequence[Request], params: SamplingParams) -> list[list[Generation]]:
        self.calls += 1
        self.policy.params = params  # a policy may vary its answer with the seed (retries)
        if self.fail_on_call is not None and self.calls == self.fail_on_call:
            raise SimulatedCrash(f"simulated crash on backend call {self.calls}")
        out = []
        for req in requests:
            role = detect_role(req.rendered)
            self.prompts.append((role, req.rendered))
            text = getattr(self.policy, role)(req.rendered)
            gen = Generation(text, len(req.rendered.split()), max(1, len(text.split())), "stop")
            out.append(
                [
                    Generation(gen.text, gen.prompt_tokens, gen.completion_tokens, "stop", False, i)
                    for i in req.sample_indices
                ]
            )
        return out
