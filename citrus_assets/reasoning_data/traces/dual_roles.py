"""The four roles of the dual-expert loop: their prompt files, message builders and reply parsers.

Every role is one prompt file (English, asking for a reply in the question's language) rendered
into a single user message. Parsers are lenient about layout and strict about meaning: a rating
that names neither KEEP nor DROP is "unparsed" (the loop drops the step), a judge reply that is not
clearly YES is "no" (the loop goes on), a conclusion's answer is its last ``<answer>`` block.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import cache

from citrus_assets.common.prompts import load_prompt, prompt_hash
from citrus_assets.common.text.answers import answer_span, extract_answer, is_correct

START, STEP, REFLECTION, JUDGE, CONCLUSION = (
    "reasoning_start",
    "reasoning_step",
    "reflection",
    "completion_judge",
    "conclusion",
)
PROMPT_FILES = {
    START: "dual_reasoning_start",
    STEP: "dual_reasoning_step",
    REFLECTION: "dual_reflection",
    JUDGE: "dual_completion_judge",
    CONCLUSION: "dual_conclusion",
}
NO_STEPS = "(none yet)"
NO_FEEDBACK = "(no comment yet: this is your first step)"


def numbered(steps: list[str]) -> str:
    return "\n".join(f"{i}. {s.strip()}" for i, s in enumerate(steps, 1)) if steps else NO_STEPS


def role_messages(role: str, **values: str) -> list[dict]:
    return [{"role": "user", "content": load_prompt(PROMPT_FILES[role]).render(**values)}]


@cache  # the prompt files are read once per process (load_prompt): hash each once, not per call
def template_sha(role: str) -> str:
    return load_prompt(PROMPT_FILES[role]).sha


def prompt_set_hash() -> str:
    """Every role prompt, in role order (what a trace's ``gen_prompt_hash`` records): the one prompt hash."""
    return prompt_hash(*(PROMPT_FILES[role] for role in sorted(PROMPT_FILES)))


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


# -- reflection -------------------------------------------------------------------------------
_VERDICT = re.compile(r"verdict\s*\**\s*[:：]\s*\**\s*(keep|drop)\b", re.IGNORECASE)
_LEADING = re.compile(r"^\s*\**\s*(keep|drop)\b", re.IGNORECASE)
_FEEDBACK = re.compile(r"feedback\s*\**\s*[:：]\s*(.*)", re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True)
class Rating:
    verdict: str  # "keep" | "drop"
    feedback: str
    parsed: bool


def parse_rating(text: str) -> Rating:
    m = _VERDICT.search(text or "") or _LEADING.search(text or "")
    fb = _FEEDBACK.search(text or "")
    # without a FEEDBACK: marker the whole reply (minus the verdict) is the feedback
    feedback = (
        (fb.group(1) if fb else (text or "")[m.end() :] if m else (text or "")).strip().lstrip(".:;,-—*） ").strip()
    )
    if m is None:
        return Rating("drop", feedback, False)
    return Rating(m.group(1).lower(), feedback, True)


# -- completion judge -------------------------------------------------------------------------
_YES = re.compile(r"^\W*(yes|是)\b", re.IGNORECASE)


def parse_complete(text: str) -> bool:
    return bool(_YES.match(text or ""))


# -- conclusion and its verification ----------------------------------------------------------
@dataclass(frozen=True)
class Verification:
    correct: bool
    answer: str  # the answer span read from the conclusion
    letters: tuple[str, ...]  # the option(s) it matched, by the shared answer rule
    method: str


def option_map(options, ground_truth: str) -> tuple[dict[str, str], list[str] | None]:
    """The question's options as {letter: text}; an open question without options verifies
    against its ground truth as the single option A."""
    opts = {o["letter"]: o["text"] for o in (options or [])}
    if opts:
        return opts, None
    return {"A": ground_truth}, ["A"]


def verify(conclusion: str, options, answer_letters, ground_truth: str) -> Verification:
    """The one answer rule (``answers.extract_answer`` + ``is_correct``) applied to a conclusion."""
    opts, letters_override = option_map(options, ground_truth)
    gold = letters_override or list(answer_letters or [])
    parsed = extract_answer(conclusion or "", opts)
    return Verification(is_correct(parsed.letters, gold), answer_span(conclusion or ""), parsed.letters, parsed.method)


def conclusion_answer(conclusion: str) -> str:
    return answer_span(conclusion or "")
