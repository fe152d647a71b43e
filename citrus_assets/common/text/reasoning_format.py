"""The one think/answer validator: what ``<think>…</think><answer>…</answer>`` means everywhere.

Rule (one, used by the SFT rewrite filter, the trace checks, the stage-3 selection and gate, the mix
checks and the RL references):

* exactly one ``<think>`` block followed by exactly one ``<answer>`` block, only whitespace around them;
* the tags are **lower-case, exactly as written here** — ``<THINK>``/``<Answer>`` are malformed. The
  prompts, the trainer and the evaluation all use the lower-case form; a model trained on mixed casing
  learns to emit both, so a mixed-case response is rejected at the first stage that sees it instead of
  passing one stage and being quarantined at the next;
* both blocks are non-empty after stripping and contain no think/answer tag in any casing (no nesting).

``parse_think_answer`` returns the stripped ``(think, answer)`` of a well-formed text, else None.
"""

from __future__ import annotations

import re

THINK_OPEN, THINK_CLOSE, ANSWER_OPEN, ANSWER_CLOSE = "<think>", "</think>", "<answer>", "</answer>"

_FORMAT = re.compile(r"\s*<think>(?P<think>.*?)</think>\s*<answer>(?P<answer>.*?)</answer>\s*", re.DOTALL)
_ANY_TAG = re.compile(r"</?\s*(?:think|answer)\s*>", re.IGNORECASE)


def think_answer(think: str, answer: str) -> str:
    """The canonical text of a (think, answer) pair."""
    return f"{THINK_OPEN}{think.strip()}{THINK_CLOSE}{ANSWER_OPEN}{answer.strip()}{ANSWER_CLOSE}"


def parse_think_answer(text) -> tuple[str, str] | None:
    """(think, answer), both stripped, when ``text`` follows the rule above; else None."""
    if not isinstance(text, str):
        return None
    m = _FORMAT.fullmatch(text)
    if not m:
        return None
    think, answer = m["think"].strip(), m["answer"].strip()
    if not think or not answer or _ANY_TAG.search(think) or _ANY_TAG.search(answer):
        return None
    return think, answer


def is_think_answer(text) -> bool:
    return parse_think_answer(text) is not None


def has_tags(text) -> bool:
    """Whether ``text`` uses a think/answer tag in any casing (a broken block must not be guessed at)."""
    return isinstance(text, str) and _ANY_TAG.search(text) is not None
